"""Run a command with PostgreSQL and Valkey of its own.

    python -m devstack run [--persist DIR] [--no-valkey] -- COMMAND [ARG...]

Starts PostgreSQL (and Valkey, unless --no-valkey) on free 127.0.0.1 ports, exports
DATABASE_URL and REDIS_URL, runs COMMAND, and stops the servers when it ends. A URL
already set in the environment is used as it is, and its server is not started.

Without --persist the servers are throwaway (under .tmp/, removed afterwards). With
--persist DIR their data is kept in DIR/postgres and DIR/valkey, and DIR/devstack.lock
keeps a second stack off the same data while this one runs.

SIGINT, SIGTERM and SIGHUP sent to this process go to COMMAND's process group; the servers
stop once COMMAND has exited. On a terminal COMMAND is the foreground job, so Ctrl-C reaches
it alone, once. Exit status: COMMAND's (128 + N when a signal N ended it).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from devstack.servers import Postgres, ServerError, Valkey

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _Stop(Exception):
    """A signal arrived before COMMAND was started."""


def _redact(url: str) -> str:
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


def _lock(directory: Path):
    directory.mkdir(parents=True, exist_ok=True)
    handle = open(directory / "devstack.lock", "a")  # held until we exit
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.exit(f"devstack: another stack is using {directory}/; stop it first")
    return handle


def _terminal() -> int | None:
    """Return stdin's fd if it is a terminal whose foreground job we are part of."""
    try:
        if os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp():
            return 0
    except OSError:
        pass
    return None


def _give_terminal(fd: int, pgrp: int) -> None:
    # A background process group may only take the terminal back with SIGTTOU ignored.
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(fd, pgrp)
    finally:
        signal.signal(signal.SIGTTOU, previous)


def _spawn(argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    terminal = _terminal()

    def own_group():
        # A group of its own: signals reach COMMAND and all it started, never the servers.
        os.setpgid(0, 0)
        if terminal is not None:
            _give_terminal(terminal, os.getpgrp())

    process = subprocess.Popen(argv, env=env, preexec_fn=own_group)  # noqa: S603
    if terminal is not None:
        with contextlib.suppress(OSError):
            _give_terminal(terminal, process.pid)
    return process


def run(argv: list[str], *, persist: Path | None, valkey: bool, durable: bool = False) -> int:
    """Start the servers, run `argv` with their URLs, stop them; return its exit status."""
    lock = _lock(persist) if persist else None
    child: subprocess.Popen | None = None
    terminal = _terminal()

    def on_signal(signum, frame):
        if child is None:
            raise _Stop(signum)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signum)

    for signum in FORWARDED:
        # Ignored when we started (e.g. a background job of a script): stays ignored.
        if signal.getsignal(signum) != signal.SIG_IGN:
            signal.signal(signum, on_signal)

    env = dict(os.environ)
    started: list[Postgres | Valkey] = []
    lines = []
    # (variable, server class, what a given URL is, folder under --persist)
    wanted = [("DATABASE_URL", Postgres, "PostgreSQL", "postgres")]
    if valkey:
        wanted.append(("REDIS_URL", Valkey, "Redis", "valkey"))
    try:
        for variable, server_class, kind, folder in wanted:
            if env.get(variable):
                lines.append(f"{kind} from {variable} {_redact(env[variable])}")
                continue
            server = server_class(workdir=persist / folder if persist else None,
                                  durable=durable)
            started.append(server)
            server.start()
            env[variable] = server.url
            lines.append(server.describe())
        print(f"devstack: {'; '.join(lines)}", file=sys.stderr, flush=True)

        child = _spawn(argv, env)
        returncode = child.wait()
    except _Stop as stop:
        returncode = 128 + stop.args[0]
    except ServerError as error:
        print(f"devstack: {error}", file=sys.stderr)
        returncode = 1
    finally:
        if terminal is not None:
            with contextlib.suppress(OSError):
                _give_terminal(terminal, os.getpgrp())
        for signum in FORWARDED:
            if signal.getsignal(signum) == on_signal:
                signal.signal(signum, signal.SIG_IGN)  # stop the servers undisturbed
        for server in reversed(started):
            try:
                server.close()
            except ServerError as error:
                print(f"devstack: {error}", file=sys.stderr)
        if lock is not None:
            lock.close()
    return 128 - returncode if returncode < 0 else returncode


def main(args: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack", description=__doc__.split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="run COMMAND with PostgreSQL and Valkey")
    run_parser.add_argument("--persist", type=Path, metavar="DIR",
                            help="keep the data under DIR (default: throwaway servers)")
    run_parser.add_argument("--no-valkey", action="store_true",
                            help="start PostgreSQL only (REDIS_URL is left as it is)")
    run_parser.add_argument("--durable", action="store_true",
                            help="throwaway servers that write as production does (fsync on)")
    run_parser.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- COMMAND")
    options = parser.parse_args(args)
    argv = options.argv[1:] if options.argv[:1] == ["--"] else options.argv
    if not argv:
        parser.error("no COMMAND given after --")
    persist = options.persist.resolve() if options.persist else None
    return run(argv, persist=persist, valkey=not options.no_valkey, durable=options.durable)


if __name__ == "__main__":
    sys.exit(main())
