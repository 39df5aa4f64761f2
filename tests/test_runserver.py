"""The web process alone, as a user starts it: `manage.py runserver` with DEBUG=0."""

import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

from store.models import Product
from store.services import product_create
from tests.celery_processes import process_env
from tests.servers import api_request, runserver

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
TTL_SECONDS = 2


SHOPPERS = 24
STOCK = 10


def _env(**extra: str) -> dict[str, str]:
    """The environment of runserver on the test database and Redis, DEBUG off."""
    return process_env(ALLOWED_HOSTS="127.0.0.1,localhost", **extra)


@pytest.fixture
def server(django_db_setup, django_db_blocker, settings, tmp_path):
    """runserver on the test database, DEBUG off, holds that last TTL_SECONDS."""
    env = _env(RESERVATION_TTL_SECONDS=str(TTL_SECONDS))
    with runserver(env, tmp_path / "web.log") as (_, base):
        yield base


@pytest.fixture
def shop_server(django_db_setup, django_db_blocker, settings, tmp_path):
    """runserver on the test database, DEBUG off, holds of the default length."""
    with runserver(_env(), tmp_path / "web.log") as (_, base):
        yield base


@pytest.mark.django_db(transaction=True)
def test_web_process_alone_gives_expired_stock_back(server):
    product = product_create(sku="LAST-ONE", name="Last one", price=5, on_hand=2)
    status, first = api_request(server, "POST", "/api/v1/carts/")
    assert status == 201
    status, _ = api_request(
        server, "PUT", f"/api/v1/carts/{first['id']}/items/{product.pk}/", {"quantity": 2},
        first["token"],
    )
    assert status == 200
    status, second = api_request(server, "POST", "/api/v1/carts/")
    status, body = api_request(
        server, "PUT", f"/api/v1/carts/{second['id']}/items/{product.pk}/", {"quantity": 2},
        second["token"],
    )
    assert (status, body["code"]) == (409, "insufficient_stock")

    # No worker, no beat, no cron: only the web process and the clock.
    deadline = time.monotonic() + TTL_SECONDS + 10
    while api_request(server, "GET", f"/api/v1/products/{product.pk}/")[1]["available"] < 2:
        assert time.monotonic() < deadline, "stock did not come back after the TTL"
        time.sleep(0.25)

    status, _ = api_request(
        server, "PUT", f"/api/v1/carts/{second['id']}/items/{product.pk}/", {"quantity": 2},
        second["token"],
    )
    assert status == 200
    status, order = api_request(server, "POST", f"/api/v1/carts/{second['id']}/checkout/",
                             token=second["token"])
    assert status == 201
    assert order["lines"][0]["quantity"] == 2
    assert Product.objects.get(pk=product.pk).inventory.on_hand == 0


@pytest.mark.django_db(transaction=True)
def test_debug_off_errors_are_json(server):
    status, body = api_request(server, "GET", "/api/v1/no-such-thing/")
    assert (status, body["code"]) == (404, "not_found")


@pytest.mark.django_db(transaction=True)
def test_concurrent_shoppers_get_answers_and_never_more_than_the_stock(shop_server):
    product = product_create(sku="HOT-1", name="Hot", price=Decimal("19.90"), on_hand=STOCK)
    barrier = threading.Barrier(SHOPPERS)
    outcomes: list[tuple[int, int | None]] = []

    def shopper():
        status, cart = api_request(shop_server, "POST", "/api/v1/carts/")
        barrier.wait(timeout=30)
        status, body = api_request(
            shop_server, "PUT", f"/api/v1/carts/{cart['id']}/items/{product.pk}/",
            {"quantity": 1}, cart["token"],
        )
        checkout_status = None
        if status == 200:
            # Read back from the database: the price keeps its cents, the expiry its zone.
            [item] = body["items"]
            assert (item["price"], item["quantity"], item["status"]) == ("19.90", 1, "active")
            assert item["expires_at"] == body["expires_at"] and item["expires_at"].endswith("Z")
            checkout_status, _ = api_request(
                shop_server, "POST", f"/api/v1/carts/{cart['id']}/checkout/",
                token=cart["token"],
            )
        outcomes.append((status, checkout_status))

    threads = [threading.Thread(target=shopper) for _ in range(SHOPPERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(outcomes) == SHOPPERS
    assert outcomes.count((200, 201)) == STOCK
    assert [o for o in outcomes if o != (200, 201)] == [(409, None)] * (SHOPPERS - STOCK)
    status, body = api_request(shop_server, "GET", f"/api/v1/products/{product.pk}/")
    assert (status, body["available"]) == (200, 0)
