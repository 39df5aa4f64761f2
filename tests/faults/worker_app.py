"""The project's Celery app for fault tests: unacknowledged messages restored within seconds.

Kombu's Redis transport looks for messages whose visibility timeout is over only every
`unacked_restore_interval` seconds, and scans on one call in `unacked_restore_throttle`
(10 s and 10 by default: up to 100 s). Both at 1, with a short `CELERY_VISIBILITY_TIMEOUT`
in the environment, a message of a killed worker is redelivered a few seconds later.
"""

from config.celery import app

app.conf.broker_transport_options = {
    **app.conf.broker_transport_options,
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
