"""Errors of carts, holds, checkout and stock changes under live holds."""

from core.errors import DomainError


class InsufficientStock(DomainError):
    code = "insufficient_stock"
    status = 409
    default_detail = "Not enough stock to hold that quantity."


class CartLineLimit(DomainError):
    code = "cart_line_limit"
    status = 409
    default_detail = "This cart already has as many lines as a cart may have."


class CartUnitLimit(DomainError):
    code = "cart_unit_limit"
    status = 409
    default_detail = "That would take this cart past the most units a cart may hold."


class CartLifetimeExceeded(DomainError):
    code = "cart_lifetime_exceeded"
    status = 409
    default_detail = "This cart has held stock for as long as a cart may; start a new cart."


class ItemNotFound(DomainError):
    code = "item_not_found"
    status = 404
    default_detail = "This cart has no line for that product."


class CartEmpty(DomainError):
    code = "cart_empty"
    status = 409
    default_detail = "The cart has no items to check out."


class CheckoutShort(DomainError):
    code = "insufficient_stock"
    status = 409
    default_detail = "Some lines expired and there is no longer enough stock for them."


class ProductNotOnSale(DomainError):
    code = "product_not_on_sale"
    status = 409
    default_detail = "Some lines are of products no longer on sale: remove them to check out."


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status = 422
    default_detail = "This Idempotency-Key was already used for another cart."


class InvalidIdempotencyKey(DomainError):
    code = "invalid_idempotency_key"
    status = 400
    default_detail = "Idempotency-Key must be 1 to 255 printable ASCII characters."


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


class StaleOnHand(DomainError):
    code = "stale_on_hand"
    status = 409
    default_detail = (
        "The stock changed since this figure was read; nothing was changed. "
        "Reload and apply the change to the current figure."
    )


class PaymentWindowExpired(DomainError):
    code = "payment_window_expired"
    status = 409
    default_detail = (
        "The order's payment window has passed: its units are back in stock and it can no "
        "longer be confirmed or cancelled."
    )


class OrderCancelled(DomainError):
    code = "order_cancelled"
    status = 409
    default_detail = "The order was cancelled and cannot be confirmed."


class OrderNotFound(DomainError):
    code = "order_not_found"
    status = 404
    default_detail = "No such order."
