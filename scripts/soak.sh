#!/usr/bin/env bash
# Run the soak (soak/) against a throwaway PostgreSQL and Valkey.
#
#   scripts/soak.sh [--seconds N] [python -m soak options...]
#
# PostgreSQL and Valkey are started the way scripts/test.sh starts them (python -m devstack
# run: under .tmp/, on free 127.0.0.1 ports) and removed again on exit. DATABASE_URL and
# REDIS_URL are ignored on purpose: the soak migrates and fills a database of its own. The driver starts web,
# worker and beat with the Procfile's commands; on exit (Ctrl-C and failure included)
# anything of theirs still running is stopped here too.
#
# The load lasts SOAK_SECONDS or --seconds (default 600). A full-length run writes
# RELIABILITY.md; every run writes soak/results/latest.json. Logs of web, worker and beat
# are kept under .tmp/ when the run fails.
#
# --nodes N (N >= 2): N web nodes and N workers, through PgBouncer in transaction mode,
# which the driver starts (Debian's pgbouncer, installed with apt-get when run as root;
# otherwise `apt-get install -y pgbouncer` first). Writes soak/results/nodesN.json and,
# after a full-length run, the last section of RELIABILITY.md.
#
# Overrides:
#   PG_BIN_DIR    directory holding initdb / pg_ctl / postgres
#   VALKEY_SERVER path to a valkey-server binary
set -euo pipefail

ME=soak.sh
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# ---------------------------------------------------------------- cleanup ---
SOAK_WORK=""
DRIVER_PID=""

cleanup() {
    local rc=$?
    set +e
    # The driver stops its processes itself on SIGTERM (devstack hands the signal on, then
    # stops the servers once the driver has exited); give it the time to.
    if [[ -n $DRIVER_PID ]] && kill -0 "$DRIVER_PID" 2>/dev/null; then
        kill -TERM "$DRIVER_PID" 2>/dev/null
        local i
        for i in $(seq 120); do kill -0 "$DRIVER_PID" 2>/dev/null || break; sleep 0.5; done
        kill -0 "$DRIVER_PID" 2>/dev/null && kill -KILL "$DRIVER_PID" 2>/dev/null
    fi
    # Whatever it could not stop (killed, crashed).
    pidfiles_stop "$SOAK_WORK" 'gunicorn|celery|pgbouncer'
    if [[ -n $SOAK_WORK && -d $SOAK_WORK ]]; then
        if [[ $rc == 0 ]]; then
            rm -rf "$SOAK_WORK"
        else
            log "logs of web, worker and beat: $SOAK_WORK"
        fi
    fi
    rmdir "$TMP_ROOT" 2>/dev/null
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# -------------------------------------------------------------------- main ---
unset DATABASE_URL REDIS_URL CELERY_BROKER_URL
mkdir -p "$TMP_ROOT"
SOAK_WORK="$(mktemp -d "$TMP_ROOT/soak-$$-XXXXXX")"
export SOAK_WORK

# In the background, so a signal to this script runs cleanup at once (which stops the
# driver); a background job of a script ignores Ctrl-C, so the INT trap does that too.
"$PY" -m devstack run -- "$PY" -m soak --command "make soak${*:+ ARGS=\"$*\"}" "$@" &
DRIVER_PID=$!
rc=0
wait "$DRIVER_PID" || rc=$?
DRIVER_PID=""
exit "$rc"
