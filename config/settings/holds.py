"""Stock holds, the release task and the monitoring that watches it."""

from config.settings.base import env

# --- Stock holds --------------------------------------------------------------------------
RESERVATION_TTL_SECONDS = env.int("RESERVATION_TTL_SECONDS", default=1800)
RESERVATION_MAX_QUANTITY = env.int("RESERVATION_MAX_QUANTITY", default=10_000)
# Limits against hoarding, checked by the hold under the cart's lock. Generous for a
# shopper, small enough that one anonymous cart cannot empty a catalogue: 50 lines is a
# large basket (and bounds the rows a checkout locks); 1,000 units is more than a shopper
# buys in one order, a tenth of one product's default line maximum; the lifetime stops a
# cart from renewing its holds past 2 h (four TTLs) after its first hold.
RESERVATION_MAX_LINES_PER_CART = env.int("RESERVATION_MAX_LINES_PER_CART", default=50)
RESERVATION_MAX_UNITS_PER_CART = env.int("RESERVATION_MAX_UNITS_PER_CART", default=1000)
RESERVATION_MAX_CART_LIFETIME_SECONDS = env.int(
    "RESERVATION_MAX_CART_LIFETIME_SECONDS", default=7200
)

# --- Payment window ---------------------------------------------------------------------------
# 0: checkout sells at once. Above 0: checkout makes an order `pending_payment` whose units
# stay held this long for the payment; confirming sells them, and at the deadline they are
# free stock again, like an expired hold.
ORDER_PAYMENT_WINDOW_SECONDS = env.int("ORDER_PAYMENT_WINDOW_SECONDS", default=0)

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

# --- Retention ---------------------------------------------------------------------------
# Terminal holds, idle empty carts, release runs and alerts older than this are deleted
# once a day, PRUNE_BATCH_SIZE rows per transaction. Orders are kept.
PRUNE_RETENTION_DAYS = env.int("PRUNE_RETENTION_DAYS", default=30)
PRUNE_BATCH_SIZE = env.int("PRUNE_BATCH_SIZE", default=1000)
