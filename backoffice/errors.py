"""Errors of the back-office API; shared ones are in core.errors."""

from core.errors import DomainError


class UnknownSku(DomainError):
    code = "unknown_sku"
    status = 404
    default_detail = "No product has this SKU."


class BatchTooLarge(DomainError):
    code = "batch_too_large"
    status = 400
    default_detail = "A stock batch has too many items."


class IdempotencyKeyRequired(DomainError):
    code = "idempotency_key_required"
    status = 400
    default_detail = (
        "This request needs an Idempotency-Key header: 1 to 255 printable ASCII characters, "
        "new for each batch and the same when the batch is sent again."
    )


class IdempotencyKeyInProgress(DomainError):
    code = "idempotency_key_in_progress"
    status = 409
    default_detail = (
        "A request with this Idempotency-Key is being worked on right now; send it again in "
        "a moment to get its answer."
    )
