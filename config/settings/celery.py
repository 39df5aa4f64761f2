"""Celery: the broker, task defaults and the beat schedule of the periodic tasks."""

from config.settings.base import REDIS_URL, env
from config.settings.holds import (
    MONITORING_CHECK_INTERVAL_SECONDS,
    RESERVATION_RELEASE_INTERVAL_SECONDS,
)
from config.settings.webhooks import WEBHOOK_DISPATCH_INTERVAL_SECONDS

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Must exceed the longest retry countdown, or Redis redelivers a waiting retry.
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Task events on by default, so Flower sees every run, retry and failure.
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# The periodic tasks: beat writes them into django-celery-beat's tables when it starts, and
# so does `migrate` (monitoring.schedule); staff see and pause them in the admin, and a
# pause is kept. A run that could not start within its interval expires: the next one does
# the same work, so a stalled worker never finds a pile of stale runs.
CELERY_BEAT_SCHEDULE = {
    "Release expired holds": {
        "task": "reservations.tasks.release_expired_reservations",
        "schedule": RESERVATION_RELEASE_INTERVAL_SECONDS,
        "options": {"expire_seconds": RESERVATION_RELEASE_INTERVAL_SECONDS},
        "description": "Moves expired holds to `expired` in batches and records a heartbeat. "
        "Stock is correct without it; monitoring needs it.",
    },
    "Check reservation health": {
        "task": "monitoring.tasks.check_reservation_health",
        "schedule": MONITORING_CHECK_INTERVAL_SECONDS,
        "options": {"expire_seconds": MONITORING_CHECK_INTERVAL_SECONDS},
        "description": "Alerts when the expired backlog passes the threshold, the release job "
        "is stale or a stock counter drifts, and sends 'recovered' when they clear.",
    },
    "Prune old records": {
        "task": "monitoring.tasks.prune_old_records",
        "schedule": 24 * 3600,
        "options": {"expire_seconds": 3600},
        "description": "Deletes terminal holds, idle empty carts, release runs, alerts and "
        "webhook events with no pending delivery older than PRUNE_RETENTION_DAYS, in small "
        "batches. Orders are kept.",
    },
    "Dispatch webhook deliveries": {
        "task": "webhooks.tasks.dispatch_webhook_deliveries",
        "schedule": WEBHOOK_DISPATCH_INTERVAL_SECONDS,
        "options": {"expire_seconds": WEBHOOK_DISPATCH_INTERVAL_SECONDS},
        "description": "Claims the webhook deliveries that are due (new, or retries whose "
        "backoff is over) and enqueues one signed POST for each. Events wait in the outbox "
        "while it does not run; none is lost.",
    },
}
