"""Errors of the catalogue; shared ones are in core.errors."""

from core.errors import DomainError


class ProductNotFound(DomainError):
    code = "product_not_found"
    status = 404
    default_detail = "No such product."
