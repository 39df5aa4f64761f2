"""Stock batches under real concurrency on PostgreSQL: one Idempotency-Key sent many
times at once applies once; batches and shoppers on the same products never deadlock.

Each racer runs in its own thread with its own database connection and API client, waits
at a barrier so that all of them reach the database together, and closes its connection
when done.
"""

import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict

import pytest
from django.db import connection
from rest_framework.test import APIClient

from backoffice.services import (
    StockItem,
    idempotent_request_claim,
    idempotent_request_complete,
    request_fingerprint,
)
from reservations.services import cart_create, hold_set
from store.models import Inventory, Product, StockMovement
from tests.backoffice.conftest import batch_post
from tests.factories import ApiKeyFactory, ProductFactory
from tests.invariants import assert_counters_exact

pytestmark = pytest.mark.django_db(transaction=True)

JOIN_TIMEOUT = 60
BARRIER_TIMEOUT = 30


def _race(racers: list[Callable[[], object]]) -> tuple[list[object], list[BaseException | None]]:
    barrier = threading.Barrier(len(racers))
    results: list[object] = [None] * len(racers)
    errors: list[BaseException | None] = [None] * len(racers)

    def run(index: int, racer: Callable[[], object]) -> None:
        try:
            connection.ensure_connection()
            barrier.wait(timeout=BARRIER_TIMEOUT)
            results[index] = racer()
        except BaseException as exc:  # noqa: B036 - every failure of a racer is reported
            errors[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, r), daemon=True) for i, r in enumerate(racers)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + JOIN_TIMEOUT
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), "a racer hung (deadlock?)"
    return results, errors


def _client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_one_idempotency_key_sent_eight_times_at_once_applies_once():
    api_key = ApiKeyFactory(name="erp")
    a, b = ProductFactory(sku="A", on_hand=10), ProductFactory(sku="B", on_hand=10)
    batch = [{"sku": "A", "delta": 5}, {"sku": "B", "on_hand": 3}, {"sku": "A", "delta": -1}]

    def send():
        response = batch_post(_client(api_key.key), batch, key="same-key")
        return response.status_code, response.json()

    results, errors = _race([send] * 8)
    assert errors == [None] * 8
    statuses = [status for status, _ in results]
    assert set(statuses) <= {200, 409} and 200 in statuses
    for status, body in results:
        if status == 409:
            assert body["code"] == "idempotency_key_in_progress"
    answers = [body for status, body in results if status == 200]
    assert all(answer == answers[0] for answer in answers)
    # Applied once: one movement per item, the figures of one application.
    assert Inventory.objects.get(pk=a.pk).on_hand == 14
    assert Inventory.objects.get(pk=b.pk).on_hand == 3
    assert StockMovement.objects.filter(reference="same-key").count() == 3
    # Whoever was told to wait gets the same answer now.
    again = batch_post(_client(api_key.key), batch, key="same-key")
    assert again["Idempotent-Replayed"] == "true" and again.json() == answers[0]
    assert_counters_exact()


def test_a_repeat_while_the_first_is_at_work_is_409_then_gets_its_answer():
    api_key = ApiKeyFactory(name="erp")
    ProductFactory(sku="A", on_hand=1)
    batch = [{"sku": "A", "delta": 1}]
    fingerprint = request_fingerprint(
        operation="stock_apply", payload=[asdict(StockItem(**item)) for item in batch]
    )
    claimed, finish = threading.Event(), threading.Event()

    def first():
        try:
            with idempotent_request_claim(
                api_key=api_key, key="slow", fingerprint=fingerprint
            ) as claim:
                claimed.set()
                assert finish.wait(timeout=BARRIER_TIMEOUT)
                idempotent_request_complete(
                    request=claim, status_code=200, response={"answer": "the first one"}
                )
        finally:
            connection.close()

    worker = threading.Thread(target=first, daemon=True)
    worker.start()
    try:
        assert claimed.wait(timeout=BARRIER_TIMEOUT)
        response = batch_post(_client(api_key.key), batch, key="slow")
        assert response.status_code == 409
        assert response.json()["code"] == "idempotency_key_in_progress"
    finally:
        finish.set()
        worker.join(timeout=JOIN_TIMEOUT)
    again = batch_post(_client(api_key.key), batch, key="slow")
    assert again.status_code == 200 and again.json() == {"answer": "the first one"}
    assert not StockMovement.objects.filter(reference="slow").exists()


def test_batches_in_opposite_orders_and_shoppers_on_the_same_products_never_deadlock():
    """Each item is a transaction of its own, so no batch holds one product's lock while it
    waits for another's."""
    api_key = ApiKeyFactory(name="erp")
    products = [ProductFactory(sku=f"P{n}", on_hand=100) for n in range(4)]
    forwards = [{"sku": p.sku, "delta": 1} for p in products] * 5
    backwards = list(reversed(forwards))

    def batch(body, key):
        return lambda: batch_post(_client(api_key.key), body, key=key).status_code

    def shopper():
        cart, _ = cart_create()
        for product in reversed(products):
            hold_set(cart=cart, product=product, quantity=2)
        return "held"

    racers = [batch(forwards, "f-1"), batch(backwards, "b-1"), batch(forwards, "f-2")]
    results, errors = _race(racers + [shopper] * 5)
    assert errors == [None] * 8
    assert results == [200, 200, 200] + ["held"] * 5
    for product in products:
        inventory = Inventory.objects.get(pk=product.pk)
        assert (inventory.on_hand, inventory.reserved) == (115, 10)
    assert_counters_exact()


def test_a_new_sku_put_six_times_at_once_is_created_once():
    api_key = ApiKeyFactory(name="erp")

    def put(n):
        def racer():
            response = _client(api_key.key).put(
                "/api/v1/back-office/products/NEW-1/",
                data=json.dumps({"name": f"New {n}", "price": "5.00", "is_active": True}),
                content_type="application/json",
            )
            return response.status_code

        return racer

    results, errors = _race([put(n) for n in range(6)])
    assert errors == [None] * 6
    assert sorted(results) == [200] * 5 + [201]
    product = Product.objects.get(sku="NEW-1")
    assert Inventory.objects.filter(pk=product.pk).count() == 1
    assert_counters_exact()
