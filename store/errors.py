"""Errors of the catalogue; shared ones are in core.errors."""

from core.errors import DomainError


class InvalidPrice(DomainError):
    code = "invalid_price"
    status = 400
    default_detail = "A price must be a number of at most 2 decimals within the allowed range."


class ProductNotFound(DomainError):
    code = "product_not_found"
    status = 404
    default_detail = "No such product."


class InvalidSku(DomainError):
    code = "invalid_sku"
    status = 400
    default_detail = (
        "A SKU is 1 to 64 characters: letters, digits, '.', '_' and '-', starting with a "
        "letter or digit."
    )
