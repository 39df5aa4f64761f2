"""Alerts: every channel against a real receiver, cooldown across connections, task_failure."""

import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import sentry_sdk
from celery.signals import task_failure
from django.contrib.admin.sites import site as admin_site
from django.db import DataError, OperationalError, connection, transaction

from monitoring.alerts import alert_resolve, alert_send
from monitoring.models import Alert
from monitoring.signals import release_task_failed
from reservations.tasks import RELEASE_TASK_NAME, release_expired_reservations

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def _send(key="backlog", now=T0, **kwargs):
    kwargs.setdefault("title", "release backlog")
    kwargs.setdefault("message", "42 expired holds waiting")
    return alert_send(key=key, now=now, **kwargs)


# --- Webhook ----------------------------------------------------------------------------


def test_webhook_receives_slack_compatible_json(webhook):
    alert = _send(severity="warning", context={"holds": 42, "oldest": T0})

    assert webhook.received == [
        {
            "text": "release backlog: 42 expired holds waiting",
            "key": "backlog",
            "kind": "problem",
            "severity": "warning",
            "context": {"holds": 42, "oldest": "2026-01-15T12:00:00Z"},
            "sent_at": "2026-01-15T12:00:00+00:00",
        }
    ]
    alert.refresh_from_db()
    assert alert.delivered and not alert.suppressed
    assert alert.channels["webhook"] == {"status": "sent", "http_status": 200}
    assert alert.channels["log"]["status"] == "sent"
    assert alert.channels["email"]["status"] == "skipped"
    assert alert.channels["sentry"]["status"] == "skipped"


def test_alert_is_logged_with_its_key(caplog):
    with caplog.at_level("INFO", logger="stockhold.alerts"):
        alert = _send(severity="critical")

    assert alert.delivered  # the log is the channel when no other is configured
    record = next(r for r in caplog.records if r.name == "stockhold.alerts")
    assert record.levelname == "CRITICAL"
    assert "key=backlog" in record.getMessage()
    assert "42 expired holds waiting" in record.getMessage()


def test_webhook_error_answer_is_recorded(webhook):
    webhook.status = 500

    alert = _send()

    assert len(webhook.received) == 1
    assert alert.channels["webhook"]["status"] == "failed"
    assert "500" in alert.channels["webhook"]["error"]
    assert not alert.delivered


# --- Cooldown and recovery ------------------------------------------------------------------


def test_repeats_within_cooldown_are_recorded_but_not_sent(webhook, settings):
    settings.ALERT_COOLDOWN_SECONDS = 900

    for seconds in (0, 60, 899):
        _send(now=T0 + timedelta(seconds=seconds))

    assert len(webhook.received) == 1
    rows = Alert.objects.filter(key="backlog")
    assert rows.count() == 3
    assert rows.filter(suppressed=True).count() == 2
    assert not rows.filter(suppressed=True, delivered=True).exists()

    _send(now=T0 + timedelta(seconds=900))

    assert len(webhook.received) == 2
    assert Alert.objects.filter(key="backlog", delivered=True).count() == 2


def test_cooldown_is_per_key_and_per_call_override(webhook):
    _send(key="backlog")
    _send(key="release_task_failed")
    _send(key="backlog", now=T0 + timedelta(seconds=30), cooldown_seconds=10)

    assert [body["key"] for body in webhook.received] == [
        "backlog",
        "release_task_failed",
        "backlog",
    ]


def test_resolve_sends_recovery_and_resets_cooldown(webhook):
    _send()
    recovery = alert_resolve(
        key="backlog", title="release backlog recovered", message="0 expired holds",
        now=T0 + timedelta(seconds=60),
    )
    again = _send(now=T0 + timedelta(seconds=120))

    assert recovery.kind == Alert.Kind.RECOVERY and recovery.severity == "info"
    assert recovery.delivered
    assert [(body["kind"], body["text"]) for body in webhook.received] == [
        ("problem", "release backlog: 42 expired holds waiting"),
        ("recovery", "release backlog recovered: 0 expired holds"),
        ("problem", "release backlog: 42 expired holds waiting"),
    ]
    assert again.delivered and not again.suppressed


