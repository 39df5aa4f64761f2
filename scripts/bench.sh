#!/usr/bin/env bash
# Run the benchmark suite (bench/) against a throwaway PostgreSQL.
#
#   scripts/bench.sh [--quick] [--only SCENARIO,...]
#
# PostgreSQL is started the way scripts/test.sh starts it (under .tmp/, on a free
# 127.0.0.1 port, as the `postgres` user when we are root, with the same server flags) and
# removed again on exit. DATABASE_URL is ignored on purpose: the suite truncates tables
# and loads a million rows, so it only ever runs against a server of its own.
#
# Writes bench/results/latest.json, bench/results/scaling.png and BENCHMARKS.md.
#
# Overrides:
#   PG_BIN_DIR    directory holding initdb / pg_ctl / postgres (pgbench beside them)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TMP_ROOT="$ROOT/.tmp"

PY="$ROOT/.venv/bin/python"
if [[ ! -x $PY ]]; then
    echo "bench.sh: $PY not found; run 'make venv' first" >&2
    exit 1
fi

log() { echo "bench.sh: $*" >&2; }
die() { echo "$*" >&2; exit 1; }

# ---------------------------------------------------------------- cleanup ---
PG_WORK=""
PG_DATA=""
PG_STARTED=0
PG_EXTRA_SOCKDIR=""
BENCH_WORK=""

