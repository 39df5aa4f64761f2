"""The database runs the SQL functions exactly as their files say."""

import pytest
from django.db import connection

from reservations.services.sql import (
    FUNCTIONS,
    SQL_DIR,
    SqlFileInstall,
    sql_file_digest,
    sql_file_read,
)

pytestmark = pytest.mark.django_db

_SCRATCH = "stockhold_file_check"


def _definition(schema: str, name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_functiondef(p.oid) FROM pg_proc p"
            " JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = %s AND p.proname = %s",
            [schema, name],
        )
        rows = cursor.fetchall()
    assert len(rows) == 1, f"{schema}.{name}: {len(rows)} functions by that name"
    return rows[0][0]


def _installed_schema() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        return cursor.fetchone()[0]


@pytest.mark.parametrize("file, function", FUNCTIONS.items())
def test_installed_function_is_the_file(file, function):
    """Install the file beside the migrated function and compare PostgreSQL's own
    rendering of both (signature, options and body): any edit of the file without a
    migration that installs it, or a change made in the database by hand, fails here."""
    installed = _definition(_installed_schema(), function)
    # The test's transaction is rolled back, and the scratch schema with it.
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {_SCRATCH}")
        cursor.execute(f"SET LOCAL search_path = {_SCRATCH}")
        cursor.execute(sql_file_read(file))
        cursor.execute("RESET search_path")
    from_file = _definition(_SCRATCH, function)
    assert from_file.replace(f"{_SCRATCH}.", "public.", 1) == installed.replace(
        f"{_installed_schema()}.", "public.", 1
    )


def _latest_installs() -> dict[str, str]:
    """Each file's digest as recorded by the last migration, in migration order, that
    installs it."""
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(None, ignore_no_migrations=True)
    latest: dict[str, str] = {}
    for key in loader.graph.leaf_nodes():
        for node in loader.graph.forwards_plan(key):
            for operation in loader.graph.nodes[node].operations:
                if isinstance(operation, SqlFileInstall):
                    latest[operation.file_name] = operation.digest
    return latest


def test_every_file_change_has_a_migration_that_installs_it():
    """A fresh test database installs the current files, so the comparison above cannot
    see an edit that no migration installs; databases migrated before the edit would
    keep the old function. The digest each migration records catches that."""
    assert sorted(path.stem for path in SQL_DIR.glob("*.sql")) == sorted(FUNCTIONS)
    latest = _latest_installs()
    stale = {
        name: f'sql_file_install("{name}", "{sql_file_digest(name)}")'
        for name in FUNCTIONS
        if latest.get(name) != sql_file_digest(name)
    }
    assert stale == {}, "add a migration with these operations"
