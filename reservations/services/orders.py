"""Orders after checkout: confirm a payment, cancel, and expire unpaid ones.

A pending order's units are its cart's active holds, expiring at the payment deadline, so
the rule every hold follows makes them free stock at that instant. Confirm and cancel lock
the order row first, then its holds: a reclaimer (a shopper, the release task) skips hold
rows that are locked, and confirm only takes holds that are still live by its clock, so
at the deadline exactly one of them gets the units.
"""

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Now

from core.clock import db_now
from reservations.errors import OrderCancelled, PaymentWindowExpired
from reservations.models import Order, OrderLine, Reservation
from store.models import Inventory, StockMovement
from store.services import stock_movements_record
from webhooks.models import EventType
from webhooks.services import event_record


def _instant(value: datetime | None) -> str | None:
    # As the API writes it.
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def order_event_record(
    *, type: str, order: Order, lines: list[dict] | None = None, now: datetime | None = None
) -> None:
    """Record the webhook event `type` of `order` as it is now, in the caller's transaction:
    it is delivered if and only if the change it announces commits. `lines` (product_id,
    sku, quantity) saves reading them when the caller has them."""
    if lines is None:
        lines = list(
            OrderLine.objects.filter(order_id=order.pk)
            .order_by("product_id")
            .values("product_id", "sku", "quantity")
        )
    event_record(
        type=type,
        data={
            "order_id": str(order.pk),
            "cart_id": str(order.cart_id),
            "status": order.status,
            "total": str(order.total),
            "payment_expires_at": _instant(order.payment_expires_at),
            "lines": lines,
        },
        now=now,
    )


def _live_holds(*, order: Order, now: datetime) -> list[Reservation]:
    """Lock and return the pending order's holds; PaymentWindowExpired unless every one is
    still live at `now`."""
    if order.payment_expires_at is None or order.payment_expires_at <= now:
        raise PaymentWindowExpired()
    holds = list(
        Reservation.objects.select_for_update()
        .filter(cart_id=order.cart_id, status=Reservation.Status.ACTIVE, expires_at__gt=now)
        .order_by("product_id")
    )
    if len(holds) != order.lines.count():
        # A reclaimer took one at the deadline before this call locked it.
        raise PaymentWindowExpired()
    return holds


def order_confirm(
    *, order: Order, actor: str, now: datetime | None = None
) -> tuple[Order, bool]:
    """Confirm the payment of a pending order: its held units are sold. Return the order
    and whether this call sold them.

    Confirming an order that is already sold changes nothing. PaymentWindowExpired once its
    deadline has passed (its units are free stock from then on, whether or not the release
    task has run), OrderCancelled for a cancelled order; both change nothing. Each product's
    units leave the shelf and the counter together, as a `sale` movement naming the order.
    Time is `now`, or the database clock.
    """
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        if locked.status == Order.Status.PLACED:
            return locked, False
        if locked.status == Order.Status.CANCELLED:
            raise OrderCancelled()
        if locked.status == Order.Status.EXPIRED:
            raise PaymentWindowExpired()
        now = now or db_now()
        holds = _live_holds(order=locked, now=now)
        Reservation.objects.filter(pk__in=[h.pk for h in holds]).update(
            status=Reservation.Status.CONSUMED, updated_at=now
        )
        stock_movements_record(
            kind=StockMovement.Kind.SALE,
            quantities=[(h.product_id, -h.quantity) for h in holds],
            actor=actor,
            reference=str(locked.pk),
            now=now,
        )
        Order.objects.filter(pk=locked.pk).update(status=Order.Status.PLACED, confirmed_at=now)
        locked.refresh_from_db(fields=["status", "confirmed_at"])
        order_event_record(type=EventType.ORDER_CONFIRMED, order=locked, now=now)
        _counters_move(holds=holds, sold=True, now=now)
    return locked, True


def _counters_move(*, holds: list[Reservation], sold: bool, now: datetime) -> None:
    """Take the holds' units out of `reserved` (and with `sold` off the shelf), in ascending
    product order. Last in its transaction: a product row is locked from its update to the
    commit, and shoppers of a hot product queue on it, so nothing else comes after."""
    for hold in holds:
        changes = {"reserved": F("reserved") - hold.quantity, "updated_at": now}
        if sold:
            changes["on_hand"] = F("on_hand") - hold.quantity
        Inventory.objects.filter(pk=hold.product_id).update(**changes)


