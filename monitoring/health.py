"""The health report shared by the endpoint and `manage.py reservations_health`."""

import logging
import threading
import time
from datetime import datetime

from celery import current_app
from django.conf import settings
from django.db import connection
from django.utils import timezone

from monitoring.checks import at_least, backlog_get, heartbeat_get

logger = logging.getLogger(__name__)

_cache_lock = threading.Lock()
_cached: dict = {"at": 0.0, "report": None}


# The one reason a failed connection check gives; the exception's text (host names, roles,
# ports) goes to the log and Sentry only, never into the public answer.
UNREACHABLE = "unreachable"


def _unreachable(check: str, exc: BaseException) -> dict:
    text = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:500]
    logger.error("health: %s check failed: %s", check, text)
    return {"ok": False, "reason": UNREACHABLE}


def database_check() -> dict:
    """Return whether the database answers a trivial query."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        return _unreachable("database", exc)
    return {"ok": True}


def broker_check() -> dict:
    """Return whether the Celery broker accepts a connection (within about a second)."""
    try:
        # The project's app (config.celery), current since config/__init__.py imported it;
        # the URL is read from the settings at call time (not the app's cached pool).
        with current_app.connection_for_write(url=settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=1)
            transport = conn.transport.driver_type
    except Exception as exc:  # noqa: BLE001
        return _unreachable("broker", exc)
    return {"ok": True, "transport": transport}


def backlog_check(*, now: datetime) -> dict:
    backlog = backlog_get(now=now)
    return {"ok": not backlog.over, **backlog.as_dict()}


def release_job_check(*, now: datetime) -> dict:
    heartbeat = heartbeat_get(now=now)
    return {"ok": not heartbeat.stale, **heartbeat.as_dict()}


def _reasons(checks: dict) -> list[str]:
    reasons = []
    if not checks["database"]["ok"]:
        reasons.append(f"database: {checks['database']['reason']}")
    backlog = checks.get("backlog")
    if backlog and not backlog["ok"]:
        cap = backlog["counted_up_to"]
        reasons.append(
            f"{at_least(backlog['expired_holds'], cap)} expired holds and "
            f"{at_least(backlog['expired_orders'], cap)} unpaid orders past their deadline "
            f"waiting more than {backlog['grace_seconds']} s for release "
            f"(threshold {backlog['threshold']})"
        )
    release = checks.get("release_job")
    if release and not release["ok"]:
        if release["seconds_since_success"] is None:
            reasons.append("the release job has never succeeded")
        else:
            reasons.append(
                f"no successful release for {release['seconds_since_success']:.0f} s "
                f"(stale after {release['stale_after_seconds']} s)"
            )
    if not checks["broker"]["ok"]:
        reasons.append(f"broker: {checks['broker']['reason']}")
    return reasons


def health_report(*, now: datetime | None = None, use_cache: bool = True) -> dict:
    """Return every check with its figures, the reasons it fails, and whether all passed.

    Cached per process for MONITORING_HEALTH_CACHE_SECONDS, so a load balancer polling
    every second costs a handful of small queries every few seconds.
    """
    ttl = settings.MONITORING_HEALTH_CACHE_SECONDS
    if use_cache and ttl > 0:
        with _cache_lock:
            if _cached["report"] is not None and time.monotonic() - _cached["at"] < ttl:
                return _cached["report"]
    now = now or timezone.now()
    checks: dict[str, dict] = {"database": database_check()}
    if checks["database"]["ok"]:
        try:
            checks["backlog"] = backlog_check(now=now)
            checks["release_job"] = release_job_check(now=now)
        except Exception as exc:  # noqa: BLE001 - a query failing mid-report is unhealthy
            checks["database"] = _unreachable("database", exc)
    checks["broker"] = broker_check()
    reasons = _reasons(checks)
    report = {
        "healthy": not reasons,
        "status": "ok" if not reasons else "unhealthy",
        "reasons": reasons,
        "checked_at": now,
        "checks": checks,
    }
    if use_cache and ttl > 0:
        with _cache_lock:
            _cached.update(at=time.monotonic(), report=report)
    return report
