"""SQL functions that implement writes, one `.sql` file each, and their installation.

Each file holds one `CREATE OR REPLACE FUNCTION` statement and is the only source of its
function. A change to a function is an edit of its file plus a migration that installs
the file again with `sql_file_install(name, digest)`, the digest being `sql_file_digest`
of the edited file. `tests/reservations/test_sql_functions.py` fails while the database
runs something other than the file, or while a file differs from what its latest
installing migration was written for.
"""

import hashlib
from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent

# The functions, in the order they can be installed (a function may call those before it;
# PL/pgSQL resolves calls when it runs, so the order matters only to a reader).
FUNCTIONS = {
    "expired_reclaim": "stockhold_expired_reclaim",
    "stock_take": "stockhold_stock_take",
    "hold_set": "stockhold_hold_set",
}


def sql_file_read(name: str) -> str:
    """Return the statement in `<name>.sql`."""
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


def sql_file_digest(name: str) -> str:
    """Return a short digest of `<name>.sql`, recorded by the migration that installs it."""
    return hashlib.sha256(sql_file_read(name).encode()).hexdigest()[:16]


class SqlFileInstall(migrations.RunSQL):
    """RunSQL of a `.sql` file that remembers which file and which version of it."""

    def __init__(self, name: str, digest: str) -> None:
        self.file_name = name
        self.digest = digest
        super().__init__(sql_file_read(name), reverse_sql=migrations.RunSQL.noop, elidable=False)


def sql_file_install(name: str, digest: str) -> SqlFileInstall:
    """Return a migration operation that installs `<name>.sql` as the file is now.

    `digest` is `sql_file_digest(name)` when the migration was written; it only tells the
    tests which version the migration was written for and never stops it from running.

    A migration runs long after it is written, so it installs the current file, not the
    text of its day. That is safe because every file is `CREATE OR REPLACE` of a PL/pgSQL
    function, whose body is checked against tables only when it runs, and every later
    change of the file comes with its own migration that installs it again: a database
    migrated from scratch and one migrated step by step end with the same functions.
    Going back leaves the function in place (the previous text is history, in git).
    """
    return SqlFileInstall(name, digest)
