"""Staff changes of on-hand stock, which must respect the units in live holds."""

from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Sum
from django.db.models.functions import Now

from core.errors import InvalidInput, InvalidQuantity
from reservations.errors import StockBelowHeld
from reservations.models import Reservation
from reservations.services.reclaim import expired_reclaim
from store.limits import MAX_STOCK
from store.models import Inventory, Product
from store.services import price_check, product_create

# Cart ids named in a StockBelowHeld error; enough for staff to find them in the admin.
_CARTS_NAMED = 10


def inventory_set(*, product: Product, on_hand: int, now: datetime | None = None) -> Inventory:
    """Set the units physically sellable.

    Expired holds are reclaimed first, so they never block a stock change. Going below
    the units in live holds is refused with StockBelowHeld naming them. Expiry is decided
    by `now`, or by the database clock.
    """
    if isinstance(on_hand, bool) or not isinstance(on_hand, int) or not 0 <= on_hand <= MAX_STOCK:
        raise InvalidQuantity(f"On-hand stock must be a whole number from 0 to {MAX_STOCK}.")
    with transaction.atomic():
        Inventory.objects.get_or_create(product=product)
        # Wait for rows a sweep holds rather than skip them: staff changes are rare and
        # must see every expired unit.
        expired_reclaim(product_id=product.pk, now=now, wait=True)
        if not Inventory.objects.filter(pk=product.pk, reserved__lte=on_hand).update(
            on_hand=on_hand, updated_at=now or Now()
        ):
            live = Reservation.objects.filter(
                product=product, status=Reservation.Status.ACTIVE, expires_at__gt=now or Now()
            )
            figures = live.aggregate(units=Sum("quantity"), holds=Count("id"))
            carts = [str(c) for c in live.values_list("cart_id", flat=True)[:_CARTS_NAMED]]
            raise StockBelowHeld(
                f"Cannot set {product.sku} to {on_hand}: {figures['units']} units are held "
                f"by {figures['holds']} live holds (carts {', '.join(carts)}).",
                sku=product.sku,
                requested=on_hand,
                held=figures["units"] or 0,
                holds=figures["holds"],
                carts=carts,
            )
        return Inventory.objects.get(pk=product.pk)


def product_stock_set(
    *,
    sku: str,
    on_hand: int,
    name: str | None = None,
    price: Decimal | None = None,
    now: datetime | None = None,
) -> tuple[Product, bool]:
    """Create or update a product by SKU and set its stock; return it and whether it is new."""
    if price is not None:
        price = price_check(price=price)
    with transaction.atomic():
        product = Product.objects.filter(sku=sku).first()
        created = product is None
        if created:
            if price is None:
                raise InvalidInput(f"{sku} is a new product: give its price.", field="price")
            product = product_create(sku=sku, name=name or sku, price=price)
        else:
            changed = []
            if name is not None and name != product.name:
                product.name = name
                changed.append("name")
            if price is not None and price != product.price:
                product.price = price
                changed.append("price")
            if changed:
                product.save(update_fields=[*changed, "updated_at"])
        inventory_set(product=product, on_hand=on_hand, now=now)
    return product, created
