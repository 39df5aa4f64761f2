"""Products and their stock counters: the catalogue at the bottom of the apps."""

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now

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
    available figure at read time (see `reservations.selectors`). A commit that takes the
    available figure to 0, or up from 0, records a stock webhook event (see
    `in_stock_announced`).
    """

    product = models.OneToOneField(
        Product, on_delete=models.CASCADE, primary_key=True, related_name="inventory"
    )
    on_hand = models.IntegerField(default=0)
    reserved = models.IntegerField(default=0)
    # When `on_hand` last changed (every writer of it sets this), or the row was created.
    # Holds move only `reserved` and leave it, so the index below never costs a hold its
    # in-place (HOT) update.
    updated_at = models.DateTimeField(auto_now=True)
    # Whether the last stock webhook of the product said it is in stock. Written only by
    # the stock triggers at commit (store/sql/inventory_stock_announce.sql); writes of
    # this row name their fields (`update()`, `update_fields`), never save the whole row.
    in_stock_announced = models.BooleanField(db_default=False, editable=False)

    class Meta:
        verbose_name_plural = "inventories"
        # The back office's "stock changed since" read.
        indexes = [models.Index(fields=["updated_at"], name="inventory_updated_at")]
        constraints = [
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="inventory_on_hand_gte_0"),
            models.CheckConstraint(condition=Q(reserved__gte=0), name="inventory_reserved_gte_0"),
            models.CheckConstraint(
                condition=Q(reserved__lte=F("on_hand")), name="inventory_reserved_lte_on_hand"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product_id}: {self.on_hand} on hand, {self.reserved} reserved"


class StockMovement(models.Model):
    """One change of a product's `Inventory.on_hand`: the ledger beneath the counter.

    `on_hand` is the fast counter; the movements say why it is what it is. Every write
    of `on_hand` inserts its movement in the same transaction, so a product's movements
    always add up to its `on_hand` (`reservations.services.reconcile` checks it).
    Movements are never changed or deleted: a mistake is put right by another movement.
    """

    class Kind(models.TextChoices):
        RECEIPT = "receipt", "Receipt"
        ADJUSTMENT = "adjustment", "Adjustment"
        SALE = "sale", "Sale"
        RETURN = "return", "Cancellation or return"
        CORRECTION = "correction", "Correction (count or opening balance)"

    # The (product, -id) index, quantity included, serves both the admin's list and the
    # per-product sum of the drift check (an index-only scan).
    product = models.ForeignKey(
        Product, on_delete=models.PROTECT, related_name="movements", db_index=False
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # Signed: units in are positive, units out negative.
    quantity = models.IntegerField()
    reason = models.CharField(max_length=200, blank=True)
    # Who moved the stock: "staff:<username>", "api-key:<name>", "command:<name>",
    # "checkout", "migration".
    actor = models.CharField(max_length=150)
    # What the movement belongs to, when anything: the order of a sale or return, the
    # Idempotency-Key of a back-office stock batch (up to 255 characters).
    reference = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(quantity=0), name="stockmovement_quantity_not_0"),
            models.CheckConstraint(
                condition=Q(kind__in=["receipt", "adjustment", "sale", "return", "correction"]),
                name="stockmovement_kind_valid",
            ),
            models.CheckConstraint(
                condition=~Q(kind="sale") | Q(quantity__lt=0), name="stockmovement_sale_out"
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=["receipt", "return"]) | Q(quantity__gt=0),
                name="stockmovement_receipt_return_in",
            ),
        ]
        indexes = [
            models.Index(
                fields=["product", "-id"], include=["quantity"], name="stockmovement_product_id"
            ),
            # The dashboard's stock of a product over the last day (an index-only scan).
            models.Index(
                fields=["product", "created_at"],
                include=["quantity"],
                name="stockmovement_product_created",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product_id}: {self.kind} {self.quantity:+d}"
