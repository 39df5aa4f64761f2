"""A product taken off sale cannot be bought, whatever its holds' state and whatever ran."""

import pytest
from django.core.management import call_command

from store.models import Inventory, Product
from tests.api import item_put, state_snapshot
from tests.factories import ProductFactory
from tests.invariants import assert_counters_exact

pytestmark = pytest.mark.django_db


def _new_cart(api) -> tuple[str, dict]:
    response = api.post("/api/v1/carts/")
    assert response.status_code == 201
    body = response.json()
    return body["id"], {"HTTP_X_CART_TOKEN": body["token"]}


def _cart_holding(api, *lines) -> tuple[str, dict]:
    cart_id, headers = _new_cart(api)
    for product, quantity in lines:
        response = item_put(api, cart_id, product.pk, {"quantity": quantity}, **headers)
        assert response.status_code == 200
    return cart_id, headers


def _off_sale(product) -> None:
    Product.objects.filter(pk=product.pk).update(is_active=False)


def _refused_off_sale(api, cart_id, headers, *lines):
    before = state_snapshot()
    response = api.post(f"/api/v1/carts/{cart_id}/checkout/", **headers)
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["code"] == "product_not_on_sale"
    assert body["lines"] == [
        {"product_id": p.pk, "sku": p.sku, "requested": quantity, "available": 0}
        for p, quantity in lines
    ]
    assert state_snapshot() == before


def test_off_sale_product_is_refused_at_checkout_with_or_without_the_release_job(
    api, clock, ttl
):
    """Cart X checks out before the release job ran, cart Y after: both are refused alike."""
    product = ProductFactory(on_hand=5)
    x_id, x_headers = _cart_holding(api, (product, 1))
    y_id, y_headers = _cart_holding(api, (product, 1))
    _off_sale(product)
    clock.advance(ttl + 1)

    # No job has run: both holds are active and expired, not reclaimed.
    _refused_off_sale(api, x_id, x_headers, (product, 1))

    call_command("release_expired_reservations")
    assert Inventory.objects.get(pk=product.pk).reserved == 0
    _refused_off_sale(api, y_id, y_headers, (product, 1))
    _refused_off_sale(api, x_id, x_headers, (product, 1))
    assert Inventory.objects.get(pk=product.pk).on_hand == 5
    assert_counters_exact()


def test_live_hold_on_an_off_sale_product_is_refused_and_stays_held(api, clock):
    on_sale = ProductFactory(on_hand=5)
    product = ProductFactory(on_hand=5)
    cart_id, headers = _cart_holding(api, (on_sale, 1), (product, 2))
    _off_sale(product)

    _refused_off_sale(api, cart_id, headers, (product, 2))

    # Nothing of the cart was consumed, the on-sale line included, and the live hold is
    # still counted as stock held.
    assert Inventory.objects.get(pk=on_sale.pk).on_hand == 5
    inventory = Inventory.objects.get(pk=product.pk)
    assert (inventory.on_hand, inventory.reserved) == (5, 2)
    cart = api.get(f"/api/v1/carts/{cart_id}/", **headers).json()
    assert cart["status"] == "open"
    assert [(item["product_id"], item["status"]) for item in cart["items"]] == [
        (on_sale.pk, "active"),
        (product.pk, "active"),
    ]
    assert_counters_exact()


@pytest.mark.parametrize("how", ["put-zero", "delete"])
def test_an_off_sale_line_can_be_removed_and_the_rest_checked_out(api, clock, how):
    on_sale = ProductFactory(on_hand=5)
    product = ProductFactory(on_hand=5)
    cart_id, headers = _cart_holding(api, (on_sale, 1), (product, 2))
    _off_sale(product)

    if how == "delete":
        response = api.delete(f"/api/v1/carts/{cart_id}/items/{product.pk}/", **headers)
    else:
        response = item_put(api, cart_id, product.pk, {"quantity": 0}, **headers)
    assert response.status_code == 200
    assert [item["product_id"] for item in response.json()["items"]] == [on_sale.pk]
    assert Inventory.objects.get(pk=product.pk).reserved == 0

    response = api.post(f"/api/v1/carts/{cart_id}/checkout/", **headers)
    assert response.status_code == 201
    assert [line["product_id"] for line in response.json()["lines"]] == [on_sale.pk]
    assert_counters_exact()


def test_raising_an_off_sale_line_is_refused(api, clock):
    product = ProductFactory(on_hand=5)
    cart_id, headers = _cart_holding(api, (product, 1))
    _off_sale(product)
    before = state_snapshot()
    response = item_put(api, cart_id, product.pk, {"quantity": 2}, **headers)
    assert response.status_code == 404
    assert response.json()["code"] == "product_not_found"
    assert state_snapshot() == before
