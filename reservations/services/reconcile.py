"""Compare every product's `reserved` counter with its active holds; repair on request.

It should never find anything: `reserved` moves only through the services, in the same
transaction as the holds. It exists so that drift (a raw UPDATE, a restored backup) is
reported instead of silently showing wrong stock.
"""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import IntegerField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from reservations.models import Reservation
from store.models import Inventory


@dataclass(frozen=True)
class StockFigures:
    """A product's `reserved` counter beside the units of its active holds."""

    product_id: int
    sku: str
    reserved: int
    active_units: int
    on_hand: int

    @property
    def drifted(self) -> bool:
        return self.reserved != self.active_units


def _active_units_expression():
    units = (
        Reservation.objects.filter(product_id=OuterRef("pk"), status=Reservation.Status.ACTIVE)
        .order_by()
        .values("product_id")
        .annotate(units=Sum("quantity"))
        .values("units")
    )
    return Coalesce(Subquery(units, output_field=IntegerField()), Value(0))


def stock_figures() -> list[StockFigures]:
    """Every product's counter beside the units of its active holds, by product id.

    One statement, so the counter and the holds come from one snapshot: writers change
    both in one transaction, so a committed writer is seen in both and an open one in
    neither. No lock is needed to report.
    """
    rows = (
        Inventory.objects.annotate(active_units=_active_units_expression())
        .values_list("product_id", "product__sku", "reserved", "active_units", "on_hand")
        .order_by("product_id")
    )
    return [StockFigures(*row) for row in rows]


def stock_drift_find() -> list[StockFigures]:
    """Return the products whose counter differs from their active holds.

    The project's one check of its core invariant (`reserved` equals the units of active
    holds): reconcile, monitoring, the soak audit, the benchmarks and the tests call it.
    """
    return [figures for figures in stock_figures() if figures.drifted]


def stock_drift_repair(*, product_id: int) -> StockFigures | None:
    """Set one product's counter to its active holds, under the product row lock.

    With the row locked no writer can move the counter, and the sum is read after the
    lock in a fresh snapshot, so it is exact. Returns what was repaired, or None.
    """
    with transaction.atomic():
        inventory = Inventory.objects.select_for_update().select_related("product").get(
            pk=product_id
        )
        active = (
            Reservation.objects.filter(
                product_id=product_id, status=Reservation.Status.ACTIVE
            ).aggregate(units=Sum("quantity"))["units"]
            or 0
        )
        if active == inventory.reserved:
            return None
        drift = StockFigures(product_id, inventory.product.sku, inventory.reserved, active,
                      inventory.on_hand)
        # The CHECK constraint refuses reserved > on_hand: such drift needs a human (stock
        # counted wrong), so the transaction fails loudly instead.
        Inventory.objects.filter(pk=product_id).update(reserved=active)
    return drift
