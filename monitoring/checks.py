"""What monitoring looks at: the expired backlog (holds, and unpaid orders past their
deadline), the release task's heartbeat, and why that heartbeat went stale.

Pure reads; `monitoring.health` turns them into a report, `monitoring.tasks` and the
request-path watchdog turn them into alerts, `monitoring.metrics` into gauges.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Max
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from monitoring.models import FirstStart
from reservations.models import Order, ReleaseRun, Reservation

logger = logging.getLogger(__name__)

# The backlog counts stop here, and a count that reaches it reads "at least": far above
# the alert threshold (RESERVATION_BACKLOG_ALERT_THRESHOLD, 100 by default), so nothing is
# lost, and health, metrics and the dashboard read at most this many index entries however
# large a dead scheduler's backlog grows.
BACKLOG_COUNT_CAP = 10_000
# The count of active holds in the metrics stops here: a busy shop's live holds stay exact,
# and a scrape at a dead scheduler's million holds reads a tenth of them.
ACTIVE_HOLDS_COUNT_CAP = 100_000


def _count(queryset, *, by: str, cap: int | None) -> int:
    """Count the rows, stopping at `cap` (None: all of them).

    The rows are taken in `by` order, the key of the partial index that serves the filter,
    so a capped count is a range of that index read from its start, whatever the planner's
    statistics say (a scan of the whole table could look cheaper just after a large
    release).
    """
    if cap is None:
        return queryset.count()
    return queryset.order_by(by).values(by)[:cap].count()


def at_least(count: int, cap: int = BACKLOG_COUNT_CAP) -> str:
    """A count in words: "at least N" when it reached its cap."""
    return f"at least {count}" if count >= cap else str(count)


def backlog_grace() -> timedelta:
    return timedelta(seconds=settings.RESERVATION_BACKLOG_GRACE_SECONDS)


def backlog_count(*, now: datetime | None = None, cap: int | None = BACKLOG_COUNT_CAP) -> int:
    """Count active holds that expired more than the grace period ago (at most `cap`).

    A healthy release every minute never lets a hold wait that long, so anything counted
    here is work the release task should have done.
    """
    now = now or timezone.now()
    overdue = Reservation.objects.filter(
        status=Reservation.Status.ACTIVE, expires_at__lte=now - backlog_grace()
    )
    return _count(overdue, by="expires_at", cap=cap)


def overdue_orders_count(
    *, now: datetime | None = None, cap: int | None = BACKLOG_COUNT_CAP
) -> int:
    """Count orders still `pending_payment` more than the grace period past their payment
    deadline (at most `cap`): orders the release task should have marked `expired`."""
    now = now or timezone.now()
    overdue = Order.objects.filter(
        status=Order.Status.PENDING_PAYMENT, payment_expires_at__lte=now - backlog_grace()
    )
    return _count(overdue, by="payment_expires_at", cap=cap)


@dataclass(frozen=True)
class Backlog:
    """The expired backlog against its alert threshold: the one place that judges it.

    Both figures are counted up to `counted_up_to`: a figure equal to it means at least
    that many.
    """

    expired_holds: int
    expired_orders: int
    threshold: int
    grace_seconds: int
    counted_up_to: int = BACKLOG_COUNT_CAP

    @property
    def over(self) -> bool:
        return max(self.expired_holds, self.expired_orders) > self.threshold

    def summary(self) -> str:
        """The backlog in words, for alerts and the health report."""
        text = f"{at_least(self.expired_holds, self.counted_up_to)} expired holds"
        if self.expired_orders:
            text += (
                f" and {at_least(self.expired_orders, self.counted_up_to)} unpaid orders past "
                "their deadline"
            )
        return text

    def as_dict(self) -> dict:
        return {
            "expired_holds": self.expired_holds,
            "expired_orders": self.expired_orders,
            "counted_up_to": self.counted_up_to,
            "threshold": self.threshold,
            "grace_seconds": self.grace_seconds,
        }


def backlog_get(*, now: datetime | None = None) -> Backlog:
    """Count the expired backlog (see `backlog_count`) and judge it against the threshold."""
    return Backlog(
        expired_holds=backlog_count(now=now),
        expired_orders=overdue_orders_count(now=now),
        threshold=settings.RESERVATION_BACKLOG_ALERT_THRESHOLD,
        grace_seconds=settings.RESERVATION_BACKLOG_GRACE_SECONDS,
    )


@dataclass(frozen=True)
class Heartbeat:
    last_success_at: datetime | None
    last_run_at: datetime | None
    last_status: str | None
    last_error: str
    seconds_since_success: float | None
    stale: bool

    def as_dict(self) -> dict:
        return {
            "last_success_at": self.last_success_at,
            "last_run_at": self.last_run_at,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "seconds_since_success": self.seconds_since_success,
            "stale_after_seconds": settings.RESERVATION_RELEASE_STALE_SECONDS,
            "stale": self.stale,
        }


def heartbeat_get(*, now: datetime | None = None) -> Heartbeat:
    """Read the release task's heartbeat: its last successful run and its last run."""
    now = now or timezone.now()
    last_success_at = (
        ReleaseRun.objects.filter(status=ReleaseRun.Status.SUCCEEDED)
        .order_by("-finished_at")
        .values_list("finished_at", flat=True)
        .first()
    )
    last = (
        ReleaseRun.objects.order_by("-started_at")
        .values("started_at", "status", "error")
        .first()
    )
    last_error = (
        ReleaseRun.objects.filter(status=ReleaseRun.Status.FAILED)
        .order_by("-started_at")
        .values_list("error", flat=True)
        .first()
    )
    age = (now - last_success_at).total_seconds() if last_success_at else None
    if age is not None:
        stale = age > settings.RESERVATION_RELEASE_STALE_SECONDS
    else:
        # Never succeeded: stale once a whole window has passed since the first start.
        first = FirstStart.objects.values_list("started_at", flat=True).first()
        stale = (
            first is None
            or (now - first).total_seconds() > settings.RESERVATION_RELEASE_STALE_SECONDS
        )
    return Heartbeat(
        last_success_at=last_success_at,
        last_run_at=last["started_at"] if last else None,
        last_status=last["status"] if last else None,
        last_error=last_error or "",
        seconds_since_success=round(age, 1) if age is not None else None,
        stale=stale,
    )


