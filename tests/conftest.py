"""Fixtures shared by the whole suite. The suite runs on PostgreSQL and Redis."""

import os
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from tests.servers import WebhookReceiver


def pytest_configure(config):
    # Every test runs on the real servers; a missing one is a failure, never a skip.
    engine = settings.DATABASES["default"]["ENGINE"]
    if engine != "django.db.backends.postgresql":
        raise pytest.UsageError(f"the suite needs PostgreSQL (DATABASE_URL), got {engine}")


@pytest.fixture(autouse=True)
def _fast_tier_starts_no_process(request, monkeypatch):
    """Keep the fast tier (`-m "not slow"`) free of processes: a test that starts one
    (worker, beat, runserver, a settings check in a fresh interpreter) must say so with
    the `slow` mark, or it fails here. Servers shared by the session (the PgBouncer of
    tests/pooler/) start in session fixtures, before this one."""
    if request.node.get_closest_marker("slow"):
        return
    name = request.node.nodeid

    class Refused(subprocess.Popen):
        def __init__(self, *args, **kwargs):
            raise AssertionError(f"{name} starts a process: mark it `slow`")

    monkeypatch.setattr(subprocess, "Popen", Refused)


@pytest.fixture(scope="session")
def redis_url():
    """The Redis the suite was given; a failure, not a skip, when it is down."""
    import redis

    url = os.environ["REDIS_URL"]
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {url} is not reachable: {exc}")
    return url


@pytest.fixture(autouse=True)
def _clear_cache(monkeypatch):
    from django.core.cache import cache

    from monitoring import health

    cache.clear()
    monkeypatch.setattr(health, "_cached", {"at": 0.0, "report": None})


@pytest.fixture(autouse=True)
def _quiet_watchdog(settings, monkeypatch):
    """Keep the request-path watchdog from alerting in tests that are not about it.

    Without a release run the heartbeat is stale, and every API test would alert from a
    thread with a connection outside the test's transaction. `watchdog` turns it on.
    """
    from monitoring import watchdog

    settings.MONITORING_WATCHDOG_INTERVAL_SECONDS = 10**9
    monkeypatch.setitem(watchdog._last_check, "at", 0.0)


@pytest.fixture
def watchdog(settings, monkeypatch):
    """The request-path watchdog, checking on every request."""
    from monitoring import watchdog as module

    settings.MONITORING_WATCHDOG_INTERVAL_SECONDS = 0
    monkeypatch.setitem(module._last_check, "at", None)
    return module


@pytest.fixture
def staff_client(client, db):
    """The test client, logged in as a superuser named `staff`."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_superuser("staff", "", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def installed_long_ago(db):
    """The service first started a day ago: a release job that never succeeded is stale."""
    from monitoring.models import FirstStart

    FirstStart.objects.update_or_create(
        id=1, defaults={"started_at": datetime.now(UTC) - timedelta(days=1)}
    )


@pytest.fixture
def webhook(settings):
    """A webhook receiver on 127.0.0.1, configured as ALERT_WEBHOOK_URL."""
    receiver = WebhookReceiver()
    settings.ALERT_WEBHOOK_URL = receiver.url
    yield receiver
    receiver.close()


@pytest.fixture
def now():
    """A fixed instant; tests move the clock by passing `now=` to services."""
    return datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def ttl(settings):
    settings.RESERVATION_TTL_SECONDS = 1800
    return 1800


class Clock:
    """Time for tests that go through the API, where services read the clocks themselves.

    Two clocks: `django.utils.timezone.now` (monitoring and display), frozen here, and the
    database's, which decides expiry and cannot be moved. `advance(s)` moves the first and
    ages every stored hold, cart and order instant by `s` instead of moving the second,
    which is the same to every comparison the database makes.
    """

    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> datetime:
        from django.db import connection

        self.current += timedelta(seconds=seconds)
        with connection.cursor() as cursor:
            shift = timedelta(seconds=seconds)
            cursor.execute(
                "UPDATE reservations_reservation SET expires_at = expires_at - %s,"
                " created_at = created_at - %s, updated_at = updated_at - %s",
                [shift] * 3,
            )
            cursor.execute(
                "UPDATE store_cart SET expires_at = expires_at - %s,"
                " created_at = created_at - %s, updated_at = updated_at - %s",
                [shift] * 3,
            )
            cursor.execute(
                "UPDATE store_order SET payment_expires_at = payment_expires_at - %s,"
                " created_at = created_at - %s",
                [shift] * 2,
            )
        return self.current


@pytest.fixture
def clock(monkeypatch):
    """Freeze the app clock; `clock.advance(s)` moves time for the app and the database."""
    from django.utils import timezone

    frozen = Clock(timezone.now())
    monkeypatch.setattr(timezone, "now", frozen)
    return frozen
