"""Admin dashboard for staff: backlog, release heartbeat, holds, alerts, and a run button.

Thin views over the monitoring checks and the release service. Both are wrapped in
`admin.site.admin_view` in config/urls.py, which refuses anyone but active staff and adds
CSRF protection and `never_cache`.
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

from monitoring.checks import backlog_get, heartbeat_get, hold_figures
from monitoring.models import Alert
from reservations.models import ReleaseRun, Reservation
from reservations.selectors import products_with_availability
from reservations.services.release import expired_count, release_run

logger = logging.getLogger(__name__)

RECENT_ROWS = 10
TOP_PRODUCTS = 10


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


@require_GET
def dashboard_view(request: HttpRequest) -> HttpResponse:
    """Show the release job's health and the state of holds at a glance."""
    now = timezone.now()
    backlog = backlog_get(now=now)
    context = {
        **admin.site.each_context(request),
        "title": "Stock holds dashboard",
        "now": now,
        "backlog": backlog,
        "expired": expired_count(now=now),
        "heartbeat": heartbeat_get(now=now),
        "stale_after_seconds": settings.RESERVATION_RELEASE_STALE_SECONDS,
        "runs": list(ReleaseRun.objects.order_by("-started_at")[:RECENT_ROWS]),
        "holds": hold_figures(now=now),
        "alerts": list(
            Alert.objects.order_by("-created_at", "-id").only(
                "created_at", "key", "kind", "severity", "suppressed", "delivered", "title"
            )[:RECENT_ROWS]
        ),
        "top_products": _top_products(now=now),
        "release_url": reverse("monitoring-dashboard-release"),
    }
    return TemplateResponse(request, "monitoring/dashboard.html", context)


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
