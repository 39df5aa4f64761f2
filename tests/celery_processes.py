"""Start the project's worker and beat as real processes against the test database."""

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from devstack.processes import ROOT, process_running


def process_env(**overrides: str) -> dict[str, str]:
    """Environment for a subprocess that uses the test database and the test Redis."""
    db = settings.DATABASES["default"]
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": "celery-test-secret-key-long-enough-for-the-production-check",
        "DEBUG": "0",
        "DATABASE_URL": "postgres://{USER}@{HOST}:{PORT}/{NAME}".format(**db),
        "REDIS_URL": os.environ["REDIS_URL"],
        "CELERY_BROKER_URL": os.environ["REDIS_URL"],
        "PYTHONUNBUFFERED": "1",
        **overrides,
    }


def manage(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `manage.py ARGS` in a fresh interpreter with `env`; the caller checks the result."""
    return subprocess.run(  # noqa: S603 - the project's own manage.py
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )


def _wait_for_worker(app, process, log_path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"worker exited early:\n{log_path.read_text()}")
        if app.control.ping(timeout=0.5):
            return
    raise RuntimeError(f"worker did not answer a ping:\n{log_path.read_text()}")


def running(argv: list[str], env: dict[str, str], log_path: Path):
    """Run a process for the duration of the block; stop it and its children after."""
    return process_running(argv, env=env, log_path=log_path)


@contextmanager
def worker(tmp_path: Path, app_module: str = "tests.worker_app", **env_overrides: str):
    """A real `celery worker` (solo pool) on the test Redis; yields its log path."""
    from config.celery import app

    app.control.purge()
    log_path = tmp_path / "worker.log"
    argv = [
        sys.executable, "-m", "celery", "-A", app_module, "worker",
        "--pool=solo", "--loglevel=INFO", "--without-gossip", "--without-mingle",
        f"--hostname=test-worker-{os.getpid()}@%h",
    ]
    with running(argv, process_env(**env_overrides), log_path) as process:
        _wait_for_worker(app, process, log_path)
        yield log_path


@contextmanager
def beat(tmp_path: Path, **env_overrides: str):
    """A real `celery beat` with the DatabaseScheduler; yields its log path."""
    log_path = tmp_path / "beat.log"
    argv = [
        sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel=INFO",
        "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler",
        "--pidfile", str(tmp_path / "beat.pid"),
    ]
    with running(argv, process_env(**env_overrides), log_path):
        yield log_path


def wait_until(predicate, *, timeout: float, interval: float = 0.2, message: str = ""):
    """Poll `predicate` until it returns a truthy value; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message or "condition not met in time")
        time.sleep(interval)
