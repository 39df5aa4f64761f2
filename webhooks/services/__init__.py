"""Writes of the webhooks: endpoints and events (the outbox)."""

from webhooks.services.endpoints import (
    endpoint_create,
    endpoint_secret_rotate,
    endpoint_update,
    endpoint_url_check,
    event_types_check,
)
from webhooks.services.events import event_record

__all__ = [
    "endpoint_create",
    "endpoint_secret_rotate",
    "endpoint_update",
    "endpoint_url_check",
    "event_record",
    "event_types_check",
]
