"""The story this project exists for: no release job ever runs, and nothing is stuck."""

import json

import pytest

from reservations.models import Order, Reservation
from store.models import Inventory
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


def _cart(api):
    body = api.post("/api/v1/carts/").json()
    return body["id"], {"HTTP_X_CART_TOKEN": body["token"]}


def _hold(api, cart, product, quantity):
    cart_id, headers = cart
    return api.put(
        f"/api/v1/carts/{cart_id}/items/{product.pk}/",
        data=json.dumps({"quantity": quantity}),
        content_type="application/json",
        **headers,
    )


def _available(api, product) -> int:
    return api.get(f"/api/v1/products/{product.pk}/").json()["available"]


def test_stock_of_abandoned_carts_comes_back_without_any_job(api, clock, ttl):
    product = ProductFactory(on_hand=3)
    abandoned = [_cart(api) for _ in range(3)]
    for cart in abandoned:
        assert _hold(api, cart, product, 1).status_code == 200
    assert _available(api, product) == 0

    late = _cart(api)
    refused = _hold(api, late, product, 1)
    assert refused.status_code == 409
    assert refused.json()["available"] == 0

    # Nobody runs any release job; the holds simply run out.
    clock.advance(ttl - 1)
    assert _available(api, product) == 0
    clock.advance(1)
    assert _available(api, product) == 3
    listed = api.get("/api/v1/products/").json()["results"]
    assert [p["available"] for p in listed if p["id"] == product.pk] == [3]

    # Another shopper holds the whole stock and buys it.
    assert _hold(api, late, product, 3).status_code == 200
    cart_id, headers = late
    response = api.post(f"/api/v1/carts/{cart_id}/checkout/", **headers)
    assert response.status_code == 201
    assert response.json()["lines"][0]["quantity"] == 3

    inventory = Inventory.objects.get(pk=product.pk)
    assert (inventory.on_hand, inventory.reserved) == (0, 0)
    # Every abandoned hold was reclaimed exactly once, by the writes that needed its stock.
    assert Reservation.objects.filter(status="expired").count() == 3
    assert _available(api, product) == 0

    # The abandoned carts still show their lines, now expired; buying them fails cleanly.
    cart_id, headers = abandoned[0]
    body = api.get(f"/api/v1/carts/{cart_id}/", **headers).json()
    assert [item["status"] for item in body["items"]] == ["expired"]
    short = api.post(f"/api/v1/carts/{cart_id}/checkout/", **headers)
    assert short.status_code == 409
    assert short.json()["lines"] == [
        {"product_id": product.pk, "sku": product.sku, "requested": 1, "available": 0}
    ]
    assert Order.objects.count() == 1


def test_checkout_buys_an_expired_line_back_from_free_stock(api, clock, ttl):
    product = ProductFactory(on_hand=4)
    slow, quick = _cart(api), _cart(api)
    assert _hold(api, slow, product, 2).status_code == 200
    clock.advance(ttl + 60)
    # A quick shopper's hold reclaims the slow shopper's expired line.
    assert _hold(api, quick, product, 1).status_code == 200
    cart_id, headers = slow
    assert api.get(f"/api/v1/carts/{cart_id}/", **headers).json()["items"][0]["status"] == (
        "expired"
    )
    response = api.post(f"/api/v1/carts/{cart_id}/checkout/", **headers)
    assert response.status_code == 201
    inventory = Inventory.objects.get(pk=product.pk)
    assert (inventory.on_hand, inventory.reserved) == (2, 1)
    assert _available(api, product) == 1
