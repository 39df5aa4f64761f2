"""Celery tasks of the holds app."""

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from reservations.services.release import release_run

RELEASE_TASK_NAME = "reservations.tasks.release_expired_reservations"

# Transient database errors: a restart, a dropped connection, a lock timeout (PostgreSQL's
# LockNotAvailable is an OperationalError). Anything else is a bug and fails at once.
TRANSIENT_ERRORS = (OperationalError, InterfaceError)


@shared_task(
    name=RELEASE_TASK_NAME,
    bind=True,
    acks_late=True,
    autoretry_for=TRANSIENT_ERRORS,
    max_retries=settings.RESERVATION_RELEASE_MAX_RETRIES,
    retry_backoff=settings.RESERVATION_RELEASE_RETRY_BACKOFF,
    retry_backoff_max=settings.RESERVATION_RELEASE_RETRY_BACKOFF_MAX,
    retry_jitter=settings.RESERVATION_RELEASE_RETRY_JITTER,
    soft_time_limit=settings.RESERVATION_RELEASE_SOFT_TIME_LIMIT,
    time_limit=settings.RESERVATION_RELEASE_TIME_LIMIT,
)
def release_expired_reservations(self) -> dict:
    """Release expired holds in batches and record the run's heartbeat."""
    run = release_run(task_id=self.request.id or "")
    return {"released": run.released, "units": run.units, "more_left": run.more_left}
