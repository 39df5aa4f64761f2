"""What monitoring looks at: the expired backlog (holds, and unpaid orders past their
deadline) and the release task's heartbeat.

Pure reads; `monitoring.health` turns them into a report, `monitoring.tasks` and the
request-path watchdog turn them into alerts, `monitoring.metrics` into gauges.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Sum
from django.utils import timezone

from monitoring.models import FirstStart
from reservations.models import Order, ReleaseRun, Reservation

# The backlog count stops here: enough to be exact around any sane threshold, and the
# health endpoint's cost stays bounded however large a dead scheduler's backlog grows.
BACKLOG_COUNT_CAP = 100_000


def _count(queryset, *, cap: int | None) -> int:
    """Count the rows, stopping at `cap` (None: all of them)."""
    if cap is None:
        return queryset.count()
    return queryset.order_by().values("pk")[:cap].count()


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
    return _count(overdue, cap=cap)


def overdue_orders_count(
    *, now: datetime | None = None, cap: int | None = BACKLOG_COUNT_CAP
) -> int:
    """Count orders still `pending_payment` more than the grace period past their payment
    deadline (at most `cap`): orders the release task should have marked `expired`."""
    now = now or timezone.now()
    overdue = Order.objects.filter(
        status=Order.Status.PENDING_PAYMENT, payment_expires_at__lte=now - backlog_grace()
    )
    return _count(overdue, cap=cap)


@dataclass(frozen=True)
class Backlog:
    """The expired backlog against its alert threshold: the one place that judges it."""

    expired_holds: int
    expired_orders: int
    threshold: int
    grace_seconds: int

    @property
    def over(self) -> bool:
        return max(self.expired_holds, self.expired_orders) > self.threshold

    def summary(self) -> str:
        """The backlog in words, for alerts and the health report."""
        text = f"{self.expired_holds} expired holds"
        if self.expired_orders:
            text += f" and {self.expired_orders} unpaid orders past their deadline"
        return text

    def as_dict(self) -> dict:
        return {
            "expired_holds": self.expired_holds,
            "expired_orders": self.expired_orders,
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


def hold_figures(*, now: datetime | None = None) -> dict[str, int]:
    """Active holds and the units they hold, live or expired."""
    figures = Reservation.objects.filter(status=Reservation.Status.ACTIVE).aggregate(
        holds=Count("id"), units=Sum("quantity")
    )
    return {"active_holds": figures["holds"] or 0, "held_units": figures["units"] or 0}
