"""Domain errors: each carries a stable `code`, an HTTP status and the data a caller needs.

Services raise these; `config.api_errors` turns them into JSON responses. Services never
raise DRF exceptions.
"""

from typing import Any


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


class ProductNotFound(DomainError):
    code = "product_not_found"
    status = 404
    default_detail = "No such product."


class CartNotFound(DomainError):
    code = "cart_not_found"
    status = 404
    default_detail = "No such cart."


class CartClosed(DomainError):
    code = "cart_checked_out"
    status = 409
    default_detail = "This cart has been checked out and can no longer change."


class StockBelowHeld(DomainError):
    code = "stock_below_held"
    status = 409
    default_detail = "On-hand stock cannot go below the units held by live holds."
