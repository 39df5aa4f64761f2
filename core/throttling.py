"""Per-client rate limits on cart creation and cart writes, counted in the default cache.

The rates are settings (`THROTTLE_CART_CREATE`, `THROTTLE_CART_WRITE`) read at each
request. The client is the peer address, or the address `NUM_PROXIES` proxies back in
X-Forwarded-For. Counts live in the default cache's Redis, so every gunicorn worker sees
the same ones; a request costs one command, so one round trip, on a client each process
keeps. A throttled request is refused before the view runs: 429 with `code: "throttled"`
and `Retry-After` (config/api_errors.py).
"""

import hashlib
import ipaddress
import logging
import time

import redis
from django.conf import settings
from django.core.cache import cache
from redis.exceptions import NoScriptError, RedisError
from rest_framework.permissions import SAFE_METHODS
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)

# After the cache fails, requests pass unthrottled for this long instead of each one
# waiting on an unreachable Redis.
CACHE_RETRY_SECONDS = 10
_cache_down = {"until": 0.0}
# One client per process and Redis URL, kept: its connection pool outlives the request.
_clients: dict[str, redis.Redis] = {}
# Create the window's counter with its expiry if it is absent, then count the request:
# one command, atomic. It outlives its window by a second, so the INCR never finds it gone.
_COUNT = """
redis.call('SET', KEYS[1], 0, 'EX', ARGV[1], 'NX')
return redis.call('INCR', KEYS[1])
"""
_COUNT_SHA = hashlib.sha1(_COUNT.encode(), usedforsecurity=False).hexdigest()


def _redis() -> redis.Redis:
    """The kept client of the default cache's Redis, with the cache's timeouts."""
    location = settings.CACHES["default"]["LOCATION"]
    client = _clients.get(location)
    if client is None:
        options = settings.CACHES["default"].get("OPTIONS", {})
        client = _clients[location] = redis.Redis.from_url(location, **options)
    return client


def _client_key(ident: str | None) -> str:
    # The ident may come from X-Forwarded-For, which the client can fill with anything;
    # keep the cache key short and plain.
    try:
        return str(ipaddress.ip_address((ident or "").strip()))
    except ValueError:
        return "h-" + hashlib.sha256((ident or "").encode()).hexdigest()[:32]


class _ClientRateThrottle(SimpleRateThrottle):
    """Count a client's requests in one scope per fixed window; refuse those over the rate.

    One atomic increment per request (Redis INCR), so concurrent requests on different
    workers are all counted, at the same cost whatever the rate: one script (_COUNT, by its
    SHA; sent whole only when the server does not have it) that creates the window's
    counter with its expiry if it is absent (SET NX EX) and increments it. A client may get
    up to twice the rate across a window boundary. If the cache is down, everything passes:
    the limit is a brake on abuse, and a Redis outage must not take carts and checkout with
    it.
    """

    rate_setting = ""

    def get_rate(self) -> str | None:
        return getattr(settings, self.rate_setting, None) or None

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {
            "scope": self.scope,
            "ident": _client_key(self.get_ident(request)),
        }

    def get_ident(self, request) -> str | None:
        # REST framework's own, read from META: its `request.headers` builds a dict of every
        # header just to look one up.
        meta = request.META
        xff, remote_addr = meta.get("HTTP_X_FORWARDED_FOR"), meta.get("REMOTE_ADDR")
        num_proxies = api_settings.NUM_PROXIES
        if num_proxies is not None:
            if num_proxies == 0 or xff is None:
                return remote_addr
            addrs = xff.split(",")
            return addrs[-min(num_proxies, len(addrs))].strip()
        return "".join(xff.split()) if xff else remote_addr

    def _count(self, key: str) -> int:
        client = _redis()
        try:
            return client.evalsha(_COUNT_SHA, 1, key, self.duration + 1)
        except NoScriptError:  # a new or restarted server: EVAL sends it and keeps it
            return client.eval(_COUNT, 1, key, self.duration + 1)

    def allow_request(self, request, view) -> bool:
        if self.rate is None or time.monotonic() < _cache_down["until"]:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_ends = (window + 1) * self.duration
        key = cache.make_key(f"{self.get_cache_key(request, view)}_{window}")
        try:
            count = self._count(key)
        except (RedisError, OSError) as exc:
            _cache_down["until"] = time.monotonic() + CACHE_RETRY_SECONDS
            logger.warning(
                "throttle cache unavailable, not throttling for %ss: %s",
                CACHE_RETRY_SECONDS,
                exc,
            )
            return True
        return count <= self.num_requests

    def wait(self) -> float:
        """Seconds until this window ends and the client may send again."""
        return max(self.window_ends - self.now, 0.0)


class CartCreateThrottle(_ClientRateThrottle):
    """`POST /carts/`: `THROTTLE_CART_CREATE` per client."""

    scope = "cart_create"
    rate_setting = "THROTTLE_CART_CREATE"


class CartWriteThrottle(_ClientRateThrottle):
    """Hold changes and checkouts: `THROTTLE_CART_WRITE` per client, one budget for all."""

    scope = "cart_write"
    rate_setting = "THROTTLE_CART_WRITE"

    def allow_request(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return super().allow_request(request, view)
