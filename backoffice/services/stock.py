"""Stock batches from the back office: each item a ledger movement, applied on its own.

An item is a count (`on_hand`: sets the figure, a `correction`) or a delta (`delta` > 0 a
`receipt`, < 0 an `adjustment`), optionally based on a figure (`expected_on_hand`). Each is
applied in its own transaction through the same services as the admin's stock changes
(`inventory_set`, `inventory_adjust`), so it holds one product row lock at a time and a
refusal (unknown SKU, stale figure, below the units in live holds, out of range) touches
nothing but its own item. The item's result is recorded in the transaction that applied
it, so a batch resumed after a failure never applies an item twice.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction

from backoffice.errors import UnknownSku
from backoffice.models import IdempotentRequest, StockBatchItem
from core.errors import DomainError
from reservations.services import inventory_adjust, inventory_set
from store.models import Inventory, Product, StockMovement

# Most items one batch may have: each is a transaction of its own, and the answer lists
# them all.
MAX_BATCH_ITEMS = 1000

_DEFAULT_REASONS = {
    StockMovement.Kind.CORRECTION: "back-office count",
    StockMovement.Kind.RECEIPT: "back-office receipt",
    StockMovement.Kind.ADJUSTMENT: "back-office adjustment",
}


@dataclass(frozen=True)
class StockItem:
    """One item of a batch: exactly one of `on_hand` (a count) and `delta`."""

    sku: str
    on_hand: int | None = None
    delta: int | None = None
    expected_on_hand: int | None = None
    reason: str = ""


def _stock_change(
    *,
    item: StockItem,
    product: Product | None,
    actor: str,
    reference: str,
    now: datetime | None,
) -> Inventory:
    if product is None:
        raise UnknownSku(f"No product has the SKU {item.sku}.", sku=item.sku)
    if item.on_hand is not None:
        return inventory_set(
            product=product,
            on_hand=item.on_hand,
            expected_on_hand=item.expected_on_hand,
            actor=actor,
            reason=item.reason or _DEFAULT_REASONS[StockMovement.Kind.CORRECTION],
            reference=reference,
            now=now,
        )
    kind = StockMovement.Kind.RECEIPT if item.delta > 0 else StockMovement.Kind.ADJUSTMENT
    return inventory_adjust(
        product=product,
        delta=item.delta,
        expected_on_hand=item.expected_on_hand,
        actor=actor,
        reason=item.reason or _DEFAULT_REASONS[kind],
        reference=reference,
        kind=kind,
        now=now,
    )


def _item_apply(
    *,
    request: IdempotentRequest,
    position: int,
    item: StockItem,
    product: Product | None,
    actor: str,
    now: datetime | None,
) -> dict[str, Any]:
    result: dict[str, Any] = {"index": position, "sku": item.sku}
    with transaction.atomic():
        try:
            inventory = _stock_change(
                item=item, product=product, actor=actor, reference=request.key, now=now
            )
        except DomainError as refused:
            result |= {"status": "refused", "error": refused.as_dict()}
        else:
            movement = inventory.movement
            result |= {
                "status": "applied",
                "movement": movement and {"kind": movement.kind, "quantity": movement.quantity},
                "on_hand": inventory.on_hand,
            }
        # In the item's transaction, so the result is kept exactly when the change is; a
        # second record of one position fails on its unique constraint and undoes both.
        StockBatchItem.objects.create(request=request, position=position, result=result)
    return result


def stock_batch_apply(
    *,
    request: IdempotentRequest,
    items: Sequence[StockItem],
    actor: str,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Apply each item of a claimed batch, in order, each in its own transaction; return
    every item's result, in order.

    Items this batch recorded before (a repeat of a request that failed half-way) are not
    applied again: their recorded results are returned. Every movement names `actor` and
    has the batch's Idempotency-Key as its reference. A refused item is recorded with its
    error (`unknown_sku`, `invalid_quantity`, `stale_on_hand`, `stock_below_held`) and
    changes nothing. Time is `now`, or the database clock.
    """
    done = dict(
        StockBatchItem.objects.filter(request=request).values_list("position", "result")
    )
    # The batch's products, read once: a SKU unknown now is unknown to the whole batch.
    products = Product.objects.in_bulk(
        {item.sku for position, item in enumerate(items) if position not in done},
        field_name="sku",
    )
    results = []
    for position, item in enumerate(items):
        if position not in done:
            done[position] = _item_apply(
                request=request,
                position=position,
                item=item,
                product=products.get(item.sku),
                actor=actor,
                now=now,
            )
        results.append(done[position])
    return results
