"""Compare every product's counters with what they count; repair `reserved` on request.

Two counters, two sources: `reserved` must equal the units of the product's active holds,
and `on_hand` the sum of its stock movements (the ledger); and every product has a stock
row. It should never find anything: the counters move only through the services, in the
same transaction as the holds and the movements. It exists so that drift (a raw UPDATE, a
restored backup) is reported instead of silently showing wrong stock.
"""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import IntegerField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from reservations.models import Reservation
from store.models import Inventory, Product, StockMovement


@dataclass(frozen=True)
class StockFigures:
    """A product's counters beside what they count: its active holds and its ledger.

    `reserved` and `on_hand` are None when the product has no stock row.
    """

    product_id: int
    sku: str
    reserved: int | None
    active_units: int
    on_hand: int | None
    ledger_units: int

    @property
    def counter_drifted(self) -> bool:
        return self.reserved != self.active_units

    @property
    def ledger_drifted(self) -> bool:
        return self.on_hand != self.ledger_units

    @property
    def drifted(self) -> bool:
        return self.counter_drifted or self.ledger_drifted

    @property
    def problem(self) -> str:
        """What is wrong, in words, for alerts and the command."""
        if self.on_hand is None:
            return f"no stock row (ledger {self.ledger_units}, active holds {self.active_units})"
        found = []
        if self.counter_drifted:
            found.append(f"reserved {self.reserved}, active holds {self.active_units}")
        if self.ledger_drifted:
            found.append(f"on hand {self.on_hand}, ledger {self.ledger_units}")
        return "; ".join(found) or "no drift"


def _units_per_product(rows):
    """The sum of `quantity` over `rows` of the outer query's product, 0 for none."""
    units = (
        rows.filter(product_id=OuterRef("pk"))
        .order_by()
        .values("product_id")
        .annotate(units=Sum("quantity"))
        .values("units")
    )
    return Coalesce(Subquery(units, output_field=IntegerField()), Value(0))


def stock_figures() -> list[StockFigures]:
    """Every product's counters beside its active holds and its ledger, by product id.

    One statement, so the counters, the holds and the movements come from one snapshot:
    writers change them in one transaction, so a committed writer is seen in all and an
    open one in none. No lock is needed to report.
    """
    rows = (
        Product.objects.annotate(
            active_units=_units_per_product(
                Reservation.objects.filter(status=Reservation.Status.ACTIVE)
            ),
            ledger_units=_units_per_product(StockMovement.objects.all()),
        )
        .values_list(
            "pk", "sku", "inventory__reserved", "active_units", "inventory__on_hand",
            "ledger_units",
        )
        .order_by("pk")
    )
    return [StockFigures(*row) for row in rows]


def stock_drift_find() -> list[StockFigures]:
    """Return the products whose counters differ from what they count.

    The project's one check of its core invariants (`reserved` equals the units of active
    holds, `on_hand` the sum of the product's movements, every product has a stock row):
    reconcile, monitoring, the soak audit, the benchmarks and the tests call it.
    """
    return [figures for figures in stock_figures() if figures.drifted]


def stock_drift_repair(*, product_id: int) -> StockFigures | None:
    """Set one product's `reserved` counter to its active holds, under the product row lock.

    With the row locked no writer can move the counter, and the sum is read after the
    lock in a fresh snapshot, so it is exact. Returns what was repaired, or None. Drift
    of `on_hand` from the ledger, or a missing stock row, is left to a human: which of
    the two figures is right needs a count of the shelf, recorded as a correction.
    """
    with transaction.atomic():
        inventory = (
            Inventory.objects.select_for_update().select_related("product").filter(
                pk=product_id
            ).first()
        )
        if inventory is None:
            return None
        active = (
            Reservation.objects.filter(
                product_id=product_id, status=Reservation.Status.ACTIVE
            ).aggregate(units=Sum("quantity"))["units"]
            or 0
        )
        if active == inventory.reserved:
            return None
        ledger = (
            StockMovement.objects.filter(product_id=product_id).aggregate(
                units=Sum("quantity")
            )["units"]
            or 0
        )
        drift = StockFigures(
            product_id, inventory.product.sku, inventory.reserved, active, inventory.on_hand,
            ledger,
        )
        # The CHECK constraint refuses reserved > on_hand: such drift needs a human (stock
        # counted wrong), so the transaction fails loudly instead.
        Inventory.objects.filter(pk=product_id).update(reserved=active)
    return drift
