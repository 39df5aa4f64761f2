"""Admin for products and their stock."""

from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from core.errors import DomainError
from reservations.selectors import products_with_availability
from store.models import Inventory, Product
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
        return products_with_availability(now=timezone.now(), include_inactive=True)

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
