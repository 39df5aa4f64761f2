"""Checkout: consume live holds, reclaim and buy expired ones, or change nothing."""

from datetime import timedelta
from decimal import Decimal

import pytest

from reservations.errors import CartEmpty, CheckoutShort, IdempotencyKeyReused, ProductNotOnSale
from reservations.models import Cart, Order, Reservation
from reservations.selectors import availability_get
from reservations.services import checkout, expired_reclaim, hold_set
from store.models import Inventory
from tests.factories import CartFactory, ProductFactory

pytestmark = pytest.mark.django_db


def _stock(product) -> tuple[int, int]:
    inventory = Inventory.objects.get(pk=product.pk)
    return inventory.on_hand, inventory.reserved


def test_checkout_consumes_live_holds(now):
    p1 = ProductFactory(on_hand=5, price=Decimal("2.50"))
    p2 = ProductFactory(on_hand=5, price=Decimal("10.00"))
    cart = CartFactory()
    hold_set(cart=cart, product=p1, quantity=2, now=now)
    hold_set(cart=cart, product=p2, quantity=1, now=now)
    order, created = checkout(cart=cart, now=now)
    assert created
    assert order.total == Decimal("15.00")
    assert [(line.sku, line.quantity) for line in order.lines.all()] == [(p1.sku, 2), (p2.sku, 1)]
    assert _stock(p1) == (3, 0) and _stock(p2) == (4, 0)
    assert set(Reservation.objects.values_list("status", flat=True)) == {"consumed"}
    cart.refresh_from_db()
    assert cart.status == Cart.Status.CHECKED_OUT


def test_repeated_checkout_returns_the_same_order(now):
    product = ProductFactory(on_hand=5)
    cart = CartFactory()
    hold_set(cart=cart, product=product, quantity=2, now=now)
    first, created_first = checkout(cart=cart, now=now)
    again, created_again = checkout(cart=cart, now=now + timedelta(hours=2))
    assert (created_first, created_again) == (True, False)
    assert first.pk == again.pk
    assert Order.objects.count() == 1
    assert _stock(product) == (3, 0)


def test_expired_unclaimed_hold_is_bought_at_checkout(now, ttl):
    product = ProductFactory(on_hand=3)
    cart = CartFactory()
    hold_set(cart=cart, product=product, quantity=3, now=now)
    order, _ = checkout(cart=cart, now=now + timedelta(seconds=ttl + 600))
    assert order.lines.get().quantity == 3
    assert _stock(product) == (0, 0)


def test_checkout_reclaims_expired_holds_of_others_to_buy_a_reclaimed_line(now, ttl):
    product = ProductFactory(on_hand=4)
    shopper, other, third = CartFactory(), CartFactory(), CartFactory()
    hold_set(cart=shopper, product=product, quantity=2, now=now)
    hold_set(cart=other, product=product, quantity=2, now=now)
    later = now + timedelta(seconds=ttl + 1)
    # A third cart reclaims everything expired and takes 3 units; shopper's line is
    # reclaimed, and only one unit is left (other's expired hold was reclaimed too).
    hold_set(cart=third, product=product, quantity=3, now=later)
    assert Reservation.objects.get(cart=shopper).status == "expired"
    with pytest.raises(CheckoutShort) as excinfo:
        checkout(cart=shopper, now=later)
    assert excinfo.value.extra["lines"] == [
        {"product_id": product.pk, "sku": product.sku, "requested": 2, "available": 1}
    ]
    # Third cart gives a unit back: now the expired line can be bought from free stock.
    hold_set(cart=third, product=product, quantity=2, now=later)
    order, _ = checkout(cart=shopper, now=later)
    assert order.lines.get().quantity == 2
    assert _stock(product) == (2, 2)
    assert availability_get(product=product, now=later) == 0