cleanup() {
    local rc=$?
    set +e
    # Servers the harness started (gunicorn) write their pid here; stop them if the
    # harness could not (killed, crashed).
    if [[ -n $BENCH_WORK && -d $BENCH_WORK ]]; then
        local pidfile pid
        for pidfile in "$BENCH_WORK"/*.pid; do
            [[ -f $pidfile ]] || continue
            pid="$(cat "$pidfile" 2>/dev/null)"
            if [[ $pid =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q gunicorn; then
                kill "$pid" 2>/dev/null
                sleep 1
                kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
            fi
        done
    fi
    if [[ $PG_STARTED == 1 && -n $PG_DATA ]]; then
        as_pg_user "$PG_CTL" stop -D "$PG_DATA" -m immediate -w -t 30 >/dev/null 2>&1
        if [[ -f $PG_DATA/postmaster.pid ]]; then
            local pgpid
            pgpid="$(head -n1 "$PG_DATA/postmaster.pid" 2>/dev/null)"
            if [[ $pgpid =~ ^[0-9]+$ ]] && kill -0 "$pgpid" 2>/dev/null; then
                kill -9 "$pgpid" 2>/dev/null
            fi
        fi
    fi
    [[ -n $PG_WORK ]] && rm -rf "$PG_WORK"
    [[ -n $PG_EXTRA_SOCKDIR ]] && rm -rf "$PG_EXTRA_SOCKDIR"
    [[ -n $BENCH_WORK ]] && rm -rf "$BENCH_WORK"
    rmdir "$TMP_ROOT" 2>/dev/null
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# ------------------------------------------------------------- PostgreSQL ---
# Same as scripts/test.sh: postgres refuses to run as root, so drop to `postgres`.
PG_USER=""
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

# pgbench of the same version as the server: beside initdb, or beside what it links to.
find_pgbench() {
    local bindir="$1" real
    real="$(dirname "$(readlink -f "$bindir/initdb")")"
    local candidate
    for candidate in "$bindir/pgbench" "$real/pgbench"; do
        [[ -x $candidate ]] && { echo "$candidate"; return 0; }
    done
    return 1
}

start_postgres() {
    local bindir
    bindir="$(find_pg_bin)" \
        || die "postgres binaries not found: install the Debian package 'postgresql' (apt-get install postgresql)"
    INITDB="$bindir/initdb"
    PG_CTL="$bindir/pg_ctl"
    BENCH_PGBENCH="$(find_pgbench "$bindir")" \
        || die "bench.sh: pgbench not found next to $bindir/initdb (Debian package 'postgresql')"
    export BENCH_PGBENCH

    if [[ $(id -u) == 0 ]]; then
        if id -u postgres >/dev/null 2>&1; then PG_USER=postgres; else PG_USER=nobody; fi
        command -v runuser >/dev/null 2>&1 || command -v setpriv >/dev/null 2>&1 \
            || die "bench.sh: running as root but neither runuser nor setpriv is available to drop privileges for PostgreSQL"
    fi

    mkdir -p "$TMP_ROOT"
    PG_WORK="$(mktemp -d "$TMP_ROOT/bench-pg-$$-XXXXXX")"
    if [[ -n $PG_USER ]]; then
        chown "$PG_USER" "$PG_WORK"
        if ! as_pg_user test -w "$PG_WORK" -a -x "$PG_WORK"; then
            rm -rf "$PG_WORK"
            PG_WORK="$(mktemp -d "${TMPDIR:-/tmp}/stockhold-bench-pg-$$-XXXXXX")"
            chown "$PG_USER" "$PG_WORK"
            as_pg_user test -w "$PG_WORK" -a -x "$PG_WORK" \
                || die "bench.sh: cannot make a directory usable by user '$PG_USER'"
        fi
    fi
    PG_DATA="$PG_WORK/data"
    local sockdir="$PG_WORK/sock"
    as_pg_user mkdir -p "$sockdir"
    if (( ${#sockdir} > 80 )); then
        sockdir="$(mktemp -d /tmp/pgsock-XXXXXX)"
        [[ -n $PG_USER ]] && chown "$PG_USER" "$sockdir"
        PG_EXTRA_SOCKDIR="$sockdir"
    fi

    as_pg_user "$INITDB" -D "$PG_DATA" -A trust -U postgres --no-sync -E UTF8 --locale=C \
        >"$PG_WORK/initdb.log" 2>&1 \
        || { cat "$PG_WORK/initdb.log" >&2; die "bench.sh: initdb failed"; }

    # The server flags of scripts/test.sh, so `make bench` measures the server `make test`
    # runs on. (fsync and synchronous_commit off: both sides of every ratio get them.)
    export BENCH_PG_FLAGS="-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    local attempt
    for attempt in 1 2 3; do
        PG_PORT="$(free_port)"
        PG_STARTED=1
        if as_pg_user "$PG_CTL" start -D "$PG_DATA" -w -t 60 -l "$PG_WORK/postgres.log" \
            -o "-k $sockdir -h 127.0.0.1 -p $PG_PORT $BENCH_PG_FLAGS" >/dev/null; then
            export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
            export BENCH_PG_VERSION="$("$bindir/postgres" --version)"
            return 0
        fi
        as_pg_user "$PG_CTL" stop -D "$PG_DATA" -m immediate -w >/dev/null 2>&1 || true
        log "PostgreSQL failed to start on port $PG_PORT (attempt $attempt):"
        tail -n 20 "$PG_WORK/postgres.log" >&2 || true
    done
    die "bench.sh: could not start PostgreSQL"
}

# -------------------------------------------------------------------- main ---
find_pg_bin >/dev/null \
    || die "postgres binaries not found: install the Debian package 'postgresql' (apt-get install postgresql)"

# The HTTP scenario drives gunicorn with wrk (C, so the load generator takes little of the
# two cores). Install it when we may; otherwise the harness falls back to Python threads.
if ! command -v wrk >/dev/null 2>&1 && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    log "installing wrk (apt-get install wrk) for the HTTP scenario"
    apt-get install -y -qq wrk >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq wrk >/dev/null 2>&1; } \
        || log "could not install wrk; the HTTP scenario uses the Python load generator"
fi

# Settings may come from the caller's shell; the suite sets its own.
unset DATABASE_URL REDIS_URL CELERY_BROKER_URL
start_postgres
mkdir -p "$TMP_ROOT"
BENCH_WORK="$(mktemp -d "$TMP_ROOT/bench-$$-XXXXXX")"
export BENCH_WORK
log "PostgreSQL: $BENCH_PG_VERSION at $DATABASE_URL"

"$PY" -m bench "$@"
