"""Writes of the back office: API keys, idempotent requests, stock batches."""

from backoffice.services.idempotency import (
    idempotent_request_claim,
    idempotent_request_complete,
    request_fingerprint,
)
from backoffice.services.keys import (
    api_key_create,
    api_key_name_check,
    api_key_revoke,
    api_key_touch,
)
from backoffice.services.stock import MAX_BATCH_ITEMS, StockItem, stock_batch_apply

__all__ = [
    "MAX_BATCH_ITEMS",
    "StockItem",
    "api_key_create",
    "api_key_name_check",
    "api_key_revoke",
    "api_key_touch",
    "idempotent_request_claim",
    "idempotent_request_complete",
    "request_fingerprint",
    "stock_batch_apply",
]
