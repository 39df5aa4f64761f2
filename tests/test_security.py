"""Security: throttling, production settings, and cart tokens that open only their own cart."""

import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings

from core import throttling
from core.throttling import CartCreateThrottle, CartWriteThrottle
from reservations import tokens
from reservations.models import Cart
from reservations.services import cart_create
from reservations.tokens import token_new
from tests.api import item_put, state_snapshot
from tests.celery_processes import manage
from tests.factories import ProductFactory

ROOT = Path(__file__).resolve().parent.parent
STRONG_KEY = "security-test-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGH"

# --- helpers ------------------------------------------------------------------------------


def _delete(api, cart_id, product_id, token, **extra):
    return api.delete(
        f"/api/v1/carts/{cart_id}/items/{product_id}/", HTTP_X_CART_TOKEN=token, **extra
    )


def _checkout(api, cart_id, token, **extra):
    return api.post(f"/api/v1/carts/{cart_id}/checkout/", HTTP_X_CART_TOKEN=token, **extra)


def _get(api, cart_id, token):
    return api.get(f"/api/v1/carts/{cart_id}/", HTTP_X_CART_TOKEN=token)


def _assert_throttled(response, window_left: float):
    """A 429 telling the client to come back once the window is over, not much later."""
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert window_left <= int(response["Retry-After"]) <= window_left + 2


