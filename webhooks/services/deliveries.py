"""Send deliveries at least once: claim the due ones, POST each, record what happened.

The periodic dispatch claims due deliveries with SKIP LOCKED and pushes their
`next_attempt_at` forward by a lease in the same statement, then enqueues one attempt per
delivery. No row stays locked after that statement, so nothing is locked across the HTTP
call. A message that is lost, or a worker killed mid-attempt, leaves the delivery pending
with its lease: when the lease ends it is due again and claimed again, delayed, never
lost. An attempt carries the lease it was claimed with and does nothing once the delivery
has been claimed again since (its lease ended while the message waited in the queue).

A 2xx answer marks the delivery delivered. Anything else counts an attempt, records the
answer or the error, and sets the next attempt after an exponential backoff with full
jitter, until WEBHOOK_GIVE_UP_SECONDS after the event: then the delivery is failed and
`delivery_given_up` is sent, once, by whoever moved it out of `pending`.
"""

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Now

from webhooks.models import Delivery, Event
from webhooks.signals import delivery_given_up
from webhooks.signing import signature_header

logger = logging.getLogger(__name__)

USER_AGENT = "stockhold-webhooks"
# What an attempt keeps of a failed answer's body, for staff to read in the admin.
_ERROR_BODY_BYTES = 300
_ERROR_MAX_LENGTH = 1000
# What a call of delivery_send returns besides a delivery status: nothing was done (the
# delivery is gone, no longer pending, or claimed again since the attempt was enqueued).
SKIPPED = "skipped"

_CLAIM = """
    WITH clock AS (
        SELECT coalesce(%s::timestamptz, statement_timestamp()) AS now
    ), due AS (
        SELECT d.id FROM webhooks_delivery d, clock
        WHERE d.status = 'pending' AND d.next_attempt_at <= clock.now
        -- The partial index's order: the scan stops after `limit` rows, however many are
        -- due (a tie-breaker would sort every due row first).
        ORDER BY d.next_attempt_at
        LIMIT %s
        FOR UPDATE OF d SKIP LOCKED
    )
    UPDATE webhooks_delivery AS d SET next_attempt_at = clock.now + %s
    FROM due, clock
    WHERE d.id = due.id
    RETURNING d.id, d.next_attempt_at
"""


@dataclass(frozen=True)
class Claim:
    """A delivery claimed for one attempt, until `lease`."""

    delivery_id: int
    lease: datetime


def deliveries_claim(
    *,
    limit: int | None = None,
    lease_seconds: float | None = None,
    now: datetime | None = None,
) -> list[Claim]:
    """Claim up to `limit` due pending deliveries, oldest due first, for one attempt each.

    One statement: rows another dispatcher is claiming are skipped, and each claimed
    delivery is due again only when its lease (WEBHOOK_LEASE_SECONDS) ends. Time is
    `now`, or the database clock.
    """
    limit = settings.WEBHOOK_DISPATCH_BATCH_SIZE if limit is None else limit
    lease = timedelta(
        seconds=settings.WEBHOOK_LEASE_SECONDS if lease_seconds is None else lease_seconds
    )
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM, [now, limit, lease])
        rows = cursor.fetchall()
    return [Claim(delivery_id, lease) for delivery_id, lease in sorted(rows)]


def payload_body(event: Event) -> bytes:
    """Return the JSON body POSTed for `event`: the bytes that are signed."""
    payload = {
        "id": str(event.id),
        "type": event.type,
        "created_at": event.created_at.isoformat(),
        "data": event.data,
    }
    return json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:_ERROR_MAX_LENGTH]


def _post(delivery: Delivery) -> tuple[int | None, str]:
    """POST the delivery once; return (status code or None, error text or "")."""
    body = payload_body(delivery.event)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Stockhold-Event-Id": str(delivery.event_id),
        "X-Stockhold-Event": delivery.event.type,
        "X-Stockhold-Signature": signature_header(
            secret=delivery.endpoint.secret, body=body, timestamp=int(time.time())
        ),
    }
    timeout = httpx.Timeout(settings.WEBHOOK_TIMEOUT_SECONDS)
    try:
        # Redirects are not followed: a 3xx is an answer other than 2xx, and the body and
        # its signature never go to a host staff did not register.
        with (
            httpx.Client(timeout=timeout, follow_redirects=False) as client,
            client.stream("POST", delivery.endpoint.url, content=body, headers=headers) as answer,
        ):
            if answer.is_success:
                return answer.status_code, ""
            # Only the start of the body, however much the endpoint sends.
            start = b""
            for chunk in answer.iter_bytes():
                start += chunk
                if len(start) >= _ERROR_BODY_BYTES:
                    break
            text = start[:_ERROR_BODY_BYTES].decode(errors="replace").strip()
            return answer.status_code, f"HTTP {answer.status_code}" + (f": {text}" if text else "")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return None, _error_text(exc)