def test_resolve_without_open_problem_sends_nothing(webhook):
    assert alert_resolve(key="backlog", title="recovered", message="ok", now=T0) is None

    _send()
    alert_resolve(key="backlog", title="recovered", message="ok", now=T0)

    assert alert_resolve(key="backlog", title="recovered", message="ok", now=T0) is None
    assert [body["kind"] for body in webhook.received] == ["problem", "recovery"]
    assert Alert.objects.filter(kind=Alert.Kind.RECOVERY).count() == 1


# --- Broken channels never break the caller -------------------------------------------------


def test_webhook_timeout_returns_and_records_error(webhook, settings):
    settings.ALERT_WEBHOOK_TIMEOUT_SECONDS = 0.5
    webhook.delay = 5

    started = time.monotonic()
    alert = _send()
    elapsed = time.monotonic() - started

    assert elapsed < 2
    alert.refresh_from_db()
    assert alert.channels["webhook"]["status"] == "failed"
    assert "timed out" in alert.channels["webhook"]["error"]
    assert not alert.delivered and not alert.suppressed


def test_webhook_connection_refused_returns_and_records_error(settings, closed_port):
    settings.ALERT_WEBHOOK_URL = f"http://127.0.0.1:{closed_port}/hook"

    alert = _send()

    alert.refresh_from_db()
    assert alert.channels["webhook"]["status"] == "failed"
    assert "Connection refused" in alert.channels["webhook"]["error"]
    assert not alert.delivered


def test_webhook_url_must_be_http(settings):
    settings.ALERT_WEBHOOK_URL = "file:///etc/passwd"

    alert = _send()

    assert alert.channels["webhook"]["status"] == "failed"
    assert "http" in alert.channels["webhook"]["error"]


def test_smtp_refused_returns_and_records_error_while_webhook_delivers(
    settings, closed_port, webhook
):
    settings.ADMINS = [("Ops", "ops@example.com")]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = closed_port
    settings.EMAIL_TIMEOUT = 2

    alert = _send()

    alert.refresh_from_db()
    assert alert.channels["email"]["status"] == "failed"
    assert "ConnectionRefusedError" in alert.channels["email"]["error"]
    assert alert.channels["webhook"]["status"] == "sent"
    assert alert.delivered  # one channel got through
    assert len(webhook.received) == 1


@contextmanager
def _database_refusing():
    """Every query in the block fails, as with the database down; rolled back after."""

    class Rollback(Exception):
        pass

    with pytest.raises(Rollback), transaction.atomic():
        with pytest.raises(DataError), connection.cursor() as cursor:
            cursor.execute("SELECT 1 / 0")
        # The transaction is aborted: every query fails from here on.
        yield
        raise Rollback


def test_database_refusing_still_sends_and_returns(webhook):
    with _database_refusing():
        alert = _send()

    assert alert.pk is None
    assert alert.channels["cooldown"]["status"] == "failed"
    assert alert.delivered
    assert len(webhook.received) == 1


def test_database_down_repeats_are_still_deduplicated_through_the_cache(webhook):
    # Every failed release run alerts while the database is down; Redis keeps it to one
    # delivery per cooldown.
    with _database_refusing():
        alerts = [_send() for _ in range(3)]

    assert [a.suppressed for a in alerts] == [False, True, True]
    assert len(webhook.received) == 1


# --- Email ------------------------------------------------------------------------------


def test_email_reaches_admins_through_smtp(settings, smtp_server):
    settings.ADMINS = [("Ops", "ops@example.com"), ("oncall@example.com", "oncall@example.com")]
    settings.SERVER_EMAIL = "stockhold@example.com"

    alert = _send(title="release task\nfailed", context={"task_id": "abc"})

    assert alert.channels["email"] == {"status": "sent", "recipients": 2}
    [sent] = smtp_server.messages
    assert sent["from"] == "stockhold@example.com"
    assert sorted(sent["to"]) == ["oncall@example.com", "ops@example.com"]
    assert sent["message"]["Subject"] == "[stockhold] [error] release task failed"
    body = sent["message"].get_payload(decode=True).decode()
    assert "42 expired holds waiting" in body
    assert '"task_id": "abc"' in body


# --- Sentry -----------------------------------------------------------------------------