class ThrottleClock:
    """The throttles' clock, frozen one second into a minute window until moved."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0 + 1  # 1_800_000_000 is a whole number of minutes

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def throttle_clock(monkeypatch):
    clock = ThrottleClock()
    for cls in (CartCreateThrottle, CartWriteThrottle):
        monkeypatch.setattr(cls, "timer", staticmethod(clock))
    monkeypatch.setitem(throttling._cache_down, "until", 0.0)
    return clock


@pytest.fixture
def limits(settings, throttle_clock):
    """Two carts and three cart writes a minute per client."""
    settings.THROTTLE_CART_CREATE = "2/min"
    settings.THROTTLE_CART_WRITE = "3/min"
    return settings


@pytest.fixture
def product():
    return ProductFactory(on_hand=5, sku="SEC-1")


def _process_env(**overrides: str) -> dict[str, str]:
    """A production-like environment for a settings subprocess: only what is given."""
    db = django_settings.DATABASES["default"]
    env = {
        key: value
        for key, value in os.environ.items()
        # Whatever the suite or the shell set for itself stays out.
        if not key.startswith(("SECURE_", "THROTTLE_", "DJANGO_"))
        and key
        not in {
            "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "HTTPS_ONLY", "BEHIND_TLS_PROXY",
            "NUM_PROXIES", "API_MAX_BODY_BYTES", "DATABASE_URL", "REDIS_URL",
            "CELERY_BROKER_URL", "ENVIRONMENT",
        }
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="0",
        SECRET_KEY=STRONG_KEY,
        ALLOWED_HOSTS="shop.example.com",
        DATABASE_URL="postgres://{USER}@{HOST}:{PORT}/{NAME}".format(**db),
        REDIS_URL=os.environ["REDIS_URL"],
    )
    env.update(overrides)
    return {key: value for key, value in env.items() if value is not None}


_SETTINGS_NAMES = [
    "HTTPS_ONLY", "SECURE_PROXY_SSL_HEADER", "SECURE_SSL_REDIRECT", "SECURE_REDIRECT_EXEMPT",
    "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD", "SECURE_CONTENT_TYPE_NOSNIFF",
    "SECURE_REFERRER_POLICY", "X_FRAME_OPTIONS", "THROTTLE_CART_CREATE",
    "THROTTLE_CART_WRITE", "DATA_UPLOAD_MAX_MEMORY_SIZE",
]


def _loaded_settings(env: dict[str, str]) -> dict:
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        f"print(json.dumps({{n: getattr(s, n, None) for n in {_SETTINGS_NAMES!r}}} | "
        "{'NUM_PROXIES': s.REST_FRAMEWORK['NUM_PROXIES']}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- throttling ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_cart_creation_is_throttled_per_client_with_retry_after(api, limits, throttle_clock):
    assert api.post("/api/v1/carts/").status_code == 201
    assert api.post("/api/v1/carts/").status_code == 201
    before = state_snapshot()

    _assert_throttled(api.post("/api/v1/carts/"), window_left=59)
    throttle_clock.now += 30.5
    _assert_throttled(api.post("/api/v1/carts/"), window_left=28.5)

    assert state_snapshot() == before
    # Another client has its own budget, and the next minute this one has a new one.
    assert api.post("/api/v1/carts/", REMOTE_ADDR="10.0.0.2").status_code == 201
    throttle_clock.now += 30
    assert api.post("/api/v1/carts/").status_code == 201


@pytest.mark.django_db
def test_hold_changes_and_checkout_share_one_write_limit(api, limits, throttle_clock, product):
    cart, token = cart_create()
    assert item_put(api, cart.pk, product.pk, {"quantity": 1}, token=token).status_code == 200
    assert _delete(api, cart.pk, product.pk, token).status_code == 200
    assert item_put(api, cart.pk, product.pk, {"quantity": 2}, token=token).status_code == 200
    before = state_snapshot()

    _assert_throttled(item_put(api, cart.pk, product.pk, {"quantity": 3}, token=token),
                      window_left=59)
    _assert_throttled(_delete(api, cart.pk, product.pk, token), window_left=59)
    _assert_throttled(_checkout(api, cart.pk, token), window_left=59)

    assert state_snapshot() == before
    # Reading the cart is not a write: still served, still holding 2.
    response = _get(api, cart.pk, token)
    assert response.status_code == 200
    assert [item["quantity"] for item in response.json()["items"]] == [2]
    throttle_clock.now += 60
    assert _checkout(api, cart.pk, token).status_code == 201


@pytest.mark.django_db
def test_throttle_ignores_x_forwarded_for_without_proxies(api, limits):
    assert api.post("/api/v1/carts/", HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 201
    assert api.post("/api/v1/carts/", HTTP_X_FORWARDED_FOR="198.51.100.2").status_code == 201
    # A client cannot buy a fresh budget by making up addresses.
    response = api.post("/api/v1/carts/", HTTP_X_FORWARDED_FOR="198.51.100.3")
    _assert_throttled(response, window_left=59)


@pytest.mark.django_db
def test_behind_one_proxy_the_client_is_the_address_the_proxy_saw(api, limits):
    limits.THROTTLE_CART_CREATE = "1/min"
    limits.REST_FRAMEWORK = {**limits.REST_FRAMEWORK, "NUM_PROXIES": 1}
    # Every request comes from the proxy (REMOTE_ADDR 127.0.0.1), which appends the peer.
    first = api.post("/api/v1/carts/", HTTP_X_FORWARDED_FOR="203.0.113.7, 198.51.100.1")
    assert first.status_code == 201
    spoofed = api.post("/api/v1/carts/", HTTP_X_FORWARDED_FOR="203.0.113.8, 198.51.100.1")
    _assert_throttled(spoofed, window_left=59)
    other = api.post("/api/v1/carts/", HTTP_X_FORWARDED_FOR="198.51.100.2")
    assert other.status_code == 201


@pytest.mark.django_db
def test_throttle_counts_live_in_redis_for_every_worker(api, limits, redis_url):
    assert django_settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    api.post("/api/v1/carts/")
    api.post("/api/v1/carts/")
    # What another gunicorn worker would read: the same counter, from its own connection.
    client = redis.Redis.from_url(redis_url)
    [key] = client.keys("*throttle_cart_create_127.0.0.1_*")
    assert client.get(key) == b"2"
    assert 0 < client.ttl(key) <= 61


def _redis_counters(client) -> tuple[int, dict[str, int]]:
    """Valkey's read events (one per round trip of a client) and calls per command."""
    info = client.info("all")
    calls = {
        name.removeprefix("cmdstat_"): stats["calls"]
        for name, stats in info.items()
        if name.startswith("cmdstat_")
    }
    return info["total_reads_processed"], calls


