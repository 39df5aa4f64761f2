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
from datetime import datetime
from decimal import Decimal

from django.db import connection
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


# Every cart request reads its lines, so the query is written out once instead of being
# compiled by the ORM on each request (about 1.5 ms of CPU per request here). The price
# comes as text so nothing rounds it; a live hold is told from an expired one by the
# database clock, in the same statement.
_CART_LINES_SQL = """
    SELECT r.id, r.product_id, r.quantity, r.expires_at,
           CASE WHEN r.status = 'active' AND r.expires_at <= statement_timestamp()
                THEN 'expired' ELSE r.status END AS shown_status,
           p.sku AS product_sku, p.name AS product_name,
           CAST(p.price AS TEXT) AS product_price
    FROM reservations_reservation r
    JOIN store_product p ON p.id = r.product_id
    WHERE r.cart_id = %s AND r.status = ANY(%s)
    ORDER BY r.product_id
"""


def cart_lines(*, cart: Cart, consumed: bool = False) -> list[CartLine]:
    """A cart's lines with their products: its open lines (holds that are active or
    expired), or with `consumed` the lines of its order: bought, or held for a payment
    (active until the deadline, expired after it)."""
    statuses = [Reservation.Status.ACTIVE, Reservation.Status.EXPIRED]
    if consumed:
        statuses.append(Reservation.Status.CONSUMED)
    rows = Reservation.objects.raw(_CART_LINES_SQL, [cart.pk, statuses])
    return [
        CartLine(
            product_id=row.product_id,
            sku=row.product_sku,
            name=row.product_name,
            price=Decimal(row.product_price),
            quantity=row.quantity,
            expires_at=row.expires_at,
            status=row.shown_status,
        )
        for row in rows
    ]


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
