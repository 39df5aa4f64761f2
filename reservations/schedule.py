"""The release task's beat schedule, kept in the database for django-celery-beat."""

from django.conf import settings
from django.db import transaction

from reservations.tasks import RELEASE_TASK_NAME

RELEASE_SCHEDULE_NAME = "Release expired holds"


def release_schedule_ensure() -> None:
    """Create or update the release schedule from the settings; keep staff's pause."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every = settings.RESERVATION_RELEASE_INTERVAL_SECONDS
    with transaction.atomic():
        interval, _ = IntervalSchedule.objects.get_or_create(
            every=every, period=IntervalSchedule.SECONDS
        )
        wanted = {
            "task": RELEASE_TASK_NAME,
            "interval": interval,
            # A run that could not start within one interval is dropped: the next one
            # does the same work, so a stalled worker never finds a pile of stale runs.
            "expire_seconds": every,
            "description": "Moves expired holds to `expired` in batches and records a "
            "heartbeat. Stock is correct without it; monitoring needs it.",
        }
        task, created = PeriodicTask.objects.get_or_create(
            name=RELEASE_SCHEDULE_NAME, defaults=wanted
        )
        if not created and any(getattr(task, field) != value for field, value in wanted.items()):
            for field, value in wanted.items():
                setattr(task, field, value)
            task.save()


def _on_post_migrate(sender, **kwargs) -> None:
    release_schedule_ensure()
