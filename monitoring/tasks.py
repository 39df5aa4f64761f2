"""Periodic monitoring on beat. It cannot see beat itself die: the health endpoint, the
request-path watchdog and Sentry Crons cover that."""

from celery import shared_task

from monitoring.services import health_alerts_run, records_prune

HEALTH_TASK_NAME = "monitoring.tasks.check_reservation_health"
PRUNE_TASK_NAME = "monitoring.tasks.prune_old_records"


@shared_task(name=HEALTH_TASK_NAME, acks_late=True, soft_time_limit=50, time_limit=60)
def check_reservation_health() -> dict:
    """Alert on a backlog over the threshold, a stale release job or counter drift."""
    return health_alerts_run()


@shared_task(name=PRUNE_TASK_NAME, acks_late=True, soft_time_limit=1800, time_limit=1860)
def prune_old_records() -> dict:
    """Delete what ended more than PRUNE_RETENTION_DAYS ago (orders and the ledger stay)."""
    return records_prune()
