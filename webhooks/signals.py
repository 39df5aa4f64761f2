"""Signals of the webhooks, for apps above this one to connect to.

This app imports no app above it; monitoring turns a given-up delivery into an alert by
connecting here (see MonitoringConfig.ready).
"""

from django.dispatch import Signal

# Sent once per delivery, right after it was marked failed because it could not be
# delivered within WEBHOOK_GIVE_UP_SECONDS of its event. Arguments: `delivery` (its
# `event` and `endpoint` loaded). Sent with `send_robust`: a failing receiver is logged.
delivery_given_up = Signal()
