#!/usr/bin/env bash
# Run the benchmark suite (bench/) against a throwaway PostgreSQL and Valkey.
#
#   scripts/bench.sh [--quick] [--only SCENARIO,...]
#
# The servers are started the way scripts/test.sh starts them (python -m devstack run:
# under .tmp/, on free 127.0.0.1 ports, PostgreSQL as an unprivileged user when we are
# root) and removed again on exit, but durable, as docker-compose.yml runs them:
# PostgreSQL with fsync, synchronous_commit and full_page_writes on, Valkey with its
# append-only file. DATABASE_URL and REDIS_URL are ignored on purpose: the suite truncates
# tables and loads a million rows, so it only ever runs against servers of its own.
#
# Writes bench/results/latest.json, bench/results/scaling.png and BENCHMARKS.md.
#
# Overrides:
#   PG_BIN_DIR     directory holding initdb / pg_ctl / postgres (pgbench beside them)
#   VALKEY_SERVER  path to a valkey-server binary
set -euo pipefail

ME=bench.sh
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# ---------------------------------------------------------------- cleanup ---
BENCH_WORK=""

cleanup() {
    local rc=$?
    set +e
    # Servers the harness started (gunicorn) write their pid here.
    pidfiles_stop "$BENCH_WORK" gunicorn
    [[ -n $BENCH_WORK ]] && rm -rf "$BENCH_WORK"
    rmdir "$TMP_ROOT" 2>/dev/null
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# -------------------------------------------------------------------- main ---
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
# pgbench of the same build as the server, and the server's flags for the record.
BENCH_PGBENCH="$("$PY" -c 'from devstack.servers import postgres_bin_dir; print(postgres_bin_dir() / "pgbench")')"
BENCH_PG_FLAGS="$("$PY" -c 'from devstack.servers import DURABLE_PG_FLAGS; print(DURABLE_PG_FLAGS)')"
export BENCH_PGBENCH BENCH_PG_FLAGS
mkdir -p "$TMP_ROOT"
BENCH_WORK="$(mktemp -d "$TMP_ROOT/bench-$$-XXXXXX")"
export BENCH_WORK

"$PY" -m devstack run --durable -- "$PY" -m bench "$@"
