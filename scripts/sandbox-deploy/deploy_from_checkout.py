"""Runs a hosted project's own deploy command so its deployments can run on the sandbox's process pool.

    python deploy_from_checkout.py CONSOLE_SCRIPT [ARGS...]

run with the project's `uv run`, in its checkout. A project that deploys as the upstream Hotpass
does builds each deployment from the imported flow, with no image and no storage, and hands it to
Prefect's `deploy`, which refuses that for a process pool ("Either an image or remote storage
location must be provided"). Here `deploy` first gives each such deployment local storage at the
checkout, which Prefect registers as the pull step `set_working_directory` into it, so a process
worker runs the flow from the checkout as it is. Everything else is the project's own: its manifests,
its parameters, paused or not. Nothing in the checkout is written. The work pool a deploy names
none for comes from PREFECT_DEFAULT_WORK_POOL_NAME, which the sandbox sets.
"""

import os
import sys
from importlib.metadata import entry_points


def _give_storage_to_deploy(checkout: str) -> None:
    from prefect.deployments import runner
    from prefect.runner.storage import LocalStorage

    original = runner.deploy

    def deploy(*deployments, **kwargs):
        if not kwargs.get("image"):
            for deployment in deployments:
                if deployment.storage is None and deployment.entrypoint_type != runner.EntrypointType.MODULE_PATH:
                    deployment.storage = LocalStorage(checkout)
        return original(*deployments, **kwargs)

    # `from prefect import deploy` and `runner.deploy(...)` both look the name up in this module.
    runner.deploy = deploy


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: deploy_from_checkout.py CONSOLE_SCRIPT [ARGS...]")
    name = sys.argv[1]
    found = [ep for ep in entry_points(group="console_scripts") if ep.name == name]
    if not found:
        sys.exit(f"the project's environment has no command {name!r} (no console script of that name)")
    _give_storage_to_deploy(os.getcwd())
    sys.argv = [name, *sys.argv[2:]]
    result = found[0].load()()
    sys.exit(result if isinstance(result, int) else 0)


if __name__ == "__main__":
    main()
