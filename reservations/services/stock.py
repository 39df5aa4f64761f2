"""Staff changes of on-hand stock: ledger movements that respect the units in live holds.

Staff move stock in two ways: an adjustment of +n or -n units, or a count that sets the
figure and records the difference. Either can carry the figure it was based on
(`expected_on_hand`, what the form or the caller last read); when the stock has moved
since, the change is refused with StaleOnHand and nothing is written, so a change is
never applied over a newer figure.
"""

from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Sum
from django.db.models.functions import Now

from core.errors import InvalidInput, InvalidQuantity
from reservations.errors import StaleOnHand, StockBelowHeld
from reservations.models import Reservation
from reservations.services.reclaim import expired_reclaim
from store.limits import MAX_STOCK
from store.models import Inventory, Product, StockMovement
from store.services import price_check, product_create, stock_movements_record

# Cart ids named in a StockBelowHeld error; enough for staff to find them in the admin.
_CARTS_NAMED = 10


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _below_held(*, product: Product, requested: int, now: datetime | None) -> StockBelowHeld:
    live = Reservation.objects.filter(
        product=product, status=Reservation.Status.ACTIVE, expires_at__gt=now or Now()
    )
    figures = live.aggregate(units=Sum("quantity"), holds=Count("id"))
    carts = [str(c) for c in live.values_list("cart_id", flat=True)[:_CARTS_NAMED]]
    return StockBelowHeld(
        f"Cannot set {product.sku} to {requested}: {figures['units']} units are held "
        f"by {figures['holds']} live holds (carts {', '.join(carts)}).",
        sku=product.sku,
        requested=requested,
        held=figures["units"] or 0,
        holds=figures["holds"],
        carts=carts,
    )


def _stock_move(
    *,
    product: Product,
    on_hand: int | None,
    delta: int | None,
    expected_on_hand: int | None,
    kind: str,
    actor: str,
    reason: str,
    reference: str,
    now: datetime | None,
) -> Inventory:
    if expected_on_hand is not None and not _whole(expected_on_hand):
        raise InvalidInput("expected_on_hand must be a whole number.", field="expected_on_hand")
    with transaction.atomic():
        # Wait for rows a sweep holds rather than skip them: staff changes are rare and
        # must see every expired unit. The reclaim comes before the product row lock.
        expired_reclaim(product_id=product.pk, now=now, wait=True)
        inventory = Inventory.objects.select_for_update().get(pk=product.pk)
        if expected_on_hand is not None and inventory.on_hand != expected_on_hand:
            raise StaleOnHand(
                f"{product.sku} has {inventory.on_hand} on hand, not the {expected_on_hand} "
                "this change was based on (stock moved since it was read): nothing was "
                "changed. Reload and apply the change to the current figure.",
                sku=product.sku,
                expected_on_hand=expected_on_hand,
                on_hand=inventory.on_hand,
            )
        target = on_hand if on_hand is not None else inventory.on_hand + delta
        if not 0 <= target <= MAX_STOCK:
            raise InvalidQuantity(
                f"{product.sku} would have {target} on hand: on-hand stock must be a whole "
                f"number from 0 to {MAX_STOCK}."
            )
        if target < inventory.reserved:
            raise _below_held(product=product, requested=target, now=now)
        movements = []
        if target != inventory.on_hand:
            Inventory.objects.filter(pk=product.pk).update(
                on_hand=target, updated_at=now or Now()
            )
            movements = stock_movements_record(
                kind=kind,
                quantities=[(product.pk, target - inventory.on_hand)],
                actor=actor,
                reason=reason,
                reference=reference,
                now=now,
            )
        inventory = Inventory.objects.get(pk=product.pk)
        inventory.movement = movements[0] if movements else None
        return inventory


def inventory_set(
    *,
    product: Product,
    on_hand: int,
    expected_on_hand: int | None = None,
    actor: str = "system",
    reason: str = "count",
    reference: str = "",
    now: datetime | None = None,
) -> Inventory:
    """Set the units physically sellable (a count); record the difference as a correction.

    With `expected_on_hand`, refuse with StaleOnHand unless the stock is still that
    figure. Expired holds are reclaimed first, so they never block a stock change; going
    below the units in live holds is refused with StockBelowHeld naming them. Expiry is
    decided by `now`, or by the database clock. `reference` is what the movement belongs
    to (a back-office batch's Idempotency-Key). The stock row returned carries the ledger
    row written as `movement`: None when the count was the figure on hand already.
    """
    if not _whole(on_hand) or not 0 <= on_hand <= MAX_STOCK:
        raise InvalidQuantity(f"On-hand stock must be a whole number from 0 to {MAX_STOCK}.")
    return _stock_move(
        product=product,
        on_hand=on_hand,
        delta=None,
        expected_on_hand=expected_on_hand,
        kind=StockMovement.Kind.CORRECTION,
        actor=actor,
        reason=reason,
        reference=reference,
        now=now,
    )


def inventory_adjust(
    *,
    product: Product,
    delta: int,
    expected_on_hand: int | None = None,
    actor: str = "system",
    reason: str = "",
    reference: str = "",
    kind: str = StockMovement.Kind.ADJUSTMENT,
    now: datetime | None = None,
) -> Inventory:
    """Add `delta` units (negative: remove) to the stock; record it as a movement.

    With `expected_on_hand`, refuse with StaleOnHand unless the stock is still that
    figure. The same rules as a count: never below 0 or the units in live holds. The stock
    row returned carries the ledger row written as `movement`.
    """
    if not _whole(delta) or delta == 0 or abs(delta) > MAX_STOCK:
        raise InvalidQuantity(
            f"A stock adjustment must be a whole number other than 0, at most {MAX_STOCK} "
            "either way."
        )
    if kind not in (StockMovement.Kind.ADJUSTMENT, StockMovement.Kind.RECEIPT) or (
        kind == StockMovement.Kind.RECEIPT and delta < 0
    ):
        raise InvalidInput(f"A staff change cannot be a {kind} of {delta:+d}.", field="kind")
    return _stock_move(
        product=product,
        on_hand=None,
        delta=delta,
        expected_on_hand=expected_on_hand,
        kind=kind,
        actor=actor,
        reason=reason,
        reference=reference,
        now=now,
    )


def product_stock_set(
    *,
    sku: str,
    on_hand: int,
    name: str | None = None,
    price: Decimal | None = None,
    actor: str = "system",
    now: datetime | None = None,
) -> tuple[Product, bool]:
    """Create or update a product by SKU and set its stock; return it and whether it is new.

    A new product's stock is recorded as a receipt; an existing one's as a count.
    """
    if price is not None:
        price = price_check(price=price)
    with transaction.atomic():
        product = Product.objects.filter(sku=sku).first()
        created = product is None
        if created:
            if price is None:
                raise InvalidInput(f"{sku} is a new product: give its price.", field="price")
            product = product_create(
                sku=sku, name=name or sku, price=price, on_hand=on_hand, actor=actor, now=now
            )
            return product, created
        changed = []
        if name is not None and name != product.name:
            product.name = name
            changed.append("name")
        if price is not None and price != product.price:
            product.price = price
            changed.append("price")
        if changed:
            product.save(update_fields=[*changed, "updated_at"])
        inventory_set(product=product, on_hand=on_hand, actor=actor, now=now)
    return product, created
