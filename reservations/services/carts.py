"""Writes of carts themselves; their lines are holds (holds.py)."""

from datetime import datetime

from django.db import transaction

from reservations.models import Cart, Reservation
from reservations.services.holds import OPEN_LINE, cart_lock, hold_set
from reservations.tokens import token_hash, token_new
from store.models import Product


def cart_create() -> tuple[Cart, str]:
    """Open a cart; return it with its secret token, which is shown only this once."""
    token = token_new()
    cart = Cart.objects.create(token_hash=token_hash(token))
    return cart, token


def cart_release(*, cart: Cart, now: datetime | None = None) -> int:
    """Give back everything an open cart holds, line by line; return the lines released.

    For staff (a cart that hoards, a shopper who asked): each line goes through the hold
    itself with quantity 0, so the counters move exactly as when the shopper empties it.
    Raises CartClosed for a checked-out cart, whose units are sold, not held.
    """
    with transaction.atomic():
        locked = cart_lock(cart_id=cart.pk)
        product_ids = Reservation.objects.filter(cart=locked, status__in=OPEN_LINE).values(
            "product_id"
        )
        products = Product.objects.filter(pk__in=product_ids).order_by("pk")
        released = 0
        for product in products:
            hold_set(cart=locked, product=product, quantity=0, now=now)
            released += 1
    cart.expires_at = locked.expires_at
    return released
