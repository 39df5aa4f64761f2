"""Settings for stockhold, read from the environment (see README.md for the list)."""

import re
from pathlib import Path
from typing import NoReturn

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)

# ENVIRONMENT=production (the Dockerfile sets it, so every container of docker-compose.yml
# has it) makes the production rules hard: DEBUG on is refused, so a stray DEBUG=1 cannot
# show tracebacks and settings to shoppers. `make run` is a development environment.
ENVIRONMENTS = ("development", "production")
ENVIRONMENT = env.str("ENVIRONMENT", default="development")
if ENVIRONMENT not in ENVIRONMENTS:
    raise ImproperlyConfigured(
        f"ENVIRONMENT must be one of {', '.join(ENVIRONMENTS)}, not {ENVIRONMENT!r}."
    )
if ENVIRONMENT == "production" and DEBUG:
    raise ImproperlyConfigured("DEBUG must be off when ENVIRONMENT=production.")

SECRET_KEY = env.str("SECRET_KEY", default="")
# Keys known from this repository (scripts/run.sh's default for `make run`) sign nothing
# in production, however long they are.
_KNOWN_DEV_SECRET_KEYS = {"dev-insecure-key-for-local-use-only"}
if not DEBUG:
    if not SECRET_KEY:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    # The same bar as Django's security.W009, refused instead of warned about. The key
    # itself is never part of the message.
    if (
        len(SECRET_KEY) < 50
        or len(set(SECRET_KEY)) < 5
        or SECRET_KEY.startswith("django-insecure")
        or SECRET_KEY in _KNOWN_DEV_SECRET_KEYS
    ):
        raise ImproperlyConfigured(
            "SECRET_KEY is too weak for DEBUG off: use at least 50 random characters, e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'."
        )
elif not SECRET_KEY:
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"  # noqa: S105 (DEBUG only)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- HTTPS and browser security headers --------------------------------------------------
# HTTPS_ONLY: browsers reach this site over HTTPS only. It is on when DEBUG is off and
# ALLOWED_HOSTS names any host beyond this machine, so a deployment gets redirects, secure
# cookies and HSTS without asking, while `DEBUG=0 runserver` on localhost stays usable over
# plain HTTP (and never pins HSTS on localhost, which would break every other local site).
_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "[::1]"}
HTTPS_ONLY = env.bool(
    "HTTPS_ONLY",
    default=not DEBUG and not {host.lower() for host in ALLOWED_HOSTS} <= _LOOPBACK_HOSTS,
)
# gunicorn here speaks plain HTTP, so HTTPS means a TLS proxy in front of it; without
# trusting its X-Forwarded-Proto every request would be redirected to HTTPS forever. The
# proxy must set that header itself, overwriting anything the client sent.
BEHIND_TLS_PROXY = env.bool("BEHIND_TLS_PROXY", default=HTTPS_ONLY)
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=HTTPS_ONLY)
# Load balancers, container healthchecks and Prometheus probe over plain HTTP from inside
# the network; a redirect would read as "down".
SECURE_REDIRECT_EXEMPT = [r"^api/v1/health/", r"^metrics$"]
SESSION_COOKIE_SECURE = HTTPS_ONLY
CSRF_COOKIE_SECURE = HTTPS_ONLY
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if HTTPS_ONLY else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Preloading is a promise to browsers for the whole domain, hard to take back: the operator
# opts in with SECURE_HSTS_PRELOAD, and `check --deploy` does not nag until then.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "django_celery_beat",
    "store",
    "reservations",
    "monitoring",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "monitoring.middleware.RequestMetricsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
# PostgreSQL everywhere. `make run` and `make test` start one of their own (devstack/) and
# set DATABASE_URL and REDIS_URL; a deployment sets both (docker-compose.yml).


def _required_url(name: str) -> NoReturn:
    raise ImproperlyConfigured(
        f"{name} is not set. Start the project with `make run` or `make test`, which start "
        f"PostgreSQL and Valkey and set DATABASE_URL and REDIS_URL, or set {name} to a "
        "server of your own (README.md, Settings)."
    )


if not env.str("DATABASE_URL", default=""):
    _required_url("DATABASE_URL")
