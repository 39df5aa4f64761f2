"""The project's Celery app as a real worker process in tests, with a fault switch.

`celery -A tests.worker_app worker` runs the real task code. When the Redis key
`FAULT_KEY` holds a number n > 0, the next n release runs fail with an injected
OperationalError (what a database restart looks like to Django). Every countdown that
autoretry asks for is appended to the Redis list `COUNTDOWNS_KEY`.

Kombu's Redis transport looks for messages whose visibility timeout is over only every
`unacked_restore_interval` seconds, and scans on one call in `unacked_restore_throttle`
(10 s and 10 by default: up to 100 s). Both at 1, with a short `CELERY_VISIBILITY_TIMEOUT`
in the environment, a message of a killed worker is redelivered a few seconds later.
"""

import os

import redis
from celery.signals import task_prerun
from django.db import OperationalError

from config.celery import app

app.conf.broker_transport_options = {
    **app.conf.broker_transport_options,
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}

FAULT_KEY = "tests:fault:release"
COUNTDOWNS_KEY = "tests:release:countdowns"


def _redis() -> redis.Redis:
    return redis.Redis.from_url(os.environ["REDIS_URL"])


def _install_fault_switch() -> None:
    from reservations import tasks
    from reservations.services import release

    original = release.expired_release

    def expired_release(**kwargs):
        if _redis().decr(FAULT_KEY) >= 0:
            raise OperationalError("injected: server closed the connection unexpectedly")
        return original(**kwargs)

    release.expired_release = expired_release

    task = tasks.release_expired_reservations
    original_retry = task.retry

    def retry(*args, **kwargs):
        _redis().rpush(COUNTDOWNS_KEY, kwargs.get("countdown", -1))
        return original_retry(*args, **kwargs)

    task.retry = retry


_installed = False


@task_prerun.connect
def _install_before_first_task(sender=None, **kwargs):
    # By the first task Django is set up in this process (any pool), so patch then.
    global _installed
    if not _installed:
        _install_fault_switch()
        _installed = True
