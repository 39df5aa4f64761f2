"""GET /metrics: domain figures from the database, request metrics added up across workers."""

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import OperationalError, connection
from gunicorn.config import KNOWN_SETTINGS
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from devstack.servers import free_port
from monitoring import metrics
from monitoring.alerts import alert_send
from monitoring.metrics import DatabaseCollector
from monitoring.models import Alert
from reservations.models import ReleaseRun, Reservation
from reservations.services.holds import hold_remove, hold_set
from store.services import product_create
from tests.factories import CartFactory

ROOT = Path(__file__).resolve().parent.parent.parent
TTL = 1800
GRACE = 120
REQUESTS = "stockhold_http_requests_total"
DURATION_COUNT = "stockhold_http_request_duration_seconds_count"


def _samples(text: str) -> dict[tuple, float]:
    """Every sample of a scrape as {(sample name, sorted labels): value}."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _scrape(client) -> dict[tuple, float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    return _samples(response.content.decode())


def _requests(samples, *, route, method="GET", status="200") -> float:
    key = (REQUESTS, (("method", method), ("route", route), ("status", status)))
    return samples.get(key, 0)


def _durations(samples, *, route, method="GET") -> float:
    return samples.get((DURATION_COUNT, (("method", method), ("route", route))), 0)


@pytest.fixture
def monitoring_settings(settings):
    settings.RESERVATION_TTL_SECONDS = TTL
    settings.RESERVATION_BACKLOG_GRACE_SECONDS = GRACE
    return settings


def _hold(product, quantity, *, now):
    hold_set(cart=CartFactory(), product=product, quantity=quantity, now=now)


# --- Domain figures ---------------------------------------------------------------------


@pytest.mark.django_db
def test_domain_metrics_carry_the_database_figures(client, clock, monitoring_settings):
    now = clock.current
    product = product_create(sku="MUG", name="Mug", price=Decimal("5.00"), on_hand=100)
    # Expired three minutes ago, past the two-minute grace: the release task's backlog.
    overdue = now - timedelta(seconds=TTL + GRACE + 60)
    for quantity in (1, 2, 3):
        _hold(product, quantity, now=overdue)
    # Expired 30 s ago: active and counted as held, but within the grace.
    _hold(product, 7, now=now - timedelta(seconds=TTL + 30))
    for quantity in (4, 5):
        _hold(product, quantity, now=now)
    # Removed by the shopper: no longer active.
    gone = CartFactory()
    hold_set(cart=gone, product=product, quantity=9, now=now)
    hold_remove(cart=gone, product=product, now=now)
    assert Reservation.objects.filter(status=Reservation.Status.RELEASED).count() == 1

    ReleaseRun.objects.create(
        started_at=now - timedelta(seconds=600),
        finished_at=now - timedelta(seconds=590),
        status=ReleaseRun.Status.SUCCEEDED,
    )
    ReleaseRun.objects.create(
        started_at=now - timedelta(seconds=60),
        finished_at=now - timedelta(seconds=45),
        status=ReleaseRun.Status.SUCCEEDED,
    )
    ReleaseRun.objects.create(
        started_at=now - timedelta(seconds=20),
        finished_at=now - timedelta(seconds=19),
        status=ReleaseRun.Status.FAILED,
        error="OperationalError: connection lost",
    )

    def send(key, **kwargs):
        return alert_send(key=key, title=key, message="m", now=now, **kwargs)

    # No outbound channel is configured (tests/monitoring/conftest.py): the log delivers.
    assert send("release-task-failed").delivered
    assert send("release-task-failed").suppressed  # within the cooldown
    assert send("release-task-failed", cooldown_seconds=0).delivered
    assert send("expired-backlog").delivered
    assert send("expired-backlog").suppressed
    # Every channel failed: recorded, not delivered.
    Alert.objects.create(key="expired-backlog", title="t", created_at=now, delivered=False)

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = _samples(response.content.decode())
    domain = {
        key: value
        for key, value in samples.items()
        if not key[0].startswith("stockhold_http_")
    }
    assert domain == {
        ("stockhold_expired_backlog_holds", ()): 3,
        ("stockhold_expired_backlog_orders", ()): 0,
        ("stockhold_active_holds", ()): 6,
        ("stockhold_held_units", ()): 1 + 2 + 3 + 7 + 4 + 5,
        ("stockhold_release_seconds_since_success", ()): 45.0,
        ("stockhold_release_runs_total", ()): 3,
        ("stockhold_release_failures_total", ()): 1,
        ("stockhold_alerts_sent_total", (("key", "expired-backlog"),)): 1,
        ("stockhold_alerts_sent_total", (("key", "release-task-failed"),)): 2,
        ("stockhold_webhook_deliveries_pending", ()): 0,
        ("stockhold_webhook_deliveries_failed", ()): 0,
        ("stockhold_metrics_scrape_error", ()): 0,
    }
    types = {f.name: f.type for f in text_string_to_metric_families(response.content.decode())}
    assert types["stockhold_release_runs"] == "counter"
    assert types["stockhold_alerts_sent"] == "counter"
    assert types["stockhold_expired_backlog_holds"] == "gauge"


@pytest.mark.django_db
def test_seconds_since_success_is_absent_until_a_run_succeeds(client, clock):
    ReleaseRun.objects.create(
        started_at=clock.current - timedelta(seconds=5),
        finished_at=clock.current,
        status=ReleaseRun.Status.FAILED,
    )

    samples = _scrape(client)

    assert ("stockhold_release_seconds_since_success", ()) not in samples
    assert samples[("stockhold_release_runs_total", ())] == 1
    assert samples[("stockhold_release_failures_total", ())] == 1
    assert samples[("stockhold_metrics_scrape_error", ())] == 0

    ReleaseRun.objects.create(
        started_at=clock.current - timedelta(seconds=3),
        finished_at=clock.current - timedelta(seconds=2),
        status=ReleaseRun.Status.SUCCEEDED,
    )
    clock.advance(10)

    assert _scrape(client)[("stockhold_release_seconds_since_success", ())] == 12.0


@pytest.mark.django_db
def test_collector_queries_do_not_grow_with_the_data(
    clock, monitoring_settings, django_assert_num_queries
):
    product = product_create(sku="PEN", name="Pen", price=Decimal("1.00"), on_hand=1000)
    for minutes in range(12):
        _hold(product, 1, now=clock.current - timedelta(minutes=minutes * 10))
    for n in range(20):
        Alert.objects.create(key=f"key-{n % 7}", title="t", created_at=clock.current,
                             delivered=True)
        ReleaseRun.objects.create(started_at=clock.current, status=ReleaseRun.Status.FAILED)

    # backlog of holds 1 and of unpaid orders 1, hold figures 1, heartbeat 3 and the first
    # start (no run succeeded yet), release runs 1, alerts 1, webhook deliveries pending 1
    # and failed 1.
    with django_assert_num_queries(11):
        families = list(DatabaseCollector().collect())

    alerts = next(f for f in families if f.name == "stockhold_alerts_sent")
    assert len(alerts.samples) == 7


@pytest.mark.django_db
def test_database_failure_during_scrape_still_answers_with_request_metrics(client):
    client.get("/api/v1/products/")

    def database_down(execute, sql, params, many, context):
        raise OperationalError("connection to server at 127.0.0.1 failed")

    with connection.execute_wrapper(database_down):
        response = client.get("/metrics")

    assert response.status_code == 200
    samples = _samples(response.content.decode())
    assert samples[("stockhold_metrics_scrape_error", ())] == 1
    assert _requests(samples, route="product-list") >= 1
    names = {name for name, _ in samples}
    for absent in (
        "stockhold_expired_backlog_holds",
        "stockhold_expired_backlog_orders",
        "stockhold_active_holds",
        "stockhold_held_units",
        "stockhold_release_runs_total",
        "stockhold_alerts_sent_total",
    ):
        assert absent not in names

    assert _scrape(client)[("stockhold_metrics_scrape_error", ())] == 0


# --- Request metrics (one process) --------------------------------------------------------


@pytest.mark.django_db
def test_requests_are_counted_by_route_name_not_raw_path(client):
    product = product_create(sku="CUP", name="Cup", price=Decimal("3.00"), on_hand=4)
    path = f"/api/v1/products/{product.pk}/"
    before = _scrape(client)

    assert client.get(path).status_code == 200
    assert client.get("/api/v1/products/999999/").status_code == 404
    assert client.get(f"/api/v1/no-such-thing/{product.pk}/").status_code == 404
    assert client.generic("BREW", "/api/v1/products/").status_code == 405
    after = _scrape(client)

    def delta(**labels):
        return _requests(after, **labels) - _requests(before, **labels)

    assert delta(route="product-detail") == 1
    assert delta(route="product-detail", status="404") == 1
    assert delta(route="unmatched", status="404") == 1
    assert delta(route="product-list", method="other", status="405") == 1
    assert _durations(after, route="product-detail") - _durations(
        before, route="product-detail"
    ) == 2
    # The scrape before counts as one request to /metrics.
    assert delta(route="metrics") == 1
    routes = {dict(labels)["route"] for name, labels in after if name == REQUESTS}
    assert not [route for route in routes if "/" in route or str(product.pk) in route]


@pytest.mark.django_db
def test_a_failure_to_record_metrics_never_fails_the_request(client, monkeypatch, caplog):
    def broken(**labels):
        raise FileNotFoundError("/run/prometheus/counter_1.db")

    monkeypatch.setattr(metrics.HTTP_REQUESTS, "labels", broken)
    monkeypatch.setattr(metrics, "_observe_failed", False)

    assert client.get("/api/v1/products/").status_code == 200
    assert client.get("/api/v1/products/").status_code == 200
    logged = [r for r in caplog.records if "cannot record request metrics" in r.getMessage()]
    assert len(logged) == 1


# --- Several processes ----------------------------------------------------------------


def _observe_in_process(directory: Path, *, count: int, route: str) -> None:
    """Record `count` requests in a separate Python process, as a gunicorn worker would."""
    code = (
        "import sys, django\n"
        "django.setup()\n"
        "from monitoring.metrics import request_observe\n"
        "for _ in range(int(sys.argv[1])):\n"
        "    request_observe(method='GET', route=sys.argv[2], status=200, seconds=0.01)\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
    }
    subprocess.run(
        [sys.executable, "-c", code, str(count), route],
        cwd=ROOT, env=env, check=True, timeout=60,
    )


@pytest.mark.slow
@pytest.mark.django_db
def test_scrape_adds_up_the_files_of_every_process_in_multiprocess_mode(
    client, tmp_path, monkeypatch
):
    _observe_in_process(tmp_path, count=2, route="product-list")
    _observe_in_process(tmp_path, count=3, route="product-list")
    assert len(list(tmp_path.glob("counter_*.db"))) == 2

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    samples = _scrape(client)

    assert _requests(samples, route="product-list") == 5
    assert _durations(samples, route="product-list") == 5
    assert samples[("stockhold_metrics_scrape_error", ())] == 0


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@contextmanager
def _gunicorn(settings, tmp_path, *, metrics_dir: Path | None):
    """gunicorn with two workers and config/gunicorn.conf.py, on the test database."""
    db = settings.DATABASES["default"]
    env = {
        key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="0",
        SECRET_KEY="metrics-test-secret-key-long-enough-for-the-production-check",
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL="postgres://{USER}@{HOST}:{PORT}/{NAME}".format(**db),
    )
    if metrics_dir is not None:
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    port = free_port()
    control = []
    if any(setting.name == "control_socket" for setting in KNOWN_SETTINGS):
        # gunicorn 24+: keep off the shared default path of another gunicorn on this host.
        control = ["--control-socket", str(tmp_path / "gunicorn.ctl")]
    log = (tmp_path / "gunicorn.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "config.wsgi",
            "-c", "config/gunicorn.conf.py",
            "--workers", "2", "--bind", f"127.0.0.1:{port}", "--timeout", "30", *control,
        ],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if _get(base + "/metrics")[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not start: {(tmp_path / 'gunicorn.log').read_text()}")
            time.sleep(0.2)
        yield base, process
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def _children(pid: int) -> set[int]:
    return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def _answered(directory: Path, *, route: str) -> dict[int, float]:
    """Requests to `route` per worker pid, read from each worker's own file."""
    answered = {}
    for path in directory.glob("counter_*.db"):
        samples = [
            sample
            for metric in MultiProcessCollector.merge([str(path)])
            for sample in metric.samples
            if sample.name == REQUESTS and sample.labels["route"] == route
        ]
        answered[int(path.stem.rsplit("_", 1)[1])] = sum(sample.value for sample in samples)
    return answered


