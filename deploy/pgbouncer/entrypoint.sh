#!/bin/sh
# Write the userlist PgBouncer authenticates with (and logs in to PostgreSQL with) from
# the environment, then run PgBouncer in the foreground with the configuration of this
# directory. POSTGRES_PASSWORD is kept to characters that need no escaping
# (docker-compose.yml).
set -eu
umask 077
printf '"%s" "%s"\n' "${POSTGRES_USER:?}" "${POSTGRES_PASSWORD:?}" > /var/lib/pgbouncer/userlist.txt
exec pgbouncer /etc/pgbouncer/pgbouncer.ini
