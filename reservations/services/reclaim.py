"""Reclaim expired holds of one product: the single path that gives their units back.

Lock order, everywhere: a writer that reclaims for a shopper, and the release task, lock
the product's inventory row first and then pick expired hold rows with SKIP LOCKED. So
two reclaimers of one product queue on the product row for a moment instead of one
skipping the rows the other is freeing, and nobody waits for a hold row while holding a
product row. The only rows they skip are lines whose own cart holds them (renewing or
checking them out), which are not free to anyone else. Staff stock changes pass
`wait=True` and reclaim before they lock the product row.

The work is done by the SQL functions in `sql/expired_reclaim.sql` and `sql/stock_take.sql`;
these wrappers call them. Expiry is decided by the database clock unless `now` is given.
"""

from datetime import datetime

from django.db import connection


def expired_reclaim_some(
    *,
    product_id: int,
    now: datetime | None = None,
    limit: int | None = None,
    wait: bool = False,
    exclude_id: int | None = None,
) -> tuple[int, int]:
    """Move up to `limit` expired active holds of a product to `expired`.

    Returns (holds, units) freed. Shoppers and the release task call it holding the
    product's inventory row lock and skip locked hold rows; staff stock changes pass
    `wait=True` and call it before they lock the product row, so they see every expired
    unit. The counter moves once, after every hold row is locked.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT holds, units FROM stockhold_expired_reclaim(%s, %s, %s, %s, %s)",
            [product_id, now, limit, wait, exclude_id],
        )
        holds, units = cursor.fetchone()
    return holds, units


def expired_reclaim(
    *,
    product_id: int,
    now: datetime | None = None,
    wait: bool = False,
    exclude_id: int | None = None,
) -> int:
    """Move every expired active hold of a product to `expired`; return the units freed."""
    return expired_reclaim_some(
        product_id=product_id, now=now, wait=wait, exclude_id=exclude_id
    )[1]


def stock_take(
    *,
    product_id: int,
    units: int,
    reserved_delta: int = 0,
    on_hand_delta: int = 0,
    now: datetime | None = None,
    exclude_id: int | None = None,
) -> int | None:
    """Move the product's counters by the deltas if `units` are free; None on success.

    When the conditional update finds too little, expired holds of the product (but
    `exclude_id`) are reclaimed under the product row lock and it is tried once more. On
    failure, returns the units that are free (exact: taken under the lock, after the
    reclaim), and the caller raises.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT stockhold_stock_take(%s, %s, %s, %s, %s, %s)",
            [product_id, units, reserved_delta, on_hand_delta, now, exclude_id],
        )
        return cursor.fetchone()[0]
