"""Errors of the catalogue, stock and carts; shared ones are in core.errors."""

from core.errors import DomainError


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
