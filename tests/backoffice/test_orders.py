"""The shop's payment step through the back office: read, confirm and cancel an order."""

from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from reservations.models import Order, Reservation
from reservations.services import checkout, hold_set
from store.models import Inventory, StockMovement
from tests.backoffice.conftest import refused
from tests.factories import CartFactory, ProductFactory
from tests.invariants import assert_counters_exact

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending(settings):
    """A pending order of 3 units (10 on hand), on the database clock: 15 minutes to pay."""
    settings.ORDER_PAYMENT_WINDOW_SECONDS = 900
    product = ProductFactory(on_hand=10, sku="TEE-BLK-M")
    cart = CartFactory()
    hold_set(cart=cart, product=product, quantity=3)
    order, _ = checkout(cart=cart)
    return order, product


def _figures(product):
    inventory = Inventory.objects.get(pk=product.pk)
    return inventory.on_hand, inventory.reserved


def _state():
    return (
        list(Order.objects.order_by("pk").values_list("pk", "status")),
        list(Inventory.objects.order_by("pk").values_list("pk", "on_hand", "reserved")),
        list(Reservation.objects.order_by("pk").values_list("pk", "status")),
        StockMovement.objects.count(),
    )


def _post(client, order, action):
    return client.post(f"/api/v1/back-office/orders/{order.pk}/{action}/")


def test_read_a_pending_order(office, pending):
    order, _ = pending
    body = office.get(f"/api/v1/back-office/orders/{order.pk}/").json()
    assert body["id"] == str(order.pk) and body["status"] == "pending_payment"
    assert body["payment_expires_at"] is not None
    assert [(line["sku"], line["quantity"]) for line in body["lines"]] == [("TEE-BLK-M", 3)]


def test_confirm_sells_the_held_units_once_and_names_the_key(office, pending):
    order, product = pending
    for _ in range(2):
        answer = _post(office, order, "confirm")
        assert answer.status_code == 200, answer.content
        assert answer.json()["status"] == "placed"
    assert _figures(product) == (7, 0)
    sale = StockMovement.objects.get(kind="sale")
    assert (sale.quantity, sale.actor, sale.reference) == (-3, "api-key:erp", str(order.pk))
    assert_counters_exact()


def test_cancel_gives_the_held_units_back(office, pending):
    order, product = pending
    answer = _post(office, order, "cancel")
    assert answer.status_code == 200 and answer.json()["status"] == "cancelled"
    assert _figures(product) == (10, 0)
    before = _state()
    refused(_post(office, order, "confirm"), 409, "order_cancelled")
    assert _state() == before
    again = _post(office, order, "cancel")
    assert again.status_code == 200 and again.json()["status"] == "cancelled"
    assert _state() == before


def test_after_the_deadline_both_are_refused_and_nothing_changes(office, pending):
    order, product = pending
    Order.objects.filter(pk=order.pk).update(
        payment_expires_at=order.payment_expires_at - timedelta(hours=1)
    )
    Reservation.objects.filter(status="active").update(
        expires_at=order.payment_expires_at - timedelta(hours=1)
    )
    before = _state()
    for action in ("confirm", "cancel"):
        body = refused(_post(office, order, action), 409, "payment_window_expired")
        assert "back in stock" in body["detail"]
    assert _state() == before
    shown = office.get(f"/api/v1/back-office/orders/{order.pk}/").json()
    assert shown["status"] == "expired"


@pytest.mark.parametrize("order_id", ["00000000-0000-4000-8000-000000000000", "nope", "١٢"])
def test_an_unknown_order_is_404(office, pending, order_id):
    before = _state()
    for method, path in [
        ("get", f"/api/v1/back-office/orders/{order_id}/"),
        ("post", f"/api/v1/back-office/orders/{order_id}/confirm/"),
        ("post", f"/api/v1/back-office/orders/{order_id}/cancel/"),
    ]:
        refused(getattr(office, method)(path), 404, "order_not_found")
    assert _state() == before


def test_without_a_key_nothing_is_confirmed(pending, api_key):
    order, _ = pending
    before = _state()
    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer sh_00000000_" + "x" * 43}):
        answer = APIClient().post(f"/api/v1/back-office/orders/{order.pk}/confirm/", **headers)
        refused(answer, 401, "unauthorized")
        assert answer["WWW-Authenticate"].startswith("Bearer")
    assert _state() == before
