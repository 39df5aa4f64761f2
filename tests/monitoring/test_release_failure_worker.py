"""A release task that fails every attempt, on a real worker: one alert, after the last retry."""

import gzip
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis
from django.utils import timezone

from monitoring.models import Alert
from reservations.models import ReleaseRun
from reservations.services import hold_set
from reservations.tasks import release_expired_reservations
from tests import celery_processes
from tests.factories import CartFactory, ProductFactory
from tests.worker_app import COUNTDOWNS_KEY, FAULT_KEY

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


class SentryIngest:
    """A stand-in for Sentry's ingest endpoint on 127.0.0.1 that keeps every event."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        ingest = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                lines = body.split(b"\n")
                # Envelope: a header line, then (item header, payload) pairs.
                for header, payload in zip(lines[1::2], lines[2::2], strict=False):
                    if json.loads(header).get("type") == "event":
                        ingest.events.append(json.loads(payload))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.dsn = f"http://public@127.0.0.1:{self._server.server_address[1]}/1"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def messages(self) -> list[str]:
        return [
            (event.get("logentry") or {}).get("message") or event.get("message") or ""
            for event in self.events
        ]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def sentry_ingest():
    ingest = SentryIngest()
    yield ingest
    ingest.close()


def test_every_attempt_failing_sends_one_alert_after_the_last_retry(
    tmp_path, redis_url, webhook, sentry_ingest
):
    past = timezone.now() - timedelta(hours=1)
    hold_set(cart=CartFactory(), product=ProductFactory(on_hand=3), quantity=1, now=past)
    fault = redis.Redis.from_url(redis_url)
    fault.delete(COUNTDOWNS_KEY)
    fault.set(FAULT_KEY, 1000)
    env = {
        "RESERVATION_RELEASE_RETRY_BACKOFF": "1",
        "RESERVATION_RELEASE_RETRY_JITTER": "0",
        "RESERVATION_RELEASE_MAX_RETRIES": "3",
        "ALERT_WEBHOOK_URL": webhook.url,
        "SENTRY_DSN": sentry_ingest.dsn,
        "SENTRY_ENVIRONMENT": "test",
    }
    try:
        with celery_processes.worker(tmp_path, **env):
            release_expired_reservations.delay()
            celery_processes.wait_until(
                lambda: webhook.received, timeout=60, message="no alert reached the webhook"
            )
            celery_processes.wait_until(
                lambda: any("release task failed" in m for m in sentry_ingest.messages()),
                timeout=30,
                message="no alert reached Sentry",
            )
            # Give a wrongly repeated alert the time to show up before counting.
            celery_processes.wait_until(
                lambda: ReleaseRun.objects.filter(status="failed").count() >= 4, timeout=10
            )
    finally:
        fault.delete(FAULT_KEY)

    # 1 attempt + 3 retries, with backoff 1, 2, 4 s; the 4th failure is final.
    assert [int(c) for c in fault.lrange(COUNTDOWNS_KEY, 0, -1)] == [1, 2, 4, 8]
    assert ReleaseRun.objects.filter(status="failed").count() == 4
    [alert] = webhook.received
    assert alert["text"].startswith("release task failed: OperationalError: injected")
    assert alert["context"]["retries"] == 3
    assert alert["context"]["task_id"]
    assert Alert.objects.filter(key="release_task_failed", suppressed=False).count() == 1
    assert sum("release task failed" in m for m in sentry_ingest.messages()) == 1
