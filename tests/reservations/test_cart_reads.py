"""The cart requests' reads: one written-out query each, and answers built without the
serializers that describe them in the schema, to the byte what the serializers give."""

import json
import uuid
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.renderers import JSONRenderer

from reservations.errors import CartNotFound
from reservations.models import Cart, Reservation
from reservations.selectors import (
    CartLine,
    CartShown,
    cart_and_product_get_for_token,
    cart_shown_get,
    cart_shown_get_for_token,
)
from reservations.serializers import CartCreatedOutput, CartOutput, cart_data
from reservations.services import checkout, hold_set
from store.limits import MAX_PRICE
from store.models import Product
from tests.api import item_put
from tests.factories import CartFactory, ProductFactory

# --- the answer, built directly -----------------------------------------------------------


def _serialized(cart: CartShown, token: str | None = None) -> bytes:
    context = {"lines": cart.lines, "order_id": cart.order_id}
    if token is None:
        data = CartOutput(cart, context=context).data
    else:
        data = CartCreatedOutput(SimpleNamespace(**asdict(cart), token=token), context=context).data
    return JSONRenderer().render(data)


# Naive bounds, as hypothesis wants them; the times drawn are in UTC.
_instants = st.datetimes(
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001
    max_value=datetime(2200, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)
# Whole seconds too: then no fraction is shown.
_times = _instants | _instants.map(lambda t: t.replace(microsecond=0))
_lines = st.builds(
    CartLine,
    product_id=st.integers(1, 2**63 - 1),
    sku=st.text(min_size=1, max_size=64),
    name=st.text(max_size=200),
    price=st.decimals(min_value=0, max_value=MAX_PRICE, places=2),
    quantity=st.integers(1, 10_000),
    expires_at=_times,
    status=st.sampled_from(["active", "expired", "consumed"]),
)
_carts = st.builds(
    CartShown,
    id=st.uuids(),
    status=st.sampled_from(Cart.Status.values),
    expires_at=st.none() | _times,
    order_id=st.none() | st.uuids(),
    lines=st.lists(_lines, max_size=5),
)


@settings(max_examples=300, deadline=None)
@given(cart=_carts, token=st.none() | st.text(min_size=1, max_size=50))
def test_cart_data_is_what_the_serializers_give(cart, token):
    assert JSONRenderer().render(cart_data(cart, token=token)) == _serialized(cart, token)


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/St_Johns", "Asia/Kolkata"])
def test_cart_data_shows_times_in_the_time_zone_as_the_serializers_do(settings, zone):
    settings.TIME_ZONE = zone
    moment = datetime(2026, 7, 1, 9, 30, 15, 250, tzinfo=UTC)
    line = CartLine(1, "A", "a", Decimal("1.50"), 2, moment, "active")
    cart = CartShown(uuid.uuid4(), "open", moment + timedelta(minutes=5), None, [line])
    assert JSONRenderer().render(cart_data(cart)) == _serialized(cart)
    assert cart_data(cart)["expires_at"] != "2026-07-01T09:35:15.000250Z"


# --- the reads ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_cart_is_shown_with_its_lines_as_stored(ttl):
    cart = CartFactory()
    a, b = ProductFactory(on_hand=5, price=Decimal("3.10")), ProductFactory(on_hand=5)
    # A hold from an hour ago has expired; the one made now does not revive it.
    hold_set(cart=cart, product=a, quantity=1, now=datetime.now(UTC) - timedelta(hours=1))
    hold_set(cart=cart, product=b, quantity=2)

    shown = cart_shown_get(cart_id=cart.pk)

    cart.refresh_from_db()
    assert (shown.id, shown.status, shown.expires_at, shown.order_id) == (
        cart.pk, "open", cart.expires_at, None
    )
    rows = {r.product_id: r for r in Reservation.objects.filter(cart=cart)}
    assert [line.product_id for line in shown.lines] == sorted([a.pk, b.pk])
    for line in shown.lines:
        row = rows[line.product_id]
        assert (line.quantity, line.expires_at) == (row.quantity, row.expires_at)
    assert [(line.sku, line.price, line.status) for line in shown.lines] == [
        (a.sku, Decimal("3.10"), "expired"), (b.sku, Decimal("10.00"), "active")
    ]


@pytest.mark.django_db
def test_a_checked_out_cart_is_shown_with_its_order_and_its_bought_lines():
    cart = CartFactory()
    product = ProductFactory(on_hand=5)
    hold_set(cart=cart, product=product, quantity=2)
    order, _ = checkout(cart=cart)

    shown = cart_shown_get(cart_id=cart.pk)

    assert (shown.status, shown.order_id) == ("checked_out", order.pk)
    assert [(line.product_id, line.quantity, line.status) for line in shown.lines] == [
        (product.pk, 2, "consumed")
    ]


@pytest.mark.django_db
def test_an_open_cart_hides_released_lines_and_shows_no_order():
    cart = CartFactory()
    product = ProductFactory(on_hand=5)
    hold_set(cart=cart, product=product, quantity=2)
    hold_set(cart=cart, product=product, quantity=0)
    shown = cart_shown_get(cart_id=cart.pk)
    assert (shown.lines, shown.order_id, shown.expires_at) == ([], None, None)


@pytest.mark.django_db
def test_the_cart_and_product_read_loads_what_the_orm_would():
    cart = CartFactory()
    product = ProductFactory(on_hand=1, price=Decimal("7.25"), is_active=False)

    got_cart, got_product = cart_and_product_get_for_token(
        cart_id=str(cart.pk), token=cart.token, product_id=str(product.pk)
    )

    stored_cart, stored_product = Cart.objects.get(pk=cart.pk), Product.objects.get(pk=product.pk)
    for got, stored in ((got_cart, stored_cart), (got_product, stored_product)):
        # Fields left out of the query load when read, like any deferred field.
        fields = [f.attname for f in type(stored)._meta.concrete_fields]
        assert [getattr(got, f) for f in fields] == [getattr(stored, f) for f in fields]


@pytest.mark.django_db
@pytest.mark.parametrize("product_id", ["999999", "abc", "", "１", "9" * 30])
def test_no_such_product_reads_as_none(product_id):
    cart = CartFactory()
    got_cart, got_product = cart_and_product_get_for_token(
        cart_id=str(cart.pk), token=cart.token, product_id=product_id
    )
    assert (got_cart.pk, got_product) == (cart.pk, None)


@pytest.mark.django_db
@pytest.mark.parametrize("known_cart", [True, False])
@pytest.mark.parametrize("token", ["wrong", None, ""])
def test_a_wrong_token_reads_as_no_cart(known_cart, token):
    cart_id = str(CartFactory().pk) if known_cart else str(uuid.uuid4())
    with pytest.raises(CartNotFound):
        cart_shown_get_for_token(cart_id=cart_id, token=token)
    with pytest.raises(CartNotFound):
        cart_and_product_get_for_token(cart_id=cart_id, token=token, product_id="1")


# --- the requests: statements per request -------------------------------------------------


@pytest.fixture
def held(api):
    product = ProductFactory(on_hand=100)
    cart = api.post("/api/v1/carts/").json()
    response = item_put(api, cart["id"], product.pk, {"quantity": 1}, token=cart["token"])
    assert response.status_code == 200
    return cart, product


@pytest.mark.django_db(transaction=True)
def test_a_cart_get_is_one_statement(api, held, django_assert_num_queries):
    cart, _ = held
    with django_assert_num_queries(1):
        response = api.get(f"/api/v1/carts/{cart['id']}/", HTTP_X_CART_TOKEN=cart["token"])
    assert response.status_code == 200
    assert len(response.json()["items"]) == 1


@pytest.mark.django_db(transaction=True)
def test_a_checked_out_carts_get_reads_its_order_too(api, held, django_assert_num_queries):
    cart, _ = held
    assert api.post(
        f"/api/v1/carts/{cart['id']}/checkout/", HTTP_X_CART_TOKEN=cart["token"]
    ).status_code == 201
    with django_assert_num_queries(2):
        response = api.get(f"/api/v1/carts/{cart['id']}/", HTTP_X_CART_TOKEN=cart["token"])
    assert response.json()["order_id"] is not None


@pytest.mark.django_db(transaction=True)
def test_a_hold_put_is_one_round_trip_checks_hold_and_answer(
    api, held, django_assert_num_queries
):
    cart, product = held
    with django_assert_num_queries(1) as queries:
        response = item_put(api, cart["id"], product.pk, {"quantity": 2}, token=cart["token"])
    assert response.status_code == 200
    assert response.json()["items"][0]["quantity"] == 2
    # The token, product and hold in one call, then the flush and the cart's read.
    sql = queries.captured_queries[0]["sql"]
    assert sql.index("stockhold_cart_item_put") < sql.index("COMMIT") < sql.index(
        "pg_logical_emit_message"
    ) < sql.index("stockhold_cart_shown")
    assert Reservation.objects.get(cart_id=cart["id"]).quantity == 2


def _refusals(cart, product, other_cart):
    """PUTs that one round trip refuses, each with its code and status."""
    return {
        "wrong token": (cart["id"], product.pk, 1, other_cart["token"], 404, "cart_not_found"),
        "no token": (cart["id"], product.pk, 1, None, 404, "cart_not_found"),
        "no such cart": (str(uuid.uuid4()), product.pk, 1, cart["token"], 404, "cart_not_found"),
        "no such product": (cart["id"], 2**62, 1, cart["token"], 404, "product_not_found"),
        "too little stock": (cart["id"], product.pk, 101, cart["token"], 409, "insufficient_stock"),
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "case", ["wrong token", "no token", "no such cart", "no such product", "too little stock"]
)
def test_a_refused_put_changes_nothing_and_leaves_the_connection_usable(api, held, case):
    """On its own (autocommit), a refusal aborts the call's explicit transaction; the
    service rolls it back, so the next request on the connection works."""
    from django.db import connection

    cart, product = held
    other = api.post("/api/v1/carts/").json()
    cart_id, product_id, quantity, token, status, code = _refusals(cart, product, other)[case]
    response = item_put(api, cart_id, product_id, {"quantity": quantity}, token=token)
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert not connection.in_atomic_block
    assert connection.connection.info.transaction_status == 0  # idle, not in a transaction
    line = Reservation.objects.get(cart_id=cart["id"])
    assert (line.quantity, line.status) == (1, "active")
    assert Product.objects.get(pk=product.pk).inventory.reserved == 1
    response = item_put(api, cart["id"], product.pk, {"quantity": 3}, token=cart["token"])
    assert response.status_code == 200
    assert Product.objects.get(pk=product.pk).inventory.reserved == 3


@pytest.mark.django_db(transaction=True)
def test_an_off_sale_product_is_not_found_for_a_hold_but_its_line_can_be_removed(api, held):
    cart, product = held
    Product.objects.filter(pk=product.pk).update(is_active=False)
    response = item_put(api, cart["id"], product.pk, {"quantity": 2}, token=cart["token"])
    assert (response.status_code, response.json()["code"]) == (404, "product_not_found")
    response = item_put(api, cart["id"], product.pk, {"quantity": 0}, token=cart["token"])
    assert response.status_code == 200
    assert response.json()["items"] == []


@pytest.mark.django_db(transaction=True)
def test_a_cart_create_is_one_statement(api, django_assert_num_queries):
    with django_assert_num_queries(1):
        response = api.post("/api/v1/carts/")
    assert response.status_code == 201
    assert json.loads(response.content)["items"] == []