def _cancel_sold(*, order: Order, actor: str, reason: str, now: datetime | None) -> None:
    lines = list(order.lines.order_by("product_id").values_list("product_id", "quantity"))
    for product_id, quantity in lines:
        Inventory.objects.filter(pk=product_id).update(
            on_hand=F("on_hand") + quantity, updated_at=now or Now()
        )
    stock_movements_record(
        kind=StockMovement.Kind.RETURN,
        quantities=lines,
        actor=actor,
        reason=reason or "order cancelled",
        reference=str(order.pk),
        now=now,
    )


def order_cancel(
    *, order: Order, actor: str, reason: str = "", now: datetime | None = None
) -> tuple[Order, bool]:
    """Cancel `order` and give its units back; return it and whether this call did.

    A sold order's units return to the shelf as `return` movements naming the order; a
    pending order's held units go back to free stock (nothing had left the shelf). Once a
    pending order's deadline has passed its units are already free: PaymentWindowExpired,
    nothing changes. The order row is locked first, so of two cancels at once one gives the
    units back and the other finds the order cancelled; repeating a cancel changes nothing.
    Products are touched in ascending pk order. Time is `now`, or the database clock.
    """
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        if locked.status == Order.Status.CANCELLED:
            return locked, False
        if locked.status == Order.Status.EXPIRED:
            raise PaymentWindowExpired()
        released: list[Reservation] = []
        if locked.status == Order.Status.PENDING_PAYMENT:
            now = now or db_now()
            released = _live_holds(order=locked, now=now)
            Reservation.objects.filter(pk__in=[h.pk for h in released]).update(
                status=Reservation.Status.RELEASED, updated_at=now
            )
        else:
            _cancel_sold(order=locked, actor=actor, reason=reason, now=now)
        Order.objects.filter(pk=locked.pk).update(
            status=Order.Status.CANCELLED, cancelled_at=now or Now()
        )
        locked.refresh_from_db(fields=["status", "cancelled_at"])
        order_event_record(type=EventType.ORDER_CANCELLED, order=locked, now=now)
        # A pending order's units go back to free stock, last (see _counters_move).
        _counters_move(holds=released, sold=False, now=now)
    return locked, True


def pending_orders_expire(*, now: datetime | None = None, batch_size: int | None = None) -> int:
    """Mark pending orders whose payment deadline has passed `expired`; return how many.

    Housekeeping only: their units are free stock from the deadline on, and the release
    task reclaims their holds like any expired hold. Rows a confirm or cancel is working on
    are skipped (that call decides them). Time is `now`, or the database clock.
    """
    batch_size = batch_size or settings.RESERVATION_RELEASE_BATCH_SIZE
    expired = 0
    while True:
        with transaction.atomic():
            stamp = now or db_now()
            ids = list(
                Order.objects.select_for_update(skip_locked=True)
                .filter(status=Order.Status.PENDING_PAYMENT, payment_expires_at__lte=stamp)
                .order_by("payment_expires_at")
                .values_list("pk", flat=True)[:batch_size]
            )
            if ids:
                Order.objects.filter(pk__in=ids).update(
                    status=Order.Status.EXPIRED, expired_at=stamp
                )
                for order in (
                    Order.objects.filter(pk__in=ids)
                    .prefetch_related("lines")
                    .order_by("payment_expires_at")
                ):
                    lines = [
                        {"product_id": line.product_id, "sku": line.sku, "quantity": line.quantity}
                        for line in order.lines.all()  # ordered by product, like the model's
                    ]
                    order_event_record(
                        type=EventType.ORDER_EXPIRED, order=order, lines=lines, now=stamp
                    )
        expired += len(ids)
        if len(ids) < batch_size:
            return expired


def pending_orders_overdue(*, now: datetime | None = None) -> int:
    """Count pending orders past their payment deadline that no run has marked yet."""
    return Order.objects.filter(
        status=Order.Status.PENDING_PAYMENT, payment_expires_at__lte=now or Now()
    ).count()
