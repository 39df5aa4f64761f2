"""Admin for carts, holds and orders (read-only: they move only through the services), and
for products, whose page shows the units in live holds and sets stock past them."""

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.errors import DomainError
from reservations.models import Cart, Order, OrderLine, ReleaseRun, Reservation
from reservations.selectors import line_status, products_with_availability
from reservations.services import cart_release, inventory_set
from store.models import Inventory, Product


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


@admin.register(Reservation)
class ReservationAdmin(admin.ModelAdmin):
    list_display = ["id", "cart", "sku", "quantity", "status", "shown_as", "expires_at"]
    list_filter = ["status", ExpiryFilter, "expires_at"]
    list_select_related = ["product", "cart"]
    search_fields = ["cart__id", "product__sku"]
    readonly_fields = [
        "cart", "product", "quantity", "status", "expires_at", "created_at", "updated_at"
    ]
    date_hierarchy = "expires_at"

    @admin.display(description="SKU", ordering="product__sku")
    def sku(self, obj):
        return obj.product.sku

    @admin.display(description="Shopper sees")
    def shown_as(self, obj):
        return line_status(obj, now=timezone.now())

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ReleaseRun)
class ReleaseRunAdmin(admin.ModelAdmin):
    """The release task's heartbeat: one row per run."""

    list_display = [
        "started_at", "finished_at", "status", "released", "units", "batches", "more_left",
        "short_error",
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
    model = Reservation
    fields = ["product", "quantity", "status", "expires_at", "updated_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("product")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Cart)
class CartAdmin(admin.ModelAdmin):
    list_display = ["id", "status", "line_count", "units_held", "expires_at", "created_at"]
    list_filter = ["status"]
    search_fields = ["id"]
    readonly_fields = ["id", "status", "expires_at", "created_at", "updated_at"]
    exclude = ["token_hash"]
    inlines = [ReservationInline]
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        open_line = Q(holds__status__in=[Reservation.Status.ACTIVE, Reservation.Status.EXPIRED])
        active = Q(holds__status=Reservation.Status.ACTIVE)
        return (
            super()
            .get_queryset(request)
            .annotate(
                line_count=Count("holds", filter=open_line),
                units_held=Coalesce(Sum("holds__quantity", filter=active), 0),
            )
        )

    @admin.display(description="Lines", ordering="line_count")
    def line_count(self, obj):
        return obj.line_count

    @admin.display(description="Units in active holds")
    def units_held(self, obj):
        return obj.units_held

    def has_add_permission(self, request):
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
    fields = ["product", "sku", "quantity", "unit_price", "line_total"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["id", "cart", "total", "units", "idempotency_key", "created_at"]
    search_fields = ["id", "cart__id", "idempotency_key"]
    readonly_fields = ["id", "cart", "idempotency_key", "total", "created_at"]
    inlines = [OrderLineInline]
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(units=Sum("lines__quantity"))

    @admin.display(description="Units", ordering="units")
    def units(self, obj):
        return obj.units

    def has_add_permission(self, request):
        return False


class ProductAdminForm(forms.ModelForm):
    stock_on_hand = forms.IntegerField(
        min_value=0,
        label="On hand",
        help_text="Units physically sellable. Cannot go below the units in live holds.",
    )

    class Meta:
        model = Product
        fields = ["sku", "name", "price", "is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            inventory = Inventory.objects.filter(pk=self.instance.pk).first()
            self.fields["stock_on_hand"].initial = inventory.on_hand if inventory else 0


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    form = ProductAdminForm
    list_display = ["sku", "name", "price", "is_active", "on_hand", "held", "available"]
    list_filter = ["is_active"]
    search_fields = ["sku", "name"]
    readonly_fields = ["held", "available", "created_at", "updated_at"]

    def get_queryset(self, request):
        return products_with_availability(include_inactive=True)

    @admin.display(description="On hand", ordering="on_hand")
    def on_hand(self, obj):
        return obj.on_hand

    @admin.display(description="Held (live holds)", ordering="held")
    def held(self, obj):
        return getattr(obj, "held", 0)

    @admin.display(description="Available", ordering="available")
    def available(self, obj):
        return getattr(obj, "available", 0)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        try:
            inventory_set(product=obj, on_hand=form.cleaned_data["stock_on_hand"])
        except DomainError as exc:
            messages.error(request, f"Stock not changed: {exc.detail}")
