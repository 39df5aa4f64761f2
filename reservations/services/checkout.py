"""Turn a cart's holds into an order, once."""

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Now

from core.clock import db_now
from reservations.errors import (
    CartClosed,
    CartEmpty,
    CheckoutShort,
    IdempotencyKeyReused,
    ProductNotOnSale,
)
from reservations.models import Cart, Order, OrderLine, Reservation
from reservations.services.orders import order_event_record
from reservations.services.reclaim import stock_take
from store.models import Inventory, StockMovement
from store.services import stock_movements_record
from webhooks.models import EventType


@dataclass(frozen=True)
class ShortLine:
    product_id: int
    sku: str
    requested: int
    available: int


def _consume_held(*, product_id: int, units: int, stamp: datetime | Now) -> None:
    # An active line's units are in `reserved`, live or expired-but-unreclaimed: nobody
    # else can have them, so they leave the shelf and the counter together.
    Inventory.objects.filter(pk=product_id).update(
        on_hand=F("on_hand") - units, reserved=F("reserved") - units, updated_at=stamp
    )


def _order_pending(
    *, cart: Cart, line_ids: list[int], window: int, now: datetime | None,
    idempotency_key: str | None, total: Decimal,
) -> Order:
    """Hold every line for the payment: each is an active hold expiring at the deadline."""
    now = now or db_now()
    deadline = now + timedelta(seconds=window)
    Reservation.objects.filter(pk__in=line_ids).update(
        status=Reservation.Status.ACTIVE, expires_at=deadline, updated_at=now
    )
    return Order.objects.create(
        cart=cart,
        idempotency_key=idempotency_key,
        total=total,
        status=Order.Status.PENDING_PAYMENT,
        payment_expires_at=deadline,
    )


def _key_owner(idempotency_key: str | None, cart: Cart) -> None:
    if idempotency_key and (
        Order.objects.filter(idempotency_key=idempotency_key).exclude(cart=cart).exists()
    ):
        raise IdempotencyKeyReused()


def _checkout(
    *, cart: Cart, idempotency_key: str | None, now: datetime | None
) -> tuple[Order, bool]:
    _key_owner(idempotency_key, cart)
    with transaction.atomic():
        # The cart lock makes checkout once-only: a concurrent call waits here, then finds
        # the order.
        cart = Cart.objects.select_for_update().get(pk=cart.pk)
        if cart.status == Cart.Status.CHECKED_OUT:
            order = Order.objects.filter(cart=cart).first()
            if order is None:  # removed behind the services' back: never a 500
                raise CartClosed()
            return order, False

        lines = list(
            Reservation.objects.select_for_update(of=("self",))
            .filter(cart=cart, status__in=(Reservation.Status.ACTIVE, Reservation.Status.EXPIRED))
            .select_related("product")
            .order_by("product_id")
        )
        if not lines:
            raise CartEmpty()
        # Decided before any stock is touched and from the product alone, so a line's hold
        # (live, expired or reclaimed) and whether the release task ran make no difference.
        off_sale = [
            ShortLine(line.product_id, line.product.sku, line.quantity, 0)
            for line in lines
            if not line.product.is_active
        ]
        if off_sale:
            raise ProductNotOnSale(lines=[asdict(s) for s in off_sale])

        window = settings.ORDER_PAYMENT_WINDOW_SECONDS
        pending = window > 0
        short: list[ShortLine] = []
        bought_free: list[int] = []
        stamp = now or Now()
        # Products are touched in ascending pk order, like every other writer.
        for line in lines:
            if line.status == Reservation.Status.ACTIVE:
                if not pending:
                    _consume_held(product_id=line.product_id, units=line.quantity, stamp=stamp)
                # Pending: the units stay in `reserved`, held for the payment.
                continue
            # The hold was reclaimed: take the line from free stock, if there is enough,
            # off the shelf now or into `reserved` for the payment.
            free = stock_take(
                product_id=line.product_id,
                units=line.quantity,
                reserved_delta=line.quantity if pending else 0,
                on_hand_delta=0 if pending else -line.quantity,
                now=now,
            )
            if free is None:
                bought_free.append(line.product_id)
            else:
                short.append(
                    ShortLine(line.product_id, line.product.sku, line.quantity, max(free, 0))
                )
        if short:
            raise CheckoutShort(lines=[asdict(s) for s in short])
        if bought_free:
            # `on_hand` moved in stockhold_stock_take; its rows are locked by now.
            Inventory.objects.filter(pk__in=bought_free).update(updated_at=stamp)

        total = sum((line.product.price * line.quantity for line in lines), Decimal("0"))
        line_ids = [line.pk for line in lines]
        if pending:
            order = _order_pending(
                cart=cart, line_ids=line_ids, window=window, now=now,
                idempotency_key=idempotency_key, total=total,
            )
        else:
            Reservation.objects.filter(pk__in=line_ids).update(
                status=Reservation.Status.CONSUMED, updated_at=stamp
            )
            order = Order.objects.create(cart=cart, idempotency_key=idempotency_key, total=total)
            # The units left the shelf above; the ledger records them in this transaction.
            stock_movements_record(
                kind=StockMovement.Kind.SALE,
                quantities=[(line.product_id, -line.quantity) for line in lines],
                actor="checkout",
                reference=str(order.pk),
                now=now,
            )
        OrderLine.objects.bulk_create(
            OrderLine(
                order=order,
                product_id=line.product_id,
                sku=line.product.sku,
                quantity=line.quantity,
                unit_price=line.product.price,
                line_total=line.product.price * line.quantity,
            )
            for line in lines
        )
        Cart.objects.filter(pk=cart.pk).update(
            status=Cart.Status.CHECKED_OUT, expires_at=None, updated_at=now or Now()
        )
        order_event_record(
            type=EventType.ORDER_CREATED,
            order=order,
            lines=[
                {"product_id": line.product_id, "sku": line.product.sku, "quantity": line.quantity}
                for line in lines
            ],
            now=now,
        )
        return order, True


def checkout(
    *, cart: Cart, idempotency_key: str | None = None, now: datetime | None = None
) -> tuple[Order, bool]:
    """Check the cart out; return the order and whether this call created it.

    A line of a product that is not on sale cannot be bought: ProductNotOnSale lists every
    such line and nothing changes, whatever the state of its hold. Otherwise active lines
    are consumed; lines whose hold was reclaimed are bought from free stock if there is
    enough. Otherwise CheckoutShort lists every short line and nothing changes.

    With ORDER_PAYMENT_WINDOW_SECONDS above 0 nothing is sold yet: the order is
    `pending_payment` and every line stays (or becomes again) an active hold expiring at
    its `payment_expires_at`; order_confirm sells them.
    A repeated or concurrent checkout of the cart returns the same order. Time is `now`,
    or the database clock.
    """
    try:
        return _checkout(cart=cart, idempotency_key=idempotency_key, now=now)
    except IntegrityError:
        # Two carts raced with one Idempotency-Key; the loser gets the reuse error.
        if idempotency_key and Order.objects.filter(idempotency_key=idempotency_key).exists():
            raise IdempotencyKeyReused() from None
        raise
