"""Holds: set, change, remove, expiry without any job."""

from datetime import timedelta

import pytest

from core.errors import InvalidQuantity
from reservations.errors import CartClosed, InsufficientStock, ItemNotFound
from reservations.models import Reservation
from reservations.selectors import (
    availability_get,
    products_with_availability,
    products_with_stock_figures,
)
from reservations.services import hold_remove, hold_set
from store.errors import ProductNotFound
from store.models import Inventory
from tests.factories import CartFactory, ProductFactory
from tests.invariants import assert_counters_exact

pytestmark = pytest.mark.django_db


def _reserved(product) -> int:
    return Inventory.objects.get(pk=product.pk).reserved


def test_hold_takes_units_from_availability(now, ttl):
    product = ProductFactory(on_hand=5)
    line = hold_set(cart=CartFactory(), product=product, quantity=2, now=now)
    assert line.expires_at == now + timedelta(seconds=ttl)
    assert availability_get(product=product, now=now) == 3
    assert _reserved(product) == 2


def test_raise_and_lower_move_only_the_difference(now):
    product = ProductFactory(on_hand=5)
    cart = CartFactory()
    hold_set(cart=cart, product=product, quantity=2, now=now)
    hold_set(cart=cart, product=product, quantity=5, now=now)
    assert _reserved(product) == 5
    hold_set(cart=cart, product=product, quantity=1, now=now)
    assert _reserved(product) == 1
    assert Reservation.objects.filter(cart=cart).count() == 1


def test_cart_own_live_hold_never_counts_against_it(now):
    product = ProductFactory(on_hand=3)
    cart = CartFactory()
    hold_set(cart=cart, product=product, quantity=3, now=now)
    # All 3 units are this cart's: setting 3 again or lowering must work.
    hold_set(cart=cart, product=product, quantity=3, now=now)
    hold_set(cart=cart, product=product, quantity=2, now=now)
    assert availability_get(product=product, now=now) == 1


def test_insufficient_stock_reports_what_the_cart_could_hold_and_changes_nothing(now):
    product = ProductFactory(on_hand=5)
    cart = CartFactory()
    hold_set(cart=CartFactory(), product=product, quantity=3, now=now)
    hold_set(cart=cart, product=product, quantity=1, now=now)
    with pytest.raises(InsufficientStock) as excinfo:
        hold_set(cart=cart, product=product, quantity=4, now=now + timedelta(seconds=5))
    assert excinfo.value.extra["available"] == 2
    assert excinfo.value.extra["requested"] == 4
    assert _reserved(product) == 4
    line = Reservation.objects.get(cart=cart)
    assert (line.quantity, line.expires_at) == (1, now + timedelta(seconds=1800))


def test_zero_removes_the_line_and_gives_units_back(now):
    product = ProductFactory(on_hand=5)
    cart = CartFactory()
    hold_set(cart=cart, product=product, quantity=4, now=now)
    assert hold_set(cart=cart, product=product, quantity=0, now=now) is None
    assert Reservation.objects.get(cart=cart).status == "released"
    assert _reserved(product) == 0
    assert availability_get(product=product, now=now) == 5


def test_remove_line(now):
    product = ProductFactory(on_hand=5)
    cart = CartFactory()
    hold_set(cart=cart, product=product, quantity=2, now=now)
    hold_remove(cart=cart, product=product, now=now)
    assert _reserved(product) == 0
    with pytest.raises(ItemNotFound):
        hold_remove(cart=cart, product=product, now=now)


def test_expired_hold_is_free_stock_without_any_job(now, ttl):
    product = ProductFactory(on_hand=4)
    hold_set(cart=CartFactory(), product=product, quantity=4, now=now)
    assert availability_get(product=product, now=now + timedelta(seconds=ttl - 1)) == 0
    at_expiry = now + timedelta(seconds=ttl)
    assert availability_get(product=product, now=at_expiry) == 4
    listed = products_with_stock_figures(now=at_expiry).get(pk=product.pk)
    assert (listed.available, listed.held, listed.on_hand) == (4, 0, 4)


def test_another_cart_takes_expired_stock_and_each_hold_is_reclaimed_once(now, ttl):
    product = ProductFactory(on_hand=4)
    first, second = CartFactory(), CartFactory()
    hold_set(cart=first, product=product, quantity=4, now=now)
    later = now + timedelta(seconds=ttl + 1)
    hold_set(cart=second, product=product, quantity=3, now=later)
    assert Reservation.objects.get(cart=first).status == "expired"
    assert _reserved(product) == 3
    assert_counters_exact()
    assert availability_get(product=product, now=later) == 1


