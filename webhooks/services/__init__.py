"""Writes of the webhooks: endpoints, events (the outbox) and their deliveries."""

from webhooks.services.deliveries import (
    deliveries_claim,
    deliveries_retry,
    delivery_send,
    events_prune,
)
from webhooks.services.endpoints import (
    endpoint_create,
    endpoint_secret_rotate,
    endpoint_update,
    endpoint_url_check,
    event_types_check,
)
from webhooks.services.events import event_record

__all__ = [
    "deliveries_claim",
    "deliveries_retry",
    "delivery_send",
    "endpoint_create",
    "endpoint_secret_rotate",
    "endpoint_update",
    "endpoint_url_check",
    "event_record",
    "event_types_check",
    "events_prune",
]
