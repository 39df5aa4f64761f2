"""Settings for stockhold, read from the environment (README.md, Settings), one module a concern.

Each module reads its own variables and imports what it needs from the others.
"""

from config.settings.alerts import *  # noqa: F403 - alerts, email, Sentry
from config.settings.api import *  # noqa: F403 - REST framework, OpenAPI, throttles
from config.settings.base import *  # noqa: F403 - Django: security, apps, database, cache, static
from config.settings.celery import *  # noqa: F403 - broker, task defaults, beat schedule
from config.settings.holds import *  # noqa: F403 - holds, the release task, monitoring
from config.settings.webhooks import *  # noqa: F403 - webhook dispatch, retries, give-up
