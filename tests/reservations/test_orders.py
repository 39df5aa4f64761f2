"""Orders are never deleted: staff cancel them, and the units come back to stock once."""

import threading

import pytest
from django.core.management import call_command

from reservations.models import Order
from reservations.services import checkout, hold_set, order_cancel
from store.models import Inventory, StockMovement
from tests.factories import CartFactory, ProductFactory
from tests.invariants import assert_counters_exact

pytestmark = pytest.mark.django_db


@pytest.fixture
def sold():
    """An order of 3 + 2 units of two products, each with 10 on hand before."""
    products = [ProductFactory(on_hand=10), ProductFactory(on_hand=10)]
    cart = CartFactory()
    hold_set(cart=cart, product=products[0], quantity=3)
    hold_set(cart=cart, product=products[1], quantity=2)
    order, _ = checkout(cart=cart)
    return order, cart, products


def _on_hand(products) -> list[int]:
    return [Inventory.objects.get(pk=p.pk).on_hand for p in products]


def test_staff_cannot_delete_an_order_and_it_stays(staff_client, sold):
    order, cart, products = sold
    response = staff_client.post(f"/admin/reservations/order/{order.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert Order.objects.filter(pk=order.pk).exists()
    # The cart's checkout still answers with its order, never a 500.
    answer = staff_client.post(f"/api/v1/carts/{cart.pk}/checkout/", HTTP_X_CART_TOKEN=cart.token)
    assert answer.status_code == 200 and answer.json()["id"] == str(order.pk)


def test_cancel_returns_the_units_once_through_the_ledger(staff_client, sold):
    order, cart, products = sold
    assert _on_hand(products) == [7, 8]
    for _ in range(2):
        response = staff_client.post(
            "/admin/reservations/order/",
            {"action": "cancel_orders", "_selected_action": [str(order.pk)]},
            follow=True,
        )
        assert response.status_code == 200
    assert _on_hand(products) == [10, 10]
    returns = StockMovement.objects.filter(kind="return", reference=str(order.pk))
    assert sorted(returns.values_list("quantity", flat=True)) == [2, 3]
    assert all(actor == "staff:staff" for actor in returns.values_list("actor", flat=True))
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED and order.cancelled_at is not None
    assert_counters_exact()
    # The cart answers its checkout with the cancelled order.
    answer = staff_client.post(f"/api/v1/carts/{cart.pk}/checkout/", HTTP_X_CART_TOKEN=cart.token)
    assert answer.status_code == 200
    assert (answer.json()["id"], answer.json()["status"]) == (str(order.pk), "cancelled")


def test_cancel_by_command_is_idempotent(sold, capsys):
    order, _, products = sold
    call_command("order_cancel", str(order.pk), "--reason", "customer called")
    call_command("order_cancel", str(order.pk))
    assert _on_hand(products) == [10, 10]
    out = capsys.readouterr().out
    assert "cancelled" in out and "already cancelled" in out
    assert StockMovement.objects.get(kind="return", product=products[0]).reason == (
        "customer called"
    )


@pytest.mark.django_db(transaction=True)
def test_two_cancels_at_once_return_the_units_once():
    product = ProductFactory(on_hand=10)
    cart = CartFactory()
    hold_set(cart=cart, product=product, quantity=4)
    order, _ = checkout(cart=cart)
    barrier = threading.Barrier(2)
    results = []

    def cancel():
        from django.db import connection

        try:
            barrier.wait(5)
            results.append(order_cancel(order=order, actor="test")[1])
        finally:
            connection.close()

    threads = [threading.Thread(target=cancel) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, True]
    assert Inventory.objects.get(pk=product.pk).on_hand == 10
    assert StockMovement.objects.filter(kind="return").count() == 1
