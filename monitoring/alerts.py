"""Alerts: the one function every outbound alert goes through.

`alert_send` writes the alert to the log, and to Sentry, the admins' email and a webhook
when those are configured. Alerts are deduplicated per key with a cooldown that holds
across processes: the right to send is claimed with one conditional UPDATE of the key's
`AlertState` row, so racing web, worker and beat processes send once. Every call records
an `Alert` row, sent or suppressed, with what each channel did. A broken channel, or an
unreachable database, never breaks the caller: errors are logged and recorded, and the
function always returns.

`alert_resolve` sends a recovery notice when the key has an open problem and resets its
cooldown, so the next problem alerts at once.

Call both outside a transaction: inside one, the claim's row lock lasts until the caller
commits, and a rollback would forget the claim and the record of an alert already sent.
"""

import json
import logging
import urllib.request
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.core.mail import mail_admins
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from monitoring.models import Alert, AlertState

logger = logging.getLogger("stockhold.alerts")

_LOG_LEVELS = {
    Alert.Severity.INFO: logging.INFO,
    Alert.Severity.WARNING: logging.WARNING,
    Alert.Severity.ERROR: logging.ERROR,
    Alert.Severity.CRITICAL: logging.CRITICAL,
}
_SENTRY_LEVELS = {
    Alert.Severity.INFO: "info",
    Alert.Severity.WARNING: "warning",
    Alert.Severity.ERROR: "error",
    Alert.Severity.CRITICAL: "fatal",
}
_OUTBOUND = ("sentry", "email", "webhook")


class _LenientEncoder(DjangoJSONEncoder):
    """Encode what Django can, and anything else as its repr, so a context never fails."""

    def default(self, o: Any) -> Any:
        try:
            return super().default(o)
        except TypeError:
            return repr(o)


def _error_text(exc: BaseException) -> str:
    try:
        return f"{type(exc).__name__}: {exc}"
    except Exception:  # noqa: BLE001 - an exception whose str() fails
        return type(exc).__name__


def _json_safe(context: Any) -> dict:
    if context is None:
        return {}
    if not isinstance(context, dict):
        context = {"value": context}
    try:
        return json.loads(json.dumps(context, cls=_LenientEncoder))
    except Exception:  # noqa: BLE001 - e.g. keys that are not strings or numbers
        return {"repr": repr(context)}


def _one_line(text: Any, limit: int) -> str:
    # Titles become email subjects, where a newline is refused as header injection.
    return " ".join(str(text).split())[:limit]


def _claim(*, key: str, now: datetime, cooldown_seconds: float) -> bool:
    """Take the right to send `key` now; False while the key is in its cooldown."""
    with transaction.atomic():
        AlertState.objects.get_or_create(key=key)
        # One conditional UPDATE: of two racing processes, the second waits for the
        # first's row lock, re-checks the condition against the new `last_sent_at` and
        # updates nothing.
        claimed = AlertState.objects.filter(
            Q(last_sent_at__isnull=True)
            | Q(last_sent_at__lte=now - timedelta(seconds=cooldown_seconds)),
            key=key,
        ).update(last_sent_at=now)
    return claimed == 1


def _claim_in_cache(*, key: str, cooldown_seconds: float) -> bool:
    """Claim `key` in the cache when the database cannot be asked.

    The database is down exactly when the release task fails over and over; the cache
    (Redis in production, shared by every process) still keeps that to one alert per
    cooldown. If the cache fails too, send: an alert sent twice beats none.
    """
    try:
        return cache.add(f"alert-cooldown:{key}", 1, timeout=max(int(cooldown_seconds), 1))
    except Exception as exc:  # noqa: BLE001
        logger.warning("alert key=%s: cache cooldown failed too: %s", key, _error_text(exc))
        return True


