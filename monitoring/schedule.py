"""The periodic health check's beat schedule, written by `migrate`."""

from django.conf import settings

from monitoring.tasks import HEALTH_TASK_NAME
from reservations.schedule import periodic_task_ensure

HEALTH_SCHEDULE_NAME = "Check reservation health"


def health_schedule_ensure() -> None:
    """The health check, every MONITORING_CHECK_INTERVAL_SECONDS."""
    periodic_task_ensure(
        name=HEALTH_SCHEDULE_NAME,
        task=HEALTH_TASK_NAME,
        every=settings.MONITORING_CHECK_INTERVAL_SECONDS,
        description="Alerts when the expired backlog passes the threshold, the release job "
        "is stale or a stock counter drifts, and sends 'recovered' when they clear.",
    )


def _on_post_migrate(sender, **kwargs) -> None:
    health_schedule_ensure()
