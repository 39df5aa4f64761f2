"""Delete what ended long ago, in small batches that never wait for a shopper.

Terminal holds (expired, released, consumed) and open carts that hold nothing and have
been idle; orders (with their checked-out carts) and active holds are never deleted.
Each batch is a transaction of its own that skips rows a shopper has locked.
"""

from datetime import datetime

from django.db import transaction
from django.db.models import Model, QuerySet

from reservations.models import Cart, ReleaseRun, Reservation
from reservations.services.holds import OPEN_LINE

TERMINAL = (
    Reservation.Status.EXPIRED,
    Reservation.Status.RELEASED,
    Reservation.Status.CONSUMED,
)


def batches_delete(queryset: QuerySet, *, batch_size: int) -> int:
    """Delete the rows of `queryset` `batch_size` at a time; return how many went."""
    model: type[Model] = queryset.model
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(
                queryset.order_by()
                .select_for_update(skip_locked=True, of=("self",))
                .values_list("pk", flat=True)[:batch_size]
            )
            if ids:
                model.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
        if len(ids) < batch_size:
            return deleted


def ended_prune(*, before: datetime, batch_size: int) -> dict[str, int]:
    """Delete terminal holds, idle empty open carts and release runs older than `before`."""
    holds = batches_delete(
        Reservation.objects.filter(status__in=TERMINAL, updated_at__lt=before),
        batch_size=batch_size,
    )
    carts = batches_delete(
        Cart.objects.filter(status=Cart.Status.OPEN, updated_at__lt=before).exclude(
            holds__status__in=OPEN_LINE
        ),
        batch_size=batch_size,
    )
    runs = batches_delete(ReleaseRun.objects.filter(started_at__lt=before), batch_size=batch_size)
    return {"holds": holds, "carts": carts, "release_runs": runs}
