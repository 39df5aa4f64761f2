"""The application through PgBouncer in transaction mode, as several web nodes run it.

Real requests through the API, on connections that reach PostgreSQL only through the
pooler (`pooled`): the timeouts are in force there, a lock wait ends as it does without a
pooler, a hold and a checkout go through, and an idempotent back-office batch is claimed
and released though its statements land on whichever server connection is free.
"""

import json
import threading
import time
from dataclasses import asdict

import psycopg
import pytest
from django.db import connection
from rest_framework.test import APIClient

from backoffice.services import StockItem, idempotent_request_claim, request_fingerprint
from config.database import database_timeouts_apply
from reservations.services import cart_create
from store.models import Inventory
from tests.api import item_put
from tests.backoffice.conftest import batch_post
from tests.factories import ApiKeyFactory, ProductFactory

JOIN_TIMEOUT = 30


def _show(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {name}")
        return cursor.fetchone()[0]


def _server_port() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('port')::int")
        return cursor.fetchone()[0]


def test_the_connection_goes_through_the_pooler_without_options(pooled):
    # The pooler listens on one port and PostgreSQL on another: this connection reached
    # PostgreSQL through the pooler, and sent no `options` (PgBouncer would refuse it).
    assert connection.settings_dict["PORT"] == pooled.bouncer.port
    assert _server_port() == int(pooled.direct["PORT"]) != pooled.bouncer.port
    assert "options" not in connection.settings_dict["OPTIONS"]
    with pytest.raises(psycopg.OperationalError, match="unsupported startup parameter"):
        psycopg.connect(
            host="127.0.0.1", port=pooled.bouncer.port, user="postgres",
            dbname=pooled.direct["NAME"], options="-c lock_timeout=5000",
        ).close()


def test_the_timeouts_of_the_settings_are_in_force_through_the_pooler(pooled, settings):
    # A new server connection for every transaction: each starts with the role's defaults.
    seen = set()
    for _ in range(3):
        pooled.reconnect()
        seen.add((_show("lock_timeout"), _show("statement_timeout")))

    assert settings.DB_LOCK_TIMEOUT_MS == 5000
    assert settings.DB_STATEMENT_TIMEOUT_MS == 30000
    assert seen == {("5s", "30s")}


def test_a_lock_wait_through_the_pooler_ends_at_the_lock_timeout_as_a_retryable_503(
    pooled, settings
):
    product = ProductFactory(on_hand=5)
    cart, token = cart_create()
    settings.DB_LOCK_TIMEOUT_MS = 300
    database_timeouts_apply()
    pooled.reconnect()
    api = APIClient()
    try:
        assert _show("lock_timeout") == "300ms"
        with psycopg.connect(pooled.direct_url) as blocker:
            # A transaction straight on PostgreSQL keeps the product's row locked.
            blocker.execute(
                "SELECT 1 FROM store_inventory WHERE product_id = %s FOR UPDATE", [product.pk]
            )
            began = time.monotonic()
            response = item_put(api, cart.pk, product.pk, {"quantity": 1}, token=token)
            waited = time.monotonic() - began
    finally:
        settings.DB_LOCK_TIMEOUT_MS = 5000
        database_timeouts_apply()
        pooled.reconnect()

    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"
    assert response["Retry-After"]
    # The role's 300 ms, not the 5 s or the 30 s statement timeout of the settings.
    assert 0.3 <= waited < 3
    assert Inventory.objects.get(product=product).reserved == 0


def test_a_hold_and_a_checkout_through_the_pooler(pooled):
    product = ProductFactory(on_hand=5)
    api = APIClient()
    created = api.post("/api/v1/carts/")
    assert created.status_code == 201
    cart_id, token = created.json()["id"], created.json()["token"]

    held = item_put(api, cart_id, product.pk, {"quantity": 2}, token=token)
    assert held.status_code == 200
    assert [item["quantity"] for item in held.json()["items"]] == [2]
    assert api.get(f"/api/v1/products/{product.pk}/").json()["available"] == 3

    order = api.post(f"/api/v1/carts/{cart_id}/checkout/", HTTP_X_CART_TOKEN=token)
    again = api.post(f"/api/v1/carts/{cart_id}/checkout/", HTTP_X_CART_TOKEN=token)

    assert order.status_code == 201
    assert again.status_code == 200 and again.json()["id"] == order.json()["id"]
    inventory = Inventory.objects.get(product=product)
    assert (inventory.on_hand, inventory.reserved) == (3, 0)


def test_an_idempotent_batch_is_claimed_once_and_released_through_the_pooler(pooled):
    api_key = ApiKeyFactory(name="erp")
    ProductFactory(sku="A", on_hand=1)
    office = APIClient()
    office.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.key}")
    batch = [{"sku": "A", "delta": 1}]
    fingerprint = request_fingerprint(
        operation="stock_apply", payload=[asdict(StockItem(**item)) for item in batch]
    )
    claimed, finish = threading.Event(), threading.Event()

    def died_half_way():
        # The claim holds while its transaction stays open; other clients' transactions
        # meanwhile take the pooler's other server connections.
        try:
            with idempotent_request_claim(api_key=api_key, key="k", fingerprint=fingerprint):
                claimed.set()
                assert finish.wait(timeout=JOIN_TIMEOUT)
                raise RuntimeError("the process died before it answered")
        except RuntimeError:
            pass
        finally:
            connection.close()

    first = threading.Thread(target=died_half_way, daemon=True)
    first.start()
    try:
        assert claimed.wait(timeout=JOIN_TIMEOUT)
        for _ in range(3):
            busy = batch_post(office, batch, key="k")
            assert busy.status_code == 409, busy.content
            assert busy.json()["code"] == "idempotency_key_in_progress"
    finally:
        finish.set()
        first.join(timeout=JOIN_TIMEOUT)

    # Released with the claim's transaction, whatever server connection ran what: the
    # repeat does the work, and its own repeat is answered the same without doing it.
    done = batch_post(office, batch, key="k")
    repeat = batch_post(office, batch, key="k")
    assert done.status_code == 200, done.content
    assert json.loads(repeat.content) == json.loads(done.content)
    assert Inventory.objects.get(product__sku="A").on_hand == 2
