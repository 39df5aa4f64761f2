"""Reads of availability, carts and cart lines.

available(p, now) = on_hand - reserved + units of p's active holds that expired by now:
an expired hold is free stock from that instant, released or not. The figure has one
implementation, the SQL function stockhold_inventory_available (store/sql/), which every
read here calls: it reads whichever side of the product's holds is shorter, the expired
backlog or the live holds, so a read stays cheap both when the release task keeps up and
when it is down. `now` is for tests; without it expiry is decided by the database clock,
the one every write uses.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.db import DEFAULT_DB_ALIAS, connection
from django.db.models import (
    Case,
    CharField,
    Count,
    DateTimeField,
    Exists,
    F,
    Func,
    IntegerField,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    TextChoices,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Now

from core.ids import id_parse
from reservations.errors import CartNotFound
from reservations.models import Cart, Order, Reservation
from reservations.tokens import token_matches
from store.models import Product


def _available(*, now: datetime | None):
    """The free units of the outer query's product at `now`, 0 without a stock row."""
    return Coalesce(
        Func(
            F("pk"),
            Value(now, output_field=DateTimeField()),
            function="stockhold_inventory_available",
            output_field=IntegerField(),
        ),
        Value(0),
    )


def products_with_availability(
    *, now: datetime | None = None, include_inactive: bool = False
) -> QuerySet[Product]:
    """Products annotated with `on_hand`, `reserved` and `available`, in one query.

    `available` is one call of stockhold_inventory_available per product listed.
    """
    products = Product.objects.all() if include_inactive else Product.objects.filter(is_active=True)
    return products.annotate(
        on_hand=Coalesce(F("inventory__on_hand"), Value(0)),
        reserved=Coalesce(F("inventory__reserved"), Value(0)),
        available=_available(now=now),
    )


def products_with_stock_figures(
    *, now: datetime | None = None, include_inactive: bool = False
) -> QuerySet[Product]:
    """Products as `products_with_availability` gives them, with `held` too: the units in
    their live holds (on hand and not available), in one query.

    `held` costs a second call of stockhold_inventory_available per product, which the
    storefront, reading `available` alone, does not pay.
    """
    return products_with_availability(now=now, include_inactive=include_inactive).annotate(
        held=F("on_hand") - _available(now=now),
    )


class StockState(TextChoices):
    """Why a product can or cannot be bought now, as staff are told it."""

    IN_STOCK = "in_stock", "In stock"
    # Units on hand, every one of them in live holds: free again as the holds expire.
    HELD = "held", "Sold out: all units held"
    # Nothing on hand.
    OUT_OF_STOCK = "out_of_stock", "Out of stock"


def products_with_stock_state(
    *, now: datetime | None = None, include_inactive: bool = False
) -> QuerySet[Product]:
    """Products as `products_with_stock_figures` gives them, with `next_expiry` (when the
    soonest of their live holds expires, None without one) and `stock_state` (a
    StockState), in one query.

    `next_expiry` is the first entry of the product's range of the partial index on
    active holds (product, expires_at) past `now`: one index probe per product, whatever
    the number of holds. Expired holds are free stock, so they are neither held nor the
    next expiry.
    """
    soonest = (
        Reservation.objects.filter(
            product_id=OuterRef("pk"),
            status=Reservation.Status.ACTIVE,
            expires_at__gt=now or Now(),
        )
        .order_by("expires_at")
        .values("expires_at")[:1]
    )
    return products_with_stock_figures(now=now, include_inactive=include_inactive).annotate(
        next_expiry=Subquery(soonest),
        stock_state=Case(
            When(available__gt=0, then=Value(StockState.IN_STOCK.value)),
            # Nothing available: whatever is on hand is held.
            When(on_hand__gt=0, then=Value(StockState.HELD.value)),
            default=Value(StockState.OUT_OF_STOCK.value),
            output_field=CharField(),
        ),
    )


def products_with_active_holds(*, limit: int) -> QuerySet[Product]:
    """The first `limit` products by SKU that have an active hold (live or expired and
    not yet released), each found by one probe of the partial index on active holds."""
    active = Reservation.objects.filter(
        product_id=OuterRef("pk"), status=Reservation.Status.ACTIVE
    )
    return Product.objects.filter(Exists(active)).order_by("sku")[:limit]


