"""The database settings every connection runs with: timeouts that hold with and without a
pooler in front (config/database.py), no prepared statements, DATABASE_POOLER."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from config.database import database_timeouts_apply
from store.models import Product
from tests.celery_processes import process_env
from tests.factories import ProductFactory

ROOT = Path(__file__).resolve().parent.parent


def _role_defaults() -> dict[str, str]:
    """Return the settings PostgreSQL gives this role's sessions in this database."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT setconfig FROM pg_db_role_setting s JOIN pg_database d"
            " ON d.oid = s.setdatabase WHERE d.datname = current_database()"
            " AND s.setrole = (SELECT oid FROM pg_roles WHERE rolname = session_user)"
        )
        row = cursor.fetchone()
    return dict(item.split("=", 1) for item in (row[0] if row else []))


@pytest.mark.django_db
def test_migrate_made_the_timeouts_of_the_settings_the_roles_defaults():
    # The test database was made by `migrate`, which ran the post-migrate step.
    assert _role_defaults() == {"lock_timeout": "5000", "statement_timeout": "30000"}


@pytest.mark.django_db
def test_the_defaults_follow_the_settings_when_applied_again(settings):
    settings.DB_LOCK_TIMEOUT_MS = 1234
    settings.DB_STATEMENT_TIMEOUT_MS = 56789
    try:
        assert database_timeouts_apply() == {
            "lock_timeout": 1234, "statement_timeout": 56789
        }
        assert _role_defaults() == {"lock_timeout": "1234", "statement_timeout": "56789"}
    finally:
        settings.DB_LOCK_TIMEOUT_MS = 5000
        settings.DB_STATEMENT_TIMEOUT_MS = 30000
        database_timeouts_apply()


@pytest.mark.django_db
def test_a_direct_connection_has_the_timeouts_in_force():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('lock_timeout'), current_setting('statement_timeout')"
        )
        assert cursor.fetchone() == ("5s", "30s")


@pytest.mark.django_db
def test_the_application_prepares_no_statement():
    """A pooler in transaction mode older than PgBouncer 1.21 (Debian 12 ships 1.18) loses
    prepared statements between transactions: the app binds its parameters client-side and
    never prepares, however often a query runs (psycopg would from the 5th time)."""
    product = ProductFactory()
    for _ in range(10):
        assert Product.objects.filter(pk=product.pk, is_active=True).exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cursor.fetchone()[0] == 0


def _database_settings(**env: str) -> subprocess.CompletedProcess:
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps(s.DATABASES['default'], default=str))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=process_env(**env),
        capture_output=True, text=True, timeout=120,
    )


@pytest.mark.slow
def test_database_pooler_transaction_drops_what_a_transaction_pooler_cannot_carry():
    direct = _database_settings(DATABASE_POOLER="")
    pooled = _database_settings(DATABASE_POOLER="transaction")
    assert direct.returncode == 0, direct.stderr
    assert pooled.returncode == 0, pooled.stderr
    direct_db = json.loads(direct.stdout.splitlines()[-1])
    pooled_db = json.loads(pooled.stdout.splitlines()[-1])

    assert direct_db["OPTIONS"]["options"] == "-c lock_timeout=5000 -c statement_timeout=30000"
    assert direct_db["DISABLE_SERVER_SIDE_CURSORS"] is False
    # Exactly what the `pooled` fixture of tests/pooler/ changes, nothing else.
    expected = {
        **direct_db,
        "OPTIONS": {k: v for k, v in direct_db["OPTIONS"].items() if k != "options"},
        "DISABLE_SERVER_SIDE_CURSORS": True,
    }
    assert pooled_db == expected


@pytest.mark.slow
def test_an_unknown_database_pooler_is_refused():
    result = _database_settings(DATABASE_POOLER="session")

    assert result.returncode != 0
    assert "DATABASE_POOLER must be empty (no pooler) or 'transaction'" in result.stderr