DATABASES = {"default": env.db_url("DATABASE_URL")}
_db = DATABASES["default"]
_db["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
_db["CONN_HEALTH_CHECKS"] = True
if _db["ENGINE"] == "django.db.backends.postgresql":
    # A lock that cannot be had within DB_LOCK_TIMEOUT_MS becomes a clear, retryable
    # error instead of a request that hangs.
    _db.setdefault("OPTIONS", {})
    _db["OPTIONS"].setdefault(
        "options",
        "-c lock_timeout={} -c statement_timeout={}".format(
            env.int("DB_LOCK_TIMEOUT_MS", default=5000),
            env.int("DB_STATEMENT_TIMEOUT_MS", default=30000),
        ),
    )
    _db["OPTIONS"].setdefault("connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=5))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ----------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if not REDIS_URL:
    _required_url("REDIS_URL")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "stockhold",
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}

# --- Auth, i18n, static ------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve static files from the app directories without collectstatic, so admin and the
# API docs look right under `runserver` with DEBUG off as well.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- REST framework -----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON with a size limit and a clean 400 for nesting too deep to parse.
    "DEFAULT_PARSER_CLASSES": ["config.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "config.api_errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    # Proxies in front of the web process that append to X-Forwarded-For. 0: the client is
    # the peer address, and a client-sent X-Forwarded-For is ignored.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "stockhold storefront API",
    "DESCRIPTION": "Products with live availability, carts whose holds expire on their own, "
    "and checkout that never oversells.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Several fields are named `status`; each set of values gets a name of its own.
    "ENUM_NAME_OVERRIDES": {
        "CartStatusEnum": "reservations.models.Cart.Status",
        "LineStatusEnum": "reservations.serializers.LINE_STATUSES",
        "HealthStatusEnum": "monitoring.serializers.HEALTH_STATUSES",
        "ReleaseRunStatusEnum": "reservations.models.ReleaseRun.Status",
        "ErrorCodeEnum": "core.errors.ERROR_CODES",
    },
}

# Largest request body read into memory, in bytes, API and admin forms alike. API bodies
# are a few bytes; a larger one is refused with 413 request_too_large.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("API_MAX_BODY_BYTES", default=64 * 1024)

# --- Throttling ---------------------------------------------------------------------------
# Requests per client address (see NUM_PROXIES), counted in the default cache (Redis), so
# the limit holds across gunicorn workers. `N/s|min|hour|day`; empty or `off` turns a
# limit off. core/throttling.py reads them at each request.
_RATE = re.compile(r"^[0-9]+/(s|sec|second|m|min|minute|h|hour|d|day)$")


def _throttle_rate(name: str, value: str) -> str | None:
    value = value.strip().lower()
    if value in ("", "off", "none"):
        return None
    if not _RATE.match(value):
        raise ImproperlyConfigured(f"{name} must look like 60/min or be off, not {value!r}.")
    return value


THROTTLE_CART_CREATE = _throttle_rate(
    "THROTTLE_CART_CREATE", env.str("THROTTLE_CART_CREATE", default="60/min")
)
# Hold changes (PUT and DELETE of a cart line) and checkouts, one budget together.
THROTTLE_CART_WRITE = _throttle_rate(
    "THROTTLE_CART_WRITE", env.str("THROTTLE_CART_WRITE", default="600/min")
)

# --- Stock holds --------------------------------------------------------------------------
RESERVATION_TTL_SECONDS = env.int("RESERVATION_TTL_SECONDS", default=1800)
RESERVATION_MAX_QUANTITY = env.int("RESERVATION_MAX_QUANTITY", default=10_000)

# --- Release task (Celery) ------------------------------------------------------------------
RESERVATION_RELEASE_INTERVAL_SECONDS = env.int("RESERVATION_RELEASE_INTERVAL_SECONDS", default=60)
RESERVATION_RELEASE_BATCH_SIZE = env.int("RESERVATION_RELEASE_BATCH_SIZE", default=1000)
# A run stops starting new batches after this long; the soft and hard limits sit above it.
RESERVATION_RELEASE_MAX_RUN_SECONDS = env.int("RESERVATION_RELEASE_MAX_RUN_SECONDS", default=45)
# After each batch a run pauses for this fraction of the time the batch took, so draining a
# large backlog leaves most of the database to shoppers (0.5: a third of the time idle).
# Nothing waits for the drain: expired holds are free stock before they are released.
RESERVATION_RELEASE_PAUSE_RATIO = env.float("RESERVATION_RELEASE_PAUSE_RATIO", default=0.5)
RESERVATION_RELEASE_SOFT_TIME_LIMIT = env.int(
    "RESERVATION_RELEASE_SOFT_TIME_LIMIT", default=RESERVATION_RELEASE_MAX_RUN_SECONDS + 30
)
RESERVATION_RELEASE_TIME_LIMIT = env.int(
    "RESERVATION_RELEASE_TIME_LIMIT", default=RESERVATION_RELEASE_SOFT_TIME_LIMIT + 30
)
RESERVATION_RELEASE_MAX_RETRIES = env.int("RESERVATION_RELEASE_MAX_RETRIES", default=3)
RESERVATION_RELEASE_RETRY_BACKOFF = env.int("RESERVATION_RELEASE_RETRY_BACKOFF", default=2)
RESERVATION_RELEASE_RETRY_BACKOFF_MAX = env.int(
    "RESERVATION_RELEASE_RETRY_BACKOFF_MAX", default=300
)
RESERVATION_RELEASE_RETRY_JITTER = env.bool("RESERVATION_RELEASE_RETRY_JITTER", default=True)

# --- Monitoring ----------------------------------------------------------------------------
# Expired holds count as backlog only once they are this overdue, so a healthy release
# every minute never shows up.
RESERVATION_BACKLOG_GRACE_SECONDS = env.int("RESERVATION_BACKLOG_GRACE_SECONDS", default=120)
RESERVATION_BACKLOG_ALERT_THRESHOLD = env.int("RESERVATION_BACKLOG_ALERT_THRESHOLD", default=100)
# No successful release for this long means the release job is dead.
RESERVATION_RELEASE_STALE_SECONDS = env.int(
    "RESERVATION_RELEASE_STALE_SECONDS", default=3 * RESERVATION_RELEASE_INTERVAL_SECONDS
)
MONITORING_HEALTH_CACHE_SECONDS = env.int("MONITORING_HEALTH_CACHE_SECONDS", default=5)
MONITORING_CHECK_INTERVAL_SECONDS = env.int("MONITORING_CHECK_INTERVAL_SECONDS", default=60)
# How often one web process reads the heartbeat on the request path, at most.
MONITORING_WATCHDOG_INTERVAL_SECONDS = env.int(
    "MONITORING_WATCHDOG_INTERVAL_SECONDS", default=60
)

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Must exceed the longest retry countdown, or Redis redelivers a waiting retry.
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Task events on by default, so Flower sees every run, retry and failure.
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# The periodic tasks: beat writes them into django-celery-beat's tables when it starts, and
# so does `migrate` (monitoring.schedule); staff see and pause them in the admin, and a
# pause is kept. A run that could not start within its interval expires: the next one does
# the same work, so a stalled worker never finds a pile of stale runs.
CELERY_BEAT_SCHEDULE = {
    "Release expired holds": {
        "task": "reservations.tasks.release_expired_reservations",
        "schedule": RESERVATION_RELEASE_INTERVAL_SECONDS,
        "options": {"expire_seconds": RESERVATION_RELEASE_INTERVAL_SECONDS},
        "description": "Moves expired holds to `expired` in batches and records a heartbeat. "
        "Stock is correct without it; monitoring needs it.",
    },
    "Check reservation health": {
        "task": "monitoring.tasks.check_reservation_health",
        "schedule": MONITORING_CHECK_INTERVAL_SECONDS,
        "options": {"expire_seconds": MONITORING_CHECK_INTERVAL_SECONDS},
        "description": "Alerts when the expired backlog passes the threshold, the release job "
        "is stale or a stock counter drifts, and sends 'recovered' when they clear.",
    },
}

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

from config.sentry import sentry_init  # noqa: E402

# Web, worker and beat all load these settings, so each process initialises Sentry here.
sentry_init(
    dsn=SENTRY_DSN,
    environment=SENTRY_ENVIRONMENT,
    traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE,
)

# --- Logging ------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "WARNING"},
    },
}
