"""Turn the checks into alerts: the periodic health check's work."""

import logging
from dataclasses import asdict
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from monitoring.alerts import alert_resolve, alert_send
from monitoring.checks import Cause, Heartbeat, backlog_get, heartbeat_get, release_stale_causes
from monitoring.models import Alert, FirstStart
from reservations.services.prune import batches_delete, ended_prune
from reservations.services.reconcile import StockFigures, stock_drift_find
from webhooks.services import events_prune

logger = logging.getLogger(__name__)

BACKLOG_KEY = "reservation_backlog"
STALE_KEY = "release_job_stale"


def first_start_record(*, now: datetime | None = None) -> datetime:
    """Record when the service first started on this database, once; return that instant."""
    first, _ = FirstStart.objects.get_or_create(
        id=1, defaults={"started_at": now or timezone.now()}
    )
    return first.started_at


def backlog_alert_check(*, now: datetime | None = None) -> int:
    """Alert when the expired backlog passes the threshold; send "recovered" when it falls back.

    Returns the backlog. Alerts are deduplicated per key with the cooldown; the recovery
    notice goes out once, and only after a problem was sent.
    """
    now = now or timezone.now()
    backlog = backlog_get(now=now)
    if backlog.over:
        alert_send(
            key=BACKLOG_KEY,
            title="expired hold backlog over threshold",
            message=f"{backlog.summary()} have waited more than "
            f"{backlog.grace_seconds} s for release (threshold {backlog.threshold}). "
            "Stock is still right; the release job is falling behind.",
            severity="warning",
            context=backlog.as_dict(),
            now=now,
        )
    else:
        alert_resolve(
            key=BACKLOG_KEY,
            title="expired hold backlog recovered",
            message=f"{backlog.summary()} waiting for release "
            f"(threshold {backlog.threshold}).",
            context=backlog.as_dict(),
            now=now,
        )
    return backlog.expired_holds


def _causes_find(heartbeat: Heartbeat, *, now: datetime | None) -> list[Cause]:
    # The alert must go out even when finding its causes fails (the database may be what
    # broke): without them it still says what is wrong.
    try:
        return release_stale_causes(now=now, heartbeat=heartbeat)
    except Exception:  # noqa: BLE001
        logger.exception("could not find why the release job is stale")
        return []


def stale_alert_send(
    heartbeat: Heartbeat, *, noticed_by: str, now: datetime | None = None
) -> None:
    """Send "release job stale" for a stale heartbeat (deduplicated per cooldown), with its
    causes when they can be known (`release_stale_causes`)."""
    since = (
        f"for {heartbeat.seconds_since_success:.0f} s"
        if heartbeat.seconds_since_success is not None
        else "ever"
    )
    causes = _causes_find(heartbeat, now=now)
    why = (
        "Why: " + " ".join(cause.text for cause in causes)
        if causes
        else "No cause found from here; check Celery beat and the worker."
    )
    alert_send(
        key=STALE_KEY,
        title="release job stale",
        message=f"No successful release of expired holds {since} (stale after "
        f"{settings.RESERVATION_RELEASE_STALE_SECONDS} s). Shoppers are unaffected. {why}",
        severity="error",
        context={
            **heartbeat.as_dict(),
            "causes": [cause.as_dict() for cause in causes],
            "noticed_by": noticed_by,
        },
        now=now,
    )


def stale_alert_check(*, now: datetime | None = None) -> bool:
    """Alert when the release job has not succeeded lately; "recovered" when it has again."""
    now = now or timezone.now()
    heartbeat = heartbeat_get(now=now)
    if heartbeat.stale:
        stale_alert_send(heartbeat, noticed_by="health check", now=now)
    else:
        alert_resolve(
            key=STALE_KEY,
            title="release job recovered",
            message=(
                "No release has run yet, and none was due."
                if heartbeat.seconds_since_success is None
                else f"The release job succeeded {heartbeat.seconds_since_success:.0f} s ago."
            ),
            context=heartbeat.as_dict(),
            now=now,
        )
    return heartbeat.stale


def stock_drift_alert_check(*, now: datetime | None = None) -> list[StockFigures]:
    """Report drift as an alert (deduplicated); send "recovered" when it is gone."""
    now = now or timezone.now()
    drifts = stock_drift_find()
    if drifts:
        shown = ", ".join(f"{d.sku} ({d.problem})" for d in drifts[:10])
        alert_send(
            key="stock_counter_drift",
            title="stock counter drift",
            message=f"{len(drifts)} products' stock counters differ from their active holds "
            f"or their ledger: {shown}. Run `manage.py reconcile_stock --repair` (it repairs "
            "`reserved`; on hand against the ledger needs a count).",
            severity="error",
            context={"drifts": [asdict(d) for d in drifts[:50]], "count": len(drifts)},
            now=now,
        )
    else:
        alert_resolve(
            key="stock_counter_drift",
            title="stock counter drift resolved",
            message="Every product's counters match its active holds and its ledger.",
            now=now,
        )
    return drifts


def health_alerts_run(*, now: datetime | None = None) -> dict:
    """Run every alerting check once; what the periodic task and the command call."""
    now = now or timezone.now()
    return {
        "backlog": backlog_alert_check(now=now),
        "release_stale": stale_alert_check(now=now),
        "drifted_products": len(stock_drift_alert_check(now=now)),
    }


def records_prune(*, now: datetime | None = None) -> dict[str, int]:
    """Delete what ended more than PRUNE_RETENTION_DAYS ago: terminal holds, idle empty
    carts, release runs, alerts, and webhook events with their deliveries (unless one is
    still pending). Orders, active holds and open problems' cooldowns stay."""
    before = (now or timezone.now()) - timedelta(days=settings.PRUNE_RETENTION_DAYS)
    batch_size = settings.PRUNE_BATCH_SIZE
    counts = ended_prune(before=before, batch_size=batch_size)
    counts["alerts"] = batches_delete(
        Alert.objects.filter(created_at__lt=before), batch_size=batch_size
    )
    counts["webhook_events"] = events_prune(before=before, batch_size=batch_size)
    return counts
