"""Start Karn on this machine: gunicorn and the worker, stopped together by Ctrl-C."""

import os
import signal
import subprocess
import sys
import time

from karn.config import DEFAULT_BIND

BIND = os.environ.get("KARN_BIND") or DEFAULT_BIND
WEB_WORKERS = os.environ.get("KARN_WEB_WORKERS", "2")
# Threads per web process: while one request waits on the database another
# runs; at most the connection pool's size (5).
WEB_THREADS = os.environ.get("KARN_WEB_THREADS", "4")


def main() -> int:
    """Run both processes; when one ends or Ctrl-C is pressed, stop the other."""
    python = sys.executable
    bindir = os.path.dirname(python)
    web = subprocess.Popen(
        [
            os.path.join(bindir, "gunicorn"),
            "--bind",
            BIND,
            "--workers",
            WEB_WORKERS,
            "--worker-class",
            "gthread",
            "--threads",
            WEB_THREADS,
            "--access-logfile",
            "-",
            "karn.app:create_app()",
        ]
    )
    worker = subprocess.Popen([os.path.join(bindir, "flask"), "worker"])
    children = [web, worker]
    print(f"Karn is running at http://{BIND}/ (Ctrl-C stops it)", flush=True)

    stopping = False

    def stop(*_args):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while not stopping and all(child.poll() is None for child in children):
        time.sleep(0.2)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    failed = [c for c in children if c.returncode not in (0, -signal.SIGTERM)]
    return 1 if failed and not stopping else 0


if __name__ == "__main__":
    sys.exit(main())
