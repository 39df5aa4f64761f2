"""A release run on a real prefork worker, killed with SIGKILL in the middle of its batches."""

import os
import sys
from datetime import timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone

from devstack.processes import process_kill
from reservations.models import ReleaseRun, Reservation
from reservations.tasks import release_expired_reservations
from store.models import Inventory
from tests import celery_processes
from tests.factories import expired_backlog_create
from tests.invariants import assert_counters_exact

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

PRODUCTS, CARTS = 20, 1000  # 20,000 expired holds of one unit


def _prefork_worker(tmp_path, name, **env):
    from config.celery import app

    log_path = tmp_path / f"{name}.log"
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "tests.worker_app",
        "worker",
        "--pool=prefork",
        "--concurrency=1",
        "--loglevel=INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        f"--hostname={name}-{os.getpid()}@%h",
    ]
    environment = celery_processes.process_env(
        RESERVATION_RELEASE_BATCH_SIZE="50", RESERVATION_RELEASE_MAX_RUN_SECONDS="80", **env
    )
    return celery_processes.running(argv, environment, log_path), app, log_path


def _expired_units() -> int:
    return (
        Reservation.objects.filter(status=Reservation.Status.EXPIRED).aggregate(
            units=Sum("quantity")
        )["units"]
        or 0
    )


def _reserved_total() -> int:
    return Inventory.objects.aggregate(total=Sum("reserved"))["total"] or 0


def _broker_clean(redis_url):
    """No message, delivered or not, left in the broker by an earlier test."""
    import redis

    from config.celery import app

    app.control.purge()
    redis.Redis.from_url(redis_url).delete("unacked", "unacked_index", "unacked_mutex")


def test_sigkill_mid_run_loses_nothing_and_the_redelivered_run_finishes(tmp_path, redis_url):
    _broker_clean(redis_url)
    expired_backlog_create(
        products=PRODUCTS, carts=CARTS, expired_at=timezone.now() - timedelta(hours=1)
    )
    total = PRODUCTS * CARTS
    assert _reserved_total() == total

    # A short visibility timeout so that the unacknowledged (acks_late) message comes back.
    process_cm, app, log_path = _prefork_worker(tmp_path, "doomed", CELERY_VISIBILITY_TIMEOUT="5")
    with process_cm as process:
        celery_processes._wait_for_worker(app, process, log_path)
        task_id = release_expired_reservations.delay().id

        def mid_run():
            released = Reservation.objects.filter(status=Reservation.Status.EXPIRED).count()
            return released if 0 < released < total // 2 else 0

        released_at_kill = celery_processes.wait_until(
            mid_run, timeout=40, interval=0.02, message="the run never got under way"
        )
        process_kill(process)  # the main process and its pool processes
        process.wait(timeout=10)

    expired_after_kill = Reservation.objects.filter(status=Reservation.Status.EXPIRED).count()
    assert released_at_kill <= expired_after_kill < total, "the kill was not mid-run"
    # The killed run never finished: its heartbeat row stays `running`.
    killed_run = ReleaseRun.objects.filter(task_id=task_id).get()
    assert killed_run.status == ReleaseRun.Status.RUNNING
    # Counters exact, and every unit taken out of `reserved` belongs to exactly one hold
    # that is now expired: nothing released twice, nothing half-released.
    assert_counters_exact()
    assert total - _reserved_total() == _expired_units() == expired_after_kill

    process_cm, app, log_path = _prefork_worker(tmp_path, "second", CELERY_VISIBILITY_TIMEOUT="5")
    with process_cm as process:
        celery_processes._wait_for_worker(app, process, log_path)
        # acks_late: the killed message is redelivered once its visibility timeout is over,
        # and the redelivered run (same task id) finishes the work. A redelivered run that
        # itself outlasts the 5 s timeout (a loaded machine) is delivered once more:
        # at least once, never a hold twice.
        def redelivered_runs_done():
            if Reservation.objects.filter(status=Reservation.Status.ACTIVE).exists():
                return None
            runs = list(ReleaseRun.objects.filter(task_id=task_id).exclude(pk=killed_run.pk))
            done = runs and all(run.status == ReleaseRun.Status.SUCCEEDED for run in runs)
            return runs if done else None

        redelivered = celery_processes.wait_until(
            redelivered_runs_done,
            timeout=45,
            interval=0.25,
            message="the killed task was not redelivered",
        )
    assert sum(run.released for run in redelivered) == total - expired_after_kill
    assert not any(run.more_left for run in redelivered)

    assert Reservation.objects.filter(status=Reservation.Status.ACTIVE).count() == 0
    assert Reservation.objects.filter(status=Reservation.Status.EXPIRED).count() == total
    assert _reserved_total() == 0
    assert_counters_exact()
    assert list(Inventory.objects.values_list("on_hand", flat=True).distinct()) == [CARTS]
