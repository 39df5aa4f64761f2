#!/usr/bin/env bash
# Run the pytest suite against REAL PostgreSQL and Redis-compatible Valkey.
#
#   scripts/test.sh [pytest args...]
#
# DATABASE_URL / REDIS_URL: used as-is when set. Otherwise `python -m devstack run` starts a
# throwaway PostgreSQL 18 and Valkey 8 (from the `embedded` extra) under .tmp/ (git-ignored)
# on free 127.0.0.1 ports and removes them again on exit. Only servers it started are
# ever stopped.
#
# Overrides (mainly for testing other builds):
#   PG_BIN_DIR     directory holding initdb / pg_ctl / postgres
#   VALKEY_SERVER  path to a valkey-server (or redis-server) binary
set -euo pipefail

ME=test.sh
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

rc=0
"$PY" -m devstack run -- "$PY" -m pytest "$@" || rc=$?
if [[ $rc == 5 ]]; then
    echo "test.sh: pytest collected no tests (exit code 5); treating this as a failure" >&2
    rc=1
fi
exit "$rc"
