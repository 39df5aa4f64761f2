# Throwaway PostgreSQL for scripts/test.sh, bench.sh and soak.sh (sourced, not run).
#
# scripts/common.sh defines TMP_ROOT and the functions log, die and free_port. pg_start starts a
# server under $TMP_ROOT on a free 127.0.0.1 port (as the `postgres` user when we are root:
# postgres refuses to run as root) and exports DATABASE_URL; pg_stop stops it and removes
# its folders, and only ever touches a server pg_start started.
#
# Overrides: PG_BIN_DIR, the directory holding initdb / pg_ctl / postgres.

# The server flags of every throwaway server: durability off, enough connections.
PG_SERVER_FLAGS="-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"

PG_BIN=""        # directory of initdb, pg_ctl and postgres (set by pg_start)
PG_WORK=""       # dir holding data/, sock/, postgres.log (only if we made it)
PG_DATA=""
PG_STARTED=0
PG_EXTRA_SOCKDIR=""  # only used when $TMP_ROOT is too deep for a unix socket path
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

pg_start() {  # work-dir prefix, e.g. "pg" or "bench-pg"
    local prefix="$1" me="${0##*/}"
    PG_BIN="$(find_pg_bin)" \
        || die "postgres binaries not found: install the Debian package 'postgresql' (apt-get install postgresql)"

    if [[ $(id -u) == 0 ]]; then
        if id -u postgres >/dev/null 2>&1; then PG_USER=postgres; else PG_USER=nobody; fi
        command -v runuser >/dev/null 2>&1 || command -v setpriv >/dev/null 2>&1 \
            || die "$me: running as root but neither runuser nor setpriv is available to drop privileges for PostgreSQL"
    fi

    mkdir -p "$TMP_ROOT"
    PG_WORK="$(mktemp -d "$TMP_ROOT/$prefix-$$-XXXXXX")"
    if [[ -n $PG_USER ]]; then
        chown "$PG_USER" "$PG_WORK"
        # Every parent of $TMP_ROOT must be traversable by $PG_USER; otherwise use /tmp.
        if ! as_pg_user test -w "$PG_WORK" -a -x "$PG_WORK"; then
            rm -rf "$PG_WORK"
            PG_WORK="$(mktemp -d "${TMPDIR:-/tmp}/stockhold-$prefix-$$-XXXXXX")"
            chown "$PG_USER" "$PG_WORK"
            as_pg_user test -w "$PG_WORK" -a -x "$PG_WORK" \
                || die "$me: cannot make a directory usable by user '$PG_USER' (tried $TMP_ROOT and ${TMPDIR:-/tmp})"
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

    as_pg_user "$PG_BIN/initdb" -D "$PG_DATA" -A trust -U postgres --no-sync -E UTF8 --locale=C \
        >"$PG_WORK/initdb.log" 2>&1 \
        || { cat "$PG_WORK/initdb.log" >&2; die "$me: initdb failed"; }

    local attempt
    for attempt in 1 2 3; do
        PG_PORT="$(free_port)"
        PG_STARTED=1
        if as_pg_user "$PG_BIN/pg_ctl" start -D "$PG_DATA" -w -t 60 -l "$PG_WORK/postgres.log" \
            -o "-k $sockdir -h 127.0.0.1 -p $PG_PORT $PG_SERVER_FLAGS" >/dev/null; then
            export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
            return 0
        fi
        # Timed out rather than failed? Make sure nothing keeps running before retrying.
        as_pg_user "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m immediate -w >/dev/null 2>&1 || true
        log "PostgreSQL failed to start on port $PG_PORT (attempt $attempt):"
        tail -n 20 "$PG_WORK/postgres.log" >&2 || true
    done
    die "$me: could not start PostgreSQL"
}

pg_stop() {
    if [[ $PG_STARTED == 1 && -n $PG_DATA ]]; then
        as_pg_user "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m immediate -w -t 30 >/dev/null 2>&1
        # Belt and braces: pg_ctl failed -> kill the postmaster of OUR data dir.
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
    return 0
}
