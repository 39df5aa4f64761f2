"""Writes of holds: set, remove, check out, reclaim."""

from reservations.services.checkout import ShortLine, checkout
from reservations.services.holds import cart_lock, hold_remove, hold_set
from reservations.services.reclaim import expired_reclaim, stock_take

__all__ = [
    "ShortLine",
    "cart_lock",
    "checkout",
    "expired_reclaim",
    "hold_remove",
    "hold_set",
    "stock_take",
]
