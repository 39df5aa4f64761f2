"""Monitoring: backlog over the threshold, a dead release job, drift; seen from outside beat."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from monitoring.health import health_report
from monitoring.models import Alert
from monitoring.services import backlog_alert_check, health_alerts_run, stale_alert_check
from reservations.models import ReleaseRun
from reservations.services.release import release_run
from store.models import Inventory
from tests.factories import ProductFactory, expired_backlog_create


def _fresh_heartbeat(now=None):
    now = now or timezone.now()
    ReleaseRun.objects.create(
        started_at=now, finished_at=now, status=ReleaseRun.Status.SUCCEEDED, task_id="t"
    )


def _overdue_backlog(holds: int, now=None):
    """`holds` active holds whose expiry passed well over the grace period ago."""
    now = now or timezone.now()
    return expired_backlog_create(products=1, carts=holds, expired_at=now - timedelta(minutes=10))


def _health_command() -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("reservations_health", stdout=out)
    except SystemExit as exc:
        return exc.code, out.getvalue()
    return 0, out.getvalue()


# --- backlog ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_backlog_of_101_alerts_once_fails_health_and_the_command(api, webhook):
    _fresh_heartbeat()
    _overdue_backlog(101)

    for _ in range(3):  # three periodic checks within the cooldown
        assert backlog_alert_check() == 101
    assert [alert["key"] for alert in webhook.received] == ["reservation_backlog"]
    assert "101 expired holds" in webhook.received[0]["text"]

    response = api.get("/api/v1/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["backlog"] == {
        "ok": False, "expired_holds": 101, "expired_orders": 0, "counted_up_to": 10_000,
        "threshold": 100, "grace_seconds": 120,
    }
    assert any("101 expired holds" in reason for reason in body["reasons"])

    code, output = _health_command()
    assert code == 1
    assert "101 expired holds" in output

    # The release task drains it; the next check sends "recovered", once.
    release_run(task_id="drain")
    assert backlog_alert_check() == 0
    assert backlog_alert_check() == 0
    assert [a["kind"] for a in webhook.received] == ["problem", "recovery"]
    assert webhook.received[1]["text"].startswith("expired hold backlog recovered")


@pytest.mark.django_db
def test_backlog_of_100_is_within_the_threshold(api, webhook):
    _fresh_heartbeat()
    _overdue_backlog(100)
    assert backlog_alert_check() == 100
    assert webhook.received == []
    assert api.get("/api/v1/health/").status_code == 200
    assert _health_command()[0] == 0


@pytest.mark.django_db
def test_holds_expired_within_the_grace_are_no_backlog(api, webhook):
    _fresh_heartbeat()
    expired_backlog_create(
        products=1, carts=150, expired_at=timezone.now() - timedelta(seconds=60)
    )
    assert backlog_alert_check() == 0
    assert api.get("/api/v1/health/").status_code == 200


# --- a dead release job -----------------------------------------------------------------


@pytest.mark.django_db
def test_stale_release_job_fails_health_but_not_liveness(api, settings):
    old = timezone.now() - timedelta(seconds=settings.RESERVATION_RELEASE_STALE_SECONDS + 5)
    _fresh_heartbeat(old)
    response = api.get("/api/v1/health/")
    assert response.status_code == 503
    release = response.json()["checks"]["release_job"]
    assert release["ok"] is False and release["stale"] is True
    assert release["seconds_since_success"] > settings.RESERVATION_RELEASE_STALE_SECONDS
    assert any("no successful release for" in r for r in response.json()["reasons"])
    # Shoppers are still served: load balancers route on liveness.
    assert api.get("/api/v1/health/live/").status_code == 200


@pytest.mark.django_db
def test_a_fresh_install_is_quiet_until_its_first_release_was_due(webhook, settings):
    """A release job that never ran is stale only one stale window after the first start
    (recorded by `migrate`): a new deployment pages nobody, one whose beat never starts is
    still caught."""
    from monitoring.models import FirstStart

    started = FirstStart.objects.get().started_at
    window = settings.RESERVATION_RELEASE_STALE_SECONDS

    early = started + timedelta(seconds=window - 1)
    report = health_report(now=early, use_cache=False)
    assert report["healthy"], report["reasons"]
    assert report["checks"]["release_job"]["stale"] is False
    assert stale_alert_check(now=early) is False
    assert webhook.received == []

    late = started + timedelta(seconds=window + 1)
    report = health_report(now=late, use_cache=False)
    assert "the release job has never succeeded" in report["reasons"]
    assert stale_alert_check(now=late) is True
    assert [(a["key"], a["kind"]) for a in webhook.received] == [("release_job_stale", "problem")]

    _fresh_heartbeat(late)
    report = health_report(now=late, use_cache=False)
    assert report["healthy"], report["reasons"]
    assert report["checks"]["broker"]["ok"]


@pytest.mark.django_db
def test_the_first_start_is_kept_by_every_later_migrate():
    from monitoring.models import FirstStart
    from monitoring.signals import migrated

    first = FirstStart.objects.get().started_at
    migrated(sender=None)
    assert list(FirstStart.objects.values_list("started_at", flat=True)) == [first]


@pytest.mark.django_db
def test_periodic_check_alerts_stale_once_then_recovered(webhook, settings):
    now = timezone.now()
    _fresh_heartbeat(now - timedelta(hours=1))
    assert stale_alert_check(now=now) is True
    assert stale_alert_check(now=now + timedelta(seconds=30)) is True
    _fresh_heartbeat(now + timedelta(seconds=40))
    assert stale_alert_check(now=now + timedelta(seconds=60)) is False
    assert [(a["key"], a["kind"]) for a in webhook.received] == [
        ("release_job_stale", "problem"),
        ("release_job_stale", "recovery"),
    ]


@pytest.mark.django_db(transaction=True)
def test_checkouts_notice_a_stale_release_job_and_alert_once(api, webhook, watchdog, settings):
    from tests.celery_processes import wait_until

    _fresh_heartbeat(timezone.now() - timedelta(hours=2))
    product = ProductFactory(on_hand=20)
    for _ in range(5):
        body = api.post("/api/v1/carts/").json()
        headers = {"HTTP_X_CART_TOKEN": body["token"]}
        api.put(
            f"/api/v1/carts/{body['id']}/items/{product.pk}/",
            data=json.dumps({"quantity": 1}), content_type="application/json", **headers,
        )
        response = api.post(f"/api/v1/carts/{body['id']}/checkout/", **headers)
        assert response.status_code == 201  # shoppers keep buying
    # 5 hold changes and 5 checkouts each looked at the heartbeat (interval 0 here) and
    # alerted from a thread of their own; wait for all ten to be recorded.
    wait_until(
        lambda: Alert.objects.filter(key="release_job_stale").count() == 10,
        timeout=20,
        message="the request path did not alert on every stale look",
    )
    assert [a["key"] for a in webhook.received] == ["release_job_stale"]
    assert webhook.received[0]["context"]["noticed_by"] == "request path"
    assert Alert.objects.filter(key="release_job_stale", suppressed=True).count() == 9


@pytest.mark.django_db
def test_watchdog_reads_the_heartbeat_at_most_once_per_interval(
    settings, monkeypatch, django_assert_num_queries
):
    from monitoring import watchdog

    _fresh_heartbeat()
    settings.MONITORING_WATCHDOG_INTERVAL_SECONDS = 60
    monkeypatch.setitem(watchdog._last_check, "at", None)
    with django_assert_num_queries(3):  # last success, last run, last error
        watchdog.release_watchdog_poke()
    with django_assert_num_queries(0):
        for _ in range(10):
            watchdog.release_watchdog_poke()


# --- broker -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_broker_down_is_reported_by_a_stable_code_and_its_text_only_logged(
    api, closed_port, settings, caplog
):
    _fresh_heartbeat()
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port}/0"
    response = api.get("/api/v1/health/")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == {"ok": False, "reason": "unreachable"}
    assert response.json()["reasons"] == ["broker: unreachable"]
    # What failed and how is for the operator's log (and Sentry), not for the public.
    assert str(closed_port) not in response.content.decode()
    assert f"127.0.0.1:{closed_port}" in caplog.text


@pytest.mark.django_db
def test_database_down_is_reported_by_a_stable_code_and_its_text_only_logged(
    api, monkeypatch, caplog
):
    from django.db import OperationalError

    from monitoring import health

    def refused(*args, **kwargs):
        raise OperationalError(
            'connection to server at "10.1.2.3", port 5432 failed: FATAL:  role "shop" '
            "does not exist"
        )

    monkeypatch.setattr(health.connection, "cursor", refused)
    report = health.health_report(use_cache=False)
    assert report["checks"]["database"] == {"ok": False, "reason": "unreachable"}
    assert report["reasons"][0] == "database: unreachable"
    assert "10.1.2.3" not in str(report) and "role" not in str(report)
    assert 'role "shop" does not exist' in caplog.text


# --- drift ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_drift_behind_the_services_back_is_reported_and_repaired(webhook):
    from reservations.services import hold_set
    from tests.factories import CartFactory

    _fresh_heartbeat()
    product = ProductFactory(on_hand=10, sku="DRIFT-1")
    hold_set(cart=CartFactory(), product=product, quantity=3)
    assert health_alerts_run()["drifted_products"] == 0
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE store_inventory SET reserved = 7 WHERE product_id = %s", [product.pk]
        )

    out = StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("reconcile_stock", stdout=out)
    assert exit_info.value.code == 1
    assert "DRIFT-1: reserved 7, active holds 3" in out.getvalue()
    assert [a["key"] for a in webhook.received] == ["stock_counter_drift"]

    call_command("reconcile_stock", "--repair", stdout=out)
    assert "repaired DRIFT-1: reserved 7 -> 3" in out.getvalue()
    assert Inventory.objects.get(pk=product.pk).reserved == 3
    assert [a["kind"] for a in webhook.received] == ["problem", "recovery"]
    call_command("reconcile_stock", stdout=out)
    assert "No drift" in out.getvalue()


@pytest.mark.django_db
def test_schedules_exist_after_migrate():
    from django_celery_beat.models import PeriodicTask

    from config.celery import app

    # The test database was made by `migrate`, whose post-migrate hook wrote the schedule.
    tasks = dict(PeriodicTask.objects.values_list("task", "interval__every"))
    app.loader.import_default_modules()  # what a worker does at start: find the tasks
    assert set(tasks) <= set(app.tasks), "every scheduled task is a registered task"
    assert tasks == {
        "reservations.tasks.release_expired_reservations": 60,
        "monitoring.tasks.check_reservation_health": 60,
        "monitoring.tasks.prune_old_records": 24 * 3600,
        "webhooks.tasks.dispatch_webhook_deliveries": 5,
    }