@pytest.mark.django_db
def test_a_throttled_request_costs_one_round_trip_and_one_command(api, limits, redis_url, product):
    limits.THROTTLE_CART_WRITE = "100/min"
    cart, token = cart_create()
    # The first one may find the server without the script, and send it.
    assert item_put(api, cart.pk, product.pk, {"quantity": 1}, token=token).status_code == 200
    client = redis.Redis.from_url(redis_url)
    reads, calls = _redis_counters(client)

    for quantity in (2, 1, 2, 1):
        response = item_put(api, cart.pk, product.pk, {"quantity": quantity}, token=token)
        assert response.status_code == 200

    # This test is the server's only other client: one INFO, one read of its own.
    reads_after, calls_after = _redis_counters(client)
    assert reads_after - reads == 4 + 1
    made = {name: n - calls.get(name, 0) for name, n in calls_after.items()}
    # One EVALSHA per request; the server counts the SET and INCR its script runs too.
    assert {name: n for name, n in made.items() if n} == {
        "evalsha": 4, "set": 4, "incr": 4, "info": 1
    }
    [key] = client.keys("*throttle_cart_write_127.0.0.1_*")
    assert client.get(key) == b"5"
    assert 0 < client.ttl(key) <= 61


@pytest.mark.parametrize("num_proxies", [None, 0, 1, 2])
@pytest.mark.parametrize(
    "forwarded", [None, "", "198.51.100.1", "203.0.113.7, 198.51.100.1", " 10.0.0.1 ,10.0.0.2 "]
)
def test_the_client_is_who_rest_framework_says_it_is(settings, num_proxies, forwarded):
    from rest_framework.test import APIRequestFactory
    from rest_framework.throttling import SimpleRateThrottle

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": num_proxies}
    headers = {} if forwarded is None else {"HTTP_X_FORWARDED_FOR": forwarded}
    request = APIRequestFactory().put("/", REMOTE_ADDR="192.0.2.9", **headers)
    throttle = CartWriteThrottle()
    assert throttle.get_ident(request) == SimpleRateThrottle.get_ident(throttle, request)


@pytest.mark.django_db
def test_a_redis_outage_does_not_take_carts_down(api, limits, monkeypatch, caplog):
    from devstack.servers import free_port

    calls = []
    down = redis.Redis(port=free_port(), socket_connect_timeout=0.5)  # nothing listens
    monkeypatch.setattr(throttling, "_redis", lambda: calls.append(1) or down)
    limits.THROTTLE_CART_CREATE = "1/min"

    statuses = [api.post("/api/v1/carts/").status_code for _ in range(3)]

    assert statuses == [201, 201, 201]
    # One failed attempt, then no more waiting on the cache for a while.
    assert len(calls) == 1
    assert "throttle cache unavailable" in caplog.text


@pytest.mark.slow
def test_default_limits_and_proxy_count():
    loaded = _loaded_settings(_process_env())
    assert loaded["THROTTLE_CART_CREATE"] == "60/min"
    assert loaded["THROTTLE_CART_WRITE"] == "600/min"
    assert loaded["NUM_PROXIES"] == 0
    assert loaded["DATA_UPLOAD_MAX_MEMORY_SIZE"] == 64 * 1024
    off = _loaded_settings(_process_env(THROTTLE_CART_CREATE="off", THROTTLE_CART_WRITE=""))
    assert off["THROTTLE_CART_CREATE"] is None and off["THROTTLE_CART_WRITE"] is None


