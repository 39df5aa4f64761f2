"""The Celery app: settings under the CELERY_ namespace, tasks autodiscovered, JSON only."""

import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("stockhold")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _pool_process_own_group(**kwargs) -> None:
    """Take each prefork pool process out of the worker's process group.

    honcho (`make run`), the test harness and other supervisors stop a process with SIGTERM
    to its whole group. The pool processes would die of it mid-task (an ERROR line and a
    WorkerLostError), while the main process wants a warm shutdown: let running tasks
    finish, then close the pool. In a group of their own only the main process hears the
    signal; the pool still stops its processes itself (time limits, cold shutdown).
    """
    os.setpgid(0, 0)