# One statement for both figures. The units are the sum of the stock rows' `reserved`
# counters, which count exactly the units of active holds (the reconcile check holds them to
# it), so that figure reads one row per product, not every hold; the holds are counted as
# `_count` counts, in the order of the partial index of active holds by expiry.
_HOLD_FIGURES_SQL = """
    SELECT (SELECT count(*) FROM (SELECT 1 FROM reservations_reservation
                                  WHERE status = 'active'
                                  ORDER BY expires_at LIMIT %s) AS active),
           (SELECT coalesce(sum(reserved), 0) FROM store_inventory)
"""


def hold_figures(*, now: datetime | None = None) -> dict[str, int]:
    """Active holds, live or expired (counted up to ACTIVE_HOLDS_COUNT_CAP), and the units
    they hold, in one query."""
    with connection.cursor() as cursor:
        cursor.execute(_HOLD_FIGURES_SQL, [ACTIVE_HOLDS_COUNT_CAP])
        holds, units = cursor.fetchone()
    return {"active_holds": holds, "held_units": units}


# The task the release job runs, as beat names it in django-celery-beat's rows. A string,
# not an import: monitoring reads the schedule and never loads the task module.
RELEASE_TASK = "reservations.tasks.release_expired_reservations"
# Beat writes the last run of its entries to the database every 3 minutes (celery's
# `Scheduler.sync_every`), so a live beat's `last_run_at` can lag by that much.
BEAT_SYNC_SECONDS = 180
# Beat queues the release task every minute, and the other periodic tasks more often: this
# many messages waiting means nobody takes them, not a worker that is merely busy.
QUEUE_WAITING_THRESHOLD = 5
# The cause finder is called when something is already wrong: a hanging broker must not
# stall the dashboard or the alert for longer than this.
BROKER_TIMEOUT_SECONDS = 1.0


@dataclass(frozen=True)
class Cause:
    """One reason the release job is stale, with a stable `code` and a sentence for staff."""

    code: str
    text: str

    def as_dict(self) -> dict:
        return {"code": self.code, "text": self.text}


def _ago(now: datetime, then: datetime) -> str:
    return f"{then:%Y-%m-%d %H:%M:%S} UTC, {(now - then).total_seconds():.0f} s ago"