def test_short_checkout_lists_every_short_line_and_changes_nothing(now, ttl):
    p1, p2, p3 = (ProductFactory(on_hand=2) for _ in range(3))
    shopper = CartFactory()
    for product in (p1, p2, p3):
        hold_set(cart=shopper, product=product, quantity=2, now=now)
    later = now + timedelta(seconds=ttl + 1)
    rival = CartFactory()
    hold_set(cart=rival, product=p1, quantity=2, now=later)
    hold_set(cart=rival, product=p3, quantity=1, now=later)
    # p1 and p3 were reclaimed by the rival; p2 expired but nobody claimed it.
    before = [_stock(p) for p in (p1, p2, p3)]
    with pytest.raises(CheckoutShort) as excinfo:
        checkout(cart=shopper, now=later)
    short = {line["product_id"]: line["available"] for line in excinfo.value.extra["lines"]}
    assert short == {p1.pk: 0, p3.pk: 1}
    assert [_stock(p) for p in (p1, p2, p3)] == before
    assert not Order.objects.exists()
    assert Cart.objects.get(pk=shopper.pk).status == Cart.Status.OPEN


def test_checkout_of_empty_cart_is_refused(now):
    cart = CartFactory()
    with pytest.raises(CartEmpty):
        checkout(cart=cart, now=now)
    product = ProductFactory(on_hand=1)
    hold_set(cart=cart, product=product, quantity=1, now=now)
    hold_set(cart=cart, product=product, quantity=0, now=now)
    with pytest.raises(CartEmpty):
        checkout(cart=cart, now=now)
    assert _stock(product) == (1, 0)


def test_idempotency_key_belongs_to_one_cart(now):
    product = ProductFactory(on_hand=5)
    first, second = CartFactory(), CartFactory()
    hold_set(cart=first, product=product, quantity=1, now=now)
    hold_set(cart=second, product=product, quantity=1, now=now)
    checkout(cart=first, idempotency_key="key-1", now=now)
    with pytest.raises(IdempotencyKeyReused):
        checkout(cart=second, idempotency_key="key-1", now=now)
    assert _stock(product) == (4, 1)
    order, created = checkout(cart=first, idempotency_key="key-1", now=now)
    assert not created and order.idempotency_key == "key-1"


def test_inactive_product_line_that_was_reclaimed_is_not_on_sale(now, ttl):
    product = ProductFactory(on_hand=5)
    cart = CartFactory()
    hold_set(cart=cart, product=product, quantity=1, now=now)
    later = now + timedelta(seconds=ttl + 1)
    hold_set(cart=CartFactory(), product=product, quantity=5, now=later)
    hold_set(cart=CartFactory(), product=ProductFactory(on_hand=1), quantity=1, now=later)
    product.is_active = False
    product.save()
    with pytest.raises(ProductNotOnSale) as excinfo:
        checkout(cart=cart, now=later)
    assert excinfo.value.extra["lines"] == [
        {"product_id": product.pk, "sku": product.sku, "requested": 1, "available": 0}
    ]


@pytest.mark.parametrize("age", ["live", "expired", "reclaimed"])
def test_inactive_product_line_is_refused_whatever_its_hold(now, ttl, age):
    product = ProductFactory(on_hand=5)
    cart = CartFactory()
    hold_set(cart=cart, product=product, quantity=2, now=now)
    later = now if age == "live" else now + timedelta(seconds=ttl + 1)
    if age == "reclaimed":
        expired_reclaim(product_id=product.pk, now=later)
    product.is_active = False
    product.save()
    before = _stock(product)
    with pytest.raises(ProductNotOnSale):
        checkout(cart=cart, now=later)
    assert _stock(product) == before
    assert not Order.objects.exists()


def test_checkout_query_count_does_not_grow_per_line_beyond_one_update(
    now, django_assert_max_num_queries
):
    products = [ProductFactory(on_hand=5) for _ in range(5)]
    cart = CartFactory()
    for product in products:
        hold_set(cart=cart, product=product, quantity=1, now=now)
    # key check, savepoint, cart lock, lines lock, 5 inventory updates, consume, order,
    # lines, cart update, the order.created event, release
    with django_assert_max_num_queries(15):
        checkout(cart=cart, now=now)
