"""Celery tasks of the webhooks: the periodic dispatch and one attempt per delivery."""

from datetime import datetime

from celery import shared_task

from webhooks.services import deliveries_claim, delivery_send

DISPATCH_TASK_NAME = "webhooks.tasks.dispatch_webhook_deliveries"
DELIVER_TASK_NAME = "webhooks.tasks.deliver_webhook"


@shared_task(name=DISPATCH_TASK_NAME, acks_late=True, soft_time_limit=50, time_limit=60)
def dispatch_webhook_deliveries() -> dict:
    """Claim the due deliveries and enqueue one attempt for each."""
    claims = deliveries_claim()
    for claim in claims:
        # A message still queued when its lease ends is dropped: the delivery is due
        # again by then, and the next dispatch claims it anew.
        deliver_webhook.apply_async(
            args=[claim.delivery_id, claim.lease.isoformat()], expires=claim.lease
        )
    return {"claimed": len(claims)}


# Above any WEBHOOK_TIMEOUT_SECONDS worth having, below the WEBHOOK_LEASE_SECONDS default:
# an attempt cut short by the limit is made again once its lease ends.
@shared_task(name=DELIVER_TASK_NAME, acks_late=True, soft_time_limit=60, time_limit=75)
def deliver_webhook(delivery_id: int, lease: str | None = None) -> str:
    """POST one delivery once and record the outcome."""
    return delivery_send(
        delivery_id=delivery_id, lease=datetime.fromisoformat(lease) if lease else None
    )
