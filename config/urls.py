from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)

from config.api_errors import api_not_found
from config.index import ApiIndexApi, site_index
from monitoring.api import HealthApi, LivenessApi
from monitoring.dashboard import dashboard_live_view, dashboard_view, release_now_view
from monitoring.metrics import metrics_view
from monitoring.middleware import UNMATCHED_ROUTE

handler404 = "config.api_errors.not_found"
handler500 = "config.api_errors.server_error"

urlpatterns = [
    path("", site_index, name="index"),
    # Before the admin's own URLs, which would otherwise take admin/monitoring/<...>/.
    path(
        "admin/monitoring/dashboard/",
        admin.site.admin_view(dashboard_view),
        name="monitoring-dashboard",
    ),
    path(
        "admin/monitoring/dashboard/live/",
        admin.site.admin_view(dashboard_live_view),
        name="monitoring-dashboard-live",
    ),
    path(
        "admin/monitoring/dashboard/release/",
        admin.site.admin_view(release_now_view),
        name="monitoring-dashboard-release",
    ),
    path("admin/", admin.site.urls),
    path("api/v1/health/", HealthApi.as_view(), name="health"),
    path("api/v1/health/live/", LivenessApi.as_view(), name="health-live"),
    # Before the storefront's api/v1/ and the catch-all below.
    path("api/v1/back-office/", include("backoffice.urls")),
    path("api/v1/", include("reservations.urls")),
    path("api/v1/", ApiIndexApi.as_view(), name="api-index"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path(
        "api/redoc/",
        SpectacularRedocView.as_view(url_name="schema", template_name="api_docs/redoc.html"),
        name="redoc",
    ),
    path("metrics", metrics_view, name="metrics"),
    # Last: every other path under /api/ is a JSON 404 (no slash-appending redirect), counted
    # in the request metrics with the other unrouted requests.
    re_path(r"^api/", api_not_found, name=UNMATCHED_ROUTE),
]
