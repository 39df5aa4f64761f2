"""Admin dashboard for staff: backlog, release heartbeat and why it went stale, charts of
the last day, holds, alerts, and a run button.

Thin views over the monitoring checks and series, the charts and the release service. All
are wrapped in `admin.site.admin_view` in config/urls.py, which refuses anyone but active
staff and adds CSRF protection and `never_cache`. The page reloads its figures every
REFRESH_SECONDS from `dashboard_live_view`, the same figures without the page around them.
"""

import logging
from datetime import datetime

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from monitoring import charts
from monitoring.charts import Series
from monitoring.checks import backlog_get, heartbeat_get, hold_figures, release_stale_causes
from monitoring.models import Alert
from monitoring.series import (
    ExpirationsCheckouts,
    Window,
    backlog_series,
    busiest_products_series,
    expirations_checkouts_series,
    release_runs_series,
    window_get,
)
from reservations.models import ReleaseRun, Reservation
from reservations.selectors import products_with_availability
from reservations.services.release import expired_count, release_run

logger = logging.getLogger(__name__)

RECENT_ROWS = 10
TOP_PRODUCTS = 10
# How often the open page fetches its figures again.
REFRESH_SECONDS = 15


def _top_products(*, now: datetime) -> list[dict]:
    """The products with the most units in live holds, with their stock figures.

    Two queries whatever the number of rows: one grouped read of the live holds (served by
    the partial index on active holds), one read of the figures of those products.
    """
    rows = list(
        Reservation.objects.filter(status=Reservation.Status.ACTIVE, expires_at__gt=now)
        .values("product_id", "product__sku", "product__name")
        .annotate(units=Sum("quantity"), holds=Count("id"))
        .order_by("-units", "product_id")[:TOP_PRODUCTS]
    )
    figures = {
        row["pk"]: row
        for row in products_with_availability(now=now, include_inactive=True)
        .filter(pk__in=[row["product_id"] for row in rows])
        .values("pk", "on_hand", "available")
    }
    return [
        {
            "sku": row["product__sku"],
            "name": row["product__name"],
            "units": row["units"],
            "holds": row["holds"],
            "on_hand": figures.get(row["product_id"], {}).get("on_hand", 0),
            "available": figures.get(row["product_id"], {}).get("available", 0),
            "url": reverse("admin:store_product_change", args=[row["product_id"]]),
        }
        for row in rows
    ]


def _flow_series(flow: ExpirationsCheckouts) -> list[Series]:
    return [
        Series("carts expired", flow.expired_carts, charts.ORANGE),
        Series("checkouts", flow.checkouts, charts.BLUE),
    ]


def _labels(window: Window) -> list[str]:
    pattern = "%H:00" if window.unit == "hour" else "%H:%M"
    return [bucket.strftime(pattern) for bucket in window.buckets]


def _charts(*, now: datetime) -> dict:
    hours = window_get(now=now, unit="hour", count=24)
    minutes = window_get(now=now, unit="minute", count=60)
    hour_labels, minute_labels = _labels(hours), _labels(minutes)
    products = [
        {
            "sku": product.sku,
            "name": product.name,
            "url": reverse("admin:store_product_change", args=[product.product_id]),
            "held_now": product.held[-1],
            "available_now": product.available[-1],
            "svg": charts.line_chart(
                title=f"{product.sku}: units held and available per hour",
                labels=hour_labels,
                series=[
                    Series("available", product.available, charts.GREEN),
                    Series("held", product.held, charts.BLUE),
                ],
            ),
        }
        for product in busiest_products_series(window=hours)
    ]
    flow = expirations_checkouts_series(window=hours)
    flow_minutes = expirations_checkouts_series(window=minutes)
    runs = release_runs_series(window=hours)
    return {
        "products": products,
        "flow_hours": charts.bar_chart(
            title="Carts expired and checkouts per hour, last 24 h",
            labels=hour_labels,
            series=_flow_series(flow),
            width=620,
        ),
        "flow_minutes": charts.bar_chart(
            title="Carts expired and checkouts per minute, last hour",
            labels=minute_labels,
            series=_flow_series(flow_minutes),
            width=620,
            label_every=10,
        ),
        "backlog": charts.line_chart(
            title="Expired backlog (holds waiting for release) per hour, last 24 h",
            labels=hour_labels,
            series=[Series("expired backlog", backlog_series(window=hours), charts.RED)],
            width=410,
        ),
        "runs": charts.bar_chart(
            title="Release runs per hour, last 24 h",
            labels=hour_labels,
            series=[
                Series("runs", runs.runs, charts.BLUE),
                Series("failed", runs.failed, charts.RED),
            ],
            width=410,
            label_every=6,
        ),
        "durations": charts.bar_chart(
            title="Longest release run per hour, last 24 h",
            labels=hour_labels,
            series=[Series("longest run", runs.longest_seconds, charts.ORANGE)],
            width=410,
            label_every=6,
            unit=" s",
        ),
    }


def _context() -> dict:
    now = timezone.now()
    heartbeat = heartbeat_get(now=now)
    return {
        "now": now,
        "backlog": backlog_get(now=now),
        "expired": expired_count(now=now),
        "heartbeat": heartbeat,
        # Asked only when stale: it calls the broker, with a short timeout.
        "causes": release_stale_causes(now=now, heartbeat=heartbeat) if heartbeat.stale else [],
        "stale_after_seconds": settings.RESERVATION_RELEASE_STALE_SECONDS,
        "runs": list(ReleaseRun.objects.order_by("-started_at")[:RECENT_ROWS]),
        "holds": hold_figures(now=now),
        "alerts": list(
            Alert.objects.order_by("-created_at", "-id").only(
                "created_at", "key", "kind", "severity", "suppressed", "delivered", "title"
            )[:RECENT_ROWS]
        ),
        "top_products": _top_products(now=now),
        "charts": _charts(now=now),
        "refresh_seconds": REFRESH_SECONDS,
    }


@require_GET
def dashboard_view(request: HttpRequest) -> HttpResponse:
    """Show the release job's health, its causes when stale, and the last day in charts."""
    context = {
        **admin.site.each_context(request),
        **_context(),
        "title": "Stock holds dashboard",
        "release_url": reverse("monitoring-dashboard-release"),
        "live_url": reverse("monitoring-dashboard-live"),
    }
    return TemplateResponse(request, "monitoring/dashboard.html", context)


@require_GET
def dashboard_live_view(request: HttpRequest) -> HttpResponse:
    """The dashboard's figures and charts without the page: what the page fetches to
    refresh itself."""
    return TemplateResponse(request, "monitoring/_live.html", _context())


# Seconds the "Run release now" button may spend starting batches.
DASHBOARD_RELEASE_SECONDS = 10


@require_POST
def release_now_view(request: HttpRequest) -> HttpResponse:
    """Run the release of expired holds now, in the request, and report its figures."""
    try:
        # A short budget, well inside the web server's request timeout; each batch
        # commits on its own and the scheduled runs go on with the rest. A failure is
        # recorded on the run's row by the service and re-raised.
        run = release_run(task_id="admin", max_run_seconds=DASHBOARD_RELEASE_SECONDS)
    except Exception as exc:  # noqa: BLE001 - shown to staff, never a 500
        logger.exception("release run started from the admin dashboard failed")
        messages.error(request, f"Release failed: {type(exc).__name__}: {exc}")
    else:
        text = f"Released {run.released} expired holds ({run.units} units)."
        if run.more_left:
            text += " More are left; the next run goes on."
        messages.success(request, text)
    return HttpResponseRedirect(reverse("monitoring-dashboard"))
