"""A hold that was answered survives a crash of PostgreSQL, though it releases the product's
row lock before its commit reaches the disk (reservations.services.holds)."""

import subprocess
import sys
import time
import uuid

import psycopg
import pytest

from devstack.servers import Postgres
from tests import celery_processes
from tests.celery_processes import ROOT, manage

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

THREADS = 3
CARTS_PER_THREAD = 20_000
ANSWERED_BEFORE_CRASH = 400

# Shoppers on one hot product, each hold a new line in a cart of its own. "service" holds go
# through hold_set; "unflushed" ones call the same function committing asynchronously with
# no flush after it: the control, which shows that the crash below really loses commits
# whose WAL had not reached the disk. They run apart, as any flush covers every commit
# before it.
SHOPPERS = """
import os, sys, threading
from decimal import Decimal
from django.db import connection
from reservations.models import Cart
from reservations.services import hold_set
from store.services import product_create

kind, threads, n = os.environ["SHOPPERS"].split()
threads, n = int(threads), int(n)
product = product_create(sku=kind, name="hot", price=Decimal("1"), on_hand=10**7)
with connection.cursor() as cursor:
    cursor.execute(
        "INSERT INTO store_cart (id, token_hash, status, expires_at, created_at, updated_at)"
        " SELECT gen_random_uuid(), repeat('0', 64), 'open', NULL, now(), now()"
        " FROM generate_series(1, %s) RETURNING id", [threads * n])
    carts = [row[0] for row in cursor.fetchall()]
out = threading.Lock()

def say(cart_id):
    with out:
        sys.stdout.write(f"{cart_id}\\n")
        sys.stdout.flush()

def service(mine):
    for cart_id in mine:
        try:
            hold_set(cart=Cart(pk=cart_id), product=product, quantity=1)
        except Exception:
            return
        say(cart_id)

def unflushed(mine):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit = off")
            for cart_id in mine:
                cursor.execute(
                    "SELECT line_id FROM stockhold_hold_set(%s, %s, 1, NULL, '30 min', 50,"
                    " 1000, '2 hours')", [cart_id, product.pk])
                say(cart_id)
    except Exception:
        return

threads = [threading.Thread(target=globals()[kind], args=(carts[i * n:(i + 1) * n],))
           for i in range(threads)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
"""


@pytest.fixture
def postgres():
    """A durable PostgreSQL of the test's own (fsync and synchronous_commit on)."""
    with Postgres(durable=True) as server:
        yield server


def _carts(line: str) -> list[str]:
    """The cart id a line of the shoppers' output names (the shell says other things)."""
    try:
        return [str(uuid.UUID(line.strip()))]
    except ValueError:
        return []


def _crash_under(postgres, env, kind: str) -> tuple[set[str], set[str]]:
    """Run shoppers of `kind` until enough holds were answered, crash PostgreSQL, start it
    again; return the carts whose hold was answered and those that have it after."""
    answered: set[str] = set()
    shoppers = subprocess.Popen(  # noqa: S603 - the project's own manage.py
        [sys.executable, "manage.py", "shell", "-c", SHOPPERS],
        cwd=ROOT, env={**env, "SHOPPERS": f"{kind} {THREADS} {CARTS_PER_THREAD}"},
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        for line in shoppers.stdout:
            answered.update(_carts(line))
            if len(answered) >= ANSWERED_BEFORE_CRASH:
                break
            assert time.monotonic() < deadline, f"{len(answered)} {kind} holds answered"
        # A crash: every server process quits at once, without writing what it buffers.
        postgres.stop(mode="immediate")
        # The shoppers' last answers may still be in the pipe.
        for line in shoppers.stdout:
            answered.update(_carts(line))
    finally:
        shoppers.kill()
        shoppers.wait()
    postgres.start()
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        kept = {str(row[0]) for row in conn.execute(
            "SELECT r.cart_id FROM reservations_reservation r"
            " JOIN store_product p ON p.id = r.product_id"
            " WHERE p.sku = %s AND r.status = 'active'", [kind])}
        reserved, held = conn.execute(
            "SELECT i.reserved, (SELECT coalesce(sum(quantity), 0) FROM reservations_reservation"
            " WHERE product_id = i.product_id AND status = 'active')"
            " FROM store_inventory i JOIN store_product p ON p.id = i.product_id"
            " WHERE p.sku = %s", [kind]).fetchone()
    assert reserved == held
    return answered, kept


def test_answered_holds_survive_a_crash(postgres):
    env = celery_processes.process_env(
        DATABASE_URL=postgres.url,
        SECRET_KEY="hold-durability-fault-test-secret-key-long-enough-for-production",
        ALERT_WEBHOOK_URL="",
        SENTRY_DSN="",
    )
    done = manage("migrate", "--no-input", "-v", "0", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        assert conn.execute("SHOW synchronous_commit").fetchone() == ("on",)
        assert conn.execute("SHOW fsync").fetchone() == ("on",)

    answered, kept = _crash_under(postgres, env, "service")
    lost = answered - kept
    assert not lost, f"{len(lost)} of {len(answered)} answered holds were lost"
    # The control: the crash does lose answered commits that were not on disk.
    answered, kept = _crash_under(postgres, env, "unflushed")
    assert answered - kept, "the crash lost nothing: it cannot tell a flushed hold apart"
