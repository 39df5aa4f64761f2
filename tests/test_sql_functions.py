"""The database runs every SQL function exactly as its file says (the holds', the stock
rows', the webhooks'), and the stock triggers as the store migration defines them."""

from pathlib import Path

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader

from core.sql_files import SqlFileInstall, SqlFiles
from reservations.services.sql import SQL_FILES as RESERVATIONS_SQL
from store.sql import SQL_FILES as STORE_SQL
from webhooks.sql import SQL_FILES as WEBHOOKS_SQL

pytestmark = pytest.mark.django_db

_SCRATCH = "stockhold_file_check"
ROOT = Path(__file__).resolve().parents[1]
EVERY = (RESERVATIONS_SQL, STORE_SQL, WEBHOOKS_SQL)
FILES = [(files, name) for files in EVERY for name in files.functions]


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


def _current_schema() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        return cursor.fetchone()[0]


@pytest.mark.parametrize(
    "files, name", FILES, ids=[f"{f.directory.relative_to(ROOT)}/{n}" for f, n in FILES]
)
def test_installed_function_is_the_file(files: SqlFiles, name: str):
    """Install the file beside the migrated function and compare PostgreSQL's rendering
    of both: an edit of the file without a migration, or a change by hand, fails here."""
    function = files.functions[name]
    schema = _current_schema()
    installed = _definition(schema, function)
    # The test's transaction is rolled back, and the scratch schema with it.
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {_SCRATCH}")
        cursor.execute(f"SET LOCAL search_path = {_SCRATCH}")
        cursor.execute(files.read(name))
        cursor.execute("RESET search_path")
    from_file = _definition(_SCRATCH, function)
    assert from_file.replace(f"{_SCRATCH}.", "public.", 1) == installed.replace(
        f"{schema}.", "public.", 1
    )


def test_every_file_change_has_a_migration_that_installs_it():
    """A fresh test database installs the current files, so the comparison above cannot
    see an edit that no migration installs; the digest each migration records can."""
    # One plan for every app, in the order `migrate` runs it: the plan of one leaf alone
    # may end before another app's later migration that installs the same file.
    plan = MigrationExecutor(connection).migration_plan(
        MigrationLoader(None, ignore_no_migrations=True).graph.leaf_nodes(), clean_start=True
    )
    latest: dict[tuple, str] = {}
    for migration, _ in plan:
        for operation in migration.operations:
            if isinstance(operation, SqlFileInstall):
                latest[operation.files.directory, operation.file_name] = operation.digest
    for files in EVERY:
        assert sorted(p.stem for p in files.directory.glob("*.sql")) == sorted(files.functions)
    stale = {
        f"{files.directory.relative_to(ROOT)}/{name}": f'install("{name}", "{files.digest(name)}")'
        for files, name in FILES
        if latest.get((files.directory, name)) != files.digest(name)
    }
    assert stale == {}, "add a migration with these operations"


def test_the_stock_triggers_are_deferred_and_fire_only_on_a_flip():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname, tgdeferrable, tginitdeferred, pg_get_triggerdef(oid)"
            " FROM pg_trigger WHERE tgrelid = 'store_inventory'::regclass AND NOT tgisinternal"
            " ORDER BY tgname"
        )
        triggers = {name: (deferrable, deferred, text) for name, deferrable, deferred, text
                    in cursor.fetchall()}
    assert set(triggers) == {"store_inventory_stock_insert", "store_inventory_stock_update"}
    for deferrable, deferred, text in triggers.values():
        assert deferrable and deferred
        assert "CONSTRAINT TRIGGER" in text
        assert "EXECUTE FUNCTION stockhold_inventory_stock_announce()" in text
    update = triggers["store_inventory_stock_update"][2]
    assert "AFTER UPDATE OF on_hand, reserved" in update
    assert "((old.on_hand - old.reserved) > 0) <> ((new.on_hand - new.reserved) > 0)" in update
    assert "WHEN (((new.on_hand - new.reserved) > 0))" in triggers[
        "store_inventory_stock_insert"
    ][2]
