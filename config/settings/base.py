"""Django itself: environment and security, apps, database, cache, static files, logging."""

from pathlib import Path
from typing import NoReturn

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent

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
    "config.apps.AdminConfig",  # django.contrib.admin with the branded site (config/admin.py)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "webhooks",
    "store",
    "reservations",
    "backoffice",
    "monitoring",
    # Last: its post_migrate step runs after the apps' own.
    "config.apps.ProjectConfig",
]

# config.middleware's sessions, users and messages are Django's, left out of the JSON
# API's requests (/api/v1/), which use none of them.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "monitoring.middleware.RequestMetricsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "config.middleware.AuthenticationMiddleware",
    "config.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # The API docs pages and the site index (config/templates/).
        "DIRS": [BASE_DIR / "config" / "templates"],
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
# A health check is a `SELECT 1` before each request's first query, to replace a kept
# connection that died (a database restart, an idle-connection killer): one round trip more
# on every request. Off by default: without it a dead connection fails the one request that
# finds it with a retryable 503 `unavailable` (config/api_errors.py) and is dropped at the
# end of that request, and a connection to a pooler (PgBouncer) does not die with the
# database: the pooler checks its own.
_db["CONN_HEALTH_CHECKS"] = env.bool("DB_CONN_HEALTH_CHECKS", default=False)
# A lock that cannot be had within DB_LOCK_TIMEOUT_MS becomes a clear, retryable error
# instead of a request that hangs. `migrate` makes both timeouts the defaults of the role
# in its database (config/database.py), which every connection starts with, pooled or not;
# a direct connection carries them in libpq's `options` as well, so it has this process's
# values even before a migrate ran with them.
DB_LOCK_TIMEOUT_MS = env.int("DB_LOCK_TIMEOUT_MS", default=5000)
DB_STATEMENT_TIMEOUT_MS = env.int("DB_STATEMENT_TIMEOUT_MS", default=30000)
# DATABASE_POOLER=transaction: DATABASE_URL reaches PostgreSQL through a pooler in
# transaction mode (PgBouncer), which refuses `options` and keeps nothing of a session
# from one transaction to the next (README.md, "Several web nodes behind PgBouncer").
DATABASE_POOLERS = ("", "transaction")
DATABASE_POOLER = env.str("DATABASE_POOLER", default="")
if DATABASE_POOLER not in DATABASE_POOLERS:
    raise ImproperlyConfigured(
        f"DATABASE_POOLER must be empty (no pooler) or 'transaction', not {DATABASE_POOLER!r}."
    )
if _db["ENGINE"] == "django.db.backends.postgresql":
    _db.setdefault("OPTIONS", {})
    if not DATABASE_POOLER:
        _db["OPTIONS"].setdefault(
            "options",
            f"-c lock_timeout={DB_LOCK_TIMEOUT_MS} -c statement_timeout={DB_STATEMENT_TIMEOUT_MS}",
        )
    _db["OPTIONS"].setdefault("connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=5))
    # A server-side cursor (QuerySet.iterator() outside a transaction) is declared WITH
    # HOLD and fetched from in later statements, which a transaction pooler may send to
    # another server connection.
    _db["DISABLE_SERVER_SIDE_CURSORS"] = bool(DATABASE_POOLER)

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
        # httpx logs every request with its URL at INFO; webhook URLs can carry a token.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
