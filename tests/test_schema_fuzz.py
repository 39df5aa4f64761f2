"""Every API operation against the OpenAPI schema the project serves, fuzzed by schemathesis.

schemathesis reads `/api/schema/` from the WSGI application and sends each operation's
generated requests, valid and invalid, through that same application, in process, on the
test PostgreSQL database. No transaction wraps them: each request commits, as under
gunicorn. Every answer must be no 5xx, with a status code the schema lists for the
operation, and the content type, body and headers it gives for that code.

Generated cart ids, tokens and product ids would almost all be answered 404, so most
examples are pointed at a real cart (empty, holding stock, checked out, or short of stock
for checkout) with its token, and at a product on the shelf; back-office examples mostly
name the shelf's SKUs or a real webhook endpoint, and some reuse one Idempotency-Key
(replays and refused reuses);
bodies, the other headers and the remaining examples stay as generated. The health report
is asked for both healthy and unhealthy.

Back-office operations are sent with a live API key (schemathesis's OpenAPI-aware auth, from
the schema's Bearer scheme); its `ignored_auth` check sends each of them once more without
the key and with a wrong one, and expects a refusal. A test of its own checks that every
back-office operation answers a missing, wrong or revoked key with the 401 the schema gives.
"""

import json
import os
import random
from datetime import timedelta

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core import NotSet
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from backoffice.services import api_key_revoke
from reservations.models import ReleaseRun
from reservations.services import cart_create, checkout, hold_set
from reservations.services.release import release_run
from tests.factories import ApiKeyFactory, ProductFactory
from webhooks.services import endpoint_create

pytestmark = pytest.mark.django_db(transaction=True)

# Generated examples per operation, besides schemathesis's own boundary cases; with the
# fixed seed the same ones every run. Raise it to look deeper by hand.
MAX_EXAMPLES = int(os.environ.get("SCHEMA_FUZZ_EXAMPLES", "40"))

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    ignored_auth,
]

# The back office's Bearer scheme in the schema, and the key the fuzzed requests send; the
# `back_office_key` fixture makes it live for each test.
SECURITY_SCHEME = "apiKeyAuth"
FUZZ_KEY = "sh_f0221e55_" + "z" * 43
# Most examples of the stock batch share this key, so some repeat a batch and some reuse
# the key for another one.
REPEATED_KEY = "fuzz-repeat"

# Read once, when the module is collected; the views build it without the database.
# (schemathesis.pytest.from_fixture would load it per test, but it fails under pytest 9.2:
# it sets Node._nodeid, which pytest no longer has.)
schema = schemathesis.openapi.from_wsgi(
    "/api/schema/?format=json",
    get_wsgi_application(),
    config=schemathesis.Config.from_dict(
        {
            "seed": 20260115,
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True},
            "auth": {"openapi": {SECURITY_SCHEME: {"bearer": FUZZ_KEY}}},
        }
    ),
)


@pytest.fixture(autouse=True)
def _health_uncached(settings):
    """Every health call reads the database: examples change the release runs between calls."""
    settings.MONITORING_HEALTH_CACHE_SECONDS = 0


@pytest.fixture
def back_office_key():
    """The live API key the back-office examples send."""
    return ApiKeyFactory(name="fuzz", key=FUZZ_KEY)


@pytest.fixture
def shelf():
    """Two products no fuzzed hold can exhaust, one with a little stock, one with none, and
    one no longer on sale."""
    return [
        ProductFactory(on_hand=2_000_000_000),
        ProductFactory(on_hand=2_000_000_000),
        ProductFactory(on_hand=3),
        ProductFactory(on_hand=0),
        ProductFactory(on_hand=5, is_active=False),
    ]


@pytest.fixture
def webhook_endpoint():
    """A webhook endpoint that back-office examples change and rotate the secret of."""
    endpoint, _secret = endpoint_create(url="https://erp.example.com/hooks", event_types=[])
    return endpoint


