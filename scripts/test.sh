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

# ---------------------------------------------------------------- cleanup ---
PG_WORK=""       # dir holding data/, sock/, postgres.log (only if we made it)
PG_DATA=""
PG_STARTED=0
PG_EXTRA_SOCKDIR=""  # only used when .tmp/ is too deep for a unix socket path
REDIS_WORK=""
REDIS_PIDFILE=""

cleanup() {
    local rc=$?
    set +e
    if [[ $PG_STARTED == 1 && -n $PG_DATA ]]; then
        as_pg_user "$PG_CTL" stop -D "$PG_DATA" -m immediate -w -t 30 >/dev/null 2>&1
        # Belt and braces: pg_ctl failed -> kill the postmaster of OUR data dir.
        if [[ -f $PG_DATA/postmaster.pid ]]; then
            local pgpid
            pgpid="$(head -n1 "$PG_DATA/postmaster.pid" 2>/dev/null)"
            if [[ $pgpid =~ ^[0-9]+$ ]] && kill -0 "$pgpid" 2>/dev/null; then
                kill -9 "$pgpid" 2>/dev/null
            fi
        fi
    fi
    if [[ -n $REDIS_PIDFILE && -f $REDIS_PIDFILE ]]; then
        local rpid i
        rpid="$(cat "$REDIS_PIDFILE" 2>/dev/null)"
        if [[ $rpid =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$rpid/cmdline" 2>/dev/null | grep -q redis-server; then
            kill "$rpid" 2>/dev/null
            for i in $(seq 50); do kill -0 "$rpid" 2>/dev/null || break; sleep 0.1; done
            kill -0 "$rpid" 2>/dev/null && kill -9 "$rpid" 2>/dev/null
        fi
    fi
    [[ -n $PG_WORK ]] && rm -rf "$PG_WORK"
    [[ -n $PG_EXTRA_SOCKDIR ]] && rm -rf "$PG_EXTRA_SOCKDIR"
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

# ------------------------------------------------------------- PostgreSQL ---
PG_USER=""       # unprivileged user to run postgres as when we are root
as_pg_user() {
    if [[ -z $PG_USER ]]; then
        "$@"
    elif command -v runuser >/dev/null 2>&1; then
        (cd / && runuser -u "$PG_USER" -- "$@")
    else
        (cd / && setpriv --reuid="$PG_USER" --regid="$(id -g "$PG_USER")" --init-groups -- "$@")
    fi
}

find_pg_bin() {
    if [[ -n ${PG_BIN_DIR:-} ]]; then
        [[ -x $PG_BIN_DIR/initdb && -x $PG_BIN_DIR/pg_ctl && -x $PG_BIN_DIR/postgres ]] \
            && { echo "$PG_BIN_DIR"; return 0; }
        return 1
    fi
    local initdb_path
    if initdb_path="$(command -v initdb)" && command -v pg_ctl >/dev/null && command -v postgres >/dev/null; then
        dirname "$initdb_path"
        return 0
    fi
    local d
    d="$( (ls -d /usr/lib/postgresql/*/bin 2>/dev/null || true) | sort -V | tail -n1)"
    [[ -n $d && -x $d/initdb && -x $d/pg_ctl && -x $d/postgres ]] && { echo "$d"; return 0; }
    return 1
}

start_postgres() {
    local bindir
    bindir="$(find_pg_bin)" \
        || die "postgres binaries not found: install the Debian package 'postgresql' (apt-get install postgresql)"
    # Use the same directory for all three (PATH lookups above might mix versions otherwise).
    INITDB="$bindir/initdb"
    PG_CTL="$bindir/pg_ctl"

    if [[ $(id -u) == 0 ]]; then
        if id -u postgres >/dev/null 2>&1; then PG_USER=postgres; else PG_USER=nobody; fi
        command -v runuser >/dev/null 2>&1 || command -v setpriv >/dev/null 2>&1 \
            || die "test.sh: running as root but neither runuser nor setpriv is available to drop privileges for PostgreSQL"
    fi

    mkdir -p "$TMP_ROOT"
    PG_WORK="$(mktemp -d "$TMP_ROOT/pg-$$-XXXXXX")"
    if [[ -n $PG_USER ]]; then
        chown "$PG_USER" "$PG_WORK"
        # Every parent of .tmp/ must be traversable by $PG_USER; otherwise use /tmp.
        if ! as_pg_user test -w "$PG_WORK" -a -x "$PG_WORK"; then
            rm -rf "$PG_WORK"
            PG_WORK="$(mktemp -d "${TMPDIR:-/tmp}/stockhold-pg-$$-XXXXXX")"
            chown "$PG_USER" "$PG_WORK"
            as_pg_user test -w "$PG_WORK" -a -x "$PG_WORK" \
                || die "test.sh: cannot make a directory usable by user '$PG_USER' (tried $TMP_ROOT and ${TMPDIR:-/tmp})"
        fi
    fi
    PG_DATA="$PG_WORK/data"
    local sockdir="$PG_WORK/sock"
    as_pg_user mkdir -p "$sockdir"
    # Unix socket paths are limited to ~107 bytes.
    if (( ${#sockdir} > 80 )); then
        sockdir="$(mktemp -d /tmp/pgsock-XXXXXX)"
        [[ -n $PG_USER ]] && chown "$PG_USER" "$sockdir"
        PG_EXTRA_SOCKDIR="$sockdir"
    fi

    as_pg_user "$INITDB" -D "$PG_DATA" -A trust -U postgres --no-sync -E UTF8 --locale=C \
        >"$PG_WORK/initdb.log" 2>&1 \
        || { cat "$PG_WORK/initdb.log" >&2; die "test.sh: initdb failed"; }

    local attempt
    for attempt in 1 2 3; do
        PG_PORT="$(free_port)"
        PG_STARTED=1
        if as_pg_user "$PG_CTL" start -D "$PG_DATA" -w -t 60 -l "$PG_WORK/postgres.log" \
            -o "-k $sockdir -h 127.0.0.1 -p $PG_PORT -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
            >/dev/null; then
            export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
            PG_DESC="throwaway PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') ($bindir) at $DATABASE_URL"
            return 0
        fi
        # Timed out rather than failed? Make sure nothing keeps running before retrying.
        as_pg_user "$PG_CTL" stop -D "$PG_DATA" -m immediate -w >/dev/null 2>&1 || true
        log "PostgreSQL failed to start on port $PG_PORT (attempt $attempt):"
        tail -n 20 "$PG_WORK/postgres.log" >&2 || true
    done
    die "test.sh: could not start PostgreSQL"
}

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
    start_postgres
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
