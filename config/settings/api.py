"""The storefront API: REST framework, the OpenAPI schema, request size, throttles."""

import re

from django.core.exceptions import ImproperlyConfigured

from config.settings.base import env

# --- REST framework -----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON with a size limit and a clean 400 for nesting too deep to parse.
    "DEFAULT_PARSER_CLASSES": ["config.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "config.api_errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    # Proxies in front of the web process that append to X-Forwarded-For. 0: the client is
    # the peer address, and a client-sent X-Forwarded-For is ignored.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "stockhold API",
    "DESCRIPTION": "Storefront: products with live availability, carts whose holds expire on "
    "their own, and checkout that never oversells. Back office (`/api/v1/back-office/`, "
    "with an API key): the catalogue and stock by SKU.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Several fields are named `status`; each set of values gets a name of its own.
    "ENUM_NAME_OVERRIDES": {
        "CartStatusEnum": "reservations.models.Cart.Status",
        "OrderStatusEnum": "reservations.models.Order.Status",
        "LineStatusEnum": "reservations.serializers.LINE_STATUSES",
        "HealthStatusEnum": "monitoring.serializers.HEALTH_STATUSES",
        "CheckReasonEnum": "monitoring.serializers.CHECK_REASONS",
        "ReleaseRunStatusEnum": "reservations.models.ReleaseRun.Status",
        "ErrorCodeEnum": "core.errors.ERROR_CODES",
        "StockMovementKindEnum": "store.models.StockMovement.Kind",
        "StockItemStatusEnum": "backoffice.serializers.ITEM_STATUSES",
    },
}

# Largest request body read into memory, in bytes, API and admin forms alike. API bodies
# are a few bytes; a larger one is refused with 413 request_too_large.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("API_MAX_BODY_BYTES", default=64 * 1024)

# --- Throttling ---------------------------------------------------------------------------
# Requests per client address (see NUM_PROXIES), counted in the default cache (Redis), so
# the limit holds across gunicorn workers. `N/s|min|hour|day`; empty or `off` turns a
# limit off. core/throttling.py reads them at each request.
_RATE = re.compile(r"^[0-9]+/(s|sec|second|m|min|minute|h|hour|d|day)$")


def _throttle_rate(name: str, value: str) -> str | None:
    value = value.strip().lower()
    if value in ("", "off", "none"):
        return None
    if not _RATE.match(value):
        raise ImproperlyConfigured(f"{name} must look like 60/min or be off, not {value!r}.")
    return value


THROTTLE_CART_CREATE = _throttle_rate(
    "THROTTLE_CART_CREATE", env.str("THROTTLE_CART_CREATE", default="60/min")
)
# Hold changes (PUT and DELETE of a cart line) and checkouts, one budget together.
THROTTLE_CART_WRITE = _throttle_rate(
    "THROTTLE_CART_WRITE", env.str("THROTTLE_CART_WRITE", default="600/min")
)
