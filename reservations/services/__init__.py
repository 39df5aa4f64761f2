"""Writes of carts and holds: open a cart, set, remove, check out, reclaim, set stock."""

from reservations.services.carts import cart_create
from reservations.services.checkout import ShortLine, checkout
from reservations.services.holds import cart_lock, hold_remove, hold_set
from reservations.services.reclaim import expired_reclaim, stock_take
from reservations.services.stock import inventory_set, product_stock_set

__all__ = [
    "ShortLine",
    "cart_create",
    "cart_lock",
    "checkout",
    "expired_reclaim",
    "hold_remove",
    "hold_set",
    "inventory_set",
    "product_stock_set",
    "stock_take",
]
