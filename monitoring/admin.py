"""Admin for alerts: read-only, since alerts are written only by `monitoring.alerts`."""

import json

from django.contrib import admin
from django.utils.html import format_html

from core.admin import ReadOnlyAdmin, time_column
from monitoring.models import Alert, AlertState


def _pretty(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True))


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = [
        time_column("created_at", "Created"), "key", "kind", "severity", "title", "delivered",
        "suppressed", "failed",
    ]
    list_filter = ["key", "severity", "kind", "suppressed", "delivered", "created_at"]
    search_fields = ["key", "title", "message"]
    date_hierarchy = "created_at"
    fields = [
        "created_at", "key", "kind", "severity", "title", "message",
        "delivered", "suppressed", "channels_shown", "context_shown",
    ]
    readonly_fields = fields

    @admin.display(description="failed channels")
    def failed(self, obj):
        return ", ".join(
            name for name, result in obj.channels.items() if result.get("status") == "failed"
        )

    @admin.display(description="channels")
    def channels_shown(self, obj):
        return _pretty(obj.channels)

    @admin.display(description="context")
    def context_shown(self, obj):
        return _pretty(obj.context)


@admin.register(AlertState)
class AlertStateAdmin(ReadOnlyAdmin):
    list_display = ["key", time_column("last_sent_at", "Last sent")]
    search_fields = ["key"]
    readonly_fields = ["key", "last_sent_at"]
