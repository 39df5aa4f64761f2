"""Shared pieces of the webhook tests: a receiver, endpoints, and the stock events read back."""

import pytest

from tests.servers import WebhookReceiver
from webhooks.models import Event, EventType


@pytest.fixture
def receiver():
    """An HTTP endpoint on 127.0.0.1 that records every delivery with its headers."""
    server = WebhookReceiver(path="/hooks/stockhold")
    yield server
    server.close()


def stock_events(product=None) -> list[tuple[str, int]]:
    """(type without `stock.`, available) of the stock events, oldest first."""
    events = Event.objects.filter(
        type__in=[EventType.STOCK_OUT_OF_STOCK, EventType.STOCK_BACK_IN_STOCK]
    ).order_by("created_at")
    if product is not None:
        events = events.filter(data__product_id=product.pk)
    return [(e.type.removeprefix("stock."), e.data["available"]) for e in events]