def _load_workers(base: str, path: str, route: str, directory: Path, master: int) -> int:
    """Send requests in parallel until every live worker has answered some; return how many."""
    sent = 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        while True:
            answered = _answered(directory, route=route)
            if all(answered.get(pid, 0) > 0 for pid in _children(master)):
                return sent
            assert sent < 1000, f"the requests never reached every worker: {answered}"
            statuses = list(pool.map(lambda _: _get(base + path)[0], range(20)))
            assert statuses == [200] * 20
            sent += 20


def _scrapes(base: str, count: int) -> list[dict[tuple, float]]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        bodies = list(pool.map(lambda _: _get(base + "/metrics"), range(count)))
    assert {status for status, _ in bodies} == {200}
    return [_samples(body) for _, body in bodies]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_every_gunicorn_worker_answers_the_totals_of_all_workers(settings, tmp_path):
    product = product_create(sku="LAMP", name="Lamp", price=Decimal("20.00"), on_hand=3)
    path = f"/api/v1/products/{product.pk}/"
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    # Counts left by an earlier run of the web process must not add to this one's.
    _observe_in_process(metrics_dir, count=1000, route="product-detail")

    with _gunicorn(settings, tmp_path, metrics_dir=metrics_dir) as (base, master):
        workers = _children(master.pid)
        assert len(workers) == 2
        sent = _load_workers(base, path, "product-detail", metrics_dir, master.pid)
        answered = _answered(metrics_dir, route="product-detail")
        assert set(answered) == workers  # the stale file is gone
        assert sum(answered.values()) == sent

        for samples in _scrapes(base, 12):
            assert _requests(samples, route="product-detail") == sent
            assert _durations(samples, route="product-detail") == sent
            assert samples[("stockhold_active_holds", ())] == 0
            assert samples[("stockhold_metrics_scrape_error", ())] == 0

        # A worker that dies keeps its counts; gunicorn starts another in its place.
        killed = min(workers)
        os.kill(killed, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while killed in _children(master.pid) or len(_children(master.pid)) < 2:
            assert time.monotonic() < deadline, "gunicorn did not replace the worker"
            time.sleep(0.1)

        for samples in _scrapes(base, 8):
            assert _requests(samples, route="product-detail") == sent
        sent += _load_workers(base, path, "product-detail", metrics_dir, master.pid)
        for samples in _scrapes(base, 8):
            assert _requests(samples, route="product-detail") == sent


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_gunicorn_config_sets_up_a_private_metrics_dir_when_none_is_given(settings, tmp_path):
    product = product_create(sku="DESK", name="Desk", price=Decimal("90.00"), on_hand=1)
    path = f"/api/v1/products/{product.pk}/"

    with _gunicorn(settings, tmp_path, metrics_dir=None) as (base, master):
        (made,) = Path(tempfile.gettempdir()).glob(f"stockhold-metrics-{master.pid}-*")
        sent = _load_workers(base, path, "product-detail", made, master.pid)
        for samples in _scrapes(base, 12):
            assert _requests(samples, route="product-detail") == sent

    assert not made.exists()
