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

ME=test.sh
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# shellcheck source=scripts/postgres.sh
source "$ROOT/scripts/postgres.sh"

# shellcheck source=scripts/redis.sh
source "$ROOT/scripts/redis.sh"

# ---------------------------------------------------------------- cleanup ---
cleanup() {
    local rc=$?
    set +e
    pg_stop
    redis_stop
    rmdir "$TMP_ROOT" 2>/dev/null
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

redact_url() { sed -E 's#(://[^:/@]*):[^@/]*@#\1:***@#' <<<"$1"; }

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
    redis_start
    REDIS_DESC="throwaway Redis $REDIS_VERSION ($REDIS_BIN) at $REDIS_URL"
fi

echo "test.sh: PostgreSQL: $PG_DESC | Redis: $REDIS_DESC"

rc=0
"$PY" -m pytest "$@" || rc=$?
if [[ $rc == 5 ]]; then
    echo "test.sh: pytest collected no tests (exit code 5); treating this as a failure" >&2
    rc=1
fi
exit "$rc"