def _cart(state: str, shelf) -> tuple[str, str]:
    """A real cart, empty, holding stock, checked out or short: (id, token).

    A short cart's hold expired and another cart took the stock, so its checkout fails.
    """
    with transaction.atomic():  # one commit for the whole set-up
        cart, token = cart_create()
        if state in ("holding", "checked_out"):
            hold_set(cart=cart, product=shelf[0], quantity=2)
        if state == "checked_out":
            hold_set(cart=cart, product=shelf[1], quantity=1)
            checkout(cart=cart)
        if state == "short":
            scarce = ProductFactory(on_hand=1)
            an_hour_ago = timezone.now() - timedelta(hours=1)
            hold_set(cart=cart, product=scarce, quantity=1, now=an_hour_ago)
            other, _ = cart_create()
            hold_set(cart=other, product=scarce, quantity=1)
    return str(cart.pk), token


def _order(state: str, shelf) -> str:
    """A real order: pending payment, past its deadline, paid or cancelled; its id."""
    from django.test import override_settings

    from reservations.models import Order, Reservation
    from reservations.services import order_cancel, order_confirm

    with transaction.atomic(), override_settings(ORDER_PAYMENT_WINDOW_SECONDS=900):
        cart, _ = cart_create()
        hold_set(cart=cart, product=shelf[0], quantity=1)
        order, _ = checkout(cart=cart)
        if state == "paid":
            order_confirm(order=order, actor="fuzz")
        elif state == "cancelled":
            order_cancel(order=order, actor="fuzz")
        elif state == "overdue":
            past = timezone.now() - timedelta(hours=1)
            Order.objects.filter(pk=order.pk).update(payment_expires_at=past)
            Reservation.objects.filter(cart=cart, status="active").update(expires_at=past)
    return str(order.pk)


def _aim_back_office(case, shelf, endpoint, rng: random.Random) -> None:
    """Name the shelf's SKUs, real orders and the webhook endpoint in most back-office
    examples, and share one Idempotency-Key."""
    path, query = case.path_parameters or {}, case.query or {}
    if "order_id" in path and rng.random() < 0.9:
        path["order_id"] = _order(rng.choice(["pending", "overdue", "paid", "cancelled"]), shelf)
    if "sku" in path and rng.random() < 0.85:
        path["sku"] = rng.choice(shelf).sku
    if "endpoint_id" in path and rng.random() < 0.85:
        path["endpoint_id"] = endpoint.pk
    if isinstance(query.get("sku"), list) and rng.random() < 0.7:
        query["sku"] = [rng.choice(shelf).sku for _ in query["sku"]]
    if isinstance(case.body, list) and rng.random() < 0.9:
        # Mostly batches that are batches: the schema cannot say "on_hand or delta, not
        # both", so a generated item has both or neither more often than not.
        for item in case.body:
            if not isinstance(item, dict):
                continue
            if "sku" in item and rng.random() < 0.8:
                item["sku"] = rng.choice(shelf).sku
            if "on_hand" in item and "delta" in item:
                del item[rng.choice(["on_hand", "delta"])]
            elif "on_hand" not in item and "delta" not in item:
                item["delta"] = rng.randint(-3, 3)
    if "Idempotency-Key" in (case.headers or {}) and rng.random() < 0.15:
        case.headers["Idempotency-Key"] = REPEATED_KEY


def _aim(case, shelf, endpoint) -> None:
    """Point most examples at a real cart with its token, and at a product on the shelf.

    The choices are drawn from a generator seeded with the generated request, so an example
    replays the same way when Hypothesis shrinks it.
    """
    path = case.path_parameters
    body = None if isinstance(case.body, NotSet) else case.body  # NotSet's repr has an address
    rng = random.Random(repr((path, dict(case.headers or {}), case.query, body)))
    if case.operation.path.startswith("/api/v1/back-office/"):
        _aim_back_office(case, shelf, endpoint, rng)
        return
    if not path:
        return
    if "cart_id" in path and rng.random() < 0.9:
        state = rng.choice(["empty", "holding", "holding", "checked_out", "short"])
        path["cart_id"], token = _cart(state, shelf)
        if rng.random() < 0.9:
            case.headers = {**(case.headers or {}), "X-Cart-Token": token}
    if "product_id" in path and rng.random() < 0.85:
        # Half the time the product a holding cart holds.
        path["product_id"] = rng.choice([shelf[0]] * 3 + shelf).pk


