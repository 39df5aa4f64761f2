"""PgBouncer in transaction mode, Debian's package, in front of the test database.

The pooler is installed with apt-get when it is missing and the suite may (root), as the
browser tests install Chromium. Where it cannot be, these tests are skipped with the
reason, except in CI (CI set), where a missing pooler fails them.
"""

import copy
from dataclasses import dataclass

import pytest
from django.conf import settings

from devstack.servers import PgBouncer
from tests.servers import pgbouncer_needed


@pytest.fixture(scope="session")
def pgbouncer(django_db_setup):
    """A PgBouncer (transaction mode, deploy/pgbouncer/pool.ini) for the whole session.

    Started before any test's own fixtures, like the servers the suite runs on: a test
    using it starts no process of its own and stays in the fast tier.
    """
    pgbouncer_needed()
    database = settings.DATABASES["default"]
    with PgBouncer(upstream_port=int(database["PORT"])) as bouncer:
        yield bouncer


@dataclass(frozen=True)
class Pooled:
    bouncer: PgBouncer
    direct: dict  # the settings of the connection that goes straight to PostgreSQL

    @property
    def direct_url(self) -> str:
        return "postgres://{USER}@{HOST}:{PORT}/{NAME}".format(**self.direct)

    def reconnect(self) -> None:
        """Close every server connection once released: new ones start with the role's
        current defaults."""
        self.bouncer.console("RECONNECT")


@pytest.fixture
def pooled(pgbouncer, transactional_db):
    """Every connection of the test goes through PgBouncer, set up as the settings set it
    up with DATABASE_POOLER=transaction: no libpq `options` (PgBouncer refuses it), no
    server-side cursors. The data is committed, so the pooler's connections see it."""
    from django.db import connections

    database = connections["default"].settings_dict  # settings.DATABASES["default"] itself
    direct = copy.deepcopy(database)
    connections.close_all()
    database["PORT"] = pgbouncer.port
    database["OPTIONS"] = {k: v for k, v in database["OPTIONS"].items() if k != "options"}
    database["DISABLE_SERVER_SIDE_CURSORS"] = True
    try:
        yield Pooled(bouncer=pgbouncer, direct=direct)
    finally:
        connections.close_all()
        database.clear()
        database.update(direct)