def test_expired_line_is_renewed_only_with_a_stock_check(now, ttl):
    product = ProductFactory(on_hand=4)
    first, second = CartFactory(), CartFactory()
    hold_set(cart=first, product=product, quantity=4, now=now)
    later = now + timedelta(seconds=ttl + 1)
    hold_set(cart=second, product=product, quantity=3, now=later)
    # The first cart's line expired and its stock went to the second cart: renewing the
    # same quantity is a new hold and fails; what is left can be held.
    with pytest.raises(InsufficientStock) as excinfo:
        hold_set(cart=first, product=product, quantity=4, now=later)
    assert excinfo.value.extra["available"] == 1
    hold_set(cart=first, product=product, quantity=1, now=later)
    line = Reservation.objects.get(cart=first)
    assert (line.status, line.quantity) == ("active", 1)
    assert _reserved(product) == 4
    assert_counters_exact()


def test_expired_but_unclaimed_line_can_be_renewed(now, ttl):
    product = ProductFactory(on_hand=4)
    cart = CartFactory()
    hold_set(cart=cart, product=product, quantity=4, now=now)
    later = now + timedelta(seconds=ttl + 60)
    hold_set(cart=cart, product=product, quantity=4, now=later)
    line = Reservation.objects.get(cart=cart)
    assert line.expires_at == later + timedelta(seconds=ttl)
    assert _reserved(product) == 4
    assert_counters_exact()
    assert availability_get(product=product, now=later) == 0


def test_any_change_slides_the_expiry_of_the_carts_live_holds(now, ttl):
    p1, p2, p3 = ProductFactory(on_hand=5), ProductFactory(on_hand=5), ProductFactory(on_hand=5)
    cart = CartFactory()
    hold_set(cart=cart, product=p1, quantity=1, now=now)
    hold_set(cart=cart, product=p2, quantity=1, now=now + timedelta(seconds=ttl + 1))
    # p1 expired before that change and is not revived; a later change renews p2 only.
    later = now + timedelta(seconds=ttl + 100)
    hold_set(cart=cart, product=p3, quantity=1, now=later)
    lines = {line.product_id: line for line in Reservation.objects.filter(cart=cart)}
    assert lines[p1.pk].expires_at == now + timedelta(seconds=ttl)
    assert lines[p2.pk].expires_at == later + timedelta(seconds=ttl)
    assert lines[p3.pk].expires_at == later + timedelta(seconds=ttl)
    cart.refresh_from_db()
    assert cart.expires_at == later + timedelta(seconds=ttl)


@pytest.mark.parametrize("quantity", [-1, 10_001, 2**63, 1.5, "2", True, None])
def test_bad_quantities_are_refused(now, quantity):
    product = ProductFactory(on_hand=5)
    with pytest.raises(InvalidQuantity):
        hold_set(cart=CartFactory(), product=product, quantity=quantity, now=now)
    assert _reserved(product) == 0


def test_inactive_product_cannot_be_held_but_can_be_removed(now):
    product = ProductFactory(on_hand=5)
    cart = CartFactory()
    hold_set(cart=cart, product=product, quantity=2, now=now)
    product.is_active = False
    product.save()
    with pytest.raises(ProductNotFound):
        hold_set(cart=cart, product=product, quantity=3, now=now)
    hold_remove(cart=cart, product=product, now=now)
    assert _reserved(product) == 0


def test_checked_out_cart_cannot_change(now):
    product = ProductFactory(on_hand=5)
    cart = CartFactory(status="checked_out")
    with pytest.raises(CartClosed):
        hold_set(cart=cart, product=product, quantity=1, now=now)
    assert _reserved(product) == 0


def test_product_without_stock_row_is_simply_out_of_stock(now):
    from store.models import Product

    product = Product.objects.create(sku="NO-ROW", name="No row", price=1)
    with pytest.raises(InsufficientStock) as excinfo:
        hold_set(cart=CartFactory(), product=product, quantity=1, now=now)
    assert excinfo.value.extra["available"] == 0


def test_hold_hot_path_query_count(now, django_assert_num_queries):
    product = ProductFactory(on_hand=5)
    cart = CartFactory()
    # In a caller's transaction (this test's), the statement costs a savepoint around it.
    with django_assert_num_queries(3):
        hold_set(cart=cart, product=product, quantity=1, now=now)


