"""One place that turns errors into the API's JSON shape: {"code", "detail", ...}."""

import logging

from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response

from config.parsers import RequestTooLarge
from core.errors import DomainError, first_message

logger = logging.getLogger(__name__)

# Seconds a client should wait before retrying when the database is unreachable.
RETRY_AFTER_SECONDS = 5

# Codes given to DRF's errors; core.errors.ERROR_CODES lists them with the domain ones.
_DRF_CODES = {
    exceptions.ParseError: "malformed_json",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.NotFound: "not_found",
    exceptions.Throttled: "throttled",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
}


def _drf_code(exc: exceptions.APIException) -> str:
    """The code of a DRF error: DRF's own by _DRF_CODES, the project's by their class."""
    if type(exc) in _DRF_CODES:
        return _DRF_CODES[type(exc)]
    if "default_code" in vars(type(exc)):
        return exc.default_code  # the project's own, e.g. backoffice.auth.Unauthorized
    return next(
        (code for cls, code in _DRF_CODES.items() if isinstance(exc, cls)), exc.default_code
    )



def exception_handler(exc, context):
    """Map domain, DRF and database errors to JSON with a stable `code`."""
    if isinstance(exc, DomainError):
        return Response(exc.as_dict(), status=exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, RequestDataTooBig):
        # Django's own check on a body over DATA_UPLOAD_MAX_MEMORY_SIZE; a 413, not a 400.
        exc = RequestTooLarge()
    if isinstance(exc, exceptions.ValidationError):
        return Response(
            {"code": "invalid_input", "detail": first_message(exc.detail), "errors": exc.detail},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, exceptions.APIException):
        response = Response(
            {"code": _drf_code(exc), "detail": str(exc.detail)}, status=exc.status_code
        )
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            response["Retry-After"] = str(int(exc.wait) + 1)
        if getattr(exc, "auth_header", None):
            # Set by DRF on a 401 from the view's authentication (backoffice.auth).
            response["WWW-Authenticate"] = exc.auth_header
        return response
    if isinstance(exc, OperationalError | InterfaceError):
        logger.warning("database unavailable: %s", exc)
        response = Response(
            {"code": "unavailable", "detail": "The database is unavailable; try again shortly."},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return None


def not_found(request, exception=None):
    """Answer unknown API URLs with JSON; other paths keep Django's page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "not_found", "detail": "No such resource."}, status=404)
    return defaults.page_not_found(request, exception)


@csrf_exempt
def api_not_found(request, *args, **kwargs):
    """Answer any path under /api/ that no route takes, whatever the method or DEBUG.

    Routed last, so a path without its trailing slash is answered here rather than
    redirected: a 301 would make clients replay a write as a GET without its body.
    """
    return JsonResponse({"code": "not_found", "detail": "No such resource."}, status=404)


def server_error(request):
    """Answer unhandled API errors with JSON, never an HTML page."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"code": "server_error", "detail": "Internal server error."}, status=500
        )
    return defaults.server_error(request)
