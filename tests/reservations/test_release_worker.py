"""The release task on a real worker process and Redis: runs, retries, beat end to end."""

from datetime import timedelta

import pytest
import redis
from django.utils import timezone

from reservations.models import ReleaseRun, Reservation
from reservations.services import hold_set
from reservations.tasks import release_expired_reservations
from store.models import Inventory
from tests import celery_processes
from tests.factories import CartFactory, ProductFactory
from tests.worker_app import COUNTDOWNS_KEY, FAULT_KEY

pytestmark = pytest.mark.django_db(transaction=True)

NO_JITTER = {
    "RESERVATION_RELEASE_RETRY_BACKOFF": "1",
    "RESERVATION_RELEASE_RETRY_JITTER": "0",
    "RESERVATION_RELEASE_MAX_RETRIES": "3",
}


@pytest.fixture
def fault(redis_url):
    client = redis.Redis.from_url(redis_url)
    client.delete(FAULT_KEY, COUNTDOWNS_KEY)
    yield client
    client.delete(FAULT_KEY, COUNTDOWNS_KEY)


@pytest.fixture
def expired_holds():
    """Three expired holds on two products (6 units), and one live hold."""
    past = timezone.now() - timedelta(hours=1)
    products = [ProductFactory(on_hand=10), ProductFactory(on_hand=10)]
    for product in products:
        hold_set(cart=CartFactory(), product=product, quantity=2, now=past)
    hold_set(cart=CartFactory(), product=products[0], quantity=2, now=past)
    hold_set(cart=CartFactory(), product=products[1], quantity=1)
    return products


def _succeeded_runs():
    return list(ReleaseRun.objects.filter(status=ReleaseRun.Status.SUCCEEDED))


def test_worker_releases_expired_holds_and_records_the_heartbeat(tmp_path, expired_holds, fault):
    with celery_processes.worker(tmp_path):
        release_expired_reservations.delay()
        [run] = celery_processes.wait_until(
            _succeeded_runs, timeout=30, message="no successful release run"
        )
    assert (run.released, run.units) == (3, 6)
    assert run.task_id
    assert Reservation.objects.filter(status="expired").count() == 3
    assert list(Inventory.objects.order_by("pk").values_list("reserved", flat=True)) == [0, 1]


def test_transient_database_error_is_retried_with_backoff_then_succeeds(
    tmp_path, expired_holds, fault
):
    fault.set(FAULT_KEY, 2)
    with celery_processes.worker(tmp_path, **NO_JITTER):
        release_expired_reservations.delay()
        [run] = celery_processes.wait_until(
            _succeeded_runs, timeout=60, message="the retried run never succeeded"
        )
    # Exponential backoff, jitter off: 1 s, then 2 s; the third attempt succeeds.
    assert [int(c) for c in fault.lrange(COUNTDOWNS_KEY, 0, -1)] == [1, 2]
    assert run.released == 3
    # Each failed attempt left its heartbeat row with the error.
    failed = ReleaseRun.objects.filter(status=ReleaseRun.Status.FAILED)
    assert failed.count() == 2
    assert all("injected" in r.error for r in failed)


def test_beat_and_worker_release_expired_holds_end_to_end(tmp_path, expired_holds, fault):
    # Beat writes the schedule of its own settings (every second) into the tables at start.
    env = {"RESERVATION_RELEASE_INTERVAL_SECONDS": "1"}
    with celery_processes.worker(tmp_path, **env), celery_processes.beat(tmp_path, **env):
        celery_processes.wait_until(
            lambda: len(_succeeded_runs()) >= 2,
            timeout=30,
            message="beat did not trigger two release runs",
        )
    assert Reservation.objects.filter(status="expired").count() == 3
    assert list(Inventory.objects.order_by("pk").values_list("reserved", flat=True)) == [0, 1]
