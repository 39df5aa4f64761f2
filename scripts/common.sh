# shellcheck shell=bash
# Sourced first by test.sh, bench.sh and soak.sh, each with ME set to its own name: the
# repository root (made the working directory), .tmp/, the venv's Python, log / die, and
# the stop of processes a harness left behind. Their servers come from devstack/.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TMP_ROOT="$ROOT/.tmp"

PY="$ROOT/.venv/bin/python"
if [[ ! -x $PY ]]; then
    echo "$ME: $PY not found; run 'make venv' first" >&2
    exit 1
fi

log() { echo "$ME: $*" >&2; }
die() { echo "$*" >&2; exit 1; }

# pidfiles_stop DIR PATTERN: for each DIR/*.pid whose process still runs a command line
# matching PATTERN (the harness could not stop it: killed, crashed), stop its process
# group: SIGTERM, then SIGKILL after 2 s. Each such process leads a group of its own.
pidfiles_stop() {
    local dir=$1 pattern=$2 pidfile pid
    [[ -n $dir && -d $dir ]] || return 0
    for pidfile in "$dir"/*.pid; do
        [[ -f $pidfile ]] || continue
        pid="$(cat "$pidfile" 2>/dev/null)"
        if [[ $pid =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qE "$pattern"; then
            kill -TERM -- "-$pid" 2>/dev/null
            sleep 2
            kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null
        fi
        rm -f "$pidfile"
    done
}