@pytest.mark.slow
def test_a_malformed_rate_refuses_to_start():
    result = manage("check", env=_process_env(THROTTLE_CART_WRITE="lots"))
    assert result.returncode != 0
    assert "THROTTLE_CART_WRITE must look like 60/min" in result.stderr


# --- production settings ------------------------------------------------------------------


@pytest.mark.slow
def test_check_deploy_passes_under_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=_process_env())
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNINGS" not in output
    assert "no issues" in output


@pytest.mark.slow
def test_production_settings_are_https_only():
    loaded = _loaded_settings(_process_env())
    assert loaded["HTTPS_ONLY"] is True
    assert loaded["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert loaded["SECURE_SSL_REDIRECT"] is True
    assert loaded["SECURE_REDIRECT_EXEMPT"] == [r"^api/v1/health/", r"^metrics$"]
    assert loaded["SESSION_COOKIE_SECURE"] is True
    assert loaded["CSRF_COOKIE_SECURE"] is True
    assert loaded["SECURE_HSTS_SECONDS"] == 31_536_000
    assert loaded["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert loaded["SECURE_HSTS_PRELOAD"] is False
    assert loaded["SECURE_CONTENT_TYPE_NOSNIFF"] is True
    assert loaded["SECURE_REFERRER_POLICY"] == "same-origin"
    assert loaded["X_FRAME_OPTIONS"] == "DENY"


@pytest.mark.slow
def test_debug_off_on_this_machine_stays_plain_http():
    """`DEBUG=0 runserver` with the default hosts: usable over http, no HSTS on localhost."""
    env = _process_env()
    del env["ALLOWED_HOSTS"]
    loaded = _loaded_settings(env)
    assert loaded["HTTPS_ONLY"] is False
    assert loaded["SECURE_SSL_REDIRECT"] is False
    assert loaded["SECURE_PROXY_SSL_HEADER"] is None
    assert loaded["SESSION_COOKIE_SECURE"] is False
    assert loaded["SECURE_HSTS_SECONDS"] == 0
    assert loaded["X_FRAME_OPTIONS"] == "DENY"


@pytest.mark.slow
def test_each_https_setting_can_be_turned_off_alone():
    loaded = _loaded_settings(
        _process_env(BEHIND_TLS_PROXY="0", SECURE_SSL_REDIRECT="0", SECURE_HSTS_SECONDS="0")
    )
    assert loaded["SECURE_PROXY_SSL_HEADER"] is None
    assert loaded["SECURE_SSL_REDIRECT"] is False
    assert loaded["SECURE_HSTS_SECONDS"] == 0
    assert loaded["SESSION_COOKIE_SECURE"] is True


@pytest.mark.slow
@pytest.mark.parametrize(
    "key",
    [
        None,
        "",
        "short-but-not-empty",
        "dev-insecure-key-for-local-use-only",
        "django-insecure-" + "k2#f9!x" * 8,
        "ab" * 40,
    ],
    ids=["unset", "empty", "short", "make-run-default", "django-insecure", "few-characters"],
)
def test_debug_off_refuses_to_start_without_a_strong_secret_key(key):
    result = manage("check", env=_process_env(SECRET_KEY=key))
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY" in result.stderr
    if key:
        assert key not in result.stderr


@pytest.mark.slow
def test_debug_on_starts_without_a_secret_key():
    result = manage("check", env=_process_env(DEBUG="1", SECRET_KEY=None))
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("key", [STRONG_KEY, None], ids=["strong-key", "no-key"])
def test_production_refuses_to_start_with_debug_on(key):
    result = manage("check", env=_process_env(ENVIRONMENT="production", DEBUG="1", SECRET_KEY=key))
    assert result.returncode != 0
    assert "ImproperlyConfigured: DEBUG must be off when ENVIRONMENT=production" in result.stderr


@pytest.mark.slow
def test_production_starts_with_debug_off_and_refuses_an_unknown_environment():
    assert manage("check", env=_process_env(ENVIRONMENT="production")).returncode == 0
    result = manage("check", env=_process_env(ENVIRONMENT="prod"))
    assert result.returncode != 0
    assert "ImproperlyConfigured: ENVIRONMENT must be one of development, production" in (
        result.stderr
    )


@pytest.mark.django_db
def test_plain_http_is_redirected_except_health_and_metrics(api, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True

    response = api.get("/api/v1/products/?limit=5")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/api/v1/products/?limit=5"
    assert api.post("/api/v1/carts/").status_code == 301
    # Load balancers and Prometheus ask over plain HTTP inside the network.
    assert api.get("/api/v1/health/live/").status_code == 200
    assert api.get("/metrics").status_code == 200
    # Through the TLS proxy: served, with HSTS.
    secure = api.get("/api/v1/products/", HTTP_X_FORWARDED_PROTO="https")
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


@pytest.mark.django_db
def test_responses_carry_the_browser_security_headers(api):
    response = api.get("/api/v1/products/")
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


# --- cart tokens --------------------------------------------------------------------------


def test_tokens_carry_at_least_128_random_bits_and_never_repeat():
    made = [token_new() for _ in range(2000)]
    assert len(set(made)) == len(made)
    for token in made[:50]:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        assert len(raw) * 8 >= 128


@pytest.mark.django_db
def test_only_a_hash_of_the_token_is_stored(api):
    body = api.post("/api/v1/carts/").json()
    token = body["token"]
    row = Cart.objects.filter(pk=body["id"]).values().get()
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert not any(token in str(value) for value in row.values())


@pytest.mark.django_db
def test_tokens_are_compared_in_constant_time(api, monkeypatch):
    compared = []
    real = tokens.hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(tokens.hmac, "compare_digest", spy)
    cart, _ = cart_create()
    assert _get(api, cart.pk, "wrong").status_code == 404
    # An unknown cart costs the same comparison, so timing does not tell the two apart.
    assert _get(api, "9f0b2f8e-4a57-4c6e-9a53-2d0c3f3c7a11", "wrong").status_code == 404
    assert len(compared) == 2


@pytest.mark.django_db
def test_every_cart_endpoint_refuses_another_carts_token(api, product):
    victim, victim_token = cart_create()
    _, attacker_token = cart_create()
    other = ProductFactory(on_hand=5)
    response = item_put(api, victim.pk, product.pk, {"quantity": 2}, token=victim_token)
    assert response.status_code == 200
    before = state_snapshot()

    for response in (
        _get(api, victim.pk, attacker_token),
        item_put(api, victim.pk, product.pk, {"quantity": 5}, token=attacker_token),
        item_put(api, victim.pk, other.pk, {"quantity": 1}, token=attacker_token),
        _delete(api, victim.pk, product.pk, attacker_token),
        _checkout(api, victim.pk, attacker_token),
        _checkout(api, victim.pk, attacker_token, HTTP_IDEMPOTENCY_KEY="steal-1"),
    ):
        assert response.status_code == 404
        assert response.json() == {"code": "cart_not_found", "detail": "No such cart."}
    assert state_snapshot() == before
    assert _get(api, victim.pk, victim_token).json()["items"][0]["quantity"] == 2


@pytest.mark.django_db
def test_a_checked_out_cart_is_no_more_visible_to_another_token(api, product):
    victim, victim_token = cart_create()
    _, attacker_token = cart_create()
    item_put(api, victim.pk, product.pk, {"quantity": 1}, token=victim_token)
    assert _checkout(api, victim.pk, victim_token).status_code == 201
    before = state_snapshot()

    # 404, not 409 "checked out" or the order: another token learns nothing.
    for response in (
        _get(api, victim.pk, attacker_token),
        item_put(api, victim.pk, product.pk, {"quantity": 1}, token=attacker_token),
        _delete(api, victim.pk, product.pk, attacker_token),
        _checkout(api, victim.pk, attacker_token),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "cart_not_found"
    assert state_snapshot() == before
