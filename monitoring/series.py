"""Time series for the dashboard's charts: reads only, each bounded by its window.

Every series is bucketed in the database (per hour over the last day, per minute over the
last hour) from indexed ranges: holds made in the window (and up to the longest a hold can
live before it), ledger movements, holds that expired, orders and release runs of the
window. Their cost follows one day's traffic, never the number of holds kept; the one
figure that does not fit in a window, expired holds still waiting from before it, is a
count capped like the backlog check's.

Levels (units held, available, the backlog) are rebuilt from events: a hold adds its units
when it was made and takes them away when it ended (removed, checked out, or expired:
`least(expires_at, updated_at)` for an ended hold, `expires_at` for an active one). A
hold's row keeps its last quantity, so a line whose quantity changed counts at that one
from its start.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection

from monitoring.checks import BACKLOG_COUNT_CAP, backlog_grace
from reservations.models import Reservation

# Products drawn in the "held and available" small multiples.
BUSIEST_PRODUCTS = 4


@dataclass(frozen=True)
class Window:
    """Buckets of `unit` ("hour" or "minute") from `start` up to the one holding `now`."""

    unit: str
    start: datetime
    now: datetime
    buckets: tuple[datetime, ...]

    def params(self, **extra) -> dict:
        """The window as the queries' parameters (start, now, unit), with `extra`."""
        return {"start": self.start, "now": self.now, "unit": self.unit, **extra}


def window_get(*, now: datetime, unit: str = "hour", count: int = 24) -> Window:
    """The last `count` whole-unit buckets, the current (partial) one last."""
    step = timedelta(hours=1) if unit == "hour" else timedelta(minutes=1)
    # Buckets in UTC, as the queries truncate them.
    current = now.astimezone(UTC).replace(second=0, microsecond=0)
    if unit == "hour":
        current = current.replace(minute=0)
    start = current - step * (count - 1)
    return Window(
        unit=unit, start=start, now=now, buckets=tuple(start + step * i for i in range(count))
    )


