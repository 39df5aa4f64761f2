#!/usr/bin/env bash
# Local dev server: migrate, seed the demo catalog + admin/admin, runserver.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

: "${DEBUG:=1}"
: "${SECRET_KEY:=dev-insecure-key-for-local-use-only}"
: "${ALLOWED_HOSTS:=*}"
: "${PORT:=8000}"
mkdir -p var
: "${DATABASE_URL:=sqlite:///$(pwd)/var/stockhold.sqlite3}"
export DEBUG SECRET_KEY ALLOWED_HOSTS PORT DATABASE_URL

PY=.venv/bin/python
if [[ ! -x $PY ]]; then
    echo "run.sh: $PY not found; run 'make venv' first" >&2
    exit 1
fi

"$PY" manage.py migrate --noinput
"$PY" manage.py seed_demo

cat <<BANNER

  stockhold dev server
    API    http://127.0.0.1:${PORT}/api/v1/products/
    admin  http://127.0.0.1:${PORT}/admin/   (login admin / admin)
    docs   http://127.0.0.1:${PORT}/api/docs/

BANNER

exec "$PY" manage.py runserver "0.0.0.0:${PORT}"
