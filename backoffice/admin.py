"""Admin of API keys (list, create, revoke; a key's secret is shown once, never again) and
of the requests back-office clients sent with an Idempotency-Key (read-only)."""

from django import forms
from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils.html import format_html

from backoffice.models import ApiKey, IdempotentRequest
from backoffice.services import api_key_create, api_key_name_check, api_key_revoke
from core.admin import ReadOnlyAdmin, short_id, time_column
from core.errors import DomainError


class ApiKeyAddForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["name"]
        help_texts = {
            "name": "Who uses the key, e.g. erp or warehouse-sync: letters, digits, '.', '_', "
            "'-'. The stock ledger names its changes api-key:<name>.",
        }

    def clean_name(self):
        try:
            return api_key_name_check(name=self.cleaned_data["name"])
        except DomainError as exc:
            raise forms.ValidationError(exc.detail) from None


class RevokedFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("live", "Live"), ("revoked", "Revoked")]

    def queryset(self, request, queryset):
        if self.value() == "live":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are made by the service (the secret is shown once, on the page answering the
    save, and kept nowhere: not in a message, not in a cookie) and revoked, never edited
    or deleted."""

    list_display = [
        "name", "key_prefix", time_column("created_at", "Created"),
        time_column("last_used_at", "Last used"), time_column("revoked_at", "Revoked"),
    ]
    list_filter = [RevokedFilter]
    search_fields = ["name", "prefix"]
    readonly_fields = ["name", "key_prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke_keys"]

    @admin.display(description="Key starts", ordering="prefix")
    def key_prefix(self, obj):
        return format_html("<code>sh_{}_…</code>", obj.prefix)

    @admin.action(description="Revoke the selected API keys")
    def revoke_keys(self, request, queryset):
        revoked = sum(api_key_revoke(api_key=api_key) for api_key in queryset)
        already = queryset.count() - revoked
        self.message_user(request, f"Revoked {revoked} API keys; {already} were revoked already.")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return ["name"] if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def has_change_permission(self, request, obj=None):
        # A key's page is for reading; revoking is the list's action.
        return False

    def has_delete_permission(self, request, obj=None):
        # The ledger names keys: revoke one instead.
        return False

    def save_model(self, request, obj, form, change):
        api_key, key = api_key_create(name=form.cleaned_data["name"])
        obj.pk, obj.prefix, obj.created_at = api_key.pk, api_key.prefix, api_key.created_at
        obj.secret_hash = api_key.secret_hash
        obj._state.adding = False
        request._api_key_created = key

    def response_add(self, request, obj, post_url_continue=None):
        response = TemplateResponse(
            request,
            "admin/backoffice/apikey/created.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": "API key created",
                "api_key": obj,
                "key": request._api_key_created,
            },
        )
        # The only time the key is shown: no copy in any cache.
        response["Cache-Control"] = "no-store"
        return response


@admin.register(IdempotentRequest)
class IdempotentRequestAdmin(ReadOnlyAdmin):
    """Writes sent with an Idempotency-Key and their answers (stock batches)."""

    list_display = [
        time_column("created_at", "Created"), "api_key", "short_key", "status_code",
        time_column("completed_at", "Completed"),
    ]
    list_filter = ["status_code", "api_key"]
    list_select_related = ["api_key"]
    search_fields = ["key", "api_key__name"]
    readonly_fields = [
        "api_key", "key", "fingerprint", "status_code", "response", "created_at", "completed_at"
    ]

    @admin.display(description="Idempotency-Key", ordering="key")
    def short_key(self, obj):
        return short_id(obj.key)