def _log_send(alert: Alert, *, suppressed: bool = False) -> dict:
    context = json.dumps(alert.context, sort_keys=True, cls=_LenientEncoder)
    if suppressed:
        logger.info(
            "alert suppressed (cooldown) key=%s %s: %s context=%s",
            alert.key, alert.title, alert.message, context,
        )
        return {"status": "sent", "level": "INFO"}
    level = _LOG_LEVELS.get(alert.severity, logging.ERROR)
    prefix = "recovered" if alert.kind == Alert.Kind.RECOVERY else "alert"
    logger.log(
        level,
        "%s key=%s severity=%s %s: %s context=%s",
        prefix, alert.key, alert.severity, alert.title, alert.message, context,
    )
    return {"status": "sent", "level": logging.getLevelName(level)}


def _sentry_send(alert: Alert) -> dict:
    if not getattr(settings, "SENTRY_DSN", ""):
        return {"status": "skipped", "reason": "SENTRY_DSN is not set"}
    # Loaded only where Sentry is configured.
    import sentry_sdk

    if not sentry_sdk.get_client().is_active():
        raise RuntimeError("SENTRY_DSN is set but Sentry is not initialised in this process")
    event_id = sentry_sdk.capture_message(
        f"{alert.title}: {alert.message}",
        level=_SENTRY_LEVELS.get(alert.severity, "error"),
        tags={"alert.key": alert.key, "alert.severity": alert.severity, "alert.kind": alert.kind},
        extras=alert.context,
        # One Sentry issue per alert key, however the message's figures change.
        fingerprint=["stockhold-alert", alert.key, alert.kind],
    )
    if event_id is None:
        raise RuntimeError("the Sentry SDK dropped the event (sampling or before_send)")
    return {"status": "sent", "event_id": event_id}


def _email_send(alert: Alert) -> dict:
    admins = getattr(settings, "ADMINS", None)
    if not admins:
        return {"status": "skipped", "reason": "ADMINS is not set"}
    body = (
        f"{alert.message}\n\n"
        f"key: {alert.key}\n"
        f"severity: {alert.severity}\n"
        f"sent at: {alert.created_at.isoformat()}\n\n"
        f"context:\n{json.dumps(alert.context, indent=2, sort_keys=True, cls=_LenientEncoder)}\n"
    )
    mail_admins(f"[{alert.severity}] {alert.title}", body, fail_silently=False)
    return {"status": "sent", "recipients": len(admins)}


def _webhook_send(alert: Alert) -> dict:
    url = getattr(settings, "ALERT_WEBHOOK_URL", "")
    if not url:
        return {"status": "skipped", "reason": "ALERT_WEBHOOK_URL is not set"}
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError("ALERT_WEBHOOK_URL must be an http:// or https:// URL")
    payload = {
        "text": f"{alert.title}: {alert.message}",
        "key": alert.key,
        "kind": alert.kind,
        "severity": alert.severity,
        "context": alert.context,
        "sent_at": alert.created_at.isoformat(),
    }
    # http(s) only, checked above: no file:// or custom schemes reach urllib.
    request = urllib.request.Request(  # noqa: S310
        url,
        data=json.dumps(payload, cls=_LenientEncoder).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "stockhold-alerts"},
        method="POST",
    )
    timeout = float(getattr(settings, "ALERT_WEBHOOK_TIMEOUT_SECONDS", 3))
    # urlopen raises HTTPError for 4xx/5xx answers. The URL is never logged or recorded:
    # webhook URLs carry their secret in the path.
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return {"status": "sent", "http_status": response.status}


def _deliver(alert: Alert) -> dict[str, dict]:
    channels: dict[str, dict] = {}
    senders = (
        ("log", _log_send),
        ("sentry", _sentry_send),
        ("email", _email_send),
        ("webhook", _webhook_send),
    )
    for name, send in senders:
        try:
            channels[name] = send(alert)
        except Exception as exc:  # noqa: BLE001 - a broken channel never breaks the caller
            logger.warning("alert key=%s: %s channel failed: %s", alert.key, name, _error_text(exc))
            channels[name] = {"status": "failed", "error": _error_text(exc)}
    return channels


