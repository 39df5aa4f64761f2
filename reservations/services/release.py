"""Release expired holds in batches: the scheduled housekeeping.

Correctness never depends on this (expired holds are free stock in every read and write);
it moves them to their terminal state, keeps the active set small and feeds monitoring.
"""

import logging
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Case, Count, F, IntegerField, Sum, Value, When
from django.utils import timezone

from reservations.models import ReleaseRun, Reservation
from store.models import Inventory

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReleaseResult:
    released: int
    units: int
    batches: int
    more_left: bool


def _release_batch(*, now: datetime, batch_size: int) -> tuple[int, int, int]:
    """Release one batch in one short transaction; return (candidates, holds, units)."""
    with transaction.atomic():
        candidates = list(
            Reservation.objects.filter(status=Reservation.Status.ACTIVE, expires_at__lte=now)
            .order_by("expires_at")
            .values_list("id", "product_id")[:batch_size]
        )
        if not candidates:
            return 0, 0, 0
        # Product rows first, in ascending pk order like every other writer; then the
        # hold rows with SKIP LOCKED (see reservations.services.reclaim for why).
        list(
            Inventory.objects.filter(pk__in={product_id for _, product_id in candidates})
            .order_by("pk")
            .select_for_update()
            .values_list("pk", flat=True)
        )
        rows = list(
            Reservation.objects.filter(
                pk__in=[pk for pk, _ in candidates],
                status=Reservation.Status.ACTIVE,
                expires_at__lte=now,
            )
            .select_for_update(skip_locked=True)
            .values_list("id", "product_id", "quantity")
        )
        if not rows:
            return len(candidates), 0, 0
        Reservation.objects.filter(pk__in=[pk for pk, _, _ in rows]).update(
            status=Reservation.Status.EXPIRED, updated_at=now
        )
        units: Counter[int] = Counter()
        for _, product_id, quantity in rows:
            units[product_id] += quantity
        product_ids = sorted(units)
        Inventory.objects.filter(pk__in=product_ids).update(
            reserved=F("reserved")
            - Case(
                *(When(pk=pk, then=Value(units[pk])) for pk in product_ids),
                output_field=IntegerField(),
            )
        )
    return len(candidates), len(rows), sum(units.values())


def expired_count(*, now: datetime | None = None) -> dict[str, int]:
    """Return how many active holds have expired by `now`, and their units."""
    now = now or timezone.now()
    figures = Reservation.objects.filter(
        status=Reservation.Status.ACTIVE, expires_at__lte=now
    ).aggregate(holds=Count("id"), units=Sum("quantity"))
    return {"holds": figures["holds"] or 0, "units": figures["units"] or 0}


def expired_release(
    *,
    now: datetime | None = None,
    batch_size: int | None = None,
    max_run_seconds: float | None = None,
) -> ReleaseResult:
    """Release expired holds in batches until none are left or the time budget is spent.

    Each batch is picked with SKIP LOCKED in expiry order and committed on its own, so two
    runs at once release each hold once and shoppers never wait behind a run.
    """
    now = now or timezone.now()
    batch_size = batch_size or settings.RESERVATION_RELEASE_BATCH_SIZE
    budget = (
        settings.RESERVATION_RELEASE_MAX_RUN_SECONDS if max_run_seconds is None else max_run_seconds
    )
    deadline = time.monotonic() + budget
    released = units = batches = 0
    while True:
        candidates, holds, batch_units = _release_batch(now=now, batch_size=batch_size)
        if holds:
            batches += 1
            released += holds
            units += batch_units
        if candidates < batch_size:
            return ReleaseResult(released, units, batches, more_left=False)
        if not holds or time.monotonic() >= deadline:
            # Nothing released from a full batch: its holds are being reclaimed or renewed
            # by shoppers right now. Leave the rest to the next run rather than spin.
            return ReleaseResult(released, units, batches, more_left=True)


def release_run(
    *, task_id: str = "", now: datetime | None = None, max_run_seconds: float | None = None
) -> ReleaseRun:
    """Run the release and record it as a heartbeat row; errors are recorded and re-raised."""
    run = ReleaseRun.objects.create(task_id=task_id, started_at=timezone.now())
    try:
        result = expired_release(now=now, max_run_seconds=max_run_seconds)
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
    run.save(
        update_fields=["status", "finished_at", "released", "units", "batches", "more_left"]
    )
    return run
