"""Every API operation against the OpenAPI schema the project serves, fuzzed by schemathesis.

schemathesis reads `/api/schema/` from the WSGI application and sends each operation's
generated requests, valid and invalid, through that same application, in process, on the
test PostgreSQL database. No transaction wraps them: each request commits, as under
gunicorn. Every answer must be no 5xx, with a status code the schema lists for the
operation, and the content type, body and headers it gives for that code.

Generated cart ids, tokens and product ids would almost all be answered 404, so most
examples are pointed at a real cart (empty, holding stock, checked out, or short of stock
for checkout) with its token, and at a product on the shelf; bodies, the other headers and
the remaining examples stay as generated. The health report is asked for both healthy and
unhealthy.
"""

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
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from reservations.models import ReleaseRun
from reservations.services import cart_create, checkout, hold_set
from reservations.services.release import release_run
from tests.factories import ProductFactory

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
]

# Read once, when the module is collected; the views build it without the database.
# (schemathesis.pytest.from_fixture would load it per test, but it fails under pytest 9.2:
# it sets Node._nodeid, which pytest no longer has.)
schema = schemathesis.openapi.from_wsgi(
    "/api/schema/?format=json",
    get_wsgi_application(),
    config=schemathesis.Config.from_dict(
        {"seed": 20260115, "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True}}
    ),
)


@pytest.fixture(autouse=True)
def _health_uncached(settings):
    """Every health call reads the database: examples change the release runs between calls."""
    settings.MONITORING_HEALTH_CACHE_SECONDS = 0


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


def _aim(case, shelf) -> None:
    """Point most examples at a real cart with its token, and at a product on the shelf.

    The choices are drawn from a generator seeded with the generated request, so an example
    replays the same way when Hypothesis shrinks it.
    """
    path = case.path_parameters
    if not path:
        return
    body = None if isinstance(case.body, NotSet) else case.body  # NotSet's repr has an address
    rng = random.Random(repr((path, dict(case.headers or {}), case.query, body)))
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
def test_api_answers_as_its_schema_says(case, shelf, installed_long_ago):
    _aim(case, shelf)
    if case.operation.path == "/api/v1/health/" and case.method == "GET":
        # Unhealthy until a release has run: a 503 by design, with the same body shape.
        ReleaseRun.objects.all().delete()
        response = case.call_and_validate(
            checks=[check for check in CHECKS if check is not not_a_server_error]
        )
        assert response.status_code == 503
        release_run()
    case.call_and_validate(checks=CHECKS)
