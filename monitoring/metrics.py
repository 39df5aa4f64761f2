"""Prometheus metrics: domain gauges read from the database, request metrics per process.

The domain figures (backlog, holds, release runs, alerts, webhook deliveries) are computed
from the database at scrape time, so every web worker answers the same numbers. The
request metrics live in the process that served the request; under several gunicorn
workers prometheus_client's multiprocess mode (`PROMETHEUS_MULTIPROC_DIR`) adds them up
across workers at scrape time.
"""

import logging
import os
from collections.abc import Iterable, Iterator
from datetime import datetime

from django.db import DatabaseError
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitoring.checks import (
    ACTIVE_HOLDS_COUNT_CAP,
    BACKLOG_COUNT_CAP,
    backlog_count,
    heartbeat_get,
    hold_figures,
    overdue_orders_count,
)
from monitoring.models import Alert
from reservations.models import ReleaseRun
from webhooks.models import Delivery
from webhooks.selectors import deliveries_count

logger = logging.getLogger(__name__)

# The classic text format that every Prometheus parses. prometheus_client's
# CONTENT_TYPE_LATEST names version 1.0.0 since 0.22; generate_latest writes the same
# lines for names like ours.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Not in any registry: the scrape view adds them to a fresh one (single process), or
# reads every worker's files instead (multiprocess mode).
HTTP_REQUESTS = Counter(
    "stockhold_http_requests",
    "HTTP requests answered, by method, URL pattern and status code.",
    ["method", "route", "status"],
    registry=None,
)
HTTP_REQUEST_DURATION = Histogram(
    "stockhold_http_request_duration_seconds",
    "Time from the request entering the middleware to its response, by method and URL pattern.",
    ["method", "route"],
    registry=None,
)


def _multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


_observe_failed = False


def request_observe(*, method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request and its duration; a failure here never fails the request."""
    global _observe_failed
    try:
        HTTP_REQUESTS.labels(method=method, route=route, status=str(status)).inc()
        HTTP_REQUEST_DURATION.labels(method=method, route=route).observe(seconds)
    except Exception:  # noqa: BLE001 - e.g. PROMETHEUS_MULTIPROC_DIR missing or full
        if not _observe_failed:
            _observe_failed = True
            logger.exception("metrics: cannot record request metrics in this process")


class DatabaseCollector(Collector):
    """Domain figures read from the database at each scrape, in ten small queries (eleven
    until a release run has succeeded), each bounded: counts stop at their caps.

    A database error drops the domain families and sets `stockhold_metrics_scrape_error`
    to 1, so the scrape still answers with the request metrics.
    """

    def describe(self) -> Iterable[Metric]:
        # Registering must not run the queries (registries with auto_describe would).
        return []

    def _families(self, *, now: datetime) -> list[Metric]:
        backlog = GaugeMetricFamily(
            "stockhold_expired_backlog_holds",
            "Active holds expired longer ago than RESERVATION_BACKLOG_GRACE_SECONDS: "
            "work the release task should have done. Counted up to "
            f"{BACKLOG_COUNT_CAP}: that figure means at least as many.",
            value=backlog_count(now=now),
        )
        overdue_orders = GaugeMetricFamily(
            "stockhold_expired_backlog_orders",
            "Orders pending payment longer than RESERVATION_BACKLOG_GRACE_SECONDS past their "
            "deadline: orders the release task should have marked expired. Counted up to "
            f"{BACKLOG_COUNT_CAP}: that figure means at least as many.",
            value=overdue_orders_count(now=now),
        )
        figures = hold_figures(now=now)
        active = GaugeMetricFamily(
            "stockhold_active_holds",
            "Holds in status active, live or expired. Counted up to "
            f"{ACTIVE_HOLDS_COUNT_CAP}: that figure means at least as many.",
            value=figures["active_holds"],
        )
        units = GaugeMetricFamily(
            "stockhold_held_units",
            "Units in holds in status active, live or expired.",
            value=figures["held_units"],
        )
        families = [backlog, overdue_orders, active, units]

        heartbeat = heartbeat_get(now=now)
        # Absent, not NaN, while no run has ever succeeded: absent() can alert on that,
        # while every comparison with NaN is false.
        if heartbeat.seconds_since_success is not None:
            families.append(
                GaugeMetricFamily(
                    "stockhold_release_seconds_since_success",
                    "Seconds since the release task last finished successfully.",
                    value=heartbeat.seconds_since_success,
                )
            )

        runs = ReleaseRun.objects.aggregate(
            total=Count("id"), failed=Count("id", filter=Q(status=ReleaseRun.Status.FAILED))
        )
        families.append(
            CounterMetricFamily(
                "stockhold_release_runs",
                "Release task runs recorded (ReleaseRun rows).",
                value=runs["total"],
            )
        )
        families.append(
            CounterMetricFamily(
                "stockhold_release_failures",
                "Release task runs recorded as failed.",
                value=runs["failed"],
            )
        )

        alerts = CounterMetricFamily(
            "stockhold_alerts_sent",
            "Alerts delivered to at least one channel, suppressed repeats not counted.",
            labels=["key"],
        )
        sent = (
            Alert.objects.filter(delivered=True, suppressed=False)
            .values("key")
            .annotate(count=Count("id"))
            .order_by("key")
        )
        for row in sent:
            alerts.add_metric([row["key"]], row["count"])
        families.append(alerts)

        # Each count reads a partial index of its own status, capped.
        families.append(
            GaugeMetricFamily(
                "stockhold_webhook_deliveries_pending",
                "Webhook deliveries not yet delivered nor given up (due, waiting to retry, "
                "or being attempted).",
                value=deliveries_count(status=Delivery.Status.PENDING),
            )
        )
        families.append(
            GaugeMetricFamily(
                "stockhold_webhook_deliveries_failed",
                "Webhook deliveries given up on after WEBHOOK_GIVE_UP_SECONDS, kept until "
                "they are retried or pruned.",
                value=deliveries_count(status=Delivery.Status.FAILED),
            )
        )
        return families

    def collect(self) -> Iterator[Metric]:
        try:
            families = self._families(now=timezone.now())
        except DatabaseError as exc:
            logger.warning("metrics: database figures unavailable: %s", exc)
            families = None
        yield from families or []
        yield GaugeMetricFamily(
            "stockhold_metrics_scrape_error",
            "1 when this scrape could not read the database figures, else 0.",
            value=0 if families is not None else 1,
        )


def scrape_registry() -> CollectorRegistry:
    """Build the registry of one scrape: request metrics of every worker plus the database.

    With PROMETHEUS_MULTIPROC_DIR set, the request metrics come from the files every
    worker process writes there; without it, from this process alone.
    """
    registry = CollectorRegistry()
    if _multiprocess_dir():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(HTTP_REQUESTS)
        registry.register(HTTP_REQUEST_DURATION)
    registry.register(DatabaseCollector())
    return registry


@never_cache
@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Answer a Prometheus scrape in the text exposition format."""
    return HttpResponse(generate_latest(scrape_registry()), content_type=CONTENT_TYPE)
