"""Set and remove the stock a cart holds."""

from contextlib import nullcontext
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone

from core.errors import InvalidQuantity
from reservations.errors import CartClosed, InsufficientStock, ItemNotFound
from reservations.models import Cart, Reservation
from reservations.services import backend
from reservations.services.reclaim import stock_take
from store.errors import ProductNotFound
from store.models import Inventory, Product

OPEN_LINE = (Reservation.Status.ACTIVE, Reservation.Status.EXPIRED)
# Raised by the database function stockhold_hold_set when the counter finds too little
# free stock (reservations/migrations/0003_hold_set_function.py).
_TOO_LITTLE_STOCK = "SH409"


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


def _line_lock(*, cart: Cart, product_id: int) -> Reservation | None:
    return (
        Reservation.objects.select_for_update()
        .filter(cart=cart, product_id=product_id, status__in=OPEN_LINE)
        .first()
    )


def _renew_cart(*, cart: Cart, now: datetime, expires_at: datetime, keep_open: bool) -> None:
    """Slide the expiry of the cart's live holds; expired ones are not revived here."""
    renewed = Reservation.objects.filter(
        cart=cart, status=Reservation.Status.ACTIVE, expires_at__gt=now
    ).update(expires_at=expires_at, updated_at=now)
    cart.expires_at = expires_at if (renewed or keep_open) else None
    Cart.objects.filter(pk=cart.pk).update(expires_at=cart.expires_at, updated_at=now)


def hold_set(
    *, cart: Cart, product: Product, quantity: int, now: datetime | None = None
) -> Reservation | None:
    """Set the units of `product` that `cart` holds; 0 removes the line.

    Any change renews the cart's live holds (sliding expiry). The line's own units, live or
    expired but not yet reclaimed, count for the cart: only the difference is taken from
    free stock. Raises InsufficientStock, with the quantity the cart could hold, and
    changes nothing when the stock is not there. Sets `cart.expires_at` to the cart's new
    expiry.

    On PostgreSQL the common case is one statement (`_hold_set_in_one_statement`); when it
    finds too little free stock, or the cart is not open, the same steps run here in
    Python, where expired holds are reclaimed and errors are told apart.
    """
    now = now or timezone.now()
    quantity = _validate_quantity(quantity)
    if quantity > 0 and not product.is_active:
        raise ProductNotFound()
    if backend.one_statement_available():
        done, line = _hold_set_in_one_statement(
            cart=cart, product=product, quantity=quantity, now=now
        )
        if done:
            return line
    return _hold_set_in_steps(cart=cart, product=product, quantity=quantity, now=now)


def _hold_set_in_one_statement(
    *, cart: Cart, product: Product, quantity: int, now: datetime
) -> tuple[bool, Reservation | None]:
    """Run hold_set's steps as the database function; (False, None) when it did nothing."""
    # The too-little-stock raise is the one failure handled here, and only a growing line
    # can meet it. Alone, the statement is its own transaction; inside a caller's
    # transaction a savepoint keeps that failure from aborting the caller's work.
    guard = transaction.atomic() if quantity > 0 and connection.in_atomic_block else nullcontext()
    try:
        with guard, connection.cursor() as cursor:
            cursor.execute(
                "SELECT applied, line_id, line_created_at, cart_expires_at"
                " FROM stockhold_hold_set(%s, %s, %s, %s, %s)",
                [cart.pk, product.pk, quantity, now, _ttl()],
            )
            applied, line_id, created_at, cart_expires_at = cursor.fetchone()
    except DatabaseError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == _TOO_LITTLE_STOCK:
            return False, None
        raise
    if not applied:
        return False, None
    cart.expires_at = cart_expires_at
    if quantity == 0:
        return True, None
    line = Reservation(
        id=line_id,
        cart=cart,
        product=product,
        quantity=quantity,
        expires_at=now + _ttl(),
        status=Reservation.Status.ACTIVE,
        created_at=created_at,
        updated_at=now,
    )
    line._state.adding = False
    line._state.db = connection.alias
    return True, line


def _hold_set_in_steps(
    *, cart: Cart, product: Product, quantity: int, now: datetime
) -> Reservation | None:
    expires_at = now + _ttl()
    with transaction.atomic():
        locked = cart_lock(cart_id=cart.pk)
        line = _line_lock(cart=locked, product_id=product.pk)
        # Units of this line still counted in `reserved`. If the line expired but was not
        # reclaimed, they are free stock that nobody else can have taken: another writer
        # must reclaim the row first, and we hold its lock. So checking
        # `on_hand - reserved >= quantity - held` is exactly "give them back, then check
        # the whole quantity like a new hold"; an expired hold is never revived unchecked.
        held = line.quantity if line and line.status == Reservation.Status.ACTIVE else 0
        delta = quantity - held

        if quantity == 0:
            if line is not None:
                line.status = Reservation.Status.RELEASED
                line.save(update_fields=["status", "updated_at"])
        elif line is None:
            line = Reservation.objects.create(
                cart=locked, product=product, quantity=quantity, expires_at=expires_at
            )
        else:
            line.quantity = quantity
            line.expires_at = expires_at
            line.status = Reservation.Status.ACTIVE
            line.save(update_fields=["quantity", "expires_at", "status", "updated_at"])

        _renew_cart(cart=locked, now=now, expires_at=expires_at, keep_open=quantity > 0)

        # Last: the product row is locked from here to the commit.
        if delta > 0:
            free = stock_take(
                product_id=product.pk,
                units=delta,
                now=now,
                exclude_id=line.pk if line is not None else None,
                reserved=F("reserved") + delta,
            )
            if free is not None:
                available = free + held
                # The exception rolls the whole transaction back.
                raise InsufficientStock(
                    f"Only {available} of {product.sku} can be held.",
                    product_id=product.pk,
                    sku=product.sku,
                    requested=quantity,
                    available=max(available, 0),
                )
        elif delta < 0:
            Inventory.objects.filter(pk=product.pk).update(reserved=F("reserved") + delta)

    cart.expires_at = locked.expires_at
    return line if quantity > 0 else None


def hold_remove(*, cart: Cart, product: Product, now: datetime | None = None) -> None:
    """Remove the cart's line for `product` and give its units back; sets `cart.expires_at`."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = cart_lock(cart_id=cart.pk)
        if not Reservation.objects.filter(
            cart=locked, product_id=product.pk, status__in=OPEN_LINE
        ).exists():
            raise ItemNotFound(product_id=product.pk)
        hold_set(cart=locked, product=product, quantity=0, now=now)
    cart.expires_at = locked.expires_at
