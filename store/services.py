"""Writes of the catalogue and of the stock ledger."""

import re
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models.functions import Now

from core.errors import InvalidInput, InvalidQuantity
from store.errors import InvalidPrice, InvalidSku
from store.limits import MAX_PRICE, MAX_STOCK
from store.models import Inventory, Product, StockMovement

# What a SKU given through the API may be: it travels in URL paths and in comma-separated
# lists (`?sku=A,B`), so no '/', ',', spaces or other characters that need quoting.
SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_SKU_RE = re.compile(SKU_PATTERN)
_NAME_MAX_LENGTH = Product._meta.get_field("name").max_length


def sku_check(*, sku: object) -> str:
    """Return `sku` if it is a SKU the API may create or name; else InvalidSku."""
    if not isinstance(sku, str) or not _SKU_RE.fullmatch(sku):
        raise InvalidSku(field="sku")
    return sku


def price_check(*, price: Decimal | int) -> Decimal:
    """Return `price` as a Decimal if it is a price a product may have; else InvalidPrice."""
    # Whole numbers are exact; a float is not, and is refused like any other type.
    if isinstance(price, int) and not isinstance(price, bool):
        price = Decimal(price)
    if (
        not isinstance(price, Decimal)
        or not price.is_finite()
        or not Decimal("0") <= price <= MAX_PRICE
        or price != price.quantize(Decimal("0.01"))
    ):
        raise InvalidPrice(
            f"A price must be from 0 to {MAX_PRICE} with at most 2 decimals, not {price}.",
            field="price",
            max_price=str(MAX_PRICE),
        )
    return price


def stock_movements_record(
    *,
    kind: str,
    quantities: Iterable[tuple[int, int]],
    actor: str,
    reason: str = "",
    reference: str = "",
    now: datetime | None = None,
) -> list[StockMovement]:
    """Record movements of `on_hand`: (product id, signed units) pairs, one row per product.

    Pairs of one product are added up; a product whose units add up to 0 gets no row.

    Call it in the transaction that moves the counters, right after the move: the ledger
    and `on_hand` then commit together or not at all. Time is `now`, or the database clock.
    """
    stamp = {"created_at": now} if now is not None else {}
    per_product: Counter[int] = Counter()
    for product_id, quantity in quantities:
        per_product[product_id] += quantity
    return StockMovement.objects.bulk_create(
        StockMovement(
            product_id=product_id,
            kind=kind,
            quantity=quantity,
            actor=actor[:150],
            reason=reason[:200],
            reference=reference,
            **stamp,
        )
        for product_id, quantity in sorted(per_product.items())
        if quantity
    )


def inventory_open(
    *,
    product: Product,
    on_hand: int = 0,
    actor: str,
    reason: str = "initial stock",
    now: datetime | None = None,
) -> Inventory:
    """Create a new product's stock row, its initial stock recorded as a receipt."""
    if isinstance(on_hand, bool) or not isinstance(on_hand, int) or not 0 <= on_hand <= MAX_STOCK:
        raise InvalidQuantity(f"On-hand stock must be a whole number from 0 to {MAX_STOCK}.")
    with transaction.atomic():
        inventory = Inventory.objects.create(product=product, on_hand=on_hand)
        stock_movements_record(
            kind=StockMovement.Kind.RECEIPT,
            quantities=[(product.pk, on_hand)],
            actor=actor,
            reason=reason,
            now=now,
        )
    return inventory


def product_create(
    *,
    sku: str,
    name: str,
    price: Decimal | int,
    on_hand: int = 0,
    is_active: bool = True,
    actor: str = "system",
    now: datetime | None = None,
) -> Product:
    """Create a product with its stock row and the receipt of its initial stock.

    InvalidPrice for a price out of bounds, InvalidQuantity for stock out of bounds.
    """
    price = price_check(price=price)
    if isinstance(on_hand, bool) or not isinstance(on_hand, int) or not 0 <= on_hand <= MAX_STOCK:
        raise InvalidQuantity(f"On-hand stock must be a whole number from 0 to {MAX_STOCK}.")
    with transaction.atomic():
        product = Product.objects.create(sku=sku, name=name, price=price, is_active=is_active)
        inventory_open(product=product, on_hand=on_hand, actor=actor, now=now)
    return product


def product_upsert(
    *,
    sku: str,
    name: str,
    price: Decimal | int,
    is_active: bool,
    actor: str,
    now: datetime | None = None,
) -> tuple[Product, bool]:
    """Create the product `sku`, or update its name, price and `is_active`; return it and
    whether it is new.

    A new product's stock row is opened with nothing on hand. Stock is never changed here:
    it moves through the ledger (`reservations.services.inventory_set` and
    `inventory_adjust`). Two calls at once for a new SKU create it once; the later one
    updates it. InvalidSku, InvalidPrice, InvalidInput (name) refuse and change nothing.
    """
    sku = sku_check(sku=sku)
    price = price_check(price=price)
    if not isinstance(name, str) or not name.strip() or len(name) > _NAME_MAX_LENGTH:
        raise InvalidInput(
            f"A product name is 1 to {_NAME_MAX_LENGTH} characters.", field="name"
        )
    if not isinstance(is_active, bool):
        raise InvalidInput("is_active must be true or false.", field="is_active")
    product = Product.objects.filter(sku=sku).first()
    if product is None:
        try:
            return (
                product_create(
                    sku=sku, name=name, price=price, is_active=is_active, actor=actor, now=now
                ),
                True,
            )
        except IntegrityError:
            # Created by a concurrent call since the read above: update it instead.
            product = Product.objects.get(sku=sku)
    changes = {
        field: value
        for field, value in (("name", name), ("price", price), ("is_active", is_active))
        if getattr(product, field) != value
    }
    if changes:
        Product.objects.filter(pk=product.pk).update(**changes, updated_at=now or Now())
        product.refresh_from_db()
    return product, False
