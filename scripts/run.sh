#!/usr/bin/env bash
# `make run`: the whole stack on one machine that has only Python. Migrates SQLite, seeds
# the demo catalogue and admin/admin, then starts web, worker, beat and Flower from the
# Procfile under honcho, side by side. One Ctrl-C stops all four.
#
# Every default below applies only when the variable is unset, so e.g.
# `DATABASE_URL=postgres://... REDIS_URL=redis://... make run` runs the same processes on
# real servers. Without REDIS_URL / CELERY_BROKER_URL, Celery uses kombu's filesystem
# broker under var/celery (config/settings.py), which needs no server.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

: "${DEBUG:=1}"
: "${SECRET_KEY:=dev-insecure-key-for-local-use-only}"
: "${ALLOWED_HOSTS:=*}"
: "${PORT:=8000}"
mkdir -p var
: "${DATABASE_URL:=sqlite:///$(pwd)/var/stockhold.sqlite3}"
: "${WEB_CONCURRENCY:=2}"
# SQLite has one writer at a time: more worker processes would only queue for it.
: "${CELERY_WORKER_CONCURRENCY:=1}"
: "${FLOWER_PORT:=5555}"
: "${FLOWER_BASIC_AUTH:=admin:admin}"
# Flower's /metrics answers without a login: keep it on loopback unless asked otherwise.
: "${FLOWER_ADDRESS:=127.0.0.1}"
# Logs through honcho's pipes as they happen, not when a buffer fills.
: "${PYTHONUNBUFFERED:=1}"
export DEBUG SECRET_KEY ALLOWED_HOSTS PORT DATABASE_URL WEB_CONCURRENCY \
    CELERY_WORKER_CONCURRENCY FLOWER_PORT FLOWER_BASIC_AUTH FLOWER_ADDRESS PYTHONUNBUFFERED

VENV="$(pwd)/.venv"
PY="$VENV/bin/python"
if [[ ! -x $PY || ! -x $VENV/bin/honcho ]]; then
    echo "run.sh: $PY or honcho not found; run 'make venv' first" >&2
    exit 1
fi
# The Procfile names gunicorn and celery; they live in the venv.
export PATH="$VENV/bin:$PATH"

# Fail before touching the database: a port in use would stop every process a moment after
# start, and a second stack on this checkout is refused anyway (see LAUNCH below).
"$PY" - "$PORT" "$FLOWER_ADDRESS" "$FLOWER_PORT" <<'PYCODE'
import fcntl
import socket
import sys

with open("var/make-run.lock", "a") as lock:
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.exit("run.sh: another `make run` is using this checkout (var/); stop it first")

web_port, flower_address, flower_port = sys.argv[1:]
for name, address, port in (
    ("PORT", "0.0.0.0", web_port),
    ("FLOWER_PORT", flower_address or "0.0.0.0", flower_port),
):
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, int(port)))
        except OSError as exc:
            sys.exit(f"run.sh: {name}={port} cannot be used ({exc}); set {name} to a free port")
PYCODE

"$PY" manage.py migrate --noinput
"$PY" manage.py seed_demo

redact() { sed -E 's#(://[^:/@]*):[^@/]*@#\1:***@#' <<<"$1"; }
broker="${CELERY_BROKER_URL:-${REDIS_URL:-}}"
fs_broker=0
if [[ -z $broker || $broker == filesystem://* ]]; then
    fs_broker=1
    broker="filesystem (var/celery/, no server)"
else
    broker="$(redact "$broker")"
fi
flower_user="${FLOWER_BASIC_AUTH%%,*}"

cat <<BANNER

  stockhold: web, worker, beat and Flower (Ctrl-C stops all four)
    API     http://127.0.0.1:${PORT}/api/v1/products/
    admin   http://127.0.0.1:${PORT}/admin/   (login admin / admin)
    docs    http://127.0.0.1:${PORT}/api/docs/
    Flower  http://127.0.0.1:${FLOWER_PORT}/   (login ${flower_user%%:*} / ${flower_user#*:})
    database $(redact "$DATABASE_URL")
    broker   $broker

BANNER

# honcho, started from Python to hold var/make-run.lock for as long as the stack runs and
# to clear the filesystem broker's leftovers first. --port: honcho hands PORT to the first
# Procfile entry (web), PORT+100 to the next, and so on.
read -r -d '' LAUNCH <<'PYCODE' || true
import fcntl
import json
import sys
from pathlib import Path

import honcho.manager
from honcho.command import main

broker_is_filesystem, *honcho_argv = sys.argv[1:]

# Two stacks on one checkout would share the SQLite file and the broker folders, and run
# two beats, so every scheduled task would be sent twice.
lock = open("var/make-run.lock", "a")  # held until honcho exits
try:
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    sys.exit("run.sh: another `make run` is using this checkout (var/); stop it first")


def per_process(queue):
    # Event receivers (Flower) and remote-control mailboxes belong to one process and are
    # declared again when it starts; task queues such as `celery` are kept.
    return queue.startswith("celeryev.") or queue.endswith(".pidbox")


if broker_is_filesystem == "1":
    # kombu's filesystem transport never expires a queue: the event queue of every Flower
    # that ever ran stays bound, and each worker event is written once more per stopped
    # Flower, into files nobody reads. Nothing of this stack runs now (we hold the lock).
    celery_dir = Path("var/celery")
    for table in (celery_dir / "control").glob("*.exchange"):
        with table.open("r+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            bindings = json.loads(f.read() or "[]")
            kept = [b for b in bindings if not per_process(b[2])]
            if kept != bindings:
                f.seek(0)
                f.write(json.dumps(kept))
                f.truncate()
    for message in (celery_dir / "queue").glob("*.msg"):
        if per_process(message.name.partition(".")[2].removesuffix(".msg")):
            message.unlink(missing_ok=True)

# A warm Celery shutdown takes 4-7 s on the filesystem broker (it polls); honcho's 5 s
# before SIGKILL would cut it short and interrupt a running task.
honcho.manager.KILL_WAIT = 15
main(["start", *honcho_argv])
PYCODE
exec "$PY" -c "$LAUNCH" "$fs_broker" -f Procfile --port "$PORT"
