"""The soak's restocker keeps an exact ledger of what it received, whatever sells meanwhile."""

import threading

import pytest

from reservations.services import checkout, hold_set, order_confirm
from soak import staff
from soak.staff import Restocker
from store.models import Inventory
from tests.factories import CartFactory, ProductFactory

pytestmark = pytest.mark.django_db


def test_a_payment_confirmed_between_reading_and_setting_the_shelf_is_not_overwritten(
    settings, monkeypatch
):
    settings.ORDER_PAYMENT_WINDOW_SECONDS = 900
    product = ProductFactory(on_hand=50)
    cart = CartFactory()
    hold_set(cart=cart, product=product, quantity=4)
    order, _ = checkout(cart=cart)
    restocker = Restocker(
        received={product.pk: 50}, hot=(), interval=1, stop=threading.Event(), seed=1
    )
    reads = []
    real_read = staff.shelf_read

    def read_then_sell(product_id):
        on_hand = real_read(product_id)
        if not reads:
            order_confirm(order=order, actor="psp")  # the sale lands after the first read
        reads.append(on_hand)
        return on_hand

    monkeypatch.setattr(staff, "shelf_read", read_then_sell)
    restocker.restock(product)

    assert reads[:2] == [50, 46] and restocker.figures["raced"] == 1
    on_hand = Inventory.objects.get(pk=product.pk).on_hand
    # What the shelf holds is what was received minus what was sold.
    assert on_hand + 4 == restocker.received[product.pk]
