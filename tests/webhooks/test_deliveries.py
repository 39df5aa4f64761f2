"""Deliveries, one attempt at a time, against a real HTTP receiver on 127.0.0.1: the
signature, the outcome of each answer, backoff, give-up with its one alert, the claim."""

import hashlib
import hmac
import json
import random
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction

from monitoring.models import Alert
from tests.servers import WebhookReceiver
from webhooks.models import Delivery, EventType
from webhooks.services import (
    deliveries_claim,
    deliveries_retry,
    delivery_send,
    endpoint_create,
    endpoint_update,
    event_record,
)
from webhooks.services.deliveries import SKIPPED, delivery_attempt_record

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def webhook_settings(settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 2
    settings.WEBHOOK_LEASE_SECONDS = 120
    settings.WEBHOOK_RETRY_BACKOFF = 10
    settings.WEBHOOK_RETRY_BACKOFF_MAX = 3600
    settings.WEBHOOK_GIVE_UP_SECONDS = 24 * 3600
    settings.ALERT_WEBHOOK_URL = ""
    settings.ADMINS = []
    settings.SENTRY_DSN = ""
    return settings


@pytest.fixture
def endpoint(receiver):
    endpoint, _ = endpoint_create(url=receiver.url, event_types=[], description="shop")
    return endpoint


@pytest.fixture
def delivery(endpoint, now):
    event_record(type=EventType.ORDER_CREATED, data={"order_id": 42, "total": "9.90"}, now=now)
    return Delivery.objects.get()


def _verify(secret: str, headers: dict, body: bytes) -> int:
    """Check a signature as a receiver does; return its timestamp."""
    fields = dict(part.split("=", 1) for part in headers["x-stockhold-signature"].split(","))
    expected = hmac.new(
        secret.encode(), fields["t"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(fields["v1"], expected)
    return int(fields["t"])


def test_a_delivery_is_posted_signed_and_marked_delivered(receiver, endpoint, delivery, now):
    [claim] = deliveries_claim(now=now)
    assert claim.delivery_id == delivery.pk
    assert claim.lease == now + timedelta(seconds=120)

    assert delivery_send(delivery_id=delivery.pk, lease=claim.lease, now=now) == "delivered"

    [request] = receiver.requests
    assert request["path"] == "/hooks/stockhold"
    headers, body = request["headers"], request["body"]
    assert headers["content-type"] == "application/json"
    assert headers["x-stockhold-event-id"] == str(delivery.event_id)
    assert headers["x-stockhold-event"] == "order.created"
    timestamp = _verify(endpoint.secret, headers, body)
    assert abs(timestamp - time.time()) < 60
    assert json.loads(body) == {
        "id": str(delivery.event_id),
        "type": "order.created",
        "created_at": now.isoformat(),
        "data": {"order_id": 42, "total": "9.90"},
    }
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        "delivered", 1, 200
    )
    assert delivery.delivered_at == now and delivery.last_error == ""


def test_a_signature_with_another_secret_or_another_body_does_not_verify(
    receiver, endpoint, delivery
):
    delivery_send(delivery_id=delivery.pk)
    [request] = receiver.requests

    with pytest.raises(AssertionError):
        _verify("whsec_someone-else", request["headers"], request["body"])
    with pytest.raises(AssertionError):
        _verify(endpoint.secret, request["headers"], request["body"].replace(b"42", b"43"))


def test_failed_answers_are_retried_with_exponential_backoff_and_full_jitter(
    receiver, delivery, now, monkeypatch, webhook_settings
):
    receiver.status = 500
    webhook_settings.WEBHOOK_RETRY_BACKOFF_MAX = 60
    # Full jitter draws from [0, countdown]; take the top so the countdown shows.
    monkeypatch.setattr(random, "randrange", lambda stop: stop - 1)
    countdowns = []
    for attempt in range(1, 6):
        at = now + timedelta(minutes=attempt)
        assert delivery_send(delivery_id=delivery.pk, now=at) == "pending"
        delivery.refresh_from_db()
        countdowns.append((delivery.next_attempt_at - at).total_seconds())
        assert delivery.attempts == attempt

    assert countdowns == [10, 20, 40, 60, 60]
    assert (delivery.status, delivery.last_status_code) == ("pending", 500)
    assert delivery.last_error == "HTTP 500: ok"
    assert len({r["headers"]["x-stockhold-event-id"] for r in receiver.requests}) == 1


def test_the_jitter_spreads_retries_over_the_whole_window(receiver, delivery, now):
    receiver.status = 503
    waits = set()
    for _ in range(30):
        Delivery.objects.filter(pk=delivery.pk).update(attempts=2)
        delivery.refresh_from_db()
        delivery_send(delivery_id=delivery.pk, now=now)
        delivery.refresh_from_db()
        waits.add((delivery.next_attempt_at - now).total_seconds())

    assert waits <= set(range(0, 41))
    assert len(waits) > 5


def test_an_unreachable_endpoint_or_a_slow_one_is_a_failed_attempt(
    receiver, endpoint, delivery, webhook_settings, now
):
    from devstack.servers import free_port

    endpoint_update(endpoint=endpoint, url=f"http://127.0.0.1:{free_port()}/gone")
    assert delivery_send(delivery_id=delivery.pk, now=now) == "pending"
    delivery.refresh_from_db()
    assert delivery.last_status_code is None
    assert delivery.last_error.startswith("ConnectError")

    endpoint_update(endpoint=endpoint, url=receiver.url)
    webhook_settings.WEBHOOK_TIMEOUT_SECONDS = 0.3
    receiver.delay = 3
    assert delivery_send(delivery_id=delivery.pk, now=now) == "pending"
    delivery.refresh_from_db()
    assert delivery.last_error.startswith("ReadTimeout")
    assert delivery.attempts == 2


def test_a_redirect_is_not_followed(receiver, delivery, now):
    receiver.status = 302

    assert delivery_send(delivery_id=delivery.pk, now=now) == "pending"
    delivery.refresh_from_db()
    assert (delivery.last_status_code, len(receiver.requests)) == (302, 1)


def _webhook_alerts():
    return list(Alert.objects.filter(key__startswith="webhook_delivery_failed"))


def test_past_the_give_up_time_a_failure_marks_it_failed_and_alerts_once(
    receiver, endpoint, delivery, now, webhook_settings
):
    receiver.status = 500
    webhook_settings.WEBHOOK_GIVE_UP_SECONDS = 3600
    assert delivery_send(delivery_id=delivery.pk, now=now + timedelta(seconds=3599)) == "pending"
    assert _webhook_alerts() == []

    assert delivery_send(delivery_id=delivery.pk, now=now + timedelta(seconds=3600)) == "failed"

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 2, 500)
    [alert] = _webhook_alerts()
    assert alert.key == f"webhook_delivery_failed:endpoint-{endpoint.pk}"
    assert alert.title == "webhook delivery failed"
    assert alert.context["event_id"] == str(delivery.event_id)
    assert alert.context["attempts"] == 2
    assert receiver.url not in alert.message
    # A repeated attempt (a redelivered message) finds it failed and does nothing.
    assert delivery_send(delivery_id=delivery.pk, now=now + timedelta(hours=2)) == SKIPPED
    assert len(receiver.requests) == 2
    assert len(_webhook_alerts()) == 1


def test_two_attempts_failing_at_once_alert_once(endpoint, delivery, now, webhook_settings):
    webhook_settings.WEBHOOK_GIVE_UP_SECONDS = 60
    later = now + timedelta(seconds=61)
    seen = Delivery.objects.select_related("event", "endpoint").get(pk=delivery.pk)

    outcomes = [
        delivery_attempt_record(delivery=seen, status_code=502, error="HTTP 502", now=later)
        for _ in range(2)
    ]

    assert outcomes == ["failed", SKIPPED]
    assert len(_webhook_alerts()) == 1


def test_a_message_whose_claim_was_taken_over_does_nothing(receiver, delivery, now):
    [first] = deliveries_claim(now=now)
    # Its lease ran out while the message waited; the next dispatch claimed it again.
    [second] = deliveries_claim(now=now + timedelta(seconds=121))

    assert delivery_send(delivery_id=delivery.pk, lease=first.lease) == SKIPPED
    assert receiver.requests == []
    assert delivery_send(delivery_id=delivery.pk, lease=second.lease) == "delivered"


def test_the_claim_takes_due_deliveries_once_per_lease(endpoint, now):
    for n in range(3):
        event_record(type=EventType.ORDER_CREATED, data={"n": n}, now=now + timedelta(seconds=n))

    assert deliveries_claim(now=now - timedelta(seconds=1)) == []
    assert len(deliveries_claim(now=now + timedelta(seconds=1), limit=1)) == 1
    assert len(deliveries_claim(now=now + timedelta(seconds=5))) == 2
    assert deliveries_claim(now=now + timedelta(seconds=60)) == []
    # A lost message or a killed worker: once the lease ends, the claim comes again.
    assert len(deliveries_claim(now=now + timedelta(seconds=126))) == 3


def test_a_deactivated_endpoint_gets_no_attempt_and_no_alert(receiver, endpoint, delivery):
    endpoint_update(endpoint=endpoint, is_active=False)

    assert delivery_send(delivery_id=delivery.pk) == "failed"

    delivery.refresh_from_db()
    assert delivery.last_error == "The endpoint was deactivated."
    assert receiver.requests == [] and _webhook_alerts() == []


def test_retry_makes_pending_and_failed_deliveries_due_and_leaves_delivered_ones(
    endpoint, now
):
    for status in ("pending", "failed", "delivered"):
        event_record(type=EventType.ORDER_CREATED, data={"status": status}, now=now)
    for d in Delivery.objects.select_related("event"):
        Delivery.objects.filter(pk=d.pk).update(
            status=d.event.data["status"], next_attempt_at=now + timedelta(hours=1)
        )
    ids = list(Delivery.objects.values_list("pk", flat=True))

    assert deliveries_retry(delivery_ids=ids, now=now) == 2

    assert sorted(
        (d.event.data["status"], d.status, d.next_attempt_at == now)
        for d in Delivery.objects.select_related("event")
    ) == [
        ("delivered", "delivered", False),
        ("failed", "pending", True),
        ("pending", "pending", True),
    ]


@pytest.mark.django_db(transaction=True)
def test_the_claim_skips_deliveries_another_dispatcher_is_claiming(now):
    endpoint_create(url="https://hooks.example.com/", event_types=[])
    for n in range(2):
        event_record(type=EventType.ORDER_CREATED, data={"n": n}, now=now)
    locked_id, free_id = Delivery.objects.order_by("pk").values_list("pk", flat=True)
    holding, release = threading.Event(), threading.Event()

    def other_dispatcher():
        try:
            with transaction.atomic():
                list(Delivery.objects.select_for_update().filter(pk=locked_id))
                holding.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=other_dispatcher, daemon=True)
    thread.start()
    assert holding.wait(10)
    try:
        claims = deliveries_claim(now=now)
    finally:
        release.set()
        thread.join(10)

    assert [c.delivery_id for c in claims] == [free_id]


def test_an_alert_receiver_gets_one_alert_per_given_up_delivery(
    receiver, delivery, now, webhook_settings
):
    """The alert goes out through monitoring's channels (here its webhook)."""
    alerts = WebhookReceiver()
    webhook_settings.ALERT_WEBHOOK_URL = alerts.url
    webhook_settings.WEBHOOK_GIVE_UP_SECONDS = 0
    receiver.status = 500
    try:
        delivery_send(delivery_id=delivery.pk, now=now)
        delivery_send(delivery_id=delivery.pk, now=now)
    finally:
        alerts.close()

    [sent] = alerts.received
    assert sent["text"].startswith("webhook delivery failed: Gave up on order.created event")
