"""Cancel an order: its units go back to stock through the ledger, exactly once."""

from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Now

from reservations.models import Order
from store.models import Inventory, StockMovement
from store.services import stock_movements_record


def order_cancel(
    *, order: Order, actor: str, reason: str = "", now: datetime | None = None
) -> tuple[Order, bool]:
    """Cancel `order` and return its units to stock; return it and whether this call did.

    The order row is locked first, so of two cancels at once one returns the units and the
    other finds the order cancelled; repeating a cancel changes nothing. Products are
    touched in ascending pk order, like every other stock write. Each product's units come
    back as a `return` movement naming the order. Time is `now`, or the database clock.
    """
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        if locked.status == Order.Status.CANCELLED:
            return locked, False
        lines = list(locked.lines.order_by("product_id").values_list("product_id", "quantity"))
        for product_id, quantity in lines:
            Inventory.objects.filter(pk=product_id).update(
                on_hand=F("on_hand") + quantity, updated_at=now or Now()
            )
        stock_movements_record(
            kind=StockMovement.Kind.RETURN,
            quantities=lines,
            actor=actor,
            reason=reason or "order cancelled",
            reference=str(locked.pk),
            now=now,
        )
        Order.objects.filter(pk=locked.pk).update(
            status=Order.Status.CANCELLED, cancelled_at=now or Now()
        )
        locked.refresh_from_db(fields=["status", "cancelled_at"])
    return locked, True