def _schedule_causes(*, now: datetime) -> list[Cause]:
    tasks = list(
        PeriodicTask.objects.filter(task=RELEASE_TASK).values("name", "enabled", "last_run_at")
    )
    causes = []
    if not tasks:
        causes.append(Cause(
            "release_task_unscheduled",
            f"No periodic task runs {RELEASE_TASK}: `manage.py migrate` or a start of beat "
            "writes it.",
        ))
    elif not any(task["enabled"] for task in tasks):
        names = ", ".join(f"\u201c{task['name']}\u201d" for task in tasks)
        causes.append(Cause(
            "release_task_disabled",
            f"The periodic task {names} is disabled: enable it under Periodic tasks in the "
            "admin.",
        ))
    # Beat stamps every task it sends; the newest stamp of any enabled task tells whether
    # beat runs at all, even while the release task itself is paused.
    last_sent = PeriodicTask.objects.filter(enabled=True).aggregate(at=Max("last_run_at"))["at"]
    silent_after = settings.RESERVATION_RELEASE_STALE_SECONDS + BEAT_SYNC_SECONDS
    if last_sent is None:
        if PeriodicTask.objects.filter(enabled=True).exists():
            causes.append(Cause(
                "beat_silent", "Celery beat has never sent a periodic task: is beat running?"
            ))
    elif (now - last_sent).total_seconds() > silent_after:
        causes.append(Cause(
            "beat_silent",
            f"Celery beat has sent no periodic task since {_ago(now, last_sent)}: is beat "
            "running (exactly one, with the DatabaseScheduler)?",
        ))
    return causes


def celery_queue_length(*, timeout: float = BROKER_TIMEOUT_SECONDS) -> int | None:
    """Messages waiting in Celery's default queue (LLEN on the Redis broker).

    None when the broker is not Redis; raises redis.RedisError when it does not answer
    within `timeout`.
    """
    import redis

    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    queue = getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return client.llen(queue)
    finally:
        client.close()


def _queue_causes() -> list[Cause]:
    import redis

    queue = getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")
    try:
        waiting = celery_queue_length()
    except redis.RedisError as exc:
        # The exception's text names hosts: the log gets it, staff get its kind.
        logger.warning("release causes: the broker did not answer: %s", exc)
        return [Cause(
            "broker_unreachable",
            f"The Celery broker did not answer within {BROKER_TIMEOUT_SECONDS:g} s "
            f"({type(exc).__name__}): beat cannot queue the task, nor a worker take it.",
        )]
    if waiting is not None and waiting >= QUEUE_WAITING_THRESHOLD:
        return [Cause(
            "worker_not_consuming",
            f"{waiting} tasks wait in the Celery queue \u201c{queue}\u201d: no worker is "
            "taking them. Is a worker running, and consuming that queue?",
        )]
    return []


def _run_causes(*, heartbeat: Heartbeat, now: datetime) -> list[Cause]:
    if heartbeat.last_status == "failed" and heartbeat.last_error:
        return [Cause("last_run_failed", f"The last release run failed: {heartbeat.last_error}")]
    started = heartbeat.last_run_at
    if (
        heartbeat.last_status == "running"
        and started is not None
        and (now - started).total_seconds() > settings.RESERVATION_RELEASE_STALE_SECONDS
    ):
        return [Cause(
            "last_run_unfinished",
            f"The last release run started at {_ago(now, started)} and never finished: its "
            "worker was killed or is stuck, or lost the database while it ran.",
        )]
    return []


def release_stale_causes(
    *, now: datetime | None = None, heartbeat: Heartbeat | None = None
) -> list[Cause]:
    """Say why the release job is stale, as far as it can be known from here.

    Looks at the schedule (the periodic task missing or disabled, beat silent), the broker
    (unreachable, or tasks piling up with no worker taking them) and the last run (failed,
    or never finished). Two small queries on django-celery-beat's table, one on the
    heartbeat when it is not given, and one LLEN bounded by BROKER_TIMEOUT_SECONDS.
    """
    now = now or timezone.now()
    heartbeat = heartbeat or heartbeat_get(now=now)
    return [
        *_schedule_causes(now=now),
        *_queue_causes(),
        *_run_causes(heartbeat=heartbeat, now=now),
    ]
