"""Writes of the catalogue."""

from decimal import Decimal

from django.db import transaction

from core.errors import InvalidQuantity
from store.errors import InvalidPrice
from store.limits import MAX_PRICE
from store.models import Inventory, Product


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


def product_create(*, sku: str, name: str, price: Decimal | int, on_hand: int = 0) -> Product:
    """Create a product with its stock row; InvalidPrice for a price out of bounds."""
    price = price_check(price=price)
    if on_hand < 0:
        raise InvalidQuantity("On-hand stock cannot be negative.")
    with transaction.atomic():
        product = Product.objects.create(sku=sku, name=name, price=price)
        Inventory.objects.create(product=product, on_hand=on_hand)
    return product
