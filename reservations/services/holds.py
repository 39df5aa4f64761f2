"""Set and remove the stock a cart holds."""

from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction

from core.errors import InvalidQuantity
from reservations.errors import CartClosed, CartNotFound, InsufficientStock, ItemNotFound
from reservations.models import Cart, Reservation
from store.errors import ProductNotFound
from store.models import Product

OPEN_LINE = (Reservation.Status.ACTIVE, Reservation.Status.EXPIRED)

# SQLSTATEs raised by stockhold_hold_set (sql/hold_set.sql).
_CART_MISSING = "SH404"
_CART_NOT_OPEN = "SH410"
_TOO_LITTLE_STOCK = "SH409"


@dataclass(frozen=True)
class Hold:
    """The line a hold set: as the database wrote it."""

    id: int
    product_id: int
    quantity: int
    expires_at: datetime


def _ttl() -> timedelta:
    return timedelta(seconds=settings.RESERVATION_TTL_SECONDS)


def _validate_quantity(quantity: object) -> int:
    if (
        not isinstance(quantity, int)
        or isinstance(quantity, bool)
        or not 0 <= quantity <= settings.RESERVATION_MAX_QUANTITY
    ):
        raise InvalidQuantity(
            f"Quantity must be a whole number from 0 to {settings.RESERVATION_MAX_QUANTITY}.",
            max_quantity=settings.RESERVATION_MAX_QUANTITY,
        )
    return quantity


def cart_lock(*, cart_id) -> Cart:
    """Lock an open cart for the rest of the transaction; every cart write starts here."""
    cart = Cart.objects.select_for_update().get(pk=cart_id)
    if cart.status != Cart.Status.OPEN:
        raise CartClosed()
    return cart


def _hold_set_error(exc: DatabaseError, *, product: Product, quantity: int) -> Exception | None:
    """Map an error raised by stockhold_hold_set to the domain error; None if it is not one."""
    cause = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate == _CART_MISSING:
        return CartNotFound()
    if sqlstate == _CART_NOT_OPEN:
        return CartClosed()
    if sqlstate == _TOO_LITTLE_STOCK:
        available = int(cause.diag.message_detail)
        return InsufficientStock(
            f"Only {available} of {product.sku} can be held.",
            product_id=product.pk,
            sku=product.sku,
            requested=quantity,
            available=available,
        )
    return None


def hold_set(
    *, cart: Cart, product: Product, quantity: int, now: datetime | None = None
) -> Hold | None:
    """Set the units of `product` that `cart` holds; 0 removes the line.

    Any change renews the cart's live holds (sliding expiry). The line's own units, live or
    expired but not yet reclaimed, count for the cart: only the difference is taken from
    free stock; when too little is free, expired holds of the product are reclaimed and it
    is tried once more. Raises InsufficientStock, with the quantity the cart could hold,
    and changes nothing when the stock is not there. Sets `cart.expires_at` to the cart's
    new expiry. Returns the line, or None when it was removed.

    The steps are the database function `stockhold_hold_set` (sql/hold_set.sql), one
    statement: in autocommit a hold is one round trip and one transaction. Time is `now`,
    or the database clock.
    """
    quantity = _validate_quantity(quantity)
    if quantity > 0 and not product.is_active:
        raise ProductNotFound()
    # Alone, the statement is its own transaction; inside a caller's transaction a
    # savepoint keeps a refusal from aborting the caller's work.
    guard = transaction.atomic() if connection.in_atomic_block else nullcontext()
    try:
        with guard, connection.cursor() as cursor:
            cursor.execute(
                "SELECT line_id, cart_expires_at FROM stockhold_hold_set(%s, %s, %s, %s, %s)",
                [cart.pk, product.pk, quantity, now, _ttl()],
            )
            line_id, cart_expires_at = cursor.fetchone()
    except DatabaseError as exc:
        error = _hold_set_error(exc, product=product, quantity=quantity)
        if error is None:
            raise
        raise error from None
    cart.expires_at = cart_expires_at
    if line_id is None:
        return None
    return Hold(id=line_id, product_id=product.pk, quantity=quantity, expires_at=cart_expires_at)


def hold_remove(*, cart: Cart, product: Product, now: datetime | None = None) -> None:
    """Remove the cart's line for `product` and give its units back; sets `cart.expires_at`."""
    with transaction.atomic():
        locked = cart_lock(cart_id=cart.pk)
        if not Reservation.objects.filter(
            cart=locked, product_id=product.pk, status__in=OPEN_LINE
        ).exists():
            raise ItemNotFound(product_id=product.pk)
        hold_set(cart=locked, product=product, quantity=0, now=now)
    cart.expires_at = locked.expires_at
