"""Reads of the webhooks: the endpoints, and what monitoring shows of the deliveries."""

from django.db.models import QuerySet

from core.ids import id_parse
from webhooks.errors import EndpointNotFound
from webhooks.models import Delivery, Endpoint

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


def endpoints_list() -> QuerySet[Endpoint]:
    """Every endpoint, active or not, oldest first."""
    return Endpoint.objects.order_by("id")


def endpoint_get(*, endpoint_id: str) -> Endpoint:
    """Return the endpoint whose id is `endpoint_id` as given in a URL; else EndpointNotFound."""
    pk = id_parse(endpoint_id)
    endpoint = Endpoint.objects.filter(pk=pk).first() if pk is not None else None
    if endpoint is None:
        raise EndpointNotFound()
    return endpoint
