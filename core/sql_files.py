"""SQL functions kept in `.sql` files, one a file, and installed by migrations.

An app that implements a write in SQL keeps each function in a `.sql` file of its own
(one `CREATE OR REPLACE FUNCTION` statement), describes the directory with a `SqlFiles`,
and installs a file from a migration with `files.install(name, digest)`, the digest being
`files.digest(name)` when the migration was written. The tests compare the installed
functions with their files and each file with the digest of its latest installing
migration, so an edit without a migration, or a change made in the database by hand, fails
them.

A migration runs long after it is written, so it installs the current file, not the text
of its day. That is safe because every file is `CREATE OR REPLACE` of a PL/pgSQL function,
whose body is checked against tables only when it runs, and every later change of the
file comes with its own migration that installs it again: a database migrated from
scratch and one migrated step by step end with the same functions. Going back leaves the
function in place (the previous text is history, in git).
"""

import hashlib
from pathlib import Path

from django.db import migrations


class SqlFiles:
    """The `.sql` files of one directory: `functions` maps each file's stem to the
    function it defines, in the order they can be installed."""

    def __init__(self, directory: Path, functions: dict[str, str]) -> None:
        self.directory = directory
        self.functions = functions

    def read(self, name: str) -> str:
        """Return the statement in `<name>.sql`."""
        return (self.directory / f"{name}.sql").read_text(encoding="utf-8")

    def digest(self, name: str) -> str:
        """Return a short digest of `<name>.sql`, recorded by the migration that installs it."""
        return hashlib.sha256(self.read(name).encode()).hexdigest()[:16]

    def install(self, name: str, digest: str) -> "SqlFileInstall":
        """Return a migration operation that installs `<name>.sql` as the file is now.

        `digest` only tells the tests which version the migration was written for; it
        never stops the migration from running.
        """
        return SqlFileInstall(self, name, digest)


class SqlFileInstall(migrations.RunSQL):
    """RunSQL of a `.sql` file that remembers which file and which version of it."""

    def __init__(self, files: SqlFiles, name: str, digest: str) -> None:
        self.files = files
        self.file_name = name
        self.digest = digest
        super().__init__(files.read(name), reverse_sql=migrations.RunSQL.noop, elidable=False)
