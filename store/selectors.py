"""Reads of carts."""

import uuid

from reservations.models import Cart
from store.errors import CartNotFound
from store.tokens import token_matches


def cart_get_for_token(*, cart_id: str, token: str | None) -> Cart:
    """Return the cart if `token` is its secret; otherwise CartNotFound, as if absent."""
    try:
        # Only the canonical ASCII form: uuid.UUID would also take other digits.
        if not str(cart_id).isascii():
            raise ValueError(cart_id)
        pk = uuid.UUID(str(cart_id))
    except ValueError:
        raise CartNotFound() from None
    cart = Cart.objects.filter(pk=pk).first()
    # Compare even when the cart is missing, so timing does not tell which case it was.
    hashed = cart.token_hash if cart is not None else "0" * 64
    if not token_matches(token=token or "", hashed=hashed) or cart is None:
        raise CartNotFound()
    return cart
