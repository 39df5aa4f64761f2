"""Writes of carts and holds: open a cart, set, remove, check out, reclaim, set stock."""

from reservations.services.carts import cart_create, cart_release
from reservations.services.checkout import checkout
from reservations.services.holds import cart_item_put, hold_remove, hold_set
from reservations.services.orders import order_cancel, order_confirm
from reservations.services.reclaim import expired_reclaim
from reservations.services.stock import inventory_adjust, inventory_set, product_stock_set

__all__ = [
    "cart_create",
    "cart_item_put",
    "cart_release",
    "checkout",
    "expired_reclaim",
    "hold_remove",
    "hold_set",
    "inventory_adjust",
    "inventory_set",
    "order_cancel",
    "order_confirm",
    "product_stock_set",
]
