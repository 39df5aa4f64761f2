"""The database session settings every connection of the application starts with.

`lock_timeout` and `statement_timeout` (DB_LOCK_TIMEOUT_MS, DB_STATEMENT_TIMEOUT_MS) are
made the defaults of the role the application logs in as, in its database, after every
`migrate`. PostgreSQL applies them when a session starts, so they hold on every
connection: a direct one, and every server connection a pooler in transaction mode opens
for its clients, where libpq's `options` cannot go (PgBouncer refuses it). A
`SET LOCAL` in each transaction would do the same at the price of a statement per
transaction, and would miss the statements run outside one.

Server connections opened before the change keep their old values until they are closed:
`migrate` reaches PostgreSQL directly (docker-compose.yml), before the pooler has opened
any; after changing a timeout later, `RECONNECT` on PgBouncer's console applies it at once.
"""

from django.conf import settings
from django.db import connections

# The settings and the PostgreSQL parameter each one sets, in milliseconds.
TIMEOUTS = {
    "DB_LOCK_TIMEOUT_MS": "lock_timeout",
    "DB_STATEMENT_TIMEOUT_MS": "statement_timeout",
}


def database_timeouts() -> dict[str, int]:
    """Return the timeouts the settings ask for: PostgreSQL parameter -> milliseconds."""
    return {parameter: int(getattr(settings, name)) for name, parameter in TIMEOUTS.items()}


def database_timeouts_apply(*, using: str = "default") -> dict[str, int]:
    """Make the timeouts of the settings the defaults of this role in this database.

    The role is the one the connection logged in as (SESSION_USER): through a pooler, the
    role of its server connections. Any role may set its own defaults. Return what was set.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return {}
    timeouts = database_timeouts()
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database()")
        database = connection.ops.quote_name(cursor.fetchone()[0])
        for parameter, milliseconds in timeouts.items():
            # Identifiers and integers only, both ours: ALTER ROLE takes no parameters.
            cursor.execute(
                f"ALTER ROLE SESSION_USER IN DATABASE {database} "
                f"SET {parameter} = {milliseconds:d}"
            )
    return timeouts


def migrated(sender, *, using: str = "default", **kwargs) -> None:
    """Make the timeouts of the settings the role's defaults after `migrate`."""
    database_timeouts_apply(using=using)