def carts_with_lines() -> QuerySet[Cart]:
    """Carts with `line_count` (open lines: holds active or expired) and `units_held`
    (units in live holds; expired ones are free stock).

    Each figure is a subquery over the cart's holds, so counting and paging the carts
    never joins or groups their holds.
    """

    def holds_of_cart(**conditions):
        return (
            Reservation.objects.filter(cart_id=OuterRef("pk"), **conditions)
            .order_by()
            .values("cart_id")
        )

    lines = holds_of_cart(
        status__in=[Reservation.Status.ACTIVE, Reservation.Status.EXPIRED]
    ).annotate(n=Count("pk")).values("n")
    units = holds_of_cart(
        status=Reservation.Status.ACTIVE, expires_at__gt=Now()
    ).annotate(n=Sum("quantity")).values("n")
    return Cart.objects.annotate(
        line_count=Coalesce(Subquery(lines, output_field=IntegerField()), Value(0)),
        units_held=Coalesce(Subquery(units, output_field=IntegerField()), Value(0)),
    )


def availability_get(*, product: Product, now: datetime | None = None) -> int:
    """Return the units of `product` that a new hold could take at `now`."""
    # One plain statement: building the same call through the ORM costs more than the read.
    with connection.cursor() as cursor:
        cursor.execute("SELECT stockhold_inventory_available(%s, %s)", [product.pk, now])
        available = cursor.fetchone()[0]
    return available or 0


@dataclass(frozen=True)
class CartLine:
    """One line of a cart as the storefront shows it; `status` as `line_status` says,
    decided by the database clock."""

    product_id: int
    sku: str
    name: str
    price: Decimal
    quantity: int
    expires_at: datetime
    status: str


@dataclass(frozen=True)
class CartShown:
    """A cart as the storefront shows it: open, its open lines (holds active or expired);
    checked out, `order_id` and the lines of its order (bought, or held for a payment)."""

    id: uuid.UUID
    status: str
    expires_at: datetime | None
    order_id: uuid.UUID | None
    lines: list[CartLine]


# Every cart request reads the cart with its lines in one statement: the token's hash, the
# cart and its lines (sql/cart_shown.sql, a function so each connection plans it once).
# The order of a checked-out cart is a statement of its own: in this one it would cost
# every open cart's read a third more of the database's time.
CART_SHOWN_SQL = "SELECT * FROM stockhold_cart_shown(%s)"
# The cart and a product of the same request, in one round trip: either may be missing.
# Only what a cart write reads is loaded; the other fields are deferred (a query if read).
_CART_AND_PRODUCT_SQL = """
    SELECT c.token_hash, p.sku, p.is_active
    FROM (SELECT %s::uuid AS cart_id, %s::bigint AS product_id) AS asked
    LEFT JOIN store_cart c ON c.id = asked.cart_id
    LEFT JOIN store_product p ON p.id = asked.product_id
"""
# The hash compared when there is no cart, so timing does not tell the two cases apart.
_NO_HASH = "0" * 64


def cart_pk_parse(cart_id: str) -> uuid.UUID:
    """The cart id given in a URL as a UUID; CartNotFound if it is none."""
    try:
        # Only the canonical ASCII form: uuid.UUID would also take other digits.
        if not str(cart_id).isascii():
            raise ValueError(cart_id)
        return uuid.UUID(str(cart_id))
    except ValueError:
        raise CartNotFound() from None


def _token_check(*, token: str | None, hashed: str | None) -> None:
    """CartNotFound unless `token` is the secret of the cart whose hash is `hashed` (None:
    no such cart). The comparison runs either way."""
    if not token_matches(token=token or "", hashed=hashed or _NO_HASH) or hashed is None:
        raise CartNotFound()


def _time(text: str | None) -> datetime | None:
    """A time as CART_SHOWN_SQL gives it: ISO 8601 in UTC, with microseconds."""
    return None if text is None else datetime.fromisoformat(text).replace(tzinfo=UTC)


