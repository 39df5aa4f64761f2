"""What monitoring sees of the webhooks: the gauges, and the pruning of old events."""

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from monitoring.services import records_prune
from webhooks.models import Delivery, Event, EventType
from webhooks.services import endpoint_create, event_record

pytestmark = pytest.mark.django_db


def _gauges(client) -> dict[str, float]:
    text = client.get("/metrics").content.decode()
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("stockhold_webhook_")
    }


def test_the_gauges_count_pending_and_failed_deliveries(client):
    endpoint_create(url="https://a.example.com/", event_types=[])
    endpoint_create(url="https://b.example.com/", event_types=[])
    for n in range(3):
        event_record(type=EventType.ORDER_CREATED, data={"n": n})
    first, second = Delivery.objects.order_by("pk")[:2]
    Delivery.objects.filter(pk=first.pk).update(status=Delivery.Status.FAILED)
    Delivery.objects.filter(pk=second.pk).update(status=Delivery.Status.DELIVERED)

    assert _gauges(client) == {
        "stockhold_webhook_deliveries_pending": 4,
        "stockhold_webhook_deliveries_failed": 1,
    }


def test_old_events_go_with_their_deliveries_unless_one_is_still_pending(settings):
    settings.PRUNE_RETENTION_DAYS = 30
    endpoint_create(url="https://a.example.com/", event_types=[])
    old = timezone.now() - timedelta(days=31)
    for status in ("delivered", "failed", "pending"):
        event_record(type=EventType.ORDER_CREATED, data={"status": status}, now=old)
    event_record(type=EventType.ORDER_CREATED, data={"status": "recent"})
    for delivery in Delivery.objects.select_related("event"):
        if delivery.event.data["status"] in ("delivered", "failed"):
            Delivery.objects.filter(pk=delivery.pk).update(status=delivery.event.data["status"])

    assert records_prune()["webhook_events"] == 2

    assert sorted(Event.objects.values_list("data__status", flat=True)) == [
        "pending", "recent"
    ]
    assert Delivery.objects.count() == 2
    assert records_prune()["webhook_events"] == 0
