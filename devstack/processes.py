"""Start and stop the project's own processes (web, worker, beat) for tests, bench and soak.

Each runs in a session of its own, so a stop reaches its children too (gunicorn's and
Celery's workers) and a Ctrl-C meant for the harness does not reach it first. The Celery
worker's pool processes leave its process group (config/celery.py) but not its session:
SIGTERM goes to the group, a kill to the whole session.
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


def session_pids(session: int) -> list[int]:
    """Return the live processes of `session` (Linux /proc; empty where there is none)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp session ...: comm may hold spaces and parentheses.
        fields = text.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[3]) == session:
            pids.append(int(stat.parent.name))
    return pids


def process_kill(process: subprocess.Popen) -> None:
    """SIGKILL a process of `process_start` and everything in its session, as a crash would."""
    for pid in {process.pid, *session_pids(process.pid)}:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def process_stop(process: subprocess.Popen, *, timeout: float = 30) -> int | None:
    """Stop a process of `process_start` and its children; return its exit code.

    SIGTERM to the whole group first (Celery and gunicorn shut down warmly on it), SIGKILL
    to the whole session when it is not gone within `timeout` seconds.
    """
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process_kill(process)
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