def _rows(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _levels(window: Window, events: dict[datetime, int], *, base: int = 0) -> list[int]:
    """The running sum of per-bucket changes: the level at the end of each bucket."""
    level, levels = base, []
    for bucket in window.buckets:
        level += events.get(bucket, 0)
        levels.append(level)
    return levels


def _per_bucket(window: Window, counts: dict[datetime, int]) -> list[int]:
    return [counts.get(bucket, 0) for bucket in window.buckets]


@dataclass(frozen=True)
class ProductSeries:
    product_id: int
    sku: str
    name: str
    held: list[int]
    available: list[int]


_BUSIEST_SQL = """
SELECT busy.product_id, p.sku, p.name, COALESCE(i.on_hand, 0)
FROM (
    SELECT product_id, SUM(quantity) AS units
    FROM reservations_reservation
    WHERE created_at >= %(start)s AND created_at <= %(now)s
    GROUP BY product_id
    ORDER BY units DESC, product_id
    LIMIT %(limit)s
) busy
JOIN store_product p ON p.id = busy.product_id
LEFT JOIN store_inventory i ON i.product_id = busy.product_id
ORDER BY busy.units DESC, busy.product_id
"""

_HELD_SQL = """
WITH h AS (
    SELECT product_id, quantity, created_at,
           CASE WHEN status = 'active' THEN expires_at
                ELSE LEAST(expires_at, updated_at) END AS ended_at
    FROM reservations_reservation
    WHERE created_at >= %(lookback)s AND created_at <= %(now)s
      AND product_id = ANY(%(products)s)
)
SELECT product_id, date_trunc(%(unit)s, GREATEST(created_at, %(start)s), 'UTC'), SUM(quantity)
FROM h WHERE ended_at > %(start)s
GROUP BY 1, 2
UNION ALL
SELECT product_id, date_trunc(%(unit)s, ended_at, 'UTC'), -SUM(quantity)
FROM h WHERE ended_at > %(start)s AND ended_at <= %(now)s
GROUP BY 1, 2
"""

_LEDGER_SQL = """
SELECT product_id, date_trunc(%(unit)s, created_at, 'UTC'), SUM(quantity)
FROM store_stockmovement
WHERE product_id = ANY(%(products)s) AND created_at >= %(start)s
GROUP BY 1, 2
"""


def _hold_lookback() -> timedelta:
    """The longest a hold can have lived before the window and still be live in it."""
    return timedelta(
        seconds=settings.RESERVATION_MAX_CART_LIFETIME_SECONDS
        + settings.ORDER_PAYMENT_WINDOW_SECONDS
    )


def busiest_products_series(
    *, window: Window, limit: int = BUSIEST_PRODUCTS
) -> list[ProductSeries]:
    """Units in live holds and units available, at the end of each bucket, for the `limit`
    products with the most units held in holds made in the window. Three queries."""
    params = window.params(limit=limit)
    products = _rows(_BUSIEST_SQL, params)
    if not products:
        return []
    params |= {
        "products": [row[0] for row in products],
        "lookback": window.start - _hold_lookback(),
    }
    held: dict[int, dict[datetime, int]] = {}
    for product_id, bucket, units in _rows(_HELD_SQL, params):
        events = held.setdefault(product_id, {})
        events[bucket] = events.get(bucket, 0) + int(units)
    moved: dict[int, dict[datetime, int]] = {}
    for product_id, bucket, units in _rows(_LEDGER_SQL, params):
        moved.setdefault(product_id, {})[bucket] = int(units)
    series = []
    for product_id, sku, name, on_hand in products:
        held_levels = _levels(window, held.get(product_id, {}))
        # On hand at the end of a bucket: today's figure less what moved after it.
        movements = moved.get(product_id, {})
        last = window.buckets[-1]
        later = sum(units for bucket, units in movements.items() if bucket > last)
        on_hand_levels = []
        for bucket in reversed(window.buckets):
            on_hand_levels.append(on_hand - later)
            later += movements.get(bucket, 0)
        on_hand_levels.reverse()
        series.append(ProductSeries(
            product_id=product_id,
            sku=sku,
            name=name,
            held=held_levels,
            available=[max(a - h, 0) for a, h in zip(on_hand_levels, held_levels, strict=True)],
        ))
    return series


_EXPIRATIONS_CHECKOUTS_SQL = """
SELECT 'expired', date_trunc(%(unit)s, expires_at, 'UTC'), COUNT(DISTINCT cart_id)
FROM reservations_reservation
WHERE (status = 'active' AND expires_at >= %(start)s AND expires_at <= %(now)s)
   OR (status = 'expired' AND expires_at >= %(start)s AND expires_at <= %(now)s)
GROUP BY 2
UNION ALL
SELECT 'checkout', date_trunc(%(unit)s, created_at, 'UTC'), COUNT(*)
FROM store_order
WHERE created_at >= %(start)s AND created_at <= %(now)s
GROUP BY 2
"""


@dataclass(frozen=True)
class ExpirationsCheckouts:
    expired_carts: list[int]
    checkouts: list[int]


def expirations_checkouts_series(*, window: Window) -> ExpirationsCheckouts:
    """Per bucket: carts whose holds expired (not bought in time) and checkouts. One query.

    A cart counts once per bucket however many of its lines expired in it; an expired
    line bought later from free stock is `consumed` and no longer counts.
    """
    counts: dict[str, dict[datetime, int]] = {"expired": {}, "checkout": {}}
    for kind, bucket, count in _rows(_EXPIRATIONS_CHECKOUTS_SQL, window.params()):
        counts[kind][bucket] = count
    return ExpirationsCheckouts(
        expired_carts=_per_bucket(window, counts["expired"]),
        checkouts=_per_bucket(window, counts["checkout"]),
    )


_BACKLOG_SQL = """
WITH h AS (
    SELECT expires_at + %(grace)s AS due,
           CASE WHEN status = 'expired' THEN updated_at END AS done
    FROM reservations_reservation
    WHERE (status = 'active' AND expires_at > %(start)s - %(grace)s
           AND expires_at <= %(now)s - %(grace)s)
       OR (status = 'expired' AND updated_at >= %(start)s AND updated_at <= %(now)s)
)
SELECT date_trunc(%(unit)s, GREATEST(due, %(start)s), 'UTC'), COUNT(*)
FROM h WHERE due <= %(now)s AND (done IS NULL OR done > due)
GROUP BY 1
UNION ALL
SELECT date_trunc(%(unit)s, done, 'UTC'), -COUNT(*)
FROM h WHERE done > due AND done > %(start)s
GROUP BY 1
"""


def backlog_series(*, window: Window) -> list[int]:
    """The expired backlog (holds waiting more than the grace period for release) at the
    end of each bucket. Two queries: the window's changes, and the holds that were
    already waiting before it (counted up to BACKLOG_COUNT_CAP)."""
    grace = backlog_grace()
    params = window.params(grace=grace)
    events: dict[datetime, int] = {}
    for bucket, change in _rows(_BACKLOG_SQL, params):
        events[bucket] = events.get(bucket, 0) + int(change)
    # Still active, due before the window: waiting at every instant of it.
    before = (
        Reservation.objects.filter(
            status=Reservation.Status.ACTIVE, expires_at__lte=window.start - grace
        )
        .order_by()
        .values("pk")[:BACKLOG_COUNT_CAP]
        .count()
    )
    return _levels(window, events, base=before)


_RUNS_SQL = """
SELECT date_trunc(%(unit)s, started_at, 'UTC'),
       COUNT(*),
       COUNT(*) FILTER (WHERE status = 'failed'),
       MAX(EXTRACT(EPOCH FROM finished_at - started_at)),
       COALESCE(SUM(released), 0)
FROM reservations_releaserun
WHERE started_at >= %(start)s AND started_at <= %(now)s
GROUP BY 1
"""


@dataclass(frozen=True)
class RunSeries:
    runs: list[int]
    failed: list[int]
    longest_seconds: list[float]
    released: list[int]


def release_runs_series(*, window: Window) -> RunSeries:
    """Per bucket: release runs started, failed, the longest one's seconds, holds released."""
    rows = {row[0]: row[1:] for row in _rows(_RUNS_SQL, window.params())}
    empty = (0, 0, None, 0)
    picked = [rows.get(bucket, empty) for bucket in window.buckets]
    return RunSeries(
        runs=[row[0] for row in picked],
        failed=[row[1] for row in picked],
        longest_seconds=[round(float(row[2]), 2) if row[2] is not None else 0.0 for row in picked],
        released=[int(row[3]) for row in picked],
    )