def _order_id(cart_id: uuid.UUID) -> uuid.UUID | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM store_order WHERE cart_id = %s", [cart_id])
        row = cursor.fetchone()
    return row[0] if row else None


def cart_shown_from_rows(cart_id: uuid.UUID, rows: list[tuple]) -> CartShown:
    """The cart of `rows`, as CART_SHOWN_SQL returns them (at least one); one query more
    for the order of a checked-out cart."""
    _, status, expires_at = rows[0][:3]
    order_id = None if status == Cart.Status.OPEN else _order_id(cart_id)
    lines = [
        CartLine(
            product_id=product_id,
            sku=sku,
            name=name,
            price=Decimal(price),
            quantity=quantity,
            expires_at=_time(line_expires_at),
            status=line_status,
        )
        for (*_, product_id, sku, name, price, quantity, line_expires_at, line_status) in rows
        if product_id is not None
    ]
    return CartShown(
        id=cart_id, status=status, expires_at=_time(expires_at), order_id=order_id, lines=lines
    )


def _cart_rows(cart_id: uuid.UUID) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(CART_SHOWN_SQL, [cart_id])
        return cursor.fetchall()


def cart_shown_get(*, cart_id: uuid.UUID) -> CartShown:
    """Return the cart with its lines, as the storefront shows it: one query, and one more
    for the order of a checked-out cart."""
    rows = _cart_rows(cart_id)
    if not rows:
        raise CartNotFound()
    return cart_shown_from_rows(cart_id, rows)


def cart_shown_get_for_token(*, cart_id: str, token: str | None) -> CartShown:
    """Return the cart with its lines if `token` is its secret; otherwise CartNotFound, as if
    absent. Queries as cart_shown_get."""
    pk = cart_pk_parse(cart_id)
    rows = _cart_rows(pk)
    _token_check(token=token, hashed=rows[0][0] if rows else None)
    return cart_shown_from_rows(pk, rows)


def cart_and_product_get_for_token(
    *, cart_id: str, token: str | None, product_id: str
) -> tuple[Cart, Product | None]:
    """Return the cart if `token` is its secret (otherwise CartNotFound, as if absent),
    and the product whose id is `product_id` as given in a URL, None if there is no such
    product. One query for both; only the product's `sku` and `is_active` are loaded, and
    nothing of the cart but its id: their other fields are deferred."""
    pk, product_pk = cart_pk_parse(cart_id), id_parse(product_id)
    with connection.cursor() as cursor:
        cursor.execute(_CART_AND_PRODUCT_SQL, [pk, product_pk])
        hashed, sku, is_active = cursor.fetchone()
    _token_check(token=token, hashed=hashed)
    cart = Cart.from_db(DEFAULT_DB_ALIAS, ("id",), (pk,))
    if sku is None:
        return cart, None
    product = Product.from_db(
        DEFAULT_DB_ALIAS, ("id", "sku", "is_active"), (product_pk, sku, is_active)
    )
    return cart, product


def order_get(*, order_id) -> Order:
    """Return the order with its lines and `shown_status`: what a caller sees, decided by
    the database clock (a pending order is `expired` from its deadline on, before any run
    marks it)."""
    return (
        Order.objects.prefetch_related("lines")
        .annotate(
            shown_status=Case(
                When(
                    status=Order.Status.PENDING_PAYMENT,
                    payment_expires_at__lte=Now(),
                    then=Value(Order.Status.EXPIRED.value),
                ),
                default=F("status"),
            )
        )
        .get(pk=order_id)
    )


def line_status(line: Reservation, *, now: datetime) -> str:
    """Return what a shopper sees: `active` while the hold is live, else `expired`.

    Lines that left the cart keep their terminal status (`released`, `consumed`).
    """
    if line.status in (Reservation.Status.RELEASED, Reservation.Status.CONSUMED):
        return line.status
    if line.status == Reservation.Status.ACTIVE and line.expires_at > now:
        return "active"
    return "expired"


def cart_get_for_token(*, cart_id: str, token: str | None) -> Cart:
    """Return the cart if `token` is its secret; otherwise CartNotFound, as if absent."""
    cart, _ = cart_and_product_get_for_token(cart_id=cart_id, token=token, product_id="")
    return cart
