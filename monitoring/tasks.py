"""Periodic monitoring on beat. It cannot see beat itself die: the health endpoint, the
request-path watchdog and Sentry Crons cover that."""

from celery import shared_task

from monitoring.services import health_alerts_run

HEALTH_TASK_NAME = "monitoring.tasks.check_reservation_health"


@shared_task(name=HEALTH_TASK_NAME, acks_late=True, soft_time_limit=50, time_limit=60)
def check_reservation_health() -> dict:
    """Alert on a backlog over the threshold, a stale release job or counter drift."""
    return health_alerts_run()
