"""The processes of a deployment, started from the Procfile's own commands.

web (gunicorn), worker and beat run word for word as the Procfile says, each in a session
of its own, with the production settings (DEBUG off) read from the environment. Each one
writes `<name>.pid` into the work directory, so scripts/soak.sh can stop what a killed
driver left behind.

With several nodes (`--nodes N`), web and worker run N times each, as N machines would
run them: every web node on a port of its own, every worker under a node name of its own
(a container has its own host name; on one machine `--hostname` gives it), and one beat.
They reach PostgreSQL through PgBouncer in transaction mode (DATABASE_POOLER=transaction).
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
    ports: tuple[int, ...]  # one per web node
    ttl_seconds: int
    release_interval_seconds: int
    web_concurrency: int
    worker_concurrency: int
    monitoring_check_interval_seconds: int = 10
    payment_window_seconds: int = 0
    # The processes' database when it is not `database_url` (a pooler in front of it),
    # and the pooling it does (DATABASE_POOLER).
    pooled_database_url: str = ""
    database_pooler: str = ""

    @property
    def nodes(self) -> int:
        return len(self.ports)


def procfile_commands() -> dict[str, list[str]]:
    """The Procfile's commands, split into argument lists."""
    processes = parse_procfile((ROOT / "Procfile").read_text()).processes
    return {name: shlex.split(command) for name, command in processes.items()}


def url_with_application_name(url: str, name: str) -> str:
    """DATABASE_URL with `application_name`, so the database tells the processes apart."""
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, f"application_name={name}"]))
    return urlunsplit(parts._replace(query=query))


def url_with_port(url: str, port: int) -> str:
    """Return DATABASE_URL with the server at 127.0.0.1:`port` (the pooler in front)."""
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(
        netloc=f"{credentials}@127.0.0.1:{port}" if credentials else f"127.0.0.1:{port}"
    ))


def environment(settings: Settings, *, application_name: str,
                pooled: bool = False) -> dict[str, str]:
    """Return the environment of one process of the soak (and of the driver itself, which
    reaches PostgreSQL directly, as `migrate` does in docker-compose.yml)."""
    env = {key: value for key, value in os.environ.items() if key not in _SCRUBBED}
    pooler = pooled and bool(settings.pooled_database_url)
    url = settings.pooled_database_url if pooler else settings.database_url
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="0",
        SECRET_KEY=os.environ.setdefault("SOAK_SECRET_KEY", secrets.token_urlsafe(50)),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=url_with_application_name(url, application_name),
        DATABASE_POOLER=settings.database_pooler if pooler else "",
        REDIS_URL=settings.redis_url,
        # The throttles stay on (their Redis round trip is part of every cart write) with
        # a rate no run reaches: every shopper of the soak comes from 127.0.0.1.
        THROTTLE_CART_CREATE="100000000/min",
        THROTTLE_CART_WRITE="100000000/min",
        RESERVATION_TTL_SECONDS=str(settings.ttl_seconds),
        ORDER_PAYMENT_WINDOW_SECONDS=str(settings.payment_window_seconds),
        RESERVATION_RELEASE_INTERVAL_SECONDS=str(settings.release_interval_seconds),
        MONITORING_CHECK_INTERVAL_SECONDS=str(settings.monitoring_check_interval_seconds),
        PORT=str(settings.ports[0]),
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
    """web, worker and beat; `stop_all()` stops them all, also when the run failed.

    A process is named by its Procfile entry, with its node when there are several:
    `web-1`, `web-2`, `worker-1`, ... `stop("web")` stops every web node.
    """

    def __init__(self, settings: Settings, work: Path) -> None:
        self.settings = settings
        self.work = work
        self.commands = procfile_commands()
        self.processes: dict[str, subprocess.Popen] = {}

    def log_path(self, name: str) -> Path:
        return self.work / f"{name}.log"

    def names(self, entry: str) -> list[str]:
        """Return the processes of a Procfile entry: one per node for web and worker."""
        if entry == "beat" or self.settings.nodes == 1:
            return [entry]
        return [f"{entry}-{node}" for node in range(1, self.settings.nodes + 1)]

    def start(self, entry: str) -> None:
        """Start the Procfile entry `entry`, on every node where it runs on each."""
        for node, name in enumerate(self.names(entry), start=1):
            self._start(entry, name, node)

    def _start(self, entry: str, name: str, node: int) -> None:
        # Every web node and every worker is `stockhold-web` or `stockhold-worker` to the
        # database: the audit counts what each kind of process did.
        env = environment(self.settings, application_name=f"stockhold-{entry}", pooled=True)
        argv = list(self.commands[entry])
        if entry == "web":
            # Loopback only, and a control socket of its own rather than the shared
            # default path of any other gunicorn on this machine.
            port = self.settings.ports[node - 1]
            env["PORT"] = str(port)
            env["GUNICORN_CMD_ARGS"] = (
                f"--bind 127.0.0.1:{port} --control-socket {self.work / f'{name}.ctl'}"
            )
        if entry == "worker" and self.settings.nodes > 1:
            argv.append(f"--hostname={name}@%h")
        process = process_start(argv, env=env, log_path=self.log_path(name))
        self.processes[name] = process
        (self.work / f"{name}.pid").write_text(str(process.pid))

    def wait_web(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        for name, port in zip(self.names("web"), self.settings.ports, strict=True):
            while True:
                self.check_alive()
                try:
                    if http_get(port, LIVE_PATH) == 200:
                        break
                except (OSError, http.client.HTTPException):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{name} did not answer within {timeout:.0f} s\n{self.tail(name)}"
                    )
                time.sleep(0.3)

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with code {process.returncode}\n{self.tail(name)}"
                )

    def stop(self, entry: str, timeout: float = 30) -> None:
        """Stop the processes of a Procfile entry and their children (warm shutdown first)."""
        for name in self.names(entry):
            self._stop(name, timeout=timeout)

    def _stop(self, name: str, timeout: float = 30) -> int | None:
        process = self.processes.pop(name, None)
        if process is None:
            return None
        code = process_stop(process, timeout=timeout)
        (self.work / f"{name}.pid").unlink(missing_ok=True)
        return code

    def stop_all(self) -> None:
        for name in reversed(list(self.processes)):
            self._stop(name)

    def tail(self, entry: str, lines: int = 30) -> str:
        """Return the last lines of the log of a process, or of each process of an entry."""
        names = self.names(entry) if entry in PROCESSES else [entry]
        parts = []
        for name in names:
            try:
                text = self.log_path(name).read_text(errors="replace")
            except OSError:
                continue
            tail = "\n".join(text.splitlines()[-lines:])
            parts.append(tail if len(names) == 1 else f"[{name}]\n{tail}")
        return "\n".join(parts)