def test_alert_reaches_sentry_as_message_with_level(sentry_transport):
    alert = _send(severity="warning", context={"holds": 42})

    [event] = sentry_transport.events
    assert event["level"] == "warning"
    assert event["message"] == "release backlog: 42 expired holds waiting"
    assert event["tags"]["alert.key"] == "backlog"
    assert event["extra"]["holds"] == 42
    assert event["fingerprint"] == ["stockhold-alert", "backlog", "problem"]
    assert event["environment"] == "test"
    assert "user" not in event
    assert not sentry_sdk.get_client().should_send_default_pii()
    assert alert.channels["sentry"] == {"status": "sent", "event_id": event["event_id"]}


def test_critical_alert_is_fatal_in_sentry(sentry_transport):
    _send(severity="critical")

    assert [event["level"] for event in sentry_transport.events] == ["fatal"]


def test_sentry_dsn_without_initialised_sdk_is_recorded(settings):
    settings.SENTRY_DSN = "http://public@127.0.0.1:9/1"

    alert = _send()

    assert alert.channels["sentry"]["status"] == "failed"
    assert "not initialised" in alert.channels["sentry"]["error"]


# --- Across processes ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_racing_senders_deliver_once_per_key(webhook):
    racers, keys = 4, ["race-1", "race-2", "race-3"]
    errors = []

    def race(key, barrier):
        try:
            barrier.wait(timeout=5)
            _send(key=key)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    for key in keys:
        barrier = threading.Barrier(racers)
        threads = [threading.Thread(target=race, args=(key, barrier)) for _ in range(racers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)

    assert errors == []
    assert sorted(body["key"] for body in webhook.received) == keys
    for key in keys:
        rows = Alert.objects.filter(key=key)
        assert rows.count() == racers
        assert rows.filter(suppressed=False).count() == 1


# --- task_failure -------------------------------------------------------------------------


def test_release_task_failure_signal_alerts_with_retries(webhook):
    release_expired_reservations.push_request(id="task-1", retries=3, hostname="w1@host")
    try:
        task_failure.send(
            sender=release_expired_reservations,
            task_id="task-1",
            exception=OperationalError("server closed the connection unexpectedly"),
            args=(),
            kwargs={},
            traceback=None,
            einfo=None,
        )
    finally:
        release_expired_reservations.pop_request()

    alert = Alert.objects.get()
    assert alert.key == "release_task_failed"
    assert alert.title == "release task failed"
    assert alert.severity == "error"
    assert alert.context["task_id"] == "task-1"
    assert alert.context["exception_type"] == "OperationalError"
    assert alert.context["exception_message"] == "server closed the connection unexpectedly"
    assert alert.context["retries"] == 3
    assert alert.context["task_name"] == RELEASE_TASK_NAME
    assert "OperationalError" in alert.message and "task-1" in alert.message
    assert webhook.received[0]["key"] == "release_task_failed"


def test_task_failure_of_other_tasks_is_ignored(webhook):
    class OtherTask:  # Celery signal senders must be hashable
        name = "store.tasks.something_else"
        request = SimpleNamespace(retries=0)

    task_failure.send(
        sender=OtherTask(), task_id="t", exception=ValueError("boom"), args=(), kwargs={}
    )

    assert not Alert.objects.exists()
    assert webhook.received == []


def test_task_failure_handler_never_raises():
    class BrokenRequestTask:
        name = RELEASE_TASK_NAME

        @property
        def request(self):
            raise RuntimeError("no request")

    class Unprintable(Exception):
        def __str__(self):
            raise RuntimeError("cannot print")

    release_task_failed(sender=BrokenRequestTask(), task_id="t-1", exception=ValueError("x"))
    release_task_failed(
        sender=SimpleNamespace(name=RELEASE_TASK_NAME, request=SimpleNamespace(retries=1)),
        task_id="t-2",
        exception=Unprintable(),
    )

    [alert] = Alert.objects.all()
    assert alert.context["task_id"] == "t-2"
    assert alert.context["exception_type"] == "Unprintable"


# --- Admin ------------------------------------------------------------------------------


def test_admin_lists_alerts_read_only(admin_client):
    _send()
    _send()

    page = admin_client.get("/admin/monitoring/alert/?suppressed__exact=1")

    assert page.status_code == 200
    assert page.context["cl"].result_count == 1
    assert admin_client.get("/admin/monitoring/alert/add/").status_code == 403
    model_admin = admin_site._registry[Alert]
    assert not model_admin.has_change_permission(page.wsgi_request)
