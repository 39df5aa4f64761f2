"""The one clock that decides expiry: the database's."""

from datetime import datetime

from django.db import connection


def db_now() -> datetime:
    """Return the database clock's time now (`statement_timestamp()`)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement_timestamp()")
        return cursor.fetchone()[0]
