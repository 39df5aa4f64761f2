"""Stock events from every write of stock, recorded by the deferred triggers at commit.

These tests commit for real (transaction=True): the triggers run at the commit, while the
writer still holds the stock row. Time moves with the `clock` fixture, which ages the
stored holds, so the database's own clock decides what has expired.
"""

import threading
import time

import pytest
from django.db import connection, transaction

from reservations.errors import InsufficientStock
from reservations.services import (
    cart_create,
    checkout,
    hold_set,
    inventory_adjust,
    inventory_set,
    order_cancel,
)
from reservations.services.release import release_run
from store.models import Inventory
from store.services import product_create
from tests.invariants import assert_counters_exact
from tests.webhooks.conftest import stock_events
from webhooks.models import Delivery, Event, EventType
from webhooks.services import endpoint_create

pytestmark = pytest.mark.django_db(transaction=True)

TTL = 1800


@pytest.fixture(autouse=True)
def _ttl(settings):
    settings.RESERVATION_TTL_SECONDS = TTL


def _product(on_hand: int, sku: str = "PEN"):
    return product_create(sku=sku, name=sku, price=1, on_hand=on_hand)


def _cart():
    return cart_create()[0]


def _announced(product) -> bool:
    return Inventory.objects.get(pk=product.pk).in_stock_announced


def test_a_new_product_with_stock_is_announced_in_stock_and_one_without_is_not():
    with_stock, without = _product(3, "A"), _product(0, "B")

    assert stock_events(with_stock) == [("back_in_stock", 3)]
    assert stock_events(without) == []
    assert (_announced(with_stock), _announced(without)) == (True, False)


def test_a_hold_taking_the_last_unit_announces_out_of_stock_with_the_figures():
    product = _product(2)
    hold_set(cart=_cart(), product=product, quantity=1)
    assert stock_events(product) == [("back_in_stock", 2)]

    hold_set(cart=_cart(), product=product, quantity=1)

    assert stock_events(product) == [("back_in_stock", 2), ("out_of_stock", 0)]
    event = Event.objects.get(type=EventType.STOCK_OUT_OF_STOCK)
    assert event.data == {"product_id": product.pk, "sku": "PEN", "available": 0, "on_hand": 2}


def test_removing_a_hold_announces_back_in_stock():
    product = _product(1)
    cart = _cart()
    hold_set(cart=cart, product=product, quantity=1)

    hold_set(cart=cart, product=product, quantity=0)

    assert stock_events(product) == [
        ("back_in_stock", 1), ("out_of_stock", 0), ("back_in_stock", 1)
    ]


def test_staff_adding_stock_to_a_sold_out_product_announces_back_in_stock():
    product = _product(0)

    inventory_adjust(product=product, delta=5, actor="staff:test")

    assert stock_events(product) == [("back_in_stock", 5)]
    inventory_set(product=product, on_hand=0, actor="staff:test")
    assert stock_events(product) == [("back_in_stock", 5), ("out_of_stock", 0)]


def test_checkout_of_held_units_announces_nothing_and_a_cancel_brings_them_back():
    product = _product(2)
    cart = _cart()
    hold_set(cart=cart, product=product, quantity=2)
    assert stock_events(product) == [("back_in_stock", 2), ("out_of_stock", 0)]

    order, _ = checkout(cart=cart)

    # The held units were not available before the sale, nor are they after it.
    assert stock_events(product) == [("back_in_stock", 2), ("out_of_stock", 0)]
    order_cancel(order=order, actor="staff:test")
    assert stock_events(product) == [
        ("back_in_stock", 2), ("out_of_stock", 0), ("back_in_stock", 2)
    ]


def test_holds_that_expire_are_announced_when_the_release_task_reclaims_them(clock):
    product = _product(3)
    hold_set(cart=_cart(), product=product, quantity=1)
    hold_set(cart=_cart(), product=product, quantity=2)
    assert stock_events(product) == [("back_in_stock", 3), ("out_of_stock", 0)]

    clock.advance(TTL + 1)
    # Nobody wrote: the stock is free (the one rule) but nothing has announced it yet.
    assert stock_events(product) == [("back_in_stock", 3), ("out_of_stock", 0)]
    run = release_run()

    assert (run.released, run.units) == (2, 3)
    assert stock_events(product) == [
        ("back_in_stock", 3), ("out_of_stock", 0), ("back_in_stock", 3)
    ]


def test_the_release_of_some_expired_holds_announces_the_true_figure(clock):
    """The figure counts expired holds not yet reclaimed as free, whoever wrote last."""
    product = _product(3)
    hold_set(cart=_cart(), product=product, quantity=2)
    clock.advance(TTL / 2)
    hold_set(cart=_cart(), product=product, quantity=1)
    clock.advance(TTL / 2 + 1)  # the first hold has expired, the second has not
    assert stock_events(product) == [("back_in_stock", 3), ("out_of_stock", 0)]

    inventory_adjust(product=product, delta=1, actor="staff:test")

    # 4 on hand, 1 held: the reclaim of the expired hold and the new unit are both there.
    assert stock_events(product) == [
        ("back_in_stock", 3), ("out_of_stock", 0), ("back_in_stock", 3)
    ]


