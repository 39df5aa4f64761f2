"""Sentry for web, worker and beat: initialised from the settings, so every process has it."""

from typing import Any


def sentry_init(
    *,
    dsn: str | None = None,
    environment: str | None = None,
    traces_sample_rate: float | None = None,
    transport: Any = None,
) -> bool:
    """Initialise the Sentry SDK when a DSN is set; return whether it was initialised.

    Called from config/settings/alerts.py with the values read there; called without them (in
    tests, with a capturing `transport`), it reads them from django.conf.settings.
    """
    if dsn is None or environment is None or traces_sample_rate is None:
        # Only then are the settings already configured (config/settings/alerts.py passes
        # the values).
        from django.conf import settings

        dsn = getattr(settings, "SENTRY_DSN", "") if dsn is None else dsn
        if environment is None:
            environment = getattr(settings, "SENTRY_ENVIRONMENT", "production")
        if traces_sample_rate is None:
            traces_sample_rate = getattr(settings, "SENTRY_TRACES_SAMPLE_RATE", 0.0)
    if not dsn:
        return False

    # Loaded only when a DSN is set.
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.logging import ignore_logger

    # monitoring.alerts captures each alert itself, deduplicated; its ERROR log lines would
    # otherwise become a second, undeduplicated Sentry event.
    ignore_logger("stockhold.alerts")
    options: dict[str, Any] = {
        "dsn": dsn,
        "integrations": [DjangoIntegration(), CeleryIntegration(monitor_beat_tasks=True)],
        "environment": environment,
        "traces_sample_rate": traces_sample_rate,
        # No personal data: send_default_pii is off by default (and deprecated from
        # sentry-sdk 2.7x, whose data_collection defaults collect none either); passing it
        # would only add a DeprecationWarning to every process start.
    }
    if transport is not None:
        options["transport"] = transport
    sentry_sdk.init(**options)
    return True
