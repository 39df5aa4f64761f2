"""The storefront API: REST framework, the OpenAPI schema, request size, throttles."""

import re

from django.core.exceptions import ImproperlyConfigured

from config.settings.base import env

# --- REST framework -----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON with a size limit and a clean 400 for nesting too deep to parse.
    "DEFAULT_PARSER_CLASSES": ["config.parsers.JSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "config.negotiation.ContentNegotiation",
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "config.api_errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "config.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    # Proxies in front of the web process that append to X-Forwarded-For. 0: the client is
    # the peer address, and a client-sent X-Forwarded-For is ignored.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}

# The guide at the top of /api/docs/ and /api/redoc/ (Markdown).
API_DESCRIPTION = """
Products with live availability, carts whose holds expire on their own, and checkout that
never oversells. An expired hold is free stock from the instant it expires, in every read
and every write, whether or not any clean-up job runs.

## A storefront's calls

1. `products_list` (`GET /api/v1/products/`): the catalogue, each product with `available`.
2. `cart_create` (`POST /api/v1/carts/`): a cart for one shopper, and its `token`.
3. `cart_item_set` (`PUT /api/v1/carts/{cart_id}/items/{product_id}/`, `{"quantity": n}`):
   hold units. `409 insufficient_stock` says how many the cart could hold (`available`).
4. `cart_checkout` (`POST /api/v1/carts/{cart_id}/checkout/`, with an `Idempotency-Key`):
   the order. Repeating it answers the same order.

## Cart tokens

`cart_create` answers the cart's `token` once; only its hash is stored. Every call about the
cart sends it in the `X-Cart-Token` header (the `CartToken` security scheme: in Swagger UI,
*Authorize*). A missing or wrong token is `404 cart_not_found`, exactly like a cart that does
not exist. Treat it like a password: keep it on your server with the shopper's session, or in
an `HttpOnly`, `Secure` cookie scoped to your shop; never in a URL, a log or `localStorage`.

## Holds expire

A hold lasts a set time (30 minutes by default) from the cart's last change; every change
renews the cart's live holds, up to a lifetime per cart. `expires_at` says until when. An
expired line stays in the cart with `status: expired`, and checkout buys it from free stock
when there is enough.

## Errors

Every error is JSON: `{"code": "...", "detail": "..."}` with a 4xx or 5xx status, plus the
data of that error (`available`, `lines`, `max_units`, ...). Branch on `code` (all of them are
in `ErrorCodeEnum`), never on `detail`, which is written for people and may change. Each
operation lists the codes it answers and what to do about them.

- `429 throttled` and `503 unavailable` come with `Retry-After` (seconds): wait that long,
  then send the same request again. Holding and checkout are safe to repeat.
- Any other path under `/api/`, one without its trailing slash included, is `404 not_found`.

## Back office

The shop's own servers (ERP, payment step, staff tools) call `/api/v1/back-office/` with an
API key (`manage.py api_key_create --name NAME` prints it once) in
`Authorization: Bearer <key>` (the `apiKeyAuth` security scheme). A missing, wrong or revoked
key is `401 unauthorized`. Never send a key to a browser: storefront calls need none.

`GET /api/v1/` links to these docs (`/api/docs/`, `/api/redoc/`), the schema
(`/api/schema/`) and the API's entry points.
"""

SPECTACULAR_SETTINGS = {
    "TITLE": "stockhold API",
    "DESCRIPTION": API_DESCRIPTION.strip(),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI (/api/docs/) and ReDoc (/api/redoc/) load their scripts, styles and icon
    # from drf-spectacular-sidecar's static files (served by whitenoise), never from a CDN,
    # so the docs work offline and behind a firewall.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Tags group the operations in the docs, in this order, and name the generated clients'
    # modules.
    "TAGS": [
        {
            "name": "Index",
            "description": "Where the docs, the schema and the API's entry points are.",
        },
        {"name": "Products", "description": "The catalogue on sale, with live availability."},
        {
            "name": "Carts",
            "description": "A shopper's cart and the stock it holds. Every call about a cart "
            "sends its token as `X-Cart-Token`.",
        },
        {"name": "Checkout", "description": "A cart becomes an order, once."},
        {"name": "Health", "description": "For uptime monitoring and load balancers."},
        {
            "name": "Back office",
            "description": "For the shop's own servers, with an API key: the catalogue and "
            "stock by SKU, the payment of pending orders, and webhook endpoints.",
        },
    ],
    # No global `SECURITY`: each operation says what it needs (nothing, the cart token, or
    # the credentials of its authentication class), so one scheme never leaks onto others.
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "CartToken": {
                "type": "apiKey",
                "in": "header",
                "name": "X-Cart-Token",
                "description": "The `token` that `cart_create` answered, once, for this cart. "
                "A missing or wrong one is `404 cart_not_found`, as if the cart did not exist.",
            },
        },
    },
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
        "WebhookEventTypeEnum": "webhooks.models.EventType",
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
