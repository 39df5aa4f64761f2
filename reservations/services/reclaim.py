"""Reclaim expired holds of one product: the single path that gives their units back.

Lock order, everywhere: a writer that reclaims for a shopper, and the release task, lock
the product's inventory row first and then pick expired hold rows with SKIP LOCKED. So
two reclaimers of one product queue on the product row for a moment instead of one
skipping the rows the other is freeing, and nobody waits for a hold row while holding a
product row. The only rows they skip are lines whose own cart holds them (renewing or
checking them out), which are not free to anyone else.
"""

from datetime import datetime

from django.db import connection
from django.db.models import F

from reservations.models import Reservation
from reservations.services import backend
from store.models import Inventory

# Holds reclaimed per statement; a larger backlog is reclaimed in rounds.
RECLAIM_BATCH = 5000


def expired_reclaim_some(
    *,
    product_id: int,
    now: datetime,
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
    reclaim_round = (
        _reclaim_round_in_one_statement
        if backend.one_statement_available()
        else _reclaim_round_in_steps
    )
    holds = freed = 0
    while limit is None or holds < limit:
        size = RECLAIM_BATCH if limit is None else min(RECLAIM_BATCH, limit - holds)
        taken, units = reclaim_round(
            product_id=product_id, now=now, size=size, wait=wait, exclude_id=exclude_id
        )
        holds += taken
        freed += units
        if taken < size:
            break
    if freed:
        Inventory.objects.filter(pk=product_id).update(reserved=F("reserved") - freed)
    return holds, freed


def _reclaim_round_in_steps(
    *, product_id: int, now: datetime, size: int, wait: bool, exclude_id: int | None
) -> tuple[int, int]:
    candidates = Reservation.objects.filter(
        product_id=product_id,
        status=Reservation.Status.ACTIVE,
        expires_at__lte=now,
    ).order_by("expires_at", "id")
    if exclude_id is not None:
        candidates = candidates.exclude(pk=exclude_id)
    rows = list(
        candidates.select_for_update(skip_locked=not wait).values_list("id", "quantity")[:size]
    )
    if rows:
        Reservation.objects.filter(pk__in=[pk for pk, _ in rows]).update(
            status=Reservation.Status.EXPIRED, updated_at=now
        )
    return len(rows), sum(quantity for _, quantity in rows)


# One round on PostgreSQL: pick, lock and move the holds in one statement, with nothing
# but two numbers coming back. The steps above fetch every row into Python and send every
# id back, which made a drain of a day's backlog cost about as much Python CPU as database
# time, taken from the shoppers sharing the machine. Hold ids start at 1, so excluding
# id 0 excludes nothing.
_RECLAIM_ROUND = """
    WITH picked AS (
        SELECT id FROM reservations_reservation
        WHERE product_id = %(product_id)s AND status = 'active' AND expires_at <= %(now)s
            AND id <> %(exclude_id)s
        ORDER BY expires_at, id
        LIMIT %(size)s
        FOR UPDATE {lock_mode}
    ), moved AS (
        UPDATE reservations_reservation AS r
        SET status = 'expired', updated_at = %(now)s
        FROM picked WHERE r.id = picked.id
        RETURNING r.quantity
    )
    SELECT count(*), coalesce(sum(quantity), 0) FROM moved
"""
_RECLAIM_ROUND_SKIP_LOCKED = _RECLAIM_ROUND.replace("{lock_mode}", "SKIP LOCKED")
_RECLAIM_ROUND_WAIT = _RECLAIM_ROUND.replace("{lock_mode}", "")


def _reclaim_round_in_one_statement(
    *, product_id: int, now: datetime, size: int, wait: bool, exclude_id: int | None
) -> tuple[int, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            _RECLAIM_ROUND_WAIT if wait else _RECLAIM_ROUND_SKIP_LOCKED,
            {"product_id": product_id, "now": now, "size": size, "exclude_id": exclude_id or 0},
        )
        taken, units = cursor.fetchone()
    return taken, int(units)


def expired_reclaim(
    *, product_id: int, now: datetime, wait: bool = False, exclude_id: int | None = None
) -> int:
    """Move every expired active hold of a product to `expired`; return the units freed."""
    return expired_reclaim_some(
        product_id=product_id, now=now, wait=wait, exclude_id=exclude_id
    )[1]


def stock_take(
    *, product_id: int, units: int, now: datetime, exclude_id: int | None = None, **updates
) -> int | None:
    """Apply `updates` to the product's inventory if `units` are free; None on success.

    The fast path is one conditional UPDATE: the availability check and the change in one
    atomic statement, the only one that locks the product row. When it finds too little,
    the product row is locked, expired holds of other lines are reclaimed, and it is tried
    once more. On failure, returns the units that are free (exact: taken under the lock,
    after the reclaim), and the caller raises.
    """
    take = Inventory.objects.filter(pk=product_id, reserved__lte=F("on_hand") - units)
    if take.update(**updates):
        return None
    locked = (
        Inventory.objects.select_for_update()
        .filter(pk=product_id)
        .values_list("on_hand", "reserved")
        .first()
    )
    if locked is None:
        return 0
    expired_reclaim(product_id=product_id, now=now, exclude_id=exclude_id)
    if take.update(**updates):
        return None
    on_hand, reserved = Inventory.objects.filter(pk=product_id).values_list(
        "on_hand", "reserved"
    ).get()
    return on_hand - reserved
