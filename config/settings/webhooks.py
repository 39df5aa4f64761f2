"""Webhooks: how often deliveries are dispatched, how each is sent, retried and given up."""

from config.settings.base import env

# --- Webhooks ------------------------------------------------------------------------------
# Beat claims due deliveries this often; an event waits at most about this long to be sent.
WEBHOOK_DISPATCH_INTERVAL_SECONDS = env.int("WEBHOOK_DISPATCH_INTERVAL_SECONDS", default=5)
# Most deliveries one dispatch claims and enqueues.
WEBHOOK_DISPATCH_BATCH_SIZE = env.int("WEBHOOK_DISPATCH_BATCH_SIZE", default=500)
# A claimed delivery is due again after this long if its attempt never reported (message
# lost, worker killed). Above the attempt's hard time limit (75 s, webhooks/tasks.py).
WEBHOOK_LEASE_SECONDS = env.int("WEBHOOK_LEASE_SECONDS", default=120)
# Seconds to connect, and between bytes of the answer.
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
# After the n-th failed attempt the next waits a random time in [0, min(MAX, BACKOFF * 2^(n-1))]
# seconds (exponential backoff with full jitter).
WEBHOOK_RETRY_BACKOFF = env.int("WEBHOOK_RETRY_BACKOFF", default=10)
WEBHOOK_RETRY_BACKOFF_MAX = env.int("WEBHOOK_RETRY_BACKOFF_MAX", default=3600)
# A delivery still failing this long after its event is given up: marked failed, one alert.
WEBHOOK_GIVE_UP_SECONDS = env.int("WEBHOOK_GIVE_UP_SECONDS", default=24 * 3600)
