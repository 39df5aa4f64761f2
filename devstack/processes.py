"""Start and stop the project's own processes (web, worker, beat) for tests, bench and soak.

Each runs in a session of its own, so a stop reaches its children too (gunicorn's and
Celery's workers) and a Ctrl-C meant for the harness does not reach it first.
"""

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def process_start(argv: list[str], *, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """Start `argv` from the repository root with `env`; its output is appended to `log_path`."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(  # noqa: S603 - the project's own commands
            argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )


def process_stop(process: subprocess.Popen, *, timeout: float = 30) -> int | None:
    """Stop a process of `process_start` and its children; return its exit code.

    SIGTERM to the whole group first (Celery and gunicorn shut down warmly on it), SIGKILL
    when it is not gone within `timeout` seconds.
    """
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        except ProcessLookupError:
            process.wait(timeout=10)
    return process.returncode


@contextmanager
def process_running(
    argv: list[str], *, env: dict[str, str], log_path: Path, timeout: float = 15
) -> Iterator[subprocess.Popen]:
    """Run `argv` for the duration of the block; stop it and its children after."""
    process = process_start(argv, env=env, log_path=log_path)
    try:
        yield process
    finally:
        process_stop(process, timeout=timeout)