def delivery_attempt_record(
    *,
    delivery: Delivery,
    status_code: int | None,
    error: str = "",
    now: datetime | None = None,
) -> str:
    """Record one attempt's outcome; return the delivery's status after it (or SKIPPED).

    Each outcome is one conditional UPDATE of a pending delivery, so of two attempts that
    overlap only the first to finish moves the delivery out of `pending`, and only the one
    that marks it failed sends `delivery_given_up`. Time is `now`, or the database clock.
    """
    at = now or Now()
    pending = Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.PENDING)
    counted = {"attempts": F("attempts") + 1, "last_status_code": status_code}
    if status_code is not None and 200 <= status_code < 300:
        done = pending.update(
            status=Delivery.Status.DELIVERED, delivered_at=at, last_error="", **counted
        )
        return Delivery.Status.DELIVERED if done else SKIPPED

    give_up = timedelta(seconds=settings.WEBHOOK_GIVE_UP_SECONDS)
    failed = pending.filter(event__created_at__lte=at - give_up).update(
        status=Delivery.Status.FAILED, last_error=error, **counted
    )
    if failed:
        given_up = Delivery.objects.select_related("event", "endpoint").get(pk=delivery.pk)
        for receiver, result in delivery_given_up.send_robust(sender=Delivery, delivery=given_up):
            if isinstance(result, Exception):
                logger.error("delivery_given_up receiver %r failed: %r", receiver, result)
        return Delivery.Status.FAILED

    countdown = get_exponential_backoff_interval(
        factor=settings.WEBHOOK_RETRY_BACKOFF,
        retries=delivery.attempts,
        maximum=settings.WEBHOOK_RETRY_BACKOFF_MAX,
        full_jitter=True,
    )
    retried = pending.update(
        next_attempt_at=at + timedelta(seconds=countdown), last_error=error, **counted
    )
    return Delivery.Status.PENDING if retried else SKIPPED


def delivery_send(
    *, delivery_id: int, lease: datetime | None = None, now: datetime | None = None
) -> str:
    """Make one attempt of a pending delivery and record it; return its status (or SKIPPED).

    With `lease`, the attempt is made only while the delivery is still under that claim.
    A delivery to an endpoint that was deactivated is marked failed without an attempt.
    No row is locked during the HTTP call.
    """
    delivery = (
        Delivery.objects.select_related("event", "endpoint").filter(pk=delivery_id).first()
    )
    if delivery is None or delivery.status != Delivery.Status.PENDING:
        return SKIPPED
    if lease is not None and delivery.next_attempt_at != lease:
        return SKIPPED
    if not delivery.endpoint.is_active:
        stopped = Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.PENDING).update(
            status=Delivery.Status.FAILED, last_error="The endpoint was deactivated."
        )
        return Delivery.Status.FAILED if stopped else SKIPPED
    status_code, error = _post(delivery)
    return delivery_attempt_record(
        delivery=delivery, status_code=status_code, error=error, now=now
    )


def deliveries_retry(*, delivery_ids: list[int], now: datetime | None = None) -> int:
    """Make pending or failed deliveries due now; return how many.

    Delivered ones are left alone. A failed delivery gets one more attempt; if it fails
    again it is failed again (the give-up time counts from its event).
    """
    return Delivery.objects.filter(
        pk__in=delivery_ids,
        status__in=[Delivery.Status.PENDING, Delivery.Status.FAILED],
    ).update(status=Delivery.Status.PENDING, next_attempt_at=now or Now())


def events_prune(*, before: datetime, batch_size: int) -> int:
    """Delete events older than `before` with no pending delivery, and their deliveries.

    `batch_size` events per transaction; rows another transaction holds are skipped.
    Returns how many events went.
    """
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(
                Event.objects.filter(created_at__lt=before)
                .exclude(deliveries__status=Delivery.Status.PENDING)
                .order_by()
                .select_for_update(skip_locked=True, of=("self",))
                .values_list("pk", flat=True)[:batch_size]
            )
            if ids:
                Delivery.objects.filter(event_id__in=ids).delete()
                Event.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
        if len(ids) < batch_size:
            return deleted
