"""Webhooks end to end on real processes: beat dispatches, the worker POSTs to a real
receiver, retries with backoff until a 2xx, and gives up with one alert."""

import hashlib
import hmac
import json
import time

import pytest

from monitoring.models import Alert
from reservations.services import cart_create, hold_set
from store.services import product_create
from tests import celery_processes
from tests.servers import WebhookReceiver
from webhooks.models import Delivery, EventType
from webhooks.services import endpoint_create, event_record
from webhooks.tasks import dispatch_webhook_deliveries

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Dispatch every second; retries after at most 1 s, then 2 s.
FAST = {
    "WEBHOOK_DISPATCH_INTERVAL_SECONDS": "1",
    "WEBHOOK_RETRY_BACKOFF": "1",
    "WEBHOOK_RETRY_BACKOFF_MAX": "2",
    "WEBHOOK_TIMEOUT_SECONDS": "5",
}


def _signature_valid(secret: str, request: dict) -> bool:
    fields = dict(p.split("=", 1) for p in request["headers"]["x-stockhold-signature"].split(","))
    expected = hmac.new(
        secret.encode(), f"{fields['t']}.".encode() + request["body"], hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(fields["v1"], expected)


def test_a_stock_event_is_delivered_signed_after_two_failed_attempts(tmp_path, receiver):
    endpoint, secret = endpoint_create(
        url=receiver.url, event_types=[EventType.STOCK_OUT_OF_STOCK]
    )
    product = product_create(sku="LAST-ONE", name="Last one", price=5, on_hand=1)
    hold_set(cart=cart_create()[0], product=product, quantity=1)  # takes the last unit
    receiver.answers = [500, 500]  # then 200

    with celery_processes.worker(tmp_path, **FAST), celery_processes.beat(tmp_path, **FAST):
        celery_processes.wait_until(
            lambda: Delivery.objects.filter(status=Delivery.Status.DELIVERED).exists(),
            timeout=60,
            message="the delivery never succeeded",
        )

    delivery = Delivery.objects.select_related("event").get()
    assert (delivery.endpoint_id, delivery.attempts, delivery.last_status_code) == (
        endpoint.pk, 3, 200
    )
    assert len(receiver.requests) == 3
    ids = {r["headers"]["x-stockhold-event-id"] for r in receiver.requests}
    assert ids == {str(delivery.event_id)}
    assert {r["headers"]["x-stockhold-event"] for r in receiver.requests} == {
        "stock.out_of_stock"
    }
    assert all(_signature_valid(secret, r) for r in receiver.requests)
    body = json.loads(receiver.requests[-1]["body"])
    assert body["id"] == str(delivery.event_id)
    assert body["data"] == {
        "product_id": product.pk, "sku": "LAST-ONE", "available": 0, "on_hand": 1
    }


def test_a_delivery_failing_past_the_give_up_time_is_failed_with_one_alert(tmp_path, receiver):
    alerts = WebhookReceiver()
    endpoint_create(url=receiver.url, event_types=[], description="warehouse")
    receiver.status = 500
    env = {**FAST, "WEBHOOK_GIVE_UP_SECONDS": "6", "ALERT_WEBHOOK_URL": alerts.url}

    try:
        with celery_processes.worker(tmp_path, **env):
            # Recorded once the worker answers, so the first attempts come well before the
            # give-up. The test dispatches in place of beat (as often), which keeps the
            # timing its own rather than beat's start-up.
            event_record(type=EventType.ORDER_CANCELLED, data={"order_id": 3})

            def alerted():
                dispatch_webhook_deliveries.delay()
                return alerts.received

            celery_processes.wait_until(
                alerted, timeout=60, interval=0.5, message="no alert reached the webhook"
            )
            # Give a wrongly repeated attempt or alert the time to show up.
            for _ in range(4):
                dispatch_webhook_deliveries.delay()
                time.sleep(0.5)
    finally:
        alerts.close()

    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.attempts >= 2
    assert len(receiver.requests) == delivery.attempts
    [alert] = alerts.received
    assert alert["text"].startswith("webhook delivery failed: Gave up on order.cancelled event")
    assert alert["context"]["delivery_id"] == delivery.pk
    assert Alert.objects.filter(key__startswith="webhook_delivery_failed").count() == 1
