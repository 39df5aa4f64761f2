# Throwaway Redis for scripts/test.sh and scripts/soak.sh (sourced, not run).
#
# scripts/common.sh defines TMP_ROOT, PY and the functions log, die and free_port. redis_start
# starts a server under $TMP_ROOT on a free 127.0.0.1 port, without persistence, and
# exports REDIS_URL; redis_stop stops it and removes its folder, and only ever touches a
# server redis_start started.
#
# Overrides: REDIS_SERVER, the path to the redis-server binary.

REDIS_WORK=""     # dir holding redis.pid and redis.log (only if we made it)
REDIS_PIDFILE=""
REDIS_VERSION=""  # e.g. 7.0.15 (set by redis_start)
REDIS_BIN=""      # the redis-server binary (set by redis_start)

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

redis_start() {
    local me="${0##*/}"
    REDIS_BIN="$(find_redis)" || die "redis-server not found: install the Debian package 'redis-server'"
    REDIS_VERSION="$("$REDIS_BIN" --version | sed -nE 's/.* v=([^ ]+).*/\1/p')"

    mkdir -p "$TMP_ROOT"
    REDIS_WORK="$(mktemp -d "$TMP_ROOT/redis-$$-XXXXXX")"
    REDIS_PIDFILE="$REDIS_WORK/redis.pid"

    local attempt i
    for attempt in 1 2 3; do
        REDIS_PORT="$(free_port)"
        rm -f "$REDIS_PIDFILE"
        "$REDIS_BIN" --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
            --dir "$REDIS_WORK" --daemonize yes --pidfile "$REDIS_PIDFILE" \
            --logfile "$REDIS_WORK/redis.log" \
            || { log "redis-server exited with an error"; continue; }
        for i in $(seq 100); do
            if redis_ping "$REDIS_PORT"; then
                export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
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
    die "$me: could not start Redis"
}

redis_stop() {
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
    return 0
}
