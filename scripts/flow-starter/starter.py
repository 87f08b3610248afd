"""The sandbox's warm flow starter (quick timing only).

A process worker starts every flow run as a fresh Python process, which spends about two seconds
importing Prefect before the run is set Running; from Prefect 3.9 it pays that twice, once for the
workspace supervisor (`python -m prefect.runner._workspace_supervisor`, which runs the deployment's
pull steps and then execs the engine in its place) and once for the engine (`python -m
prefect.engine`). This server imports both once; a process whose `sitecustomize` hands itself over
(see sitecustomize.py beside this file) sends its environment, working directory, arguments and
standard streams here, and a child forked from this warm process runs the same module with them. The
worker's process stays the one it started: it waits for the child, forwards signals to it and exits
with its status. Each child leads a process group of its own, so whatever it starts ends with it.

    python starter.py SOCKET_PATH

One request per connection: a 4-byte big-endian length, then that many bytes of JSON
{"env": {...}, "cwd": "...", "argv": [...]}, with the streams 0, 1 and 2 passed as SCM_RIGHTS.
The answer is the line `pid N` once the child runs, then `exit N` when it ends (N < 0: killed by
signal -N). A connection closed before its child ends means the worker's process was killed: the
child is killed too. The server stays single-threaded so that forking it is safe.
"""

import json
import os
import runpy
import select
import signal
import socket
import struct
import sys

MAX_REQUEST = 4 * 1024 * 1024
# The modules a worker starts a flow run with (keep in step with sitecustomize.py).
HANDED_OVER = ("prefect.engine", "prefect.runner._workspace_supervisor")


def preload() -> None:
    """Import what every flow run imports, so children start with it loaded."""
    import importlib

    import prefect.context

    # A child reads its settings again from the run's environment; a Prefect without a way to cannot.
    if not hasattr(prefect.context, "root_settings_context"):
        sys.exit("this Prefect cannot re-read its settings in a forked child: no warm flow starter")
    for name in (
        "prefect.engine",
        "prefect.flow_engine",
        "prefect.flows",
        "prefect.concurrency.sync",
        "prefect.concurrency.asyncio",
        "prefect.client.orchestration",
        "prefect.deployments.steps",
        "prefect.runner._workspace_supervisor",
    ):
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def read_request(conn: socket.socket) -> tuple[dict, list[int]]:
    data, fds, _flags, _addr = socket.recv_fds(conn, 65536, 3)
    if len(data) < 4:
        raise ValueError("short request")
    (length,) = struct.unpack("!I", data[:4])
    if length > MAX_REQUEST:
        raise ValueError("request too large")
    body = bytearray(data[4:])
    while len(body) < length:
        chunk = conn.recv(min(65536, length - len(body)))
        if not chunk:
            raise ValueError("request cut short")
        body.extend(chunk)
    return json.loads(bytes(body)), list(fds)


def run_child(request: dict, fds: list[int]) -> None:
    """In the forked child: become the flow process the worker started, and never return."""
    os.setsid()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    import prefect.context

    # Settings were read from the starter's environment at import; read them from the run's
    # (what refresh_global_settings_context does in the Prefect releases that have it).
    prefect.context.GLOBAL_SETTINGS_CONTEXT = prefect.context.root_settings_context()
    module = request["argv"][0]
    sys.argv = list(request["argv"])
    # As under `python -m MODULE`: the module runs as __main__ and is not imported besides.
    sys.modules.pop(module, None)
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    sys.exit(0)


def status_of(wait_status: int) -> int:
    if os.WIFSIGNALED(wait_status):
        return -os.WTERMSIG(wait_status)
    return os.WEXITSTATUS(wait_status)


def kill_group(pid: int, sig: int) -> None:
    """A child and whatever it started: it leads a process group of its own once its first call (setsid) has run.

    Until then there is no such group, and the child alone is signalled (it has started nothing yet): a worker's
    process killed right after the fork would otherwise leave its child running on, orphaned.
    """
    try:
        os.killpg(pid, sig)
        return
    except (ProcessLookupError, PermissionError):
        pass
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def send_line(conn: socket.socket, line: str) -> None:
    try:
        conn.sendall(f"{line}\n".encode())
    except OSError:
        pass


def serve(path: str) -> None:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if os.path.exists(path):
        os.unlink(path)
    server.bind(path)
    os.chmod(path, 0o600)
    server.listen(64)
    children: dict[int, socket.socket] = {}
    by_conn: dict[socket.socket, int] = {}
    stopping = False

    def stop(_sig, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"warm flow starter ready on {path} (pid {os.getpid()})", flush=True)
    while not stopping:
        try:
            readable, _, _ = select.select([server, *by_conn], [], [], 0.05)
        except InterruptedError:
            readable = []
        for ready in readable:
            if ready is server:
                conn, _ = server.accept()
                try:
                    request, fds = read_request(conn)
                    if not request.get("argv") or request["argv"][0] not in HANDED_OVER:
                        for fd in fds:
                            os.close(fd)
                        raise ValueError(f"not a flow run's module: {request.get('argv', [''])[:1]}")
                except (OSError, ValueError) as error:
                    print(f"refused a request: {error}", flush=True)
                    conn.close()
                    continue
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    server.close()
                    for other in by_conn:
                        other.close()
                    conn.close()
                    run_child(request, fds)
                for fd in fds:
                    os.close(fd)
                children[pid] = conn
                by_conn[conn] = pid
                send_line(conn, f"pid {pid}")
                run_id = request["env"].get("PREFECT__FLOW_RUN_ID")
                print(f"flow run {run_id}: child {pid} ({request['argv'][0]})", flush=True)
            elif not ready.recv(64):
                # The worker's process is gone (killed) while its child runs: end the child with it.
                pid = by_conn.pop(ready)
                ready.close()
                print(f"child {pid}: the process that handed it over is gone: killing it", flush=True)
                kill_group(pid, signal.SIGKILL)
                children[pid] = None
        while children:
            try:
                pid, wait_status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            conn = children.pop(pid, None)
            if conn is not None:
                send_line(conn, f"exit {status_of(wait_status)}")
                by_conn.pop(conn, None)
                conn.close()
    # Stopped (sandbox down): the runs still going end with it, as they would with their worker.
    for pid in children:
        kill_group(pid, signal.SIGTERM)
    server.close()
    if os.path.exists(path):
        os.unlink(path)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python starter.py SOCKET_PATH")
    preload()
    serve(sys.argv[1])
