"""The embedded default: SQLite under concurrent shoppers never answers "database is locked"."""

import os
import subprocess
import sys
import threading

import pytest

from tests.servers import api_request, runserver
from tests.test_runserver import ROOT

SHOPPERS = 24
STOCK = 10


@pytest.fixture
def sqlite_server(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        "SECRET_KEY": "sqlite-test-secret-key-long-enough-for-the-production-check",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    env.pop("REDIS_URL", None)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run(
        [*manage, "set_stock", "HOT-1", str(STOCK), "--price", "19.90"],
        cwd=ROOT, env=env, check=True, capture_output=True,
    )
    with runserver(env, tmp_path / "web.log") as (_, base):
        yield base


def test_concurrent_shoppers_on_sqlite_get_answers_not_locks(sqlite_server):
    product_id = api_request(sqlite_server, "GET", "/api/v1/products/")[1]["results"][0]["id"]
    barrier = threading.Barrier(SHOPPERS)
    outcomes: list[tuple[int, int | None]] = []

    def shopper():
        status, cart = api_request(sqlite_server, "POST", "/api/v1/carts/")
        barrier.wait(timeout=30)
        status, body = api_request(
            sqlite_server, "PUT", f"/api/v1/carts/{cart['id']}/items/{product_id}/",
            {"quantity": 1}, cart["token"],
        )
        checkout_status = None
        if status == 200:
            # Read back from SQLite: the price keeps its cents, the expiry its time zone.
            [item] = body["items"]
            assert (item["price"], item["quantity"], item["status"]) == ("19.90", 1, "active")
            assert item["expires_at"] == body["expires_at"] and item["expires_at"].endswith("Z")
            checkout_status, _ = api_request(
                sqlite_server, "POST", f"/api/v1/carts/{cart['id']}/checkout/",
                token=cart["token"],
            )
        outcomes.append((status, checkout_status))

    threads = [threading.Thread(target=shopper) for _ in range(SHOPPERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(outcomes) == SHOPPERS
    assert sorted(outcomes, key=str).count((200, 201)) == STOCK
    assert [o for o in outcomes if o != (200, 201)] == [(409, None)] * (SHOPPERS - STOCK)
    status, product = api_request(sqlite_server, "GET", f"/api/v1/products/{product_id}/")
    assert product["available"] == 0
