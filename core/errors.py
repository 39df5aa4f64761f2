"""Domain errors: each carries a stable `code`, an HTTP status and the data a caller needs.

`DomainError` and the errors several apps raise live here; an app's own errors live in its
`errors.py` and subclass `DomainError`. Services raise them; `config.api_errors` turns them
into JSON responses. Services never raise DRF exceptions.
"""

from typing import Any

# Every `code` an error answer can carry: the domain errors' (here, store.errors,
# reservations.errors, backoffice.errors, webhooks.errors), the back office's
# `unauthorized` (backoffice.auth) and those config.api_errors gives to DRF and database
# errors. The OpenAPI schema lists them; a refused item of a back-office stock batch
# carries one too.
ERROR_CODES = (
    "invalid_input",
    "invalid_quantity",
    "invalid_price",
    "invalid_sku",
    "malformed_json",
    "unsupported_media_type",
    "method_not_allowed",
    "not_acceptable",
    "not_found",
    "product_not_found",
    "unknown_sku",
    "cart_not_found",
    "item_not_found",
    "insufficient_stock",
    "cart_line_limit",
    "cart_unit_limit",
    "cart_lifetime_exceeded",
    "product_not_on_sale",
    "cart_checked_out",
    "cart_empty",
    "stock_below_held",
    "stale_on_hand",
    "invalid_webhook_url",
    "unknown_event_type",
    "webhook_endpoint_not_found",
    "invalid_idempotency_key",
    "idempotency_key_reused",
    "idempotency_key_required",
    "idempotency_key_in_progress",
    "batch_too_large",
    "order_not_found",
    "payment_window_expired",
    "order_cancelled",
    "request_too_large",
    "throttled",
    "unauthorized",
    "not_authenticated",
    "authentication_failed",
    "permission_denied",
    "unavailable",
    "server_error",
)


def first_message(detail) -> str:
    """Return the first message of a validation error's detail (a message, or lists and
    dicts of them, as serializers give them), prefixed with its field's name."""
    if isinstance(detail, dict):
        for field, value in detail.items():
            message = first_message(value)
            return message if field == "non_field_errors" else f"{field}: {message}"
    if isinstance(detail, list) and detail:
        return first_message(detail[0])
    return str(detail)


class DomainError(Exception):
    code = "error"
    status = 400
    default_detail = "The request could not be processed."

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.default_detail
        self.extra = extra
        super().__init__(self.detail)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.detail, **self.extra}


class InvalidInput(DomainError):
    code = "invalid_input"
    status = 400
    default_detail = "The request is not valid."


class InvalidQuantity(DomainError):
    code = "invalid_quantity"
    status = 400
    default_detail = "Quantity must be a whole number within the allowed range."
