"""Writes of carts themselves; their lines are holds (holds.py)."""

from reservations.models import Cart
from reservations.tokens import token_hash, token_new


def cart_create() -> tuple[Cart, str]:
    """Open a cart; return it with its secret token, which is shown only this once."""
    token = token_new()
    cart = Cart.objects.create(token_hash=token_hash(token))
    return cart, token
