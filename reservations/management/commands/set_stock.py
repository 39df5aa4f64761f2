"""Create or update a product's stock: `manage.py set_stock SKU QUANTITY [--name N] [--price P]`."""

from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError
from reservations.services import product_stock_set


def _price(value: str) -> Decimal:
    try:
        price = Decimal(value)
    except InvalidOperation:
        raise CommandError(f"--price must be a decimal number, not {value!r}.") from None
    if not price.is_finite() or price < 0 or price != price.quantize(Decimal("0.01")):
        raise CommandError(f"--price must be 0 or more with at most 2 decimals, not {value}.")
    return price


class Command(BaseCommand):
    help = "Create or update a product by SKU and set its on-hand stock."

    def add_arguments(self, parser):
        parser.add_argument("sku")
        parser.add_argument("quantity", type=int, help="Units physically sellable.")
        parser.add_argument("--name", help="Product name (defaults to the SKU for new products).")
        parser.add_argument("--price", type=_price, help="Unit price; required for a new product.")

    def handle(self, *args, sku, quantity, name, price, **options):
        if not sku.strip() or len(sku) > 64:
            raise CommandError("SKU must be 1 to 64 characters.")
        try:
            product, created = product_stock_set(
                sku=sku, on_hand=quantity, name=name, price=price, actor="command:set_stock"
            )
        except DomainError as exc:
            raise CommandError(exc.detail) from None
        verb = "Created" if created else "Updated"
        self.stdout.write(
            self.style.SUCCESS(f"{verb} {product.sku} ({product.name}): {quantity} on hand.")
        )
