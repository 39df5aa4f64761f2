"""Carts, the stock holds of their lines, orders, and the release task's heartbeat."""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.display import time_shown
from store.limits import LINE_TOTAL_DIGITS, ORDER_TOTAL_DIGITS
from store.models import Product


class Cart(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CHECKED_OUT = "checked_out", "Checked out"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # SHA-256 of the secret token handed to the shopper; the token itself is never stored.
    token_hash = models.CharField(max_length=64, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    # When the cart's live holds run out; renewed by every change to the cart.
    expires_at = models.DateTimeField(null=True, blank=True)
    # When the cart first held stock: its holds never last past this plus
    # RESERVATION_MAX_CART_LIFETIME_SECONDS. Set by the first hold, never reset; a cart can
    # be created long before it holds anything, so `created_at` will not do.
    holds_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # The table keeps the name it had when carts lived in `store`.
        db_table = "store_cart"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return str(self.id)


class Order(models.Model):
    """What a checkout sold, or holds for a payment. Never deleted: staff cancel it.

    With a payment window (ORDER_PAYMENT_WINDOW_SECONDS) checkout makes it
    `pending_payment`: its cart's lines stay active holds that expire at
    `payment_expires_at`, so its units are free stock from that instant by the rule every
    hold follows. Confirming sells them (`placed`); cancelling gives them back; the
    release task marks a pending order whose deadline passed `expired`.
    """

    class Status(models.TextChoices):
        PENDING_PAYMENT = "pending_payment", "Pending payment"
        PLACED = "placed", "Placed"
        CANCELLED = "cancelled", "Cancelled"
        EXPIRED = "expired", "Expired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # One order per cart: a repeated or concurrent checkout finds this row.
    cart = models.OneToOneField(Cart, on_delete=models.PROTECT, related_name="order")
    idempotency_key = models.CharField(max_length=255, null=True, blank=True, unique=True)
    total = models.DecimalField(max_digits=ORDER_TOTAL_DIGITS, decimal_places=2)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PLACED)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set while it is pending: the instant its units are free stock again.
    payment_expires_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "store_order"
        ordering = ["-created_at"]
        indexes = [
            # The release task's and monitoring's "pending past its deadline".
            models.Index(
                fields=["payment_expires_at"],
                condition=Q(status="pending_payment"),
                name="order_pending_deadline",
            ),
            # The dashboard's checkouts per hour.
            models.Index(fields=["created_at"], name="order_created_at"),
        ]

    def __str__(self) -> str:
        return str(self.id)


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    sku = models.CharField(max_length=64)
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    line_total = models.DecimalField(max_digits=LINE_TOTAL_DIGITS, decimal_places=2)

    class Meta:
        db_table = "store_orderline"
        ordering = ["product_id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="orderline_quantity_gt_0"),
            models.UniqueConstraint(fields=["order", "product"], name="orderline_one_per_product"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku}"



class Reservation(models.Model):
    """One cart line and the stock it holds.

    Status `active` means the units are counted in `Inventory.reserved`; once
    `expires_at` has passed they are free stock all the same, and the next writer on the
    product (or the release task) moves the row to `expired` and takes the units out of
    `reserved`. An `expired` line stays in the cart: checkout buys it from free stock if
    there is enough. `released` (removed by the shopper) and `consumed` (checked out) are
    terminal.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        EXPIRED = "expired", "Expired"
        RELEASED = "released", "Released"
        CONSUMED = "consumed", "Consumed"

    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="holds")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="holds")
    quantity = models.PositiveIntegerField()
    expires_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="reservation_quantity_gt_0"),
            # One open line per cart and product. It covers `expired` too, so a line that
            # the release task expired is the same row the shopper renews.
            models.UniqueConstraint(
                fields=["cart", "product"],
                condition=Q(status__in=["active", "expired"]),
                name="reservation_one_open_line_per_cart_product",
            ),
        ]
        indexes = [
            # One product's active holds by expiry: the reclaim takes its expired side;
            # the availability read sums whichever side is shorter, expired or live, from
            # the index alone (hence the quantity in it).
            models.Index(
                fields=["product", "expires_at"],
                include=["quantity"],
                condition=Q(status="active"),
                name="reservation_active_prod_exp",
            ),
            # The release task's sweep in expiry order.
            models.Index(
                fields=["expires_at"],
                condition=Q(status="active"),
                name="reservation_active_exp",
            ),
            # Pruning: ended holds by age. A hold enters it only when it ends.
            models.Index(
                fields=["updated_at"],
                condition=Q(status__in=["expired", "released", "consumed"]),
                name="reservation_ended_updated",
            ),
            # The dashboard's charts: holds made in the last day, per hour.
            models.Index(fields=["created_at"], name="reservation_created_at"),
            # The dashboard's expirations per hour: released expired holds by expiry (the
            # ones still active are served by reservation_active_exp).
            models.Index(
                fields=["expires_at"],
                condition=Q(status="expired"),
                name="reservation_expired_exp",
            ),
        ]

    def __str__(self) -> str:
        # Names the product by SKU: load holds shown by name with their product.
        return f"{self.quantity} × {self.product.sku} ({self._state_shown()})"

    def _state_shown(self) -> str:
        at = time_shown(self.expires_at, clock_only=True)
        if self.status == self.Status.ACTIVE:
            if self.expires_at > timezone.now():
                return f"active, expires {at}"
            return f"expired {at}, not yet released"
        if self.status == self.Status.EXPIRED:
            return f"expired {at}"
        return self.status


class ReleaseRun(models.Model):
    """Heartbeat of the release task: one row per run, for monitoring and the admin."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    task_id = models.CharField(max_length=64, blank=True)
    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    released = models.PositiveIntegerField(default=0)
    units = models.PositiveIntegerField(default=0)
    batches = models.PositiveIntegerField(default=0)
    # Pending orders whose payment deadline had passed, marked `expired` by this run.
    orders_expired = models.PositiveIntegerField(default=0)
    # True when the run stopped at its time budget with expired holds left for the next run.
    more_left = models.BooleanField(default=False)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(
                fields=["-finished_at"],
                condition=Q(status="succeeded"),
                name="releaserun_last_success",
            ),
        ]

    def __str__(self) -> str:
        return f"release run {self.started_at:%Y-%m-%d %H:%M:%S} {self.status}"
