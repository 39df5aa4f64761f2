"""Limits against hoarding: lines and units per cart, and how long a cart's holds may slide.

Each refusal is a domain error with a stable code and changes nothing: no line written,
no unit taken, no expiry slid.
"""

from datetime import timedelta

import pytest

from reservations.errors import CartLifetimeExceeded, CartLineLimit, CartUnitLimit
from reservations.models import Cart, Reservation
from reservations.selectors import availability_get
from reservations.services import checkout, hold_set
from store.models import Inventory
from tests.api import item_put, state_snapshot
from tests.factories import CartFactory, ProductFactory
from tests.invariants import assert_counters_exact

pytestmark = pytest.mark.django_db


def _reserved(product) -> int:
    return Inventory.objects.get(pk=product.pk).reserved


def _open_lines(cart) -> dict[int, tuple[int, object, str]]:
    rows = Reservation.objects.filter(cart=cart, status__in=("active", "expired"))
    return {r.product_id: (r.quantity, r.expires_at, r.status) for r in rows}


# --- lines per cart ------------------------------------------------------------------------


def test_a_new_line_past_the_line_limit_is_refused_and_changes_nothing(settings, now, ttl):
    settings.RESERVATION_MAX_LINES_PER_CART = 2
    p1, p2, p3 = (ProductFactory(on_hand=5) for _ in range(3))
    cart = CartFactory()
    hold_set(cart=cart, product=p1, quantity=1, now=now)
    hold_set(cart=cart, product=p2, quantity=1, now=now)
    before = _open_lines(cart)

    with pytest.raises(CartLineLimit) as refused:
        hold_set(cart=cart, product=p3, quantity=1, now=now + timedelta(seconds=5))
    assert refused.value.extra == {"max_lines": 2}
    assert _open_lines(cart) == before  # nothing written, no expiry slid
    assert _reserved(p3) == 0
    cart.refresh_from_db()
    assert cart.expires_at == now + timedelta(seconds=ttl)

    # Lines the cart has can change; a freed line can be used again.
    hold_set(cart=cart, product=p2, quantity=3, now=now)
    hold_set(cart=cart, product=p1, quantity=0, now=now)
    hold_set(cart=cart, product=p3, quantity=1, now=now)
    assert sorted(_open_lines(cart)) == [p2.pk, p3.pk]
    assert_counters_exact()


def test_an_expired_line_still_counts_until_it_is_removed(settings, now, ttl):
    """The limit is on the lines the shopper sees, which checkout would buy."""
    settings.RESERVATION_MAX_LINES_PER_CART = 1
    p1, p2 = ProductFactory(on_hand=5), ProductFactory(on_hand=5)
    cart = CartFactory()
    hold_set(cart=cart, product=p1, quantity=1, now=now)
    later = now + timedelta(seconds=ttl + 1)
    with pytest.raises(CartLineLimit):
        hold_set(cart=cart, product=p2, quantity=1, now=later)
    hold_set(cart=cart, product=p1, quantity=0, now=later)
    hold_set(cart=cart, product=p2, quantity=1, now=later)


# --- units per cart ------------------------------------------------------------------------


def test_units_past_the_unit_limit_are_refused_and_change_nothing(settings, now):
    settings.RESERVATION_MAX_UNITS_PER_CART = 5
    p1, p2 = ProductFactory(on_hand=10), ProductFactory(on_hand=10)
    cart = CartFactory()
    hold_set(cart=cart, product=p1, quantity=3, now=now)
    before = _open_lines(cart)

    with pytest.raises(CartUnitLimit) as refused:
        hold_set(cart=cart, product=p2, quantity=3, now=now + timedelta(seconds=5))
    assert refused.value.extra == {"max_units": 5, "requested": 3, "max_quantity": 2}
    with pytest.raises(CartUnitLimit) as refused:
        hold_set(cart=cart, product=p1, quantity=6, now=now + timedelta(seconds=5))
    assert refused.value.extra == {"max_units": 5, "requested": 6, "max_quantity": 5}
    assert _open_lines(cart) == before
    assert (_reserved(p1), _reserved(p2)) == (3, 0)

    hold_set(cart=cart, product=p2, quantity=2, now=now)  # exactly at the limit
    assert (_reserved(p1), _reserved(p2)) == (3, 2)
    assert_counters_exact()


def test_a_cart_over_a_lowered_unit_limit_can_still_lower_and_remove(settings, now):
    p1, p2 = ProductFactory(on_hand=10), ProductFactory(on_hand=10)
    cart = CartFactory()
    hold_set(cart=cart, product=p1, quantity=4, now=now)
    hold_set(cart=cart, product=p2, quantity=4, now=now)
    settings.RESERVATION_MAX_UNITS_PER_CART = 5
    with pytest.raises(CartUnitLimit):
        hold_set(cart=cart, product=p1, quantity=5, now=now)
    hold_set(cart=cart, product=p1, quantity=3, now=now)  # a decrease is never refused
    hold_set(cart=cart, product=p2, quantity=0, now=now)
    assert _reserved(p1) == 3 and _reserved(p2) == 0


