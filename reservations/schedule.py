"""Beat schedules kept in the database for django-celery-beat, written by `migrate`."""

from django.conf import settings
from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from reservations.tasks import RELEASE_TASK_NAME

RELEASE_SCHEDULE_NAME = "Release expired holds"


def periodic_task_ensure(*, name: str, task: str, every: int, description: str) -> None:
    """Create or update an interval schedule; keep whether staff paused it.

    A run that could not start within one interval expires: the next one does the same
    work, so a stalled worker never finds a pile of stale runs.
    """
    with transaction.atomic():
        interval, _ = IntervalSchedule.objects.get_or_create(
            every=every, period=IntervalSchedule.SECONDS
        )
        wanted = {
            "task": task,
            "interval": interval,
            "expire_seconds": every,
            "description": description,
        }
        periodic, created = PeriodicTask.objects.get_or_create(name=name, defaults=wanted)
        if not created and any(
            getattr(periodic, field) != value for field, value in wanted.items()
        ):
            for field, value in wanted.items():
                setattr(periodic, field, value)
            periodic.save()


def release_schedule_ensure() -> None:
    """The release task, every RESERVATION_RELEASE_INTERVAL_SECONDS."""
    periodic_task_ensure(
        name=RELEASE_SCHEDULE_NAME,
        task=RELEASE_TASK_NAME,
        every=settings.RESERVATION_RELEASE_INTERVAL_SECONDS,
        description="Moves expired holds to `expired` in batches and records a heartbeat. "
        "Stock is correct without it; monitoring needs it.",
    )


def _on_post_migrate(sender, **kwargs) -> None:
    release_schedule_ensure()