def _delivered(channels: dict[str, dict]) -> bool:
    outbound = [channels[name] for name in _OUTBOUND if name in channels]
    tried = [result for result in outbound if result.get("status") != "skipped"]
    if tried:
        return any(result.get("status") == "sent" for result in tried)
    return channels.get("log", {}).get("status") == "sent"


def _record(alert: Alert) -> None:
    try:
        with transaction.atomic():
            alert.save()
    except Exception as exc:  # noqa: BLE001 - the alert went out; losing its row is no reason to fail
        logger.warning("alert key=%s could not be recorded: %s", alert.key, _error_text(exc))


def _build(
    *, key: str, kind: str, title: str, message: str, severity: str, context: Any, now: datetime
) -> Alert:
    if severity not in Alert.Severity.values:
        severity = Alert.Severity.ERROR
    return Alert(
        key=_one_line(key, 200),
        kind=kind,
        title=_one_line(title, 200),
        message=str(message),
        severity=severity,
        context=_json_safe(context),
        created_at=now,
    )


def alert_send(
    *,
    key: str,
    title: str,
    message: str,
    severity: str = Alert.Severity.ERROR,
    context: dict | None = None,
    cooldown_seconds: float | None = None,
    now: datetime | None = None,
) -> Alert:
    """Send an alert through every configured channel, at most once per key per cooldown.

    Returns the recorded `Alert` (unsaved if the database refused it). Never raises.
    """
    now = now or timezone.now()
    alert = _build(
        key=key, kind=Alert.Kind.PROBLEM, title=title, message=message,
        severity=severity, context=context, now=now,
    )
    if cooldown_seconds is None:
        cooldown_seconds = getattr(settings, "ALERT_COOLDOWN_SECONDS", 900)
    channels: dict[str, dict] = {}
    try:
        claimed = _claim(key=alert.key, now=now, cooldown_seconds=cooldown_seconds)
    except Exception as exc:  # noqa: BLE001
        logger.warning("alert key=%s: cooldown check failed: %s", alert.key, _error_text(exc))
        channels["cooldown"] = {"status": "failed", "error": _error_text(exc)}
        claimed = _claim_in_cache(key=alert.key, cooldown_seconds=cooldown_seconds)
    if claimed:
        channels.update(_deliver(alert))
        alert.delivered = _delivered(channels)
    else:
        alert.suppressed = True
        try:
            channels["log"] = _log_send(alert, suppressed=True)
        except Exception as exc:  # noqa: BLE001
            channels["log"] = {"status": "failed", "error": _error_text(exc)}
    alert.channels = channels
    _record(alert)
    return alert


def alert_resolve(
    *,
    key: str,
    title: str,
    message: str,
    context: dict | None = None,
    now: datetime | None = None,
) -> Alert | None:
    """Send a recovery notice for `key` if it has an open problem, and reset its cooldown.

    Returns the recorded recovery `Alert`, or None when the key had no open problem (so
    calling it on every healthy check sends and records nothing). Never raises.
    """
    now = now or timezone.now()
    alert = _build(
        key=key, kind=Alert.Kind.RECOVERY, title=title, message=message,
        severity=Alert.Severity.INFO, context=context, now=now,
    )
    try:
        with transaction.atomic():
            # Clearing `last_sent_at` is the reset: the next problem claims at once. Only
            # one of two racing resolvers clears it, so the notice goes out once.
            reopened = AlertState.objects.filter(
                key=alert.key, last_sent_at__isnull=False
            ).update(last_sent_at=None)
    except Exception as exc:  # noqa: BLE001
        logger.warning("alert key=%s: resolve failed: %s", alert.key, _error_text(exc))
        return None
    if not reopened:
        return None
    alert.channels = _deliver(alert)
    alert.delivered = _delivered(alert.channels)
    _record(alert)
    return alert
