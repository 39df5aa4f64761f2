"""Admin for products and their stock, carts and orders."""

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce

from reservations.models import Reservation
from reservations.selectors import products_with_availability
from store.errors import DomainError
from store.models import Cart, Inventory, Order, OrderLine, Product
from store.services import inventory_set


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
    list_display = ["id", "status", "user", "line_count", "units_held", "expires_at", "created_at"]
    list_filter = ["status"]
    search_fields = ["id"]
    list_select_related = ["user"]
    readonly_fields = ["id", "status", "user", "expires_at", "created_at", "updated_at"]
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
