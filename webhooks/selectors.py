"""Reads of the webhooks: what monitoring shows of the deliveries."""

from webhooks.models import Delivery

# Counts stop here: past it the figure only says "very many", and the query stays short.
DELIVERY_COUNT_CAP = 100_000


def deliveries_count(*, status: str, cap: int | None = DELIVERY_COUNT_CAP) -> int:
    """Count the deliveries in `status` (at most `cap`).

    Pending and failed deliveries each have a partial index, so counting them reads only
    those rows, however many were delivered.
    """
    deliveries = Delivery.objects.filter(status=status).order_by()
    if cap is None:
        return deliveries.count()
    return deliveries.values("pk")[:cap].count()
