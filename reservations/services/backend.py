"""Which write paths the database offers.

On PostgreSQL the two hottest writes run as single statements: a hold through the
`stockhold_hold_set` function (installed by a migration) and a round of reclaiming
expired holds as one UPDATE. SQLite, the embedded default of `make run`, runs the same
steps through the ORM; so does PostgreSQL whenever the single statement cannot finish
the job (a hold short of stock).
"""

from django.db import connection


def one_statement_available() -> bool:
    return connection.vendor == "postgresql"
