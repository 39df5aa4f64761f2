"""Admin for carts, holds, orders and the stock ledger (read-only: they move only through
the services), and for products: each says at a glance whether it is in stock, sold out
because every unit is held (and when the next hold expires), or out of stock; its page
shows the stock movements and changes stock by a movement."""

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from core.admin import ReadOnlyAdmin, short_id, short_id_column, time_column
from core.display import time_shown, time_until
from core.errors import DomainError
from reservations.models import Cart, Order, OrderLine, ReleaseRun, Reservation
from reservations.selectors import (
    StockState,
    carts_with_lines,
    line_status,
    products_with_active_holds,
    products_with_stock_state,
)
from reservations.services import (
    cart_release,
    inventory_adjust,
    inventory_set,
    order_cancel,
    order_confirm,
)
from store.limits import MAX_STOCK
from store.models import Inventory, Product, StockMovement
from store.services import inventory_open

# Movements listed on a product's page; the rest are one link away.
_MOVEMENTS_SHOWN = 50


class ExpiryFilter(admin.SimpleListFilter):
    title = "expiry"
    parameter_name = "expiry"

    def lookups(self, request, model_admin):
        return [
            ("live", "Live (not yet expired)"),
            ("soon", "Expiring within 5 minutes"),
            ("expired", "Expired, stock not yet reclaimed"),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        active = queryset.filter(status=Reservation.Status.ACTIVE)
        if self.value() == "live":
            return active.filter(expires_at__gt=now)
        if self.value() == "soon":
            return active.filter(expires_at__gt=now, expires_at__lte=now + timedelta(minutes=5))
        if self.value() == "expired":
            return active.filter(expires_at__lte=now)
        return queryset


class HoldProductFilter(admin.SimpleListFilter):
    """Holds of one product, by SKU.

    The choices are the first products by SKU that have active holds, so the list stays
    short with a large catalogue; any other product is one search away (the search box
    takes SKUs), and `?product=<SKU>` filters by any SKU.
    """

    title = "product (SKU)"
    parameter_name = "product"
    shown = 30

    def lookups(self, request, model_admin):
        skus = [product.sku for product in products_with_active_holds(limit=self.shown)]
        if self.value() and self.value() not in skus:
            skus.insert(0, self.value())
        return [(sku, sku) for sku in skus]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(product__sku=self.value())
        return queryset


def live_holds_url(product) -> str:
    """Return the hold list filtered to `product`'s live holds."""
    query = urlencode({"product": product.sku, "status__exact": "active", "expiry": "live"})
    return f"{reverse('admin:reservations_reservation_changelist')}?{query}"


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdmin):
    list_display = [
        "id", short_id_column("cart", "Cart"), "sku", "quantity", "status", "shown_as",
        time_column("expires_at", "Expires"),
    ]
    list_filter = ["status", ExpiryFilter, HoldProductFilter, "expires_at"]
    search_fields = ["cart__id", "product__sku"]
    fields = [
        "cart", "product", "quantity", "status", "shown_as",
        time_column("expires_at", "Expires at"), time_column("created_at", "Created at"),
        time_column("updated_at", "Updated at"),
    ]
    readonly_fields = fields
    date_hierarchy = "expires_at"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("product", "cart")

    @admin.display(description="SKU", ordering="product__sku")
    def sku(self, obj):
        return obj.product.sku

    @admin.display(description="Shopper sees")
    def shown_as(self, obj):
        return line_status(obj, now=timezone.now())


@admin.register(ReleaseRun)
class ReleaseRunAdmin(admin.ModelAdmin):
    """The release task's heartbeat: one row per run."""

    list_display = [
        time_column("started_at", "Started"), time_column("finished_at", "Finished"), "status",
        "released", "units", "batches", "more_left", "short_error",
    ]
    list_filter = ["status", "more_left"]
    date_hierarchy = "started_at"
    readonly_fields = [
        "task_id", "started_at", "finished_at", "status", "released", "units", "batches",
        "more_left", "error",
    ]

    @admin.display(description="Error")
    def short_error(self, obj):
        return obj.error[:120]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ReservationInline(admin.TabularInline):
    """A cart's lines, each titled like `3 × TEE-BLK-M (active, expires 14:05:09 UTC)`."""

    model = Reservation
    verbose_name = "hold"
    verbose_name_plural = "holds"
    fields = [
        "sku", "quantity", "shown_as", time_column("expires_at", "Expires"),
        time_column("updated_at", "Updated"),
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("product")

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="SKU")
    def sku(self, obj):
        return obj.product.sku

    @admin.display(description="Shopper sees")
    def shown_as(self, obj):
        return line_status(obj, now=timezone.now())


