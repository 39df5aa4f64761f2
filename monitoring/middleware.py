"""Request metrics: count and time every request by method, URL pattern and status."""

import time

from django.http import HttpRequest, HttpResponse

from monitoring.metrics import request_observe

# Anything else (a client can send any token) is counted as "other", so a scanner cannot
# create new series.
_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)
UNMATCHED_ROUTE = "unmatched"


def _method_label(request: HttpRequest) -> str:
    method = (request.method or "").upper()
    return method if method in _METHODS else "other"


def _route_label(request: HttpRequest) -> str:
    """Name the URL pattern, never the raw path: one series per route, not per id."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        # Nothing resolved: a 404, or a response made before URL resolution (static files).
        return UNMATCHED_ROUTE
    if match.url_name:
        return match.view_name
    return match.route or UNMATCHED_ROUTE


class RequestMetricsMiddleware:
    """Record `stockhold_http_requests_total` and `stockhold_http_request_duration_seconds`."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        # Django turns view errors into a 500 response; this covers what still escapes.
        status = 500
        try:
            response = self.get_response(request)
            status = response.status_code
            return response
        finally:
            request_observe(
                method=_method_label(request),
                route=_route_label(request),
                status=status,
                seconds=time.perf_counter() - started,
            )
