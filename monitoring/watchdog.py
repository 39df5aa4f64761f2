"""A dead-man's switch on the request path, independent of beat and the worker.

Checkout and hold changes poke it: MonitoringConfig.ready connects a receiver that calls
`release_watchdog_poke()` to reservations.signals.cart_changed. At most once per
MONITORING_WATCHDOG_INTERVAL_SECONDS per process it reads the release heartbeat (one
small query) and, when no release has succeeded for RESERVATION_RELEASE_STALE_SECONDS,
sends "release job stale" through the deduplicated alert function, on a thread of its
own so the shopper never waits for a webhook.
"""

import logging
import threading
import time

from django.conf import settings
from django.db import DatabaseError, connection

from monitoring.checks import Heartbeat, heartbeat_get
from monitoring.services import stale_alert_send

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_last_check = {"at": None}


def _stale_alert_send(heartbeat: Heartbeat) -> None:
    try:
        stale_alert_send(heartbeat, noticed_by="request path")
    except Exception:  # noqa: BLE001 - a thread of its own; nothing else would see it
        logger.exception("watchdog could not send the stale alert")
    finally:
        connection.close()


def release_watchdog_poke() -> threading.Thread | None:
    """Check the heartbeat if this process has not lately; alert if it is stale.

    Returns the alerting thread when one was started (tests join it). Never raises.
    """
    now = time.monotonic()
    with _lock:
        last = _last_check["at"]
        if last is not None and now - last < settings.MONITORING_WATCHDOG_INTERVAL_SECONDS:
            return None
        _last_check["at"] = now
    try:
        heartbeat = heartbeat_get()
    except DatabaseError as exc:
        logger.warning("watchdog could not read the release heartbeat: %s", exc)
        return None
    if not heartbeat.stale:
        return None
    thread = threading.Thread(
        target=_stale_alert_send, args=(heartbeat,), name="release-watchdog", daemon=True
    )
    thread.start()
    return thread
