"""Set and remove the stock a cart holds."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from psycopg.pq import TransactionStatus

from core.errors import InvalidQuantity
from reservations.errors import (
    CartClosed,
    CartLifetimeExceeded,
    CartLineLimit,
    CartNotFound,
    CartUnitLimit,
    InsufficientStock,
    ItemNotFound,
)
from reservations.models import Cart, Reservation
from reservations.selectors import CART_SHOWN_SQL, CartShown, cart_shown_from_rows
from reservations.tokens import token_hash
from store.errors import ProductNotFound
from store.models import Product

OPEN_LINE = (Reservation.Status.ACTIVE, Reservation.Status.EXPIRED)

# SQLSTATEs raised by stockhold_hold_set (sql/hold_set.sql).
_CART_MISSING = "SH404"
_CART_NOT_OPEN = "SH410"
_TOO_LITTLE_STOCK = "SH409"
_CART_LIFETIME_OVER = "SHLIF"
_CART_LINE_LIMIT = "SHLIN"
_CART_UNIT_LIMIT = "SHUNI"
# Raised by stockhold_cart_item_put (sql/cart_item_put.sql).
_PRODUCT_MISSING = "SHPNF"


@dataclass(frozen=True)
class Hold:
    """The line a hold set: as the database wrote it."""

    id: int
    product_id: int
    quantity: int
    expires_at: datetime


@dataclass(frozen=True)
class _CartLimits:
    """The hoarding limits of this call, read from the settings once."""

    max_lines: int
    max_units: int
    lifetime_seconds: int

    @classmethod
    def current(cls) -> "_CartLimits":
        return cls(
            max_lines=settings.RESERVATION_MAX_LINES_PER_CART,
            max_units=settings.RESERVATION_MAX_UNITS_PER_CART,
            lifetime_seconds=settings.RESERVATION_MAX_CART_LIFETIME_SECONDS,
        )

    def params(self) -> list:
        """The hold's TTL and these limits, the last parameters of stockhold_hold_set and
        of stockhold_cart_item_put."""
        return [_ttl(), self.max_lines, self.max_units, timedelta(seconds=self.lifetime_seconds)]


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


def _hold_set_error(
    exc: DatabaseError,
    *,
    product_id: int,
    sku: Callable[[], str],
    quantity: int,
    limits: _CartLimits,
) -> Exception | None:
    """Map an error raised by stockhold_hold_set (or stockhold_cart_item_put) to the domain
    error; None if it is not one.
    `sku` gives the product's SKU, for a refusal that names it."""
    cause = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate == _CART_MISSING:
        return CartNotFound()
    if sqlstate == _PRODUCT_MISSING:
        return ProductNotFound()
    if sqlstate == _CART_NOT_OPEN:
        return CartClosed()
    if sqlstate == _CART_LIFETIME_OVER:
        return CartLifetimeExceeded(max_lifetime_seconds=limits.lifetime_seconds)
    if sqlstate == _CART_LINE_LIMIT:
        return CartLineLimit(
            f"A cart may have at most {limits.max_lines} lines.", max_lines=limits.max_lines
        )
    if sqlstate == _CART_UNIT_LIMIT:
        max_quantity = max(limits.max_units - int(cause.diag.message_detail), 0)
        return CartUnitLimit(
            f"A cart may hold at most {limits.max_units} units; this line at most "
            f"{max_quantity}.",
            max_units=limits.max_units,
            requested=quantity,
            max_quantity=max_quantity,
        )
    if sqlstate == _TOO_LITTLE_STOCK:
        available = int(cause.diag.message_detail)
        product_sku = sku()
        return InsufficientStock(
            f"Only {available} of {product_sku} can be held.",
            product_id=product_id,
            sku=product_sku,
            requested=quantity,
            available=available,
        )
    return None


# A hold on its own (autocommit) commits without waiting for its WAL to reach the disk,
# then waits for it: the flush of a non-transactional WAL message written after the
# commit covers the hold's commit record, and many shoppers' flushes are made as one.
# So the product's stock row is locked from the counter update to the commit only, not
# through a disk flush: a hot product takes holds at the pace of its row updates instead
# of one per flush (early lock release). The caller is answered only after the flush,
# so an answered hold survives a crash like any durable commit. Until the flush, others
# may see the hold; a crash then loses it with its unanswered request, and nothing that
# depends on it can outlive it: every durable commit after it flushes it too. A refusal
# (an error) leaves the explicit transaction aborted; the caller rolls it back.
_EARLY_RELEASE = (
    "BEGIN; SET LOCAL synchronous_commit = off; {call}; "
    "COMMIT; SELECT pg_logical_emit_message(false, 'stockhold.flush', '', true)"
)
_HOLD_SET_CALL = (
    "SELECT line_id, cart_expires_at FROM stockhold_hold_set(%s, %s, %s, %s, %s, %s, %s, %s)"
)
# A shopper's PUT: the checks and the hold, then the cart's rows for the answer, read after
# the hold (and its flush) in the same round trip.
_CART_ITEM_PUT_CALL = (
    "SELECT line_id, cart_expires_at FROM stockhold_cart_item_put(%s, %s, %s, %s, %s, %s, %s, %s)"
)
# The statements of each call: (inside a caller's transaction, on its own).
_HOLD_SET = (_HOLD_SET_CALL, _EARLY_RELEASE.format(call=_HOLD_SET_CALL))
_CART_ITEM_PUT = (
    "; ".join((_CART_ITEM_PUT_CALL, CART_SHOWN_SQL)),
    "; ".join((_EARLY_RELEASE.format(call=_CART_ITEM_PUT_CALL), CART_SHOWN_SQL)),
)