@admin.register(Cart)
class CartAdmin(admin.ModelAdmin):
    """Carts move only through the services: their pages are read-only; staff release a
    cart's holds (an action of the list) or delete it."""

    list_display = [
        short_id_column("id", "Cart"), "status", "line_count", "units_held",
        time_column("expires_at", "Expires"), time_column("created_at", "Created"),
    ]
    list_filter = ["status"]
    search_fields = ["id"]
    fields = [
        "id", "status", time_column("expires_at", "Expires at"),
        time_column("holds_started_at", "First hold at"), time_column("created_at", "Created at"),
        time_column("updated_at", "Updated at"),
    ]
    readonly_fields = fields
    inlines = [ReservationInline]
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        return carts_with_lines()

    @admin.display(description="Lines", ordering="line_count")
    def line_count(self, obj):
        return obj.line_count

    @admin.display(description="Units held", ordering="units_held")
    def units_held(self, obj):
        return obj.units_held

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    actions = ["release_holds"]

    @admin.action(description="Release the held stock of the selected carts")
    def release_holds(self, request, queryset):
        carts = lines = 0
        for cart in queryset.filter(status=Cart.Status.OPEN):
            lines += cart_release(cart=cart)
            carts += 1
        self.message_user(
            request, f"Released {lines} lines of {carts} cart{'' if carts == 1 else 's'}."
        )

    def get_deleted_objects(self, objs, request):
        # A cart's holds are part of it: they go with the cart, after their units are given
        # back (delete_model), even though holds alone cannot be deleted in the admin. A
        # checked-out cart stays protected by its order, which is never deleted.
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        perms_needed.discard(Reservation._meta.verbose_name)
        return deleted, counts, perms_needed, protected

    def delete_model(self, request, obj):
        with transaction.atomic():
            if obj.status == Cart.Status.OPEN:
                cart_release(cart=obj)
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for cart in queryset.filter(status=Cart.Status.OPEN):
                cart_release(cart=cart)
            super().delete_queryset(request, queryset)


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    fields = ["sku", "quantity", "unit_price", "line_total"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    """Orders are read-only records; staff confirm or cancel them with the list's actions."""

    list_display = [
        short_id_column("id", "Order"), short_id_column("cart", "Cart"), "status", "total",
        "units", time_column("payment_expires_at", "Pay by"), "key",
        time_column("created_at", "Created"),
    ]
    list_filter = ["status"]
    search_fields = ["id", "cart__id", "idempotency_key"]
    fields = [
        "id", "cart", "status", "idempotency_key", "total", time_column("created_at", "Created at"),
        time_column("payment_expires_at", "Payment expires at"),
        time_column("confirmed_at", "Confirmed at"), time_column("cancelled_at", "Cancelled at"),
        time_column("expired_at", "Expired at"),
    ]
    readonly_fields = fields
    inlines = [OrderLineInline]
    date_hierarchy = "created_at"
    actions = ["confirm_orders", "cancel_orders"]

    def _each(self, request, queryset, service, verb: str) -> None:
        actor = f"staff:{request.user.get_username()}"
        done = unchanged = 0
        refused: list[str] = []
        for order in queryset.order_by("created_at"):
            try:
                changed = service(order=order, actor=actor)[1]
            except DomainError as error:
                refused.append(f"{order.pk}: {error.detail}")
                continue
            done += changed
            unchanged += not changed
        self.message_user(
            request, f"{verb} {done} orders; {unchanged} were {verb.lower()} already."
        )
        for line in refused:
            self.message_user(request, f"Not {verb.lower()}: {line}", level=messages.WARNING)

    @admin.action(description="Confirm the payment of the selected pending orders (sell them)")
    def confirm_orders(self, request, queryset):
        self._each(request, queryset, order_confirm, "Confirmed")

    @admin.action(description="Cancel the selected orders and return their units to stock")
    def cancel_orders(self, request, queryset):
        self._each(request, queryset, order_cancel, "Cancelled")

    def has_change_permission(self, request, obj=None):
        # Nothing on the page is edited by hand: no Save buttons.
        return False

    def has_delete_permission(self, request, obj=None):
        # An order is the record of a sale: cancel it (units back, through the ledger).
        return False

    @admin.display(description="Key", ordering="idempotency_key")
    def key(self, obj):
        return short_id(obj.idempotency_key)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(units=Sum("lines__quantity"))

    @admin.display(description="Units", ordering="units")
    def units(self, obj):
        return obj.units

    def has_add_permission(self, request):
        return False


class ProductAddForm(forms.ModelForm):
    stock_on_hand = forms.IntegerField(
        min_value=0,
        max_value=MAX_STOCK,
        initial=0,
        label="On hand",
        help_text="Units physically sellable, recorded as the product's first receipt.",
    )

    class Meta:
        model = Product
        fields = ["sku", "name", "price", "is_active"]


class ProductChangeForm(forms.ModelForm):
    """The product's fields and, optionally, one stock movement: an adjustment or a count.

    The form carries the on-hand figure it showed (`expected_on_hand`). A stock change is
    applied through the service, which refuses it when the stock moved since that figure
    was read or when it would go below the units in live holds; the refusal is an error on
    the form and nothing of the save is kept. A save without a stock change never touches
    the stock, whatever figure the form showed.
    """

    # The admin view sets it to the staff member saving the form.
    actor = "staff"

    expected_on_hand = forms.IntegerField(widget=forms.HiddenInput, required=False)
    stock_adjustment = forms.IntegerField(
        required=False,
        min_value=-MAX_STOCK,
        max_value=MAX_STOCK,
        label="Adjust on hand by",
        help_text="+n units in or -n units out, recorded as an adjustment.",
    )
    stock_count = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_STOCK,
        label="Counted on hand",
        help_text="Set on hand to a count; the difference is recorded as a correction. "
        "Cannot go below the units in live holds.",
    )
    stock_reason = forms.CharField(required=False, max_length=200, label="Reason")

    class Meta:
        model = Product
        fields = ["sku", "name", "price", "is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The admin loads the product annotated with its stock: the figure shown on the
        # page and the one carried back are one read.
        shown = getattr(self.instance, "on_hand", None)
        if shown is None:
            shown = Inventory.objects.filter(pk=self.instance.pk).values_list(
                "on_hand", flat=True
            ).first()
        self.fields["expected_on_hand"].initial = shown

    def clean(self):
        cleaned = super().clean()
        adjustment = cleaned.get("stock_adjustment")
        count = cleaned.get("stock_count")
        if adjustment == 0:
            cleaned["stock_adjustment"] = adjustment = None
        if adjustment is not None and count is not None:
            raise forms.ValidationError("Give an adjustment or a count, not both.")
        if (adjustment is not None or count is not None) and cleaned.get(
            "expected_on_hand"
        ) is None:
            raise forms.ValidationError(
                "The form does not say which on-hand figure it showed: reload the page."
            )
        return cleaned

    def _post_clean(self):
        super()._post_clean()
        if not self.errors:
            self._stock_change_apply()

    def _stock_change_apply(self) -> None:
        # The admin runs the whole save in one transaction: applied here, under the
        # product row lock, the change commits with the product's other fields or not at
        # all, and a refusal is known before anything is saved.
        adjustment = self.cleaned_data.get("stock_adjustment")
        count = self.cleaned_data.get("stock_count")
        if adjustment is None and count is None:
            return
        common = {
            "product": self.instance,
            "expected_on_hand": self.cleaned_data["expected_on_hand"],
            "actor": self.actor,
            "reason": self.cleaned_data.get("stock_reason") or "",
        }
        try:
            if adjustment is not None:
                inventory_adjust(delta=adjustment, **common)
            else:
                inventory_set(on_hand=count, **{**common, "reason": common["reason"] or "count"})
        except DomainError as exc:
            field = "stock_adjustment" if adjustment is not None else "stock_count"
            self.add_error(field, f"Nothing was saved: {exc.detail}")


@admin.register(StockMovement)
class StockMovementAdmin(ReadOnlyAdmin):
    """The stock ledger: read-only, newest first. Movements are written by the services."""

    list_display = [
        time_column("created_at", "When"), "sku", "kind", "quantity", "reason", "actor",
        "short_reference",
    ]
    list_filter = ["kind", "created_at"]
    list_select_related = ["product"]
    search_fields = ["product__sku", "reference", "actor"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "product", "kind", "quantity", "reason", "actor", "reference", "created_at"
    ]

    @admin.display(description="SKU", ordering="product__sku")
    def sku(self, obj):
        return obj.product.sku

    @admin.display(description="Reference", ordering="reference")
    def short_reference(self, obj):
        return short_id(obj.reference)


class StockStateFilter(admin.SimpleListFilter):
    title = "stock"
    parameter_name = "stock"

    def lookups(self, request, model_admin):
        return StockState.choices

    def queryset(self, request, queryset):
        if self.value() in StockState.values:
            return queryset.filter(stock_state=self.value())
        return queryset


def stock_badge(product, *, now) -> str:
    """Return the badge saying why `product` can or cannot be bought, from the figures
    `products_with_stock_state` annotated."""
    state = StockState(product.stock_state)
    detail = ""
    if state == StockState.HELD and product.next_expiry is not None:
        detail = format_html(
            '<small class="stock-next">(next expiry {})</small>',
            time_until(product.next_expiry, now=now),
        )
    explained = {
        StockState.IN_STOCK: "Units are free to hold and buy.",
        StockState.HELD: "Every unit on hand is in live holds; each comes back when its "
        "hold expires or is released.",
        StockState.OUT_OF_STOCK: "Nothing on hand.",
    }[state]
    return format_html(
        '<span class="stock-badge stock-{}" title="{}">{}</span>{}',
        state.value, explained, state.label, detail,
    )


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = [
        "sku", "name", "price", "is_active", "stock", "on_hand", "held", "available",
        time_column("next_expiry", "Next expiry"),
    ]
    list_filter = [StockStateFilter, "is_active"]
    search_fields = ["sku", "name"]
    readonly_fields = [
        "stock_explained", "on_hand", "held", "available", "movements", "created_at",
        "updated_at",
    ]
    add_fieldsets = [(None, {"fields": ["sku", "name", "price", "is_active", "stock_on_hand"]})]
    change_fieldsets = [
        (None, {"fields": ["sku", "name", "price", "is_active"]}),
        (
            "Stock",
            {
                "fields": [
                    "stock_explained", "on_hand", "held", "available", "expected_on_hand",
                    "stock_adjustment", "stock_count", "stock_reason",
                ]
            },
        ),
        ("Stock movements", {"fields": ["movements"]}),
        (None, {"fields": ["created_at", "updated_at"]}),
    ]

    class Media:
        css = {"all": ["reservations/admin.css"]}

    def get_queryset(self, request):
        return products_with_stock_state(include_inactive=True)

    @admin.display(description="Stock", ordering="stock_state")
    def stock(self, obj):
        return stock_badge(obj, now=timezone.now())

    @admin.display(description="Stock status")
    def stock_explained(self, obj):
        now = timezone.now()
        lines = [stock_badge(obj, now=now)]
        if obj.next_expiry is not None:
            lines.append(format_html(
                "Next hold expiry: {} ({})",
                time_shown(obj.next_expiry), time_until(obj.next_expiry, now=now),
            ))
            lines.append(format_html(
                '<a href="{}">The live holds of this product</a>', live_holds_url(obj)
            ))
        else:
            lines.append("No live holds.")
        return format_html_join("", "<div>{}</div>", ((line,) for line in lines))

    def get_fieldsets(self, request, obj=None):
        return self.change_fieldsets if obj else self.add_fieldsets

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = ProductChangeForm if obj else ProductAddForm
        form = super().get_form(request, obj, change=change, **kwargs)
        form.actor = f"staff:{request.user.get_username()}"
        return form

    @admin.display(description="On hand", ordering="on_hand")
    def on_hand(self, obj):
        return obj.on_hand

    @admin.display(description="Held", ordering="held")
    def held(self, obj):
        held = getattr(obj, "held", 0)
        if not held:
            return held
        return format_html(
            '<a href="{}" title="The live holds of this product">{}</a>',
            live_holds_url(obj), held,
        )

    @admin.display(description="Available", ordering="available")
    def available(self, obj):
        return getattr(obj, "available", 0)

    @admin.display(description="Newest first")
    def movements(self, obj):
        rows = StockMovement.objects.filter(product=obj).order_by("-id")[:_MOVEMENTS_SHOWN]
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    time_shown(m.created_at), m.get_kind_display(),
                    f"{m.quantity:+d}", m.reason, m.actor, m.reference,
                )
                for m in rows
            ),
        )
        everything = reverse("admin:store_stockmovement_changelist")
        everything += f"?product__id__exact={obj.pk}"
        return format_html(
            "<table><thead><tr><th>When</th><th>Kind</th><th>Units</th><th>Reason</th>"
            "<th>By</th><th>Reference</th></tr></thead><tbody>{}</tbody></table>"
            '<p><a href="{}">All movements of this product</a></p>',
            body,
            everything,
        )

    def save_model(self, request, obj, form, change):
        # The admin's save is one transaction: the product and its stock row (and the
        # receipt of its initial stock) are created together or not at all. A change's
        # stock movement was applied by the form, in the same transaction.
        super().save_model(request, obj, form, change)
        if not change:
            inventory_open(
                product=obj,
                on_hand=form.cleaned_data["stock_on_hand"],
                actor=f"staff:{request.user.get_username()}",
            )
