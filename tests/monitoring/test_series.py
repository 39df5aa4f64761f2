"""The dashboard's time series, rebuilt from rows whose instants the tests place."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from monitoring.series import (
    backlog_series,
    busiest_products_series,
    expirations_checkouts_series,
    release_runs_series,
    window_get,
)
from reservations.models import Order, ReleaseRun, Reservation
from store.models import Inventory, StockMovement
from tests.factories import CartFactory, ProductFactory

pytestmark = pytest.mark.django_db

M = timedelta(minutes=1)


@pytest.fixture
def hours():
    """The last 24 hours up to 50 minutes into an hour that has passed."""
    top = timezone.now().astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return window_get(now=top - timedelta(hours=2) + 50 * M, unit="hour", count=24)


def _hold(product, *, quantity=1, cart=None, status="active", created, expires, updated=None):
    hold = Reservation.objects.create(
        cart=cart or CartFactory(), product=product, quantity=quantity,
        status=status, expires_at=expires,
    )
    Reservation.objects.filter(pk=hold.pk).update(created_at=created, updated_at=updated or created)
    return hold


def _product(on_hand):
    product = ProductFactory(on_hand=on_hand)
    # The opening balance long before the window.
    StockMovement.objects.filter(product=product).update(
        created_at=datetime(2020, 1, 1, tzinfo=UTC)
    )
    return product


def test_held_and_available_per_hour_follow_holds_and_the_ledger(hours):
    h = hours.buckets
    product = _product(20)
    _hold(product, quantity=5, created=hours.start - 60 * M, expires=hours.now + 10 * M)
    _hold(product, quantity=2, created=h[-4] + 10 * M, expires=h[-2] + 10 * M)
    _hold(product, quantity=4, status="released", created=h[-3] + 5 * M,
          expires=h[-1] + 30 * M, updated=h[-1] + M)
    # Made and checked out within one hour: never held at an hour's end.
    _hold(product, quantity=3, status="consumed", created=h[-6] + 5 * M,
          expires=h[-6] + 35 * M, updated=h[-6] + 9 * M)
    StockMovement.objects.create(
        product=product, kind="receipt", quantity=5, actor="test", created_at=h[-2] + 20 * M
    )
    Inventory.objects.filter(product=product).update(on_hand=25)
    quiet = _product(10)
    _hold(quiet, quantity=1, created=h[-1] + M, expires=h[-1] + 31 * M)

    busiest = busiest_products_series(window=hours, limit=1)

    assert [series.sku for series in busiest] == [product.sku]
    held, available = busiest[0].held, busiest[0].available
    assert held[:20] == [5] * 20
    assert held[20:] == [7, 11, 9, 5]
    assert available[:20] == [15] * 20
    assert available[20:] == [13, 9, 16, 20]


def test_expired_carts_and_checkouts_per_hour_and_per_minute(hours):
    h = hours.buckets
    product = _product(50)
    _hold(product, created=h[-2], expires=h[-2] + 5 * M)
    two_lines = CartFactory()
    for other in (product, _product(5)):
        _hold(other, cart=two_lines, status="expired", created=h[-2],
              expires=h[-2] + 7 * M, updated=h[-1])
    # Checked out in time: not an expiration.
    _hold(product, status="consumed", created=h[-2], expires=h[-2] + 9 * M, updated=h[-2])
    for at in (h[-1] + 2 * M, hours.now - 5 * M):
        order = Order.objects.create(cart=CartFactory(), total=1)
        Order.objects.filter(pk=order.pk).update(created_at=at)

    per_hour = expirations_checkouts_series(window=hours)
    minutes = window_get(now=hours.now, unit="minute", count=60)
    per_minute = expirations_checkouts_series(window=minutes)

    assert per_hour.expired_carts[-2:] == [2, 0] and sum(per_hour.expired_carts) == 2
    assert per_hour.checkouts[-2:] == [0, 2] and sum(per_hour.checkouts) == 2
    # The last 60 minutes start 9 minutes before the last hour.
    assert per_minute.checkouts[11] == 1 and per_minute.checkouts[-6] == 1
    assert sum(per_minute.checkouts) == 2
    assert sum(per_minute.expired_carts) == 0


def test_the_backlog_rises_while_expired_holds_wait_and_falls_when_released(hours, settings):
    settings.RESERVATION_BACKLOG_GRACE_SECONDS = 120
    h = hours.buckets
    product = _product(50)
    # Waiting since long before the window: counted in every hour.
    _hold(product, created=hours.start - timedelta(days=2),
          expires=hours.start - timedelta(days=2) + 30 * M)
    _hold(product, created=h[-2], expires=h[-2] + 5 * M)
    for _ in range(2):
        _hold(product, status="expired", created=h[-2], expires=h[-2] + 7 * M,
              updated=h[-1] + 30 * M)
    # Released within the grace period: never part of the backlog.
    _hold(product, status="expired", created=h[-5], expires=h[-5] + 10 * M,
          updated=h[-5] + 11 * M)

    backlog = backlog_series(window=hours)

    assert backlog[:22] == [1] * 22
    assert backlog[22:] == [4, 2]


def test_release_runs_per_hour_with_failures_and_the_longest(hours):
    h = hours.buckets
    for started, seconds, status, released in [
        (h[-1] + M, 2.5, "succeeded", 4),
        (h[-1] + 2 * M, 0.5, "failed", 0),
        (h[-3], 1, "succeeded", 1),
    ]:
        ReleaseRun.objects.create(
            started_at=started, finished_at=started + timedelta(seconds=seconds),
            status=status, released=released,
        )

    runs = release_runs_series(window=hours)

    assert runs.runs[-3:] == [1, 0, 2] and sum(runs.runs) == 3
    assert runs.failed[-1] == 1 and sum(runs.failed) == 1
    assert runs.longest_seconds[-3:] == [1.0, 0.0, 2.5]
    assert runs.released[-3:] == [1, 0, 4]
