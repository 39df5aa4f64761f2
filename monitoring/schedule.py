"""The periodic tasks of `CELERY_BEAT_SCHEDULE`, written into django-celery-beat's tables.

Beat writes them when it starts; `migrate` writes them too, so staff can see and pause a
task before beat ever ran. Both go through django-celery-beat's own `ModelEntry`, which
updates an entry's task, interval and options and keeps whether staff paused it.
"""

from django.conf import settings
from django.db import transaction
from django_celery_beat.schedulers import ModelEntry


def schedule_sync() -> None:
    """Write every entry of `CELERY_BEAT_SCHEDULE` as beat does at its start."""
    with transaction.atomic():
        for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
            ModelEntry.from_entry(name, **entry)
