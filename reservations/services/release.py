"""Release expired holds in batches: the scheduled housekeeping.

Correctness never depends on this (expired holds are free stock in every read and write);
it moves them to their terminal state, keeps the active set small and feeds monitoring.
"""

import logging
import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Count, Sum
from django.db.models.functions import Now
from django.utils import timezone

from reservations.models import ReleaseRun, Reservation
from reservations.services.orders import pending_orders_expire
from reservations.services.reclaim import expired_reclaim_some
from store.models import Inventory

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReleaseResult:
    released: int
    units: int
    batches: int
    more_left: bool


def _release_batch(
    *, now: datetime | None, batch_size: int, skipped: set[int]
) -> tuple[int, int, bool]:
    """Release up to `batch_size` expired holds of one product in one short transaction.

    The product is the one whose hold expired first. Its inventory row is locked with
    SKIP LOCKED (a shopper busy on it is never kept waiting; the product goes to
    `skipped` and is left for the next run), then its expired holds are reclaimed through
    the same path shoppers use. Returns (holds, units, found) where `found` says whether
    any product with expired holds was left to try.
    """
    with transaction.atomic():
        product_id = (
            Reservation.objects.filter(
                status=Reservation.Status.ACTIVE, expires_at__lte=now or Now()
            )
            .exclude(product_id__in=skipped)
            .order_by("expires_at")
            .values_list("product_id", flat=True)
            .first()
        )
        if product_id is None:
            return 0, 0, False
        locked = (
            Inventory.objects.filter(pk=product_id)
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)
            .first()
        )
        if locked is None:
            skipped.add(product_id)
            return 0, 0, True
        holds, units = expired_reclaim_some(product_id=product_id, now=now, limit=batch_size)
        if holds < batch_size:
            # Every hold of this product that could be had is released; the rest are
            # lines their own carts hold right now (renewing or checking them out).
            skipped.add(product_id)
    return holds, units, True


def expired_count(*, now: datetime | None = None) -> dict[str, int]:
    """Return how many active holds have expired by `now` (or the database clock), and units.

    It reads every expired hold: for people asking (the dashboard, the command's dry run),
    not for anything that runs on its own.
    """
    figures = Reservation.objects.filter(
        status=Reservation.Status.ACTIVE, expires_at__lte=now or Now()
    ).aggregate(holds=Count("id"), units=Sum("quantity"))
    return {"holds": figures["holds"] or 0, "units": figures["units"] or 0}


def expired_left(*, now: datetime | None = None) -> bool:
    """Say whether any active hold has expired by `now` (or the database clock).

    One read of the first entry of the index of active holds by expiry, however long the
    backlog: the order keeps the planner on that index even when its statistics still
    count the holds a run just released.
    """
    return (
        Reservation.objects.filter(status=Reservation.Status.ACTIVE, expires_at__lte=now or Now())
        .order_by("expires_at")
        .values_list("expires_at", flat=True)
        .first()
        is not None
    )


def expired_release(
    *,
    now: datetime | None = None,
    batch_size: int | None = None,
    max_run_seconds: float | None = None,
) -> ReleaseResult:
    """Release expired holds in batches until none are left or the time budget is spent.

    Each batch is one product's expired holds (the product whose hold expired first), in
    a transaction of its own that locks that one product row with SKIP LOCKED: two runs
    at once release each hold once, shoppers never wait behind a run, and no row lock is
    held across Python work on other products. Expiry is decided by `now`, or by the
    database clock at each batch.
    """
    batch_size = batch_size or settings.RESERVATION_RELEASE_BATCH_SIZE
    budget = (
        settings.RESERVATION_RELEASE_MAX_RUN_SECONDS if max_run_seconds is None else max_run_seconds
    )
    deadline = time.monotonic() + budget
    pause_ratio = settings.RESERVATION_RELEASE_PAUSE_RATIO
    released = units = batches = 0
    skipped: set[int] = set()
    while True:
        began = time.monotonic()
        holds, batch_units, found = _release_batch(
            now=now, batch_size=batch_size, skipped=skipped
        )
        if not found:
            # Products skipped because a shopper held their row are left for the next run.
            return ReleaseResult(released, units, batches, more_left=expired_left(now=now))
        if holds:
            batches += 1
            released += holds
            units += batch_units
        if time.monotonic() >= deadline:
            return ReleaseResult(released, units, batches, more_left=True)
        if holds and pause_ratio > 0:
            # Housekeeping gives way: shoppers get the database between batches.
            time.sleep(min((time.monotonic() - began) * pause_ratio, 1.0))


def release_run(
    *, task_id: str = "", now: datetime | None = None, max_run_seconds: float | None = None
) -> ReleaseRun:
    """Run the release and record it as a heartbeat row; errors are recorded and re-raised."""
    run = ReleaseRun.objects.create(task_id=task_id, started_at=timezone.now())
    try:
        result = expired_release(now=now, max_run_seconds=max_run_seconds)
        orders_expired = pending_orders_expire(now=now)
    except BaseException as exc:
        try:
            ReleaseRun.objects.filter(pk=run.pk).update(
                status=ReleaseRun.Status.FAILED,
                finished_at=timezone.now(),
                error=f"{type(exc).__name__}: {exc}"[:2000],
            )
        except DatabaseError:
            # The database is what failed; the row stays `running` and the original
            # error goes on to the retry logic.
            logger.warning("could not record the failed release run %s", run.pk)
        raise
    run.status = ReleaseRun.Status.SUCCEEDED
    run.finished_at = timezone.now()
    run.released, run.units, run.batches = result.released, result.units, result.batches
    run.more_left = result.more_left
    run.orders_expired = orders_expired
    run.save(
        update_fields=[
            "status", "finished_at", "released", "units", "batches", "more_left",
            "orders_expired",
        ]
    )
    return run
