"""Fixtures of the fault tests: a webhook receiver as the only alert channel."""

import pytest

from tests.servers import WebhookReceiver


@pytest.fixture
def webhook(settings):
    """A webhook receiver on 127.0.0.1 as the only alert channel."""
    receiver = WebhookReceiver()
    settings.ALERT_WEBHOOK_URL = receiver.url
    settings.ALERT_WEBHOOK_TIMEOUT_SECONDS = 3
    settings.ALERT_COOLDOWN_SECONDS = 900
    settings.ADMINS = []
    settings.SENTRY_DSN = ""
    yield receiver
    receiver.close()
