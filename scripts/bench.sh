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

ME=bench.sh
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# shellcheck source=scripts/postgres.sh
source "$ROOT/scripts/postgres.sh"

# ---------------------------------------------------------------- cleanup ---
BENCH_WORK=""

cleanup() {
    local rc=$?
    set +e
    # Servers the harness started (gunicorn) write their pid here.
    pidfiles_stop "$BENCH_WORK" gunicorn
    pg_stop
    [[ -n $BENCH_WORK ]] && rm -rf "$BENCH_WORK"
    rmdir "$TMP_ROOT" 2>/dev/null
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# ------------------------------------------------------------- PostgreSQL ---
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
    # The server scripts/test.sh starts, flags included, so `make bench` measures the
    # server `make test` runs on. (fsync and synchronous_commit off: both sides of every
    # ratio get them.)
    pg_start bench-pg
    BENCH_PGBENCH="$(find_pgbench "$PG_BIN")" \
        || die "bench.sh: pgbench not found next to $PG_BIN/initdb (Debian package 'postgresql')"
    export BENCH_PGBENCH
    export BENCH_PG_FLAGS="$PG_SERVER_FLAGS"
    export BENCH_PG_VERSION="$("$PG_BIN/postgres" --version)"
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
