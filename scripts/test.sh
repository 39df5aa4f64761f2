#!/usr/bin/env bash
# Run the pytest suite against REAL PostgreSQL and Redis.
#
#   scripts/test.sh [pytest args...]
#
# DATABASE_URL / REDIS_URL: used as-is when set. Otherwise a throwaway server
# is started under .tmp/ (git-ignored) on a free 127.0.0.1 port and removed
# again on exit. Only servers started by this script are ever stopped.
#
# Overrides (mainly for testing this script):
#   PG_BIN_DIR    directory holding initdb / pg_ctl / postgres
#   REDIS_SERVER  path to the redis-server binary
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TMP_ROOT="$ROOT/.tmp"

PY="$ROOT/.venv/bin/python"
if [[ ! -x $PY ]]; then
    echo "test.sh: $PY not found; run 'make venv' first" >&2
    exit 1
fi

log() { echo "test.sh: $*" >&2; }
die() { echo "$*" >&2; exit 1; }

# shellcheck source=scripts/postgres.sh
source "$ROOT/scripts/postgres.sh"

# ---------------------------------------------------------------- cleanup ---
REDIS_WORK=""
REDIS_PIDFILE=""

cleanup() {
    local rc=$?
    set +e
    pg_stop
    if [[ -n $REDIS_PIDFILE && -f $REDIS_PIDFILE ]]; then
        local rpid i
        rpid="$(cat "$REDIS_PIDFILE" 2>/dev/null)"
        if [[ $rpid =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$rpid/cmdline" 2>/dev/null | grep -q redis-server; then
            kill "$rpid" 2>/dev/null
            for i in $(seq 50); do kill -0 "$rpid" 2>/dev/null || break; sleep 0.1; done
            kill -0 "$rpid" 2>/dev/null && kill -9 "$rpid" 2>/dev/null
        fi
    fi
    [[ -n $REDIS_WORK ]] && rm -rf "$REDIS_WORK"
    rmdir "$TMP_ROOT" 2>/dev/null
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

redact_url() { sed -E 's#(://[^:/@]*):[^@/]*@#\1:***@#' <<<"$1"; }

# ------------------------------------------------------------------ Redis ---
find_redis() {
    if [[ -n ${REDIS_SERVER:-} ]]; then
        [[ -x $REDIS_SERVER ]] && { echo "$REDIS_SERVER"; return 0; }
        return 1
    fi
    command -v redis-server 2>/dev/null && return 0
    [[ -x /usr/bin/redis-server ]] && { echo /usr/bin/redis-server; return 0; }
    return 1
}

redis_ping() {  # port -> 0 if +PONG
    "$PY" - "$1" <<'PYEOF' 2>/dev/null
import socket, sys
try:
    with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.5) as s:
        s.sendall(b"PING\r\n")
        sys.exit(0 if s.recv(64).startswith(b"+PONG") else 1)
except OSError:
    sys.exit(1)
PYEOF
}

start_redis() {
    local server
    server="$(find_redis)" || die "redis-server not found: install the Debian package 'redis-server'"

    mkdir -p "$TMP_ROOT"
    REDIS_WORK="$(mktemp -d "$TMP_ROOT/redis-$$-XXXXXX")"
    REDIS_PIDFILE="$REDIS_WORK/redis.pid"

    local attempt i
    for attempt in 1 2 3; do
        REDIS_PORT="$(free_port)"
        rm -f "$REDIS_PIDFILE"
        "$server" --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
            --dir "$REDIS_WORK" --daemonize yes --pidfile "$REDIS_PIDFILE" \
            --logfile "$REDIS_WORK/redis.log" \
            || { log "redis-server exited with an error"; continue; }
        for i in $(seq 100); do
            if redis_ping "$REDIS_PORT"; then
                export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
                REDIS_DESC="throwaway Redis $("$server" --version | sed -nE 's/.* v=([^ ]+).*/\1/p') ($server) at $REDIS_URL"
                return 0
            fi
            # Server died (e.g. port grabbed in between)? Retry with a new port.
            if [[ -f $REDIS_PIDFILE ]] && ! kill -0 "$(cat "$REDIS_PIDFILE")" 2>/dev/null; then break; fi
            sleep 0.1
        done
        log "Redis did not answer PING on port $REDIS_PORT (attempt $attempt):"
        tail -n 20 "$REDIS_WORK/redis.log" >&2 || true
        if [[ -f $REDIS_PIDFILE ]]; then kill "$(cat "$REDIS_PIDFILE")" 2>/dev/null || true; fi
    done
    die "test.sh: could not start Redis"
}

# -------------------------------------------------------------------- main ---
# Look up every binary we need before starting anything.
if [[ -z ${DATABASE_URL:-} ]]; then
    find_pg_bin >/dev/null \
        || die "postgres binaries not found: install the Debian package 'postgresql' (apt-get install postgresql)"
fi
if [[ -z ${REDIS_URL:-} ]]; then
    find_redis >/dev/null || die "redis-server not found: install the Debian package 'redis-server'"
fi

if [[ -n ${DATABASE_URL:-} ]]; then
    PG_DESC="DATABASE_URL from environment: $(redact_url "$DATABASE_URL")"
else
    pg_start pg
    PG_DESC="throwaway PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') ($PG_BIN) at $DATABASE_URL"
fi

if [[ -n ${REDIS_URL:-} ]]; then
    REDIS_DESC="REDIS_URL from environment: $(redact_url "$REDIS_URL")"
else
    start_redis
fi

echo "test.sh: PostgreSQL: $PG_DESC | Redis: $REDIS_DESC"

rc=0
"$PY" -m pytest "$@" || rc=$?
if [[ $rc == 5 ]]; then
    echo "test.sh: pytest collected no tests (exit code 5); treating this as a failure" >&2
    rc=1
fi
exit "$rc"
