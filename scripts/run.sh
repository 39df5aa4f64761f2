#!/usr/bin/env bash
# `make run`: the whole stack on one machine that has only Python. Starts PostgreSQL and
# Valkey from the `embedded` extra with their data under var/ (python -m devstack run
# --persist var), migrates, seeds the demo catalogue and admin/admin, then starts web,
# worker, beat and Flower from the Procfile under honcho, side by side. One Ctrl-C stops
# all four, then the two servers.
#
# Every default below applies only when the variable is unset, so e.g.
# `DATABASE_URL=postgres://... REDIS_URL=redis://... make run` runs the same processes on
# servers of your own (and starts none).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

: "${DEBUG:=1}"
: "${SECRET_KEY:=dev-insecure-key-for-local-use-only}"
: "${ALLOWED_HOSTS:=*}"
: "${PORT:=8000}"
: "${WEB_CONCURRENCY:=2}"
: "${CELERY_WORKER_CONCURRENCY:=2}"
: "${FLOWER_PORT:=5555}"
: "${FLOWER_BASIC_AUTH:=admin:admin}"
# Flower's /metrics answers without a login: keep it on loopback unless asked otherwise.
: "${FLOWER_ADDRESS:=127.0.0.1}"
# Logs through honcho's pipes as they happen, not when a buffer fills.
: "${PYTHONUNBUFFERED:=1}"
export DEBUG SECRET_KEY ALLOWED_HOSTS PORT WEB_CONCURRENCY \
    CELERY_WORKER_CONCURRENCY FLOWER_PORT FLOWER_BASIC_AUTH FLOWER_ADDRESS PYTHONUNBUFFERED

VENV="$(pwd)/.venv"
PY="$VENV/bin/python"
if [[ ! -x $PY || ! -x $VENV/bin/honcho ]]; then
    echo "run.sh: $PY or honcho not found; run 'make venv' first" >&2
    exit 1
fi
# The Procfile names gunicorn and celery; they live in the venv.
export PATH="$VENV/bin:$PATH"

# Fail before starting anything: a port in use would stop every process a moment after
# start. A second stack on this checkout would share var/ and run a second beat, which
# sends every scheduled task twice: devstack holds var/devstack.lock while the stack runs.
preflight() {
    mkdir -p var
    "$PY" - "$PORT" "$FLOWER_ADDRESS" "$FLOWER_PORT" <<'PYCODE'
import fcntl
import socket
import sys

with open("var/devstack.lock", "a") as lock:
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
}

# The servers first (unless DATABASE_URL and REDIS_URL are set), then this script again
# to run the stack on them; devstack stops the servers once honcho has exited.
if [[ ${1:-} != --servers-up ]]; then
    preflight
    exec "$PY" -m devstack run --persist var -- "$0" --servers-up
fi

"$PY" manage.py migrate --noinput
"$PY" manage.py seed_demo

redact() { sed -E 's#(://[^:/@]*):[^@/]*@#\1:***@#' <<<"$1"; }
flower_user="${FLOWER_BASIC_AUTH%%,*}"

cat <<BANNER

  stockhold: web, worker, beat and Flower (Ctrl-C stops all four)
    API     http://127.0.0.1:${PORT}/api/v1/products/
    admin   http://127.0.0.1:${PORT}/admin/   (login admin / admin)
    docs    http://127.0.0.1:${PORT}/api/docs/   (ReDoc: /api/redoc/)
    Flower  http://127.0.0.1:${FLOWER_PORT}/   (login ${flower_user%%:*} / ${flower_user#*:})
    database $(redact "$DATABASE_URL")
    broker   $(redact "${CELERY_BROKER_URL:-$REDIS_URL}")

BANNER

# --port: honcho hands PORT to the first Procfile entry (web), PORT+100 to the next, and so on.
exec "$PY" -m honcho start -f Procfile --port "$PORT"