# --- lifetime ------------------------------------------------------------------------------


def test_sliding_stops_at_the_cart_lifetime_then_new_holds_are_refused(settings, now, ttl):
    lifetime = 4 * ttl
    settings.RESERVATION_MAX_CART_LIFETIME_SECONDS = lifetime
    product, other = ProductFactory(on_hand=5), ProductFactory(on_hand=5)
    cart = CartFactory()
    end = now + timedelta(seconds=lifetime)
    hold_set(cart=cart, product=product, quantity=5, now=now)

    # A change every half TTL keeps the hold live, but never past the end of the lifetime.
    at = now
    while at + timedelta(seconds=ttl // 2) < end:
        at += timedelta(seconds=ttl // 2)
        line = hold_set(cart=cart, product=product, quantity=5, now=at)
        assert line.expires_at == min(at + timedelta(seconds=ttl), end)
        assert availability_get(product=product, now=at) == 0
    assert line.expires_at == end
    cart.refresh_from_db()
    assert cart.expires_at == end

    # From the end on, the stock is free and the cart can hold nothing more.
    assert availability_get(product=product, now=end) == 5
    for quantity, target in ((5, product), (1, product), (1, other)):
        with pytest.raises(CartLifetimeExceeded) as refused:
            hold_set(cart=cart, product=target, quantity=quantity, now=end)
        assert refused.value.extra == {"max_lifetime_seconds": lifetime}
    assert _open_lines(cart) == {product.pk: (5, end, "active")}
    assert _reserved(other) == 0
    assert availability_get(product=product, now=end) == 5

    # Another shopper can have all of it.
    hold_set(cart=CartFactory(), product=product, quantity=5, now=end)
    assert _reserved(product) == 5
    assert_counters_exact()


def test_a_cart_past_its_lifetime_can_still_check_out(settings, now, ttl):
    """Its lines are expired ones: checkout buys them from free stock, as ever."""
    settings.RESERVATION_MAX_CART_LIFETIME_SECONDS = ttl
    product = ProductFactory(on_hand=5)
    cart = CartFactory()
    hold_set(cart=cart, product=product, quantity=2, now=now)
    order, created = checkout(cart=cart, now=now + timedelta(seconds=2 * ttl))
    assert created
    assert [(line.product_id, line.quantity) for line in order.lines.all()] == [(product.pk, 2)]


def test_the_lifetime_runs_from_the_first_hold_not_from_the_carts_creation(settings, now, ttl):
    settings.RESERVATION_MAX_CART_LIFETIME_SECONDS = 2 * ttl
    product = ProductFactory(on_hand=5)
    cart = CartFactory()
    Cart.objects.filter(pk=cart.pk).update(created_at=now - timedelta(days=1))
    line = hold_set(cart=cart, product=product, quantity=1, now=now)
    assert line.expires_at == now + timedelta(seconds=ttl)
    # Removing every line does not start the lifetime again.
    hold_set(cart=cart, product=product, quantity=0, now=now + timedelta(seconds=ttl))
    with pytest.raises(CartLifetimeExceeded):
        hold_set(cart=cart, product=product, quantity=1, now=now + timedelta(seconds=2 * ttl))
    # Removal is always allowed.
    assert hold_set(cart=cart, product=product, quantity=0, now=now + timedelta(days=1)) is None


def test_a_refused_first_hold_does_not_start_the_lifetime(settings, now, ttl):
    settings.RESERVATION_MAX_CART_LIFETIME_SECONDS = 2 * ttl
    settings.RESERVATION_MAX_UNITS_PER_CART = 3
    product = ProductFactory(on_hand=5)
    cart = CartFactory()
    with pytest.raises(CartUnitLimit):
        hold_set(cart=cart, product=product, quantity=4, now=now)
    later = now + timedelta(seconds=3 * ttl)
    line = hold_set(cart=cart, product=product, quantity=3, now=later)
    assert line.expires_at == later + timedelta(seconds=ttl)


# --- through the API -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "setting, value, code",
    [
        ("RESERVATION_MAX_LINES_PER_CART", 1, "cart_line_limit"),
        ("RESERVATION_MAX_UNITS_PER_CART", 2, "cart_unit_limit"),
        ("RESERVATION_MAX_CART_LIFETIME_SECONDS", 0, "cart_lifetime_exceeded"),
    ],
)
def test_each_limit_is_a_409_with_its_code_and_changes_nothing(api, settings, setting, value, code):
    p1, p2 = ProductFactory(on_hand=5), ProductFactory(on_hand=5)
    body = api.post("/api/v1/carts/").json()
    cart_id, token = body["id"], body["token"]
    assert item_put(api, cart_id, p1.pk, {"quantity": 2}, token=token).status_code == 200
    setattr(settings, setting, value)
    before = state_snapshot(), list(Reservation.objects.values_list("expires_at", flat=True))
    response = item_put(api, cart_id, p2.pk, {"quantity": 1}, token=token)
    assert (response.status_code, response.json()["code"]) == (409, code)
    assert (
        state_snapshot(), list(Reservation.objects.values_list("expires_at", flat=True))
    ) == before
