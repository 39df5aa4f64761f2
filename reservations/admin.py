"""Admin for holds: read-only, since holds move only through the services."""

from datetime import timedelta

from django.contrib import admin
from django.utils import timezone

from reservations.models import ReleaseRun, Reservation
from reservations.selectors import line_status


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
