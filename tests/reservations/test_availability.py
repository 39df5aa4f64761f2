"""Availability reads the shorter side of a product's active holds, expired or live: the
answer is the same either way (expired holds are free stock), and the read never walks the
longer side, so it stays cheap when the release task is dead and the backlog grows.

stockhold_inventory_available reads a side in rounds of at most 8, 64, 512... entries, the
live side first; the counts below sit on either side of those limits.
"""

from datetime import timedelta

import pytest
from django.db import connection, transaction

from reservations.models import Cart, Reservation
from reservations.selectors import (
    availability_get,
    products_with_availability,
    products_with_stock_figures,
)
from store.models import Inventory
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

FREE = 5


def _product_with_holds(*, expired: int, live: int, now):
    """A product with FREE free units, `expired` active holds that expired by `now` (the
    first exactly at `now`) and `live` that expire after it, each in a cart of its own and
    of 1 to 3 units, its counters as the services leave them. Returns the product and its
    holds."""
    quantities = [1 + i % 3 for i in range(expired + live)]
    product = ProductFactory(on_hand=FREE + sum(quantities))
    carts = Cart.objects.bulk_create(Cart(token_hash="x" * 64) for _ in quantities)
    holds = Reservation.objects.bulk_create(
        Reservation(
            cart=cart,
            product=product,
            quantity=quantity,
            expires_at=now - timedelta(seconds=i) if i < expired
            else now + timedelta(seconds=i - expired + 1),
        )
        for i, (cart, quantity) in enumerate(zip(carts, quantities, strict=True))
    )
    Inventory.objects.filter(pk=product.pk).update(reserved=sum(quantities))
    return product, holds


def _expected(holds, at) -> tuple[int, int]:
    """(available, held) at `at`: free units plus the expired holds' units, and the live
    holds' units."""
    expired = sum(h.quantity for h in holds if h.expires_at <= at)
    live = sum(h.quantity for h in holds if h.expires_at > at)
    return FREE + expired, live


def _index_entries_read(call) -> int:
    """Entries of the partial index of active holds by product that `call` reads."""
    query = "SELECT pg_stat_get_xact_tuples_returned('reservation_active_prod_exp'::regclass)"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(query)
        before = cursor.fetchone()[0]
        call()
        cursor.execute(query)
        return cursor.fetchone()[0] - before


@pytest.mark.parametrize(
    "expired, live",
    [
        (0, 0),
        (30, 8),  # the live side ends within the first round
        (8, 9),  # one past it: the expired side, which ends within the round
        (30, 9),  # both past the first round; the live side ends within the second
        (65, 64),
        (64, 65),
        (65, 65),  # both past the second round
        (520, 600),  # both past the third
    ],
)
def test_expired_holds_are_free_stock_whichever_side_is_read(now, expired, live):
    product, holds = _product_with_holds(expired=expired, live=live, now=now)
    available, held = _expected(holds, now)
    assert available == FREE + sum(h.quantity for h in holds[:expired])

    assert availability_get(product=product, now=now) == available
    assert products_with_availability(now=now).get(pk=product.pk).available == available
    listed = products_with_stock_figures(now=now).get(pk=product.pk)
    assert (listed.available, listed.held, listed.on_hand) == (
        available, held, FREE + sum(h.quantity for h in holds)
    )


def test_live_holds_become_free_stock_as_the_clock_passes_their_expiry(now):
    product, holds = _product_with_holds(expired=70, live=70, now=now)
    for seconds in (-80, -65, -9, 0, 1, 8, 9, 64, 65, 71):
        at = now + timedelta(seconds=seconds)
        assert availability_get(product=product, now=at) == _expected(holds, at)[0], seconds


def test_a_product_without_a_stock_row_has_nothing_available(now):
    product = ProductFactory()
    Inventory.objects.filter(pk=product.pk).delete()
    assert availability_get(product=product, now=now) == 0
    listed = products_with_stock_figures(now=now).get(pk=product.pk)
    assert (listed.available, listed.held, listed.on_hand) == (0, 0, 0)


@pytest.mark.parametrize(
    "expired, live, most",
    [
        # A dead release task: a long backlog, few live holds, read alone.
        (1000, 2, 2),
        # A busy product while the task keeps up: 9 of its live holds, then the few expired.
        (3, 1000, 9 + 3),
        # Both long: rounds of 8 and 64 entries of each side, then the 100 live.
        (1000, 100, 9 + 9 + 65 + 65 + 100),
    ],
)
def test_a_read_never_walks_the_longer_side(now, expired, live, most):
    product, holds = _product_with_holds(expired=expired, live=live, now=now)

    read = _index_entries_read(lambda: availability_get(product=product, now=now))

    assert read <= most < max(expired, live)
    assert availability_get(product=product, now=now) == _expected(holds, now)[0]