def _hold_execute(statements: tuple[str, str], params: list) -> tuple[tuple, list[tuple]]:
    """Run a hold's `statements` (_HOLD_SET, _CART_ITEM_PUT) in one round trip; return the
    hold's row and the rows of the last statement after it (the cart's rows of a PUT, else
    none)."""
    in_caller, on_own = statements
    if connection.in_atomic_block:
        # Inside a caller's transaction, its commit is the durable one; a savepoint keeps
        # a refusal from aborting the caller's work.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(in_caller, params)
            return cursor.fetchone(), _rows_after(cursor)
    with connection.cursor() as cursor:
        try:
            cursor.execute(on_own, params)
        except DatabaseError:
            if connection.connection.info.transaction_status == TransactionStatus.INERROR:
                cursor.execute("ROLLBACK")
            raise
        # Every result is in: read them from the driver's cursor, past Django's wrapper of
        # each call. BEGIN's and SET's come first, and after the hold's, COMMIT's and the
        # flush's.
        results = cursor.cursor
        results.nextset()
        results.nextset()
        row = results.fetchone()
        results.nextset()
        results.nextset()
        return row, _rows_after(results)


def _rows_after(cursor) -> list[tuple]:
    """The rows of the statement after the cursor's current one; none if it is the last."""
    return cursor.fetchall() if cursor.nextset() else []


def _hold_run(
    statements: tuple[str, str],
    params: list,
    *,
    product_id: int,
    sku: Callable[[], str],
    quantity: int,
    limits: _CartLimits,
) -> tuple[tuple, list[tuple]]:
    """_hold_execute, with the function's refusals raised as the domain errors
    (_hold_set_error)."""
    try:
        return _hold_execute(statements, params)
    except DatabaseError as exc:
        error = _hold_set_error(
            exc, product_id=product_id, sku=sku, quantity=quantity, limits=limits
        )
        if error is None:
            raise
        raise error from None


def hold_set(
    *, cart: Cart, product: Product, quantity: int, now: datetime | None = None
) -> Hold | None:
    """Set the units of `product` that `cart` holds; 0 removes the line.

    Any change renews the cart's live holds (sliding expiry), never past the cart's first
    hold plus RESERVATION_MAX_CART_LIFETIME_SECONDS. The line's own units, live or
    expired but not yet reclaimed, count for the cart: only the difference is taken from
    free stock; when too little is free, expired holds of the product are reclaimed and it
    is tried once more. Raises InsufficientStock, with the quantity the cart could hold,
    and changes nothing when the stock is not there. A change that adds a line or units
    past the cart's limits (RESERVATION_MAX_LINES_PER_CART, RESERVATION_MAX_UNITS_PER_CART)
    raises CartLineLimit or CartUnitLimit, and any quantity above 0 once the cart's lifetime
    has ended raises CartLifetimeExceeded; each changes nothing. Sets `cart.expires_at` to
    the cart's new expiry. Returns the line, or None when it was removed.

    The steps are the database function `stockhold_hold_set` (sql/hold_set.sql), one
    statement: in autocommit a hold is one round trip and one transaction, answered once
    it is on disk, with the product's row lock released before the flush (see
    _EARLY_RELEASE). Time is `now`, or the database clock.
    """
    quantity = _validate_quantity(quantity)
    limits = _CartLimits.current()
    if quantity > 0 and not product.is_active:
        raise ProductNotFound()
    (line_id, cart_expires_at), _ = _hold_run(
        _HOLD_SET,
        [cart.pk, product.pk, quantity, now, *limits.params()],
        product_id=product.pk,
        sku=lambda: product.sku,
        quantity=quantity,
        limits=limits,
    )
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


def cart_item_put(
    *, cart_id: uuid.UUID, token: str | None, product_id: int, quantity: int
) -> CartShown:
    """Set the units of a product that a cart holds for a shopper who showed `token`, and
    return the cart as the storefront shows it afterwards: hold_set with its answer, and
    what a request must check first, in one round trip (`stockhold_cart_item_put`, then
    the cart's read, sql/cart_shown.sql).

    Raises CartNotFound unless the cart exists and `token` is its secret; ProductNotFound
    when the product does not exist, or is off sale and `quantity` is above 0; else the
    errors of hold_set. On its own the hold commits early and the answer is read after
    its flush; inside a caller's transaction both are plain, as in hold_set.
    """
    quantity = _validate_quantity(quantity)
    limits = _CartLimits.current()
    _, rows = _hold_run(
        _CART_ITEM_PUT,
        # The hold's parameters, then the cart read's.
        [cart_id, token_hash(token or ""), product_id, quantity, *limits.params(), cart_id],
        product_id=product_id,
        sku=lambda: Product.objects.values_list("sku", flat=True).get(pk=product_id),
        quantity=quantity,
        limits=limits,
    )
    return cart_shown_from_rows(cart_id, rows)
