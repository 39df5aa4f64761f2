"""Signal handlers: failures elsewhere become alerts (the release task, given-up webhook
deliveries); shopper activity pokes the watchdog; `migrate` writes the periodic tasks and
the first start."""

import logging

from monitoring.alerts import alert_send
from monitoring.schedule import schedule_sync
from monitoring.services import first_start_record
from monitoring.watchdog import release_watchdog_poke
from reservations.tasks import RELEASE_TASK_NAME

logger = logging.getLogger("stockhold.alerts")

RELEASE_FAILED_KEY = "release_task_failed"
# One key per endpoint: a dead endpoint's given-up deliveries alert once per cooldown,
# and each is recorded (suppressed repeats included) under Alerts.
WEBHOOK_FAILED_KEY = "webhook_delivery_failed:endpoint-{endpoint_id}"


def _exception_fields(exception) -> tuple[str, str]:
    # Celery may hand over an UnpickleableExceptionWrapper; it keeps the original names.
    exc_type = getattr(exception, "exc_cls_name", None) or type(exception).__name__
    try:
        exc_message = str(getattr(exception, "exc_message", None) or exception)
    except Exception:  # noqa: BLE001 - an exception whose str() fails
        exc_message = repr(type(exception))
    return exc_type, exc_message


def release_task_failed(sender=None, task_id=None, exception=None, **kwargs) -> None:
    """Alert when the release task has failed for good.

    Celery sends `task_failure` once per failed run, after its last retry: earlier
    attempts raise `Retry` from autoretry and send `task_retry` instead. The signal is
    sent while the task's request is still pushed, so `sender.request.retries` is the
    number of retries the failed run had. Never raises.
    """
    try:
        if getattr(sender, "name", None) != RELEASE_TASK_NAME:
            return
        request = getattr(sender, "request", None)
        retries = getattr(request, "retries", None)
        exc_type, exc_message = _exception_fields(exception)
        alert_send(
            key=RELEASE_FAILED_KEY,
            title="release task failed",
            message=f"{exc_type}: {exc_message} (task {task_id}, after {retries} retries)",
            severity="error",
            context={
                "task_id": task_id,
                "task_name": RELEASE_TASK_NAME,
                "exception_type": exc_type,
                "exception_message": exc_message,
                "retries": retries,
                "max_retries": getattr(sender, "max_retries", None),
                "hostname": getattr(request, "hostname", None),
            },
        )
    except Exception:  # noqa: BLE001 - a failing alert must not fail the worker
        logger.exception("could not alert on a failed release task %s", task_id)


def webhook_delivery_given_up(sender=None, delivery=None, **kwargs) -> None:
    """Alert when a webhook delivery was given up on.

    Connected to webhooks.signals.delivery_given_up, which is sent once per delivery, by
    the attempt that marked it failed. The endpoint's URL stays out of the alert (URLs
    can carry a token); its id and description name it. Never raises.
    """
    try:
        event, endpoint = delivery.event, delivery.endpoint
        alert_send(
            key=WEBHOOK_FAILED_KEY.format(endpoint_id=endpoint.pk),
            title="webhook delivery failed",
            message=f"Gave up on {event.type} event {event.id} to endpoint {endpoint.pk} "
            f"({endpoint.description or 'no description'}) after {delivery.attempts} "
            f"attempts; last error: {delivery.last_error or 'none'}. Retry it from the "
            "admin (Deliveries) once the endpoint answers.",
            severity="error",
            context={
                "delivery_id": delivery.pk,
                "event_id": str(event.id),
                "event_type": event.type,
                "endpoint_id": endpoint.pk,
                "attempts": delivery.attempts,
                "last_status_code": delivery.last_status_code,
                "last_error": delivery.last_error[:500],
            },
        )
    except Exception:  # noqa: BLE001 - a failing alert must not fail the worker
        logger.exception("could not alert on a given-up webhook delivery")


def cart_changed_poke(sender=None, **kwargs) -> None:
    """Check the release heartbeat when a shopper changes a cart (the request-path watchdog).

    Connected to reservations.signals.cart_changed. Never raises.
    """
    release_watchdog_poke()


def migrated(sender, **kwargs) -> None:
    """After `migrate`: the periodic tasks exist (staff can see and pause them), and the
    first start is recorded if this is the first."""
    schedule_sync()
    first_start_record()
