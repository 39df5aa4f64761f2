"""Writes of the catalogue."""

from decimal import Decimal

from django.db import transaction

from core.errors import InvalidQuantity
from store.models import Inventory, Product

# The stock counters are 32-bit integer columns.
MAX_STOCK = 2**31 - 1


def product_create(*, sku: str, name: str, price: Decimal, on_hand: int = 0) -> Product:
    """Create a product with its stock row."""
    if on_hand < 0:
        raise InvalidQuantity("On-hand stock cannot be negative.")
    with transaction.atomic():
        product = Product.objects.create(sku=sku, name=name, price=price)
        Inventory.objects.create(product=product, on_hand=on_hand)
    return product
