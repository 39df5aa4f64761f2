"""Admin pieces shared by the apps: how times and long ids are shown, and a read-only base.

Every admin list shows times one way, `2026-12-06 14:05:09 UTC` (24-hour, seconds, the
zone named), through `time_column`, and long ids (UUIDs, keys) by their first characters
with the whole id on hover, through `short_id`.
"""

from django.contrib import admin
from django.utils.html import format_html

from core.display import EMPTY, time_shown

SHORT_ID_LENGTH = 8


def time_column(field: str, description: str):
    """Return a column (for `list_display` or `readonly_fields`) that shows the time in
    `field` with `time_shown`, sorted by the field."""

    @admin.display(description=description, ordering=field)
    def column(obj):
        return time_shown(getattr(obj, field))

    column.__name__ = f"{field}_shown"
    return column


def short_id(value) -> str:
    """Return a long id as its first characters, the whole id in the title (on hover)."""
    if value is None or value == "":
        return EMPTY
    full = str(value)
    if len(full) <= SHORT_ID_LENGTH:
        return full
    return format_html('<span title="{}">{}…</span>', full, full[:SHORT_ID_LENGTH])


def short_id_column(field: str, description: str):
    """Return a list column that shows the id in the model field `field` (its own value, or
    for a relation the related row's id, read without a query) with `short_id`."""

    @admin.display(description=description, ordering=field)
    def column(obj):
        return short_id(getattr(obj, obj._meta.get_field(field).attname))

    column.__name__ = f"{field}_short"
    return column


class ReadOnlyAdmin(admin.ModelAdmin):
    """A record staff may read and never add, change or delete (runs, alerts, movements)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
