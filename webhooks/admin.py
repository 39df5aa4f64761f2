"""Admin for webhooks: endpoints (through the services), deliveries (read-only, with a
"retry now" action) and events (read-only)."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.utils.html import format_html

from core.admin import ReadOnlyAdmin, short_id_column, time_column
from core.errors import DomainError
from webhooks.models import Delivery, Endpoint, Event, EventType
from webhooks.services import (
    deliveries_retry,
    endpoint_create,
    endpoint_secret_rotate,
    endpoint_update,
    endpoint_url_check,
    event_types_check,
)


class EndpointForm(forms.ModelForm):
    """The endpoint's fields, validated by the services' own checks."""

    url = forms.URLField(
        max_length=Endpoint._meta.get_field("url").max_length,
        assume_scheme="https",
        label="URL",
        help_text="http:// or https://; every delivery is a POST here.",
    )
    event_types = forms.MultipleChoiceField(
        choices=EventType.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="None ticked: every event type, those added later included.",
    )

    class Meta:
        model = Endpoint
        fields = ["url", "event_types", "description", "is_active"]

    def clean_url(self):
        try:
            return endpoint_url_check(url=self.cleaned_data["url"])
        except DomainError as exc:
            raise forms.ValidationError(exc.detail) from None

    def clean_event_types(self):
        try:
            return event_types_check(event_types=self.cleaned_data["event_types"])
        except DomainError as exc:
            raise forms.ValidationError(exc.detail) from None


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = [
        "id", "url", "description", "subscribed", "is_active", time_column("created_at", "Created")
    ]
    list_filter = ["is_active"]
    search_fields = ["url", "description"]
    readonly_fields = ["secret_shown", "created_at", "updated_at"]
    actions = ["rotate_secret", "deactivate", "activate"]

    @admin.display(description="Event types")
    def subscribed(self, obj):
        return ", ".join(obj.event_types) or "all"

    @admin.display(description="Signing secret")
    def secret_shown(self, obj):
        if not obj.pk:
            return "Generated when the endpoint is saved."
        return format_html(
            "<code>{}</code><br>Receivers check each delivery's X-Stockhold-Signature with "
            "it. Rotate it with the action of the endpoint list.",
            obj.secret,
        )

    def get_fields(self, request, obj=None):
        fields = ["url", "event_types", "description", "is_active", "secret_shown"]
        return [*fields, "created_at", "updated_at"] if obj else fields

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            endpoint_update(
                endpoint=obj,
                url=data["url"],
                event_types=data["event_types"],
                description=data["description"],
                is_active=data["is_active"],
            )
            return
        created, _secret = endpoint_create(
            url=data["url"],
            event_types=data["event_types"],
            description=data["description"],
            is_active=data["is_active"],
        )
        # The admin goes on with `obj` (its change message, the redirect to its page).
        obj.pk, obj.secret, obj.created_at = created.pk, created.secret, created.created_at

    def has_delete_permission(self, request, obj=None):
        # Deliveries keep their endpoint: deactivate it instead.
        return False

    @admin.action(description="Rotate the signing secret of the selected endpoints")
    def rotate_secret(self, request, queryset):
        for endpoint in queryset:
            endpoint_secret_rotate(endpoint=endpoint)
        self.message_user(
            request,
            f"New secrets for {queryset.count()} endpoints, used from the next attempt on: "
            "give each receiver its new secret (shown on the endpoint's page).",
        )

    @admin.action(description="Deactivate the selected endpoints (no more deliveries)")
    def deactivate(self, request, queryset):
        for endpoint in queryset:
            endpoint_update(endpoint=endpoint, is_active=False)
        self.message_user(request, f"Deactivated {queryset.count()} endpoints.")

    @admin.action(description="Activate the selected endpoints")
    def activate(self, request, queryset):
        for endpoint in queryset:
            endpoint_update(endpoint=endpoint, is_active=True)
        self.message_user(request, f"Activated {queryset.count()} endpoints.")


class EventTypeFilter(admin.SimpleListFilter):
    title = "event type"
    parameter_name = "type"

    def lookups(self, request, model_admin):
        return EventType.choices

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(event__type=self.value())
        return queryset


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    """Deliveries move only through the worker; staff can make them due again."""

    list_display = [
        "id", "event_type", "endpoint", "status", "attempts", "last_status_code",
        "short_error", time_column("next_attempt_at", "Next attempt"),
        time_column("delivered_at", "Delivered"), time_column("created_at", "Created"),
    ]
    list_filter = ["status", EventTypeFilter, "endpoint"]
    list_select_related = ["event", "endpoint"]
    search_fields = ["event__id"]
    readonly_fields = [
        "event", "endpoint", "status", "attempts", "next_attempt_at", "last_status_code",
        "last_error", "delivered_at", "created_at",
    ]
    actions = ["retry_now"]

    @admin.display(description="Event type", ordering="event__type")
    def event_type(self, obj):
        return obj.event.type

    @admin.display(description="Last error")
    def short_error(self, obj):
        return obj.last_error[:120]

    @admin.action(description="Retry the selected deliveries now")
    def retry_now(self, request, queryset):
        retried = deliveries_retry(delivery_ids=list(queryset.values_list("pk", flat=True)))
        skipped = queryset.count() - retried
        self.message_user(
            request,
            f"{retried} deliveries are due now and will be sent within "
            f"{settings.WEBHOOK_DISPATCH_INTERVAL_SECONDS} s"
            + (f"; {skipped} were delivered already and left alone." if skipped else "."),
            level=messages.SUCCESS if retried else messages.WARNING,
        )


class DeliveryInline(admin.TabularInline):
    model = Delivery
    fields = ["endpoint", "status", "attempts", "last_status_code", "last_error",
              "next_attempt_at", "delivered_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("endpoint")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    """What happened, as sent: read-only."""

    list_display = [
        short_id_column("id", "Event"), "type", time_column("created_at", "Created"), "data"
    ]
    list_filter = ["type"]
    search_fields = ["id"]
    readonly_fields = ["id", "type", "data", "created_at"]
    inlines = [DeliveryInline]
    date_hierarchy = "created_at"