@schema.parametrize()
# An operation's examples share one shelf on purpose; its stock outlasts them.
@settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
def test_api_answers_as_its_schema_says(
    case, shelf, webhook_endpoint, installed_long_ago, back_office_key
):
    _aim(case, shelf, webhook_endpoint)
    if case.operation.path == "/api/v1/health/" and case.method == "GET":
        # Unhealthy until a release has run: a 503 by design, with the same body shape.
        ReleaseRun.objects.all().delete()
        response = case.call_and_validate(
            checks=[check for check in CHECKS if check is not not_a_server_error]
        )
        assert response.status_code == 503
        release_run()
    if case.operation.path.startswith("/api/v1/back-office/"):
        case.call_and_validate(checks=CHECKS)
    else:
        # A cart without its token is `404 cart_not_found`, as if it did not exist, never
        # a 401: the CartToken scheme is not an authentication that ignored_auth can judge.
        case.call_and_validate(checks=[c for c in CHECKS if c is not ignored_auth])


def _back_office_operations() -> list[tuple[str, str]]:
    return [
        (path, method)
        for path, operations in schema.raw_schema["paths"].items()
        for method, operation in operations.items()
        if path.startswith("/api/v1/back-office/")
    ]


def test_every_back_office_operation_needs_the_api_key():
    operations = _back_office_operations()
    assert {(p, m) for p, m in operations} >= {
        ("/api/v1/back-office/products/{sku}/", "put"),
        ("/api/v1/back-office/stock/", "get"),
        ("/api/v1/back-office/stock/", "post"),
        ("/api/v1/back-office/orders/{order_id}/", "get"),
        ("/api/v1/back-office/orders/{order_id}/confirm/", "post"),
        ("/api/v1/back-office/orders/{order_id}/cancel/", "post"),
        ("/api/v1/back-office/webhook-endpoints/", "get"),
        ("/api/v1/back-office/webhook-endpoints/", "post"),
        ("/api/v1/back-office/webhook-endpoints/{endpoint_id}/", "get"),
        ("/api/v1/back-office/webhook-endpoints/{endpoint_id}/", "patch"),
        ("/api/v1/back-office/webhook-endpoints/{endpoint_id}/rotate-secret/", "post"),
    }
    for path, method in operations:
        operation = schema.raw_schema["paths"][path][method]
        assert operation["security"] == [{SECURITY_SCHEME: []}], (path, method)
        assert "401" in operation["responses"], (path, method)


@pytest.mark.parametrize("path, method", _back_office_operations())
@pytest.mark.parametrize("key", ["missing", "wrong", "revoked"])
def test_back_office_operations_answer_401_as_the_schema_says_without_a_live_key(
    client, shelf, webhook_endpoint, back_office_key, path, method, key
):
    if key == "revoked":
        api_key_revoke(api_key=back_office_key)
    headers = {
        "missing": {},
        "wrong": {"HTTP_AUTHORIZATION": f"Bearer {FUZZ_KEY[:-1]}y"},
        "revoked": {"HTTP_AUTHORIZATION": f"Bearer {FUZZ_KEY}"},
    }[key]
    body = json.dumps([{"sku": shelf[0].sku, "delta": 1}])
    response = client.generic(
        method.upper(),
        path.replace("{sku}", shelf[0].sku).replace("{endpoint_id}", str(webhook_endpoint.pk)),
        body if method != "get" else "",
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="no-key-1",
        **headers,
    )
    documented = schema.raw_schema["paths"][path][method]["responses"]["401"]
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "unauthorized"
    for header, spec in documented.get("headers", {}).items():
        if spec.get("required"):
            assert response.has_header(header), header
