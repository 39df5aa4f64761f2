"""The processes of a deployment, started from the Procfile's own commands.

web (gunicorn), worker and beat run word for word as the Procfile says, each in a session
of its own, with the production settings (DEBUG off) read from the environment. Each one
writes `<name>.pid` into the work directory, so scripts/soak.sh can stop what a killed
driver left behind.
"""

import http.client
import os
import secrets
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from honcho.environ import parse_procfile

from devstack.processes import process_start, process_stop

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = ("web", "worker", "beat")
LIVE_PATH = "/api/v1/health/live/"
# Settings a caller's shell may hold that must not reach the soak's processes.
_SCRUBBED = (
    "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "PROMETHEUS_MULTIPROC_DIR",
    "GUNICORN_CMD_ARGS", "SENTRY_DSN", "ALERT_WEBHOOK_URL", "ADMINS", "EMAIL_URL",
)


@dataclass(frozen=True)
class Settings:
    """What the soak's processes are told through the environment."""

    database_url: str
    redis_url: str
    port: int
    ttl_seconds: int
    release_interval_seconds: int
    web_concurrency: int
    worker_concurrency: int
    monitoring_check_interval_seconds: int = 10
    payment_window_seconds: int = 0


def procfile_commands() -> dict[str, list[str]]:
    """The Procfile's commands, split into argument lists."""
    processes = parse_procfile((ROOT / "Procfile").read_text()).processes
    return {name: shlex.split(command) for name, command in processes.items()}


def url_with_application_name(url: str, name: str) -> str:
    """DATABASE_URL with `application_name`, so the database tells the processes apart."""
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, f"application_name={name}"]))
    return urlunsplit(parts._replace(query=query))


def environment(settings: Settings, *, application_name: str) -> dict[str, str]:
    """The environment of one process of the soak (and of the driver itself)."""
    env = {key: value for key, value in os.environ.items() if key not in _SCRUBBED}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="0",
        SECRET_KEY=os.environ.setdefault("SOAK_SECRET_KEY", secrets.token_urlsafe(50)),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=url_with_application_name(settings.database_url, application_name),
        REDIS_URL=settings.redis_url,
        # The throttles stay on (their Redis round trip is part of every cart write) with
        # a rate no run reaches: every shopper of the soak comes from 127.0.0.1.
        THROTTLE_CART_CREATE="100000000/min",
        THROTTLE_CART_WRITE="100000000/min",
        RESERVATION_TTL_SECONDS=str(settings.ttl_seconds),
        ORDER_PAYMENT_WINDOW_SECONDS=str(settings.payment_window_seconds),
        RESERVATION_RELEASE_INTERVAL_SECONDS=str(settings.release_interval_seconds),
        MONITORING_CHECK_INTERVAL_SECONDS=str(settings.monitoring_check_interval_seconds),
        PORT=str(settings.port),
        WEB_CONCURRENCY=str(settings.web_concurrency),
        CELERY_WORKER_CONCURRENCY=str(settings.worker_concurrency),
        PYTHONUNBUFFERED="1",
        PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    )
    return env


def http_get(port: int, path: str, timeout: float = 5) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


class Stack:
    """web, worker and beat; `stop()` stops all three, also when the run failed."""

    def __init__(self, settings: Settings, work: Path) -> None:
        self.settings = settings
        self.work = work
        self.commands = procfile_commands()
        self.processes: dict[str, subprocess.Popen] = {}

    def log_path(self, name: str) -> Path:
        return self.work / f"{name}.log"

    def start(self, name: str) -> None:
        env = environment(self.settings, application_name=f"stockhold-{name}")
        if name == "web":
            # Loopback only, and a control socket of its own rather than the shared
            # default path of any other gunicorn on this machine.
            env["GUNICORN_CMD_ARGS"] = (
                f"--bind 127.0.0.1:{self.settings.port} "
                f"--control-socket {self.work / 'gunicorn.ctl'}"
            )
        process = process_start(self.commands[name], env=env, log_path=self.log_path(name))
        self.processes[name] = process
        (self.work / f"{name}.pid").write_text(str(process.pid))

    def wait_web(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            try:
                if http_get(self.settings.port, LIVE_PATH) == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"web did not answer within {timeout:.0f} s\n{self.tail('web')}")
            time.sleep(0.3)

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with code {process.returncode}\n{self.tail(name)}"
                )

    def stop(self, name: str, timeout: float = 30) -> int | None:
        """Stop one process and its children (warm shutdown first); return its exit code."""
        process = self.processes.pop(name, None)
        if process is None:
            return None
        code = process_stop(process, timeout=timeout)
        (self.work / f"{name}.pid").unlink(missing_ok=True)
        return code

    def stop_all(self) -> None:
        for name in reversed(list(self.processes)):
            self.stop(name)

    def tail(self, name: str, lines: int = 30) -> str:
        try:
            text = self.log_path(name).read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])