def test_a_shopper_taking_units_of_expired_holds_announces_nothing(clock):
    """Sold out, the holds expire unseen, another cart takes the units: the reclaim and
    the take are one statement (0 -> 1 -> 0), and the product never stopped being sold out
    as far as anyone was told."""
    product = _product(1)
    hold_set(cart=_cart(), product=product, quantity=1)
    clock.advance(TTL + 1)

    hold_set(cart=_cart(), product=product, quantity=1)

    assert stock_events(product) == [("back_in_stock", 1), ("out_of_stock", 0)]
    assert_counters_exact()


def test_checkout_buying_the_last_free_units_announces_out_of_stock(clock):
    product = _product(1)
    cart = _cart()
    hold_set(cart=cart, product=product, quantity=1)
    clock.advance(TTL + 1)
    release_run()  # the line expired and was reclaimed: its unit is free again

    checkout(cart=cart)

    assert stock_events(product) == [
        ("back_in_stock", 1), ("out_of_stock", 0), ("back_in_stock", 1), ("out_of_stock", 0)
    ]
    assert Event.objects.filter(type=EventType.STOCK_OUT_OF_STOCK).latest(
        "created_at"
    ).data["on_hand"] == 0


def test_no_event_for_0_to_2_to_0_inside_one_transaction():
    product = _product(0)

    with transaction.atomic():
        inventory_adjust(product=product, delta=2, actor="staff:test")
        hold_set(cart=_cart(), product=product, quantity=2)

    assert stock_events(product) == []
    assert _announced(product) is False


def test_no_event_when_nothing_crosses_zero():
    product = _product(10)
    first, second = _cart(), _cart()

    hold_set(cart=first, product=product, quantity=3)
    hold_set(cart=second, product=product, quantity=6)
    hold_set(cart=first, product=product, quantity=1)
    checkout(cart=second)
    inventory_adjust(product=product, delta=-2, actor="staff:test")

    assert stock_events(product) == [("back_in_stock", 10)]


def test_a_rolled_back_transaction_leaves_no_event():
    product = _product(1)
    endpoint_create(url="https://hooks.example.com/", event_types=[])

    with pytest.raises(RuntimeError), transaction.atomic():
        hold_set(cart=_cart(), product=product, quantity=1)
        raise RuntimeError("the payment step failed")

    assert stock_events(product) == [("back_in_stock", 1)]
    assert _announced(product) is True
    assert Delivery.objects.count() == 0


def test_a_refused_hold_leaves_no_event():
    product = _product(1)
    hold_set(cart=_cart(), product=product, quantity=1)

    with pytest.raises(InsufficientStock):
        hold_set(cart=_cart(), product=product, quantity=1)

    assert stock_events(product) == [("back_in_stock", 1), ("out_of_stock", 0)]


def test_stock_events_go_to_the_endpoints_subscribed_to_them():
    stock, _ = endpoint_create(url="https://a.example.com/", event_types=["stock.out_of_stock"])
    orders, _ = endpoint_create(url="https://b.example.com/", event_types=["order.created"])
    product = _product(1)

    hold_set(cart=_cart(), product=product, quantity=1)

    assert [(d.endpoint, d.event.type) for d in Delivery.objects.select_related("event")] == [
        (stock, "stock.out_of_stock")
    ]


def _race(racers, *, timeout: float = 60):
    """Run each racer in a thread of its own with its own connection, all released at once
    by a barrier; return what each returned or raised."""
    barrier = threading.Barrier(len(racers))
    outcomes: list[object] = [None] * len(racers)

    def run(index, racer):
        try:
            connection.ensure_connection()
            barrier.wait(timeout=30)
            outcomes[index] = racer()
        except BaseException as exc:  # noqa: B036 - every outcome is reported
            outcomes[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, r), daemon=True) for i, r in
               enumerate(racers)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), "a racer hung"
    return outcomes


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_holds_taking_the_last_units_announce_out_of_stock_once(round_):
    product = _product(5, sku=f"HOT-{round_}")
    carts = [_cart() for _ in range(12)]

    outcomes = _race(
        [lambda cart=cart: hold_set(cart=cart, product=product, quantity=1) for cart in carts]
    )

    refused = [o for o in outcomes if isinstance(o, InsufficientStock)]
    assert len(refused) == 7, [o for o in outcomes if isinstance(o, BaseException)]
    assert stock_events(product) == [("back_in_stock", 5), ("out_of_stock", 0)]
    assert_counters_exact()


def test_concurrent_holds_and_removals_keep_announcements_alternating():
    """Shoppers holding and removing the last unit at once: whatever the interleaving,
    the events of a product alternate and the last one says what is true now."""
    product = _product(1, sku="FLIP")
    carts = [_cart() for _ in range(8)]

    def shopper(cart):
        for _ in range(5):
            try:
                hold_set(cart=cart, product=product, quantity=1)
            except InsufficientStock:
                continue
            hold_set(cart=cart, product=product, quantity=0)

    outcomes = _race([lambda cart=cart: shopper(cart) for cart in carts])

    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    events = stock_events(product)
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "back_in_stock"
    assert all(a != b for a, b in zip(kinds, kinds[1:], strict=False)), kinds
    assert events[-1] == ("back_in_stock", 1)
    assert _announced(product) is True
