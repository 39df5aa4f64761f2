"""event_record: the event and one pending delivery per subscribed active endpoint, in the
caller's transaction."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import transaction

from webhooks.errors import UnknownEventType
from webhooks.models import Delivery, Event, EventType
from webhooks.services import endpoint_create, endpoint_update, event_record

pytestmark = pytest.mark.django_db


def _endpoint(types, *, active=True, name=""):
    endpoint, _ = endpoint_create(
        url=f"https://hooks.example.com/{name}", event_types=types, description=name,
        is_active=active,
    )
    return endpoint


def test_one_pending_delivery_per_active_endpoint_subscribed_to_the_type(now):
    everything = _endpoint([], name="everything")
    orders = _endpoint([EventType.ORDER_CREATED, EventType.ORDER_CANCELLED], name="orders")
    _endpoint([EventType.STOCK_OUT_OF_STOCK], name="stock")
    _endpoint([], active=False, name="inactive")
    paused = _endpoint([EventType.ORDER_CREATED], name="paused")
    endpoint_update(endpoint=paused, is_active=False)

    event_id = event_record(
        type=EventType.ORDER_CREATED,
        data={"order_id": 7, "total": Decimal("12.50")},
        now=now,
    )

    event = Event.objects.get()
    assert event.id == event_id
    assert (event.type, event.data, event.created_at) == (
        "order.created", {"order_id": 7, "total": "12.50"}, now,
    )
    deliveries = Delivery.objects.order_by("endpoint_id")
    assert [d.endpoint for d in deliveries] == [everything, orders]
    for delivery in deliveries:
        assert delivery.event_id == event_id
        assert delivery.status == Delivery.Status.PENDING
        assert delivery.attempts == 0
        assert delivery.next_attempt_at == now


def test_an_event_nobody_subscribes_to_is_recorded_without_deliveries():
    _endpoint([EventType.ORDER_CREATED])

    event_record(type=EventType.ORDER_EXPIRED, data={"order_id": 1})

    assert Event.objects.count() == 1
    assert Delivery.objects.count() == 0


def test_a_rolled_back_transaction_leaves_neither_event_nor_delivery():
    _endpoint([])

    with pytest.raises(RuntimeError), transaction.atomic():
        event_record(type=EventType.ORDER_CONFIRMED, data={"order_id": 1})
        assert Delivery.objects.count() == 1
        raise RuntimeError("the change the event announced failed")

    assert Event.objects.count() == 0
    assert Delivery.objects.count() == 0


@pytest.mark.parametrize("bad", ["order.shipped", "", "stock"])
def test_an_unknown_type_is_refused_and_nothing_is_written(bad):
    _endpoint([])

    with pytest.raises(UnknownEventType) as refused:
        event_record(type=bad, data={})

    assert refused.value.code == "unknown_event_type"
    assert Event.objects.count() == 0


def test_without_now_the_database_clock_stamps_the_event():
    before = datetime.now(UTC)
    event_record(type=EventType.ORDER_CANCELLED, data={})

    assert Event.objects.get().created_at >= before.replace(microsecond=0)
