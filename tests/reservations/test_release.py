"""The release service: batches, SKIP LOCKED, exact counters, heartbeat rows."""

import threading
from datetime import timedelta
from io import StringIO

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from reservations.models import ReleaseRun, Reservation
from reservations.selectors import availability_get
from reservations.services import hold_set
from reservations.services.release import expired_count, expired_release, release_run
from store.models import Inventory
from tests.factories import CartFactory, ProductFactory, expired_backlog_create
from tests.invariants import assert_counters_exact


def _expired_backlog(*, products: int, carts: int, now, units=1):
    return expired_backlog_create(
        products=products, carts=carts, expired_at=now - timedelta(minutes=5), units=units
    )


@pytest.mark.django_db
def test_release_moves_only_expired_holds_and_their_units(now, ttl):
    product = ProductFactory(on_hand=10)
    old, fresh = CartFactory(), CartFactory()
    hold_set(cart=old, product=product, quantity=3, now=now - timedelta(seconds=ttl + 1))
    hold_set(cart=fresh, product=product, quantity=2, now=now)
    result = expired_release(now=now, batch_size=10)
    assert (result.released, result.units, result.more_left) == (1, 3, False)
    assert Reservation.objects.get(cart=old).status == "expired"
    assert Reservation.objects.get(cart=fresh).status == "active"
    assert Inventory.objects.get(pk=product.pk).reserved == 2
    assert availability_get(product=product, now=now) == 8
    # Idempotent: a second run finds nothing.
    assert expired_release(now=now, batch_size=10).released == 0


@pytest.mark.django_db
def test_release_works_in_batches_of_one_product(now):
    _expired_backlog(products=3, carts=7, now=now)
    result = expired_release(now=now, batch_size=5)
    # Each product's 7 holds: a batch of 5, then one of 2.
    assert (result.released, result.batches, result.more_left) == (21, 6, False)
    assert_counters_exact()
    assert Inventory.objects.filter(reserved=0).count() == 3


@pytest.mark.django_db(transaction=True)
def test_release_leaves_a_product_whose_row_a_shopper_holds_for_the_next_run(now):
    from django.db import connection as default_connection

    busy, free = _expired_backlog(products=2, carts=3, now=now)
    # Another connection holds the busy product's row, as a shopper mid-hold would.
    other = psycopg.connect(
        **{k: v for k, v in default_connection.get_connection_params().items()
           if k in ("dbname", "host", "port", "user")}
    )
    try:
        other.execute("SELECT 1 FROM store_inventory WHERE product_id = %s FOR UPDATE",
                      [busy.pk])
        result = expired_release(now=now, batch_size=10)
    finally:
        other.close()
    assert (result.released, result.more_left) == (3, True)
    assert Inventory.objects.get(pk=free.pk).reserved == 0
    assert Inventory.objects.get(pk=busy.pk).reserved == 3
    assert expired_release(now=now, batch_size=10).released == 3
    assert_counters_exact()


@pytest.mark.django_db
def test_release_stops_at_its_time_budget_and_says_more_is_left(now):
    _expired_backlog(products=2, carts=5, now=now)
    result = expired_release(now=now, batch_size=3, max_run_seconds=0)
    assert (result.released, result.batches, result.more_left) == (3, 1, True)
    assert_counters_exact()


@pytest.mark.django_db
@pytest.mark.parametrize("ratio", [0.5, 0.0])
def test_release_gives_way_between_batches(now, settings, monkeypatch, ratio):
    from reservations.services import release

    settings.RESERVATION_RELEASE_PAUSE_RATIO = ratio
    pauses: list[float] = []
    monkeypatch.setattr(release.time, "sleep", pauses.append)
    _expired_backlog(products=3, carts=4, now=now)
    result = expired_release(now=now, batch_size=4)
    assert (result.released, result.batches) == (12, 3)
    if ratio:
        # One pause after each batch that released holds, half as long as that batch, capped.
        assert len(pauses) == 3 and all(0 < pause <= 1.0 for pause in pauses)
    else:
        assert pauses == []
    assert_counters_exact()


@pytest.mark.django_db
def test_release_run_records_a_heartbeat(now):
    _expired_backlog(products=1, carts=4, now=now)
    run = release_run(task_id="abc", now=now)
    run.refresh_from_db()
    assert run.status == ReleaseRun.Status.SUCCEEDED
    assert (run.released, run.units, run.task_id) == (4, 4, "abc")
    assert run.finished_at >= run.started_at


@pytest.mark.django_db
def test_failed_release_run_is_recorded_and_reraised(now, monkeypatch):
    from reservations.services import release

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(release, "expired_release", broken)
    with pytest.raises(RuntimeError):
        release.release_run(task_id="t-1", now=now)
    run = ReleaseRun.objects.get(task_id="t-1")
    assert (run.status, run.error) == (ReleaseRun.Status.FAILED, "RuntimeError: boom")


@pytest.mark.django_db
def test_management_command_dry_run_and_release(now):
    _expired_backlog(products=2, carts=3, now=now - timedelta(hours=1), units=2)
    out = StringIO()
    call_command("release_expired_reservations", "--dry-run", stdout=out)
    assert "6 expired holds (12 units) would be released" in out.getvalue()
    assert expired_count()["holds"] == 6
    call_command("release_expired_reservations", stdout=out)
    assert "Released 6 expired holds (12 units)" in out.getvalue()
    assert expired_count()["holds"] == 0
    assert_counters_exact()


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_release_each_of_5000_holds_once(now):
    products = _expired_backlog(products=50, carts=100, now=now)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run():
        try:
            barrier.wait(timeout=10)
            results.append(expired_release(now=now, batch_size=200))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert sum(r.released for r in results) == 5000
    assert sum(r.units for r in results) == 5000
    assert Reservation.objects.filter(status="expired").count() == 5000
    assert not Reservation.objects.filter(status="active").exists()
    assert_counters_exact()
    assert all(availability_get(product=p, now=now) == 100 for p in products[:5])


@pytest.mark.django_db
def test_release_schedule_keeps_a_pause_when_the_interval_changes(settings):
    from django_celery_beat.models import PeriodicTask

    from monitoring.schedule import schedule_sync
    from reservations.tasks import RELEASE_TASK_NAME

    schedule_sync()
    task = PeriodicTask.objects.get(name="Release expired holds")
    assert (task.task, task.interval.every, task.interval.period) == (
        RELEASE_TASK_NAME,
        60,
        "seconds",
    )
    assert task.expire_seconds == 60 and task.enabled
    # Staff pause it; a new interval from the settings keeps the pause.
    task.enabled = False
    task.save()
    entry = settings.CELERY_BEAT_SCHEDULE["Release expired holds"]
    settings.CELERY_BEAT_SCHEDULE = {
        **settings.CELERY_BEAT_SCHEDULE,
        "Release expired holds": {**entry, "schedule": 5, "options": {"expire_seconds": 5}},
    }
    schedule_sync()
    task.refresh_from_db()
    assert (task.interval.every, task.expire_seconds, task.enabled) == (5, 5, False)
