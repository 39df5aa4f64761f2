"""Redis (Valkey) stopped under the web process and a worker: shopping goes on, health says so."""

import os
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from celery import Celery
from django.db.models import Sum
from django.utils import timezone

from backoffice.services import api_key_create
from devstack.servers import Valkey
from reservations.models import Order, ReleaseRun, Reservation
from reservations.tasks import RELEASE_TASK_NAME
from store.models import Inventory
from store.services import product_create
from tests import celery_processes
from tests.factories import expired_backlog_create
from tests.servers import api_request as _request
from tests.servers import runserver

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def throwaway_redis():
    """A Valkey of the test's own, no persistence; stop() and start() keep its port."""
    with Valkey() as server:
        yield server


def _env(redis_url: str) -> dict[str, str]:
    return celery_processes.process_env(
        REDIS_URL=redis_url,
        CELERY_BROKER_URL=redis_url,
        ALLOWED_HOSTS="127.0.0.1",
        SECRET_KEY="redis-down-fault-test-secret-key-long-enough-for-production-check",
        # Checkout holds the units for the payment; the shop's server confirms it.
        ORDER_PAYMENT_WINDOW_SECONDS="900",
        MONITORING_HEALTH_CACHE_SECONDS="0",
        ALERT_WEBHOOK_URL="",
        ADMINS="",
        SENTRY_DSN="",
    )


def _shop(base, product, quantity, key):
    """One shopper: a cart, a hold, a change, a checkout, and the back office confirming
    the payment with `key`. Returns the statuses."""
    statuses = []
    status, cart = _request(base, "POST", "/api/v1/carts/")
    statuses.append(status)
    if status != 201:
        return statuses
    path = f"/api/v1/carts/{cart['id']}/items/{product.pk}/"
    statuses.append(_request(base, "PUT", path, {"quantity": quantity + 1}, cart["token"])[0])
    statuses.append(_request(base, "PUT", path, {"quantity": quantity}, cart["token"])[0])
    status, order = _request(
        base, "POST", f"/api/v1/carts/{cart['id']}/checkout/", token=cart["token"]
    )
    statuses.append(status)
    if status != 201 or order["status"] != "pending_payment":
        return statuses
    statuses.append(
        _request(
            base, "POST", f"/api/v1/back-office/orders/{order['id']}/confirm/",
            headers={"Authorization": f"Bearer {key}"},
        )[0]
    )
    return statuses


def _broker(base) -> tuple[int, dict]:
    status, body = _request(base, "GET", "/api/v1/health/")
    return status, body["checks"]["broker"]


def test_shopping_survives_redis_down_and_health_reports_it(tmp_path, throwaway_redis):
    product = product_create(sku="REDIS-DOWN", name="Redis down", price=4, on_hand=100)
    key = api_key_create(name="psp")[1]
    expired_backlog_create(products=2, carts=50, expired_at=timezone.now() - timedelta(hours=1))
    env = _env(throwaway_redis.url)
    worker_log = tmp_path / "worker.log"
    worker_argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "--pool=solo",
        "--loglevel=INFO",
        "--without-gossip",
        "--without-mingle",
        f"--hostname=redis-down-{os.getpid()}@%h",
    ]
    sender = Celery(broker=throwaway_redis.url, set_as_current=False)
    web_log = tmp_path / "web.log"
    with (
        runserver(env, web_log) as (_, base),
        celery_processes.running(worker_argv, env, worker_log) as worker,
    ):
        celery_processes._wait_for_worker(sender, worker, worker_log)
        assert _shop(base, product, 2, key) == [201, 200, 200, 201, 200]
        status, broker = _broker(base)
        assert broker["ok"] is True, (status, broker)

        throwaway_redis.stop()
        # Holds, checkouts and confirming payments do not need Redis.
        for _ in range(3):
            statuses = _shop(base, product, 3, key)
            assert statuses == [201, 200, 200, 201, 200], web_log.read_text()[-3000:]
        status, body = _request(base, "GET", "/api/v1/products/")
        assert status == 200
        status, broker = _broker(base)
        assert status == 503
        assert broker["ok"] is False, broker
        assert worker.poll() is None, "the worker died with the broker"

        throwaway_redis.start()  # same port
        status, broker = _broker(base)
        assert broker["ok"] is True, (status, broker)
        assert _shop(base, product, 1, key) == [201, 200, 200, 201, 200]

        # The worker reconnects on its own and the next run catches up the backlog.
        sender.send_task(RELEASE_TASK_NAME)
        run = celery_processes.wait_until(
            lambda: ReleaseRun.objects.filter(status=ReleaseRun.Status.SUCCEEDED).first(),
            timeout=40,
            interval=0.25,
            message="no release run after Redis came back:\n" + worker_log.read_text()[-3000:],
        )
        assert (run.released, run.more_left) == (100, False)
        assert "Connection to broker lost" in worker_log.read_text()
    sender.close()

    assert set(Order.objects.values_list("status", flat=True)) == {"placed"}
    assert Order.objects.count() == 5
    inventory = Inventory.objects.get(product=product)
    assert (inventory.on_hand, inventory.reserved) == (100 - 2 - 3 * 3 - 1, 0)
    assert Inventory.objects.aggregate(total=Sum("reserved"))["total"] == 0
    assert not Reservation.objects.filter(status=Reservation.Status.ACTIVE).exists()
