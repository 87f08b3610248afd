"""Hands a sandbox flow process over to the warm flow starter (see starter.py beside this file).

Python imports this module at start-up when this directory is on PYTHONPATH, which the sandbox sets
for its workers in quick timing only. It acts only in a process a worker started for a flow run
(PREFECT__FLOW_RUN_ID set) as `python -m prefect.engine`, or as `python -m
prefect.runner._workspace_supervisor` (from Prefect 3.9 a process worker starts that first: it runs the
deployment's pull steps, then replaces itself with the engine, which is handed over again), while
REHEARSE_FLOW_STARTER names a starter that answers; anything else, and any failure before the run was
handed over, goes on as a plain start.
"""

import os
import sys

# Keep in step with HANDED_OVER in starter.py.
HANDED_OVER = ("prefect.engine", "prefect.runner._workspace_supervisor")


def _hand_over() -> None:
    path = os.environ.get("REHEARSE_FLOW_STARTER")
    argv = list(getattr(sys, "orig_argv", []))
    if not path or "PREFECT__FLOW_RUN_ID" not in os.environ or argv[1:2] != ["-m"] or argv[2:3] == []:
        return
    if argv[2] not in HANDED_OVER:
        return
    import json
    import signal
    import socket
    import struct

    # A signal that comes during the hand-over (the worker cancelling the run at once) waits, blocked, until this
    # process knows whether it forwards signals to a child or starts the flow itself; then it is delivered.
    relayed = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, relayed)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.settimeout(5)
        conn.connect(path)
        body = json.dumps({"env": dict(os.environ), "cwd": os.getcwd(), "argv": argv[2:]})
        payload = body.encode()
        socket.send_fds(conn, [struct.pack("!I", len(payload)) + payload], [0, 1, 2])
        answers = conn.makefile("rb")
        first = answers.readline()
    except Exception:  # no starter, or a Python without fd passing: start as usual
        conn.close()
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return
    if not first.startswith(b"pid "):
        conn.close()
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return
    pid = int(first.split()[1])
    conn.settimeout(None)

    def forward(sig, _frame):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    # From here on the run is the child's: this process only ever ends as it did. Falling through to a plain
    # start would run the flow a second time (Running -> Running) instead of letting the worker see it crash.
    try:
        for sig in relayed:
            signal.signal(sig, forward)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        last = answers.readline()
        code = int(last.split()[1]) if last.startswith(b"exit ") else 1
    except BaseException:
        os._exit(1)
    if code < 0:
        # SIGKILL and SIGSTOP cannot be given a handler (signal.signal refuses them): they need no reset.
        if -code not in (signal.SIGKILL, signal.SIGSTOP):
            try:
                signal.signal(-code, signal.SIG_DFL)
            except (OSError, ValueError):
                pass
        os.kill(os.getpid(), -code)
        os._exit(128 - code)
    os._exit(code)


_hand_over()
