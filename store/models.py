"""Products and their stock counters: the catalogue at the bottom of the apps."""

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from store.limits import MAX_PRICE


class Product(models.Model):
    sku = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    price = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(MAX_PRICE)],
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="product_price_not_negative"),
            models.CheckConstraint(
                condition=Q(price__lte=MAX_PRICE), name="product_price_lte_max"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class Inventory(models.Model):
    """Stock of one product.

    `reserved` counts the units in holds whose status is `active`, expired or not. It
    moves only through `reservations.services`; expired holds are added back to the
    available figure at read time (see `reservations.selectors`).
    """

    product = models.OneToOneField(
        Product, on_delete=models.CASCADE, primary_key=True, related_name="inventory"
    )
    on_hand = models.IntegerField(default=0)
    reserved = models.IntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "inventories"
        constraints = [
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="inventory_on_hand_gte_0"),
            models.CheckConstraint(condition=Q(reserved__gte=0), name="inventory_reserved_gte_0"),
            models.CheckConstraint(
                condition=Q(reserved__lte=F("on_hand")), name="inventory_reserved_lte_on_hand"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product_id}: {self.on_hand} on hand, {self.reserved} reserved"