@pytest.mark.django_db(transaction=True)
def test_a_hold_alone_is_one_statement(now, django_assert_num_queries):
    product = ProductFactory(on_hand=5)
    cart = CartFactory()
    with django_assert_num_queries(1):
        line = hold_set(cart=cart, product=product, quantity=2, now=now)
    stored = Reservation.objects.get()
    assert (line.id, line.product_id, line.quantity, line.expires_at) == (
        stored.pk, stored.product_id, stored.quantity, stored.expires_at
    )
    assert cart.expires_at == stored.expires_at
    assert _reserved(product) == 2
    # Too little stock: the statement reclaims, retries and undoes itself; the rollback of
    # its aborted transaction is the one more round trip a refusal costs.
    other = CartFactory()
    with django_assert_num_queries(2), pytest.raises(InsufficientStock) as refused:
        hold_set(cart=other, product=product, quantity=4, now=now)
    assert refused.value.extra["available"] == 3
    assert _reserved(product) == 2
    assert Reservation.objects.count() == 1


def test_rows_written_carry_the_given_now(now, ttl):
    product = ProductFactory(on_hand=5)
    cart = CartFactory()
    hold_set(cart=cart, product=product, quantity=2, now=now)
    line = Reservation.objects.get(cart=cart)
    assert (line.created_at, line.updated_at, line.expires_at) == (
        now, now, now + timedelta(seconds=ttl)
    )
    cart.refresh_from_db()
    assert (cart.updated_at, cart.expires_at) == (now, now + timedelta(seconds=ttl))

    later = now + timedelta(seconds=60)
    hold_set(cart=cart, product=product, quantity=3, now=later)
    line.refresh_from_db()
    assert (line.created_at, line.updated_at, line.expires_at) == (
        now, later, later + timedelta(seconds=ttl)
    )
    hold_set(cart=cart, product=product, quantity=0, now=later + timedelta(seconds=1))
    line.refresh_from_db()
    assert (line.status, line.updated_at) == ("released", later + timedelta(seconds=1))
    cart.refresh_from_db()
    assert (cart.updated_at, cart.expires_at) == (later + timedelta(seconds=1), None)


def test_without_now_rows_carry_the_database_clock(ttl):
    from django.db import connection

    product = ProductFactory(on_hand=5)
    cart = CartFactory()
    # The test's transaction: statement_timestamp() moves, transaction_timestamp() does not.
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement_timestamp()")
        before = cursor.fetchone()[0]
    line = hold_set(cart=cart, product=product, quantity=1)
    stored = Reservation.objects.get(cart=cart)
    assert stored.created_at == stored.updated_at
    assert stored.created_at >= before
    assert line.expires_at == stored.expires_at == stored.created_at + timedelta(seconds=ttl)


def test_reclaim_frees_each_expired_hold_once(now, ttl):
    from reservations.services import reclaim

    product = ProductFactory(on_hand=7)
    for _ in range(7):
        hold_set(cart=CartFactory(), product=product, quantity=1, now=now)
    later = now + timedelta(seconds=ttl)
    assert reclaim.expired_reclaim_some(product_id=product.pk, now=later, limit=3) == (3, 3)
    assert reclaim.expired_reclaim(product_id=product.pk, now=later) == 4
    assert reclaim.expired_reclaim(product_id=product.pk, now=later) == 0
    assert _reserved(product) == 0
    expired = Reservation.objects.filter(status="expired")
    assert expired.count() == 7
    assert set(expired.values_list("updated_at", flat=True)) == {later}


def test_an_app_clock_running_ahead_frees_no_live_hold(ttl, monkeypatch):
    """Expiry is the database's decision: a host whose clock runs an hour ahead neither
    counts live holds as free, nor reclaims, releases or lets stock changes ignore them."""
    from django.utils import timezone

    from reservations.errors import StockBelowHeld
    from reservations.services import expired_reclaim, inventory_set
    from reservations.services.release import expired_count, expired_release

    product = ProductFactory(on_hand=4)
    holder = CartFactory()
    hold_set(cart=holder, product=product, quantity=4)
    ahead = timezone.now() + timedelta(hours=1)
    monkeypatch.setattr(timezone, "now", lambda: ahead)

    assert availability_get(product=product) == 0
    assert products_with_availability().get(pk=product.pk).available == 0
    with pytest.raises(InsufficientStock) as refused:
        hold_set(cart=CartFactory(), product=product, quantity=1)
    assert refused.value.extra["available"] == 0
    assert expired_reclaim(product_id=product.pk) == 0
    assert expired_count() == {"holds": 0, "units": 0}
    assert expired_release(max_run_seconds=5).released == 0
    with pytest.raises(StockBelowHeld):
        inventory_set(product=product, on_hand=3)

    line = Reservation.objects.get(cart=holder)
    assert (line.status, line.quantity) == ("active", 4)
    assert _reserved(product) == 4
