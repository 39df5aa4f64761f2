"""The monitoring summary on the admin's home page: a thin caller of the checks."""

from django import template
from django.utils import timezone

from monitoring.checks import backlog_get, heartbeat_get

register = template.Library()


@register.inclusion_tag("admin/monitoring/summary.html")
def monitoring_summary() -> dict:
    """The release job's state and the expired backlog, linking to the dashboard."""
    now = timezone.now()
    return {"backlog": backlog_get(now=now), "heartbeat": heartbeat_get(now=now)}
