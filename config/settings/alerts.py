"""Where alerts go (log, email, webhook, Sentry), and Sentry for every process."""

from config.sentry import sentry_init
from config.settings.base import DEBUG, env

# --- Alerts and Sentry ---------------------------------------------------------------------
# Every alert goes through monitoring.alerts.alert_send: the log always; Sentry, the admins'
# email and a Slack-compatible webhook when configured (README.md, Settings).
ALERT_WEBHOOK_URL = env.str("ALERT_WEBHOOK_URL", default="")
ALERT_WEBHOOK_TIMEOUT_SECONDS = env.float("ALERT_WEBHOOK_TIMEOUT_SECONDS", default=3.0)
ALERT_COOLDOWN_SECONDS = env.int("ALERT_COOLDOWN_SECONDS", default=900)


def _admins(value: str) -> list[tuple[str, str]]:
    """Parse `Name <email>, other@example.com` into Django's ADMINS pairs."""
    # Used only here, at startup; the settings module's names stay settings.
    from email.utils import getaddresses

    return [(name or email, email) for name, email in getaddresses([value]) if "@" in email]


ADMINS = _admins(env.str("ADMINS", default=""))
# One URL for the mail backend: consolemail:// (default), smtp://user:pass@host:587,
# smtp+tls://... (STARTTLS), smtp+ssl://... (implicit TLS), dummymail://.
globals().update(env.email_url("EMAIL_URL", default="consolemail://"))
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
SERVER_EMAIL = env.str("SERVER_EMAIL", default="stockhold@localhost")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default=SERVER_EMAIL)
EMAIL_SUBJECT_PREFIX = "[stockhold] "

SENTRY_DSN = env.str("SENTRY_DSN", default="")
SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", default="development" if DEBUG else "production")
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0)

# Web, worker and beat all load these settings, so each process initialises Sentry here.
sentry_init(
    dsn=SENTRY_DSN,
    environment=SENTRY_ENVIRONMENT,
    traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE,
)
