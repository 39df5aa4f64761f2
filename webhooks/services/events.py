"""Record events in the caller's transaction: the outbox that deliveries are sent from."""

import json
import uuid
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection

from core.errors import InvalidInput
from webhooks.errors import UnknownEventType
from webhooks.models import EventType


def event_record(*, type: str, data: dict[str, Any], now: datetime | None = None) -> uuid.UUID:
    """Record an event and a pending delivery to each active endpoint subscribed to it.

    Call it inside the transaction of the change the event announces: the event and its
    deliveries commit with the change or not at all, and the worker sends them after the
    commit. `data` is a JSON object (decimals, dates and UUIDs are written as strings).
    Time is `now`, or the database clock. Returns the event id.
    """
    if type not in EventType.values:
        raise UnknownEventType(f"Unknown event type {type!r}.", field="type")
    if not isinstance(data, dict):
        raise InvalidInput("An event's data is a JSON object.", field="data")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT stockhold_event_record(%s, %s::jsonb, %s)",
            [type, json.dumps(data, cls=DjangoJSONEncoder), now],
        )
        return cursor.fetchone()[0]
