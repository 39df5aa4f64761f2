"""Reclaim expired holds of one product: the single path that gives their units back."""

from datetime import datetime

from django.db.models import F, Sum

from reservations.models import Reservation
from store.models import Inventory

# Holds reclaimed per statement; a product with a larger backlog is reclaimed in rounds.
RECLAIM_BATCH = 5000


def expired_reclaim(
    *, product_id: int, now: datetime, wait: bool = False, exclude_id: int | None = None
) -> int:
    """Move the expired active holds of a product to `expired`; return the units freed.

    Rows another transaction has locked (a sweep, a shopper renewing their own line) are
    skipped unless `wait` is set, so a shopper never queues behind a sweep. Must run inside
    the caller's transaction; it takes the product's inventory row lock last.
    """
    freed = 0
    while True:
        candidates = Reservation.objects.filter(
            product_id=product_id,
            status=Reservation.Status.ACTIVE,
            expires_at__lte=now,
        ).order_by("expires_at", "id")
        if exclude_id is not None:
            candidates = candidates.exclude(pk=exclude_id)
        rows = list(
            candidates.select_for_update(skip_locked=not wait).values_list("id", "quantity")[
                :RECLAIM_BATCH
            ]
        )
        if rows:
            Reservation.objects.filter(pk__in=[pk for pk, _ in rows]).update(
                status=Reservation.Status.EXPIRED, updated_at=now
            )
            freed += sum(quantity for _, quantity in rows)
        if len(rows) < RECLAIM_BATCH:
            break
    # One counter update, after every hold row is locked: waiting for a hold row while
    # holding the product row could deadlock with a sweep, which locks in that order too.
    if freed:
        Inventory.objects.filter(pk=product_id).update(reserved=F("reserved") - freed)
    return freed


def free_units(*, product_id: int, now: datetime) -> int:
    """Return the units of a product that a new hold could take at `now`."""
    inventory = Inventory.objects.filter(pk=product_id).values("on_hand", "reserved").first()
    if inventory is None:
        return 0
    expired = (
        Reservation.objects.filter(
            product_id=product_id, status=Reservation.Status.ACTIVE, expires_at__lte=now
        ).aggregate(units=Sum("quantity"))["units"]
        or 0
    )
    return inventory["on_hand"] - inventory["reserved"] + expired
