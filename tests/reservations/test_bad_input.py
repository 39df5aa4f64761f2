"""Hostile and odd input: each gets a clear 4xx in JSON and changes nothing."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from config.parsers import JSONParser, RequestTooLarge
from reservations.services import cart_create
from store.models import Inventory, Product
from tests.api import item_put, state_snapshot
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

LIMIT = 64 * 1024


def _refused(response, status: int, code: str):
    assert response.status_code == status, response.content[:200]
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == code


@pytest.fixture
def product():
    return ProductFactory(on_hand=5, sku="BAD-1")


@pytest.fixture
def cart(api, product):
    """An open cart holding 2 of `product`: (id, token)."""
    cart, token = cart_create()
    assert item_put(api, cart.pk, product.pk, {"quantity": 2}, token=token).status_code == 200
    return cart.pk, token


def _padded(size: int) -> str:
    """A valid {"quantity": 1} body of exactly `size` bytes."""
    head = '{"quantity": 1, "pad": "'
    return head + "x" * (size - len(head) - 2) + '"}'


# --- oversized bodies -------------------------------------------------------------------


def test_body_over_the_limit_is_413_and_changes_nothing(api, product, cart):
    cart_id, token = cart
    before = state_snapshot()
    _refused(item_put(api, cart_id, product.pk, _padded(LIMIT + 1), raw=True, token=token), 413,
             "request_too_large")
    _refused(item_put(api, cart_id, product.pk, _padded(10 * 1024 * 1024), raw=True, token=token),
             413,
             "request_too_large")
    assert state_snapshot() == before


def test_body_at_the_limit_is_read(api, product, cart):
    cart_id, token = cart
    response = item_put(api, cart_id, product.pk, _padded(LIMIT), raw=True, token=token)
    assert response.status_code == 200
    assert response.json()["items"][0]["quantity"] == 1


def test_body_limit_is_read_at_request_time(api, settings, product, cart):
    cart_id, token = cart
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    before = state_snapshot()
    _refused(item_put(api, cart_id, product.pk, _padded(101), raw=True, token=token), 413,
             "request_too_large")
    assert state_snapshot() == before
    response = item_put(api, cart_id, product.pk, _padded(100), raw=True, token=token)
    assert response.status_code == 200


# --- deep nesting -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "[" * 30_000 + "]" * 30_000,
        '{"quantity": ' + "[" * 30_000 + "]" * 30_000 + "}",
        '{"a": ' * 9_000 + "1" + "}" * 9_000,
    ],
    ids=["lists", "quantity-lists", "objects"],
)
def test_nesting_too_deep_to_parse_is_400(api, product, cart, body):
    assert len(body) <= LIMIT
    cart_id, token = cart
    before = state_snapshot()
    _refused(item_put(api, cart_id, product.pk, body, raw=True, token=token), 400, "malformed_json")
    assert state_snapshot() == before


def test_100000_nested_lists_are_refused_cleanly(api, settings, product, cart):
    cart_id, token = cart
    body = "[" * 100_000 + "]" * 100_000
    before = state_snapshot()
    # Over the default limit: never parsed at all.
    _refused(item_put(api, cart_id, product.pk, body, raw=True, token=token), 413,
             "request_too_large")
    # Under a limit large enough to read it: too deep for the parser, still a clean 400.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
    _refused(item_put(api, cart_id, product.pk, body, raw=True, token=token), 400, "malformed_json")
    assert state_snapshot() == before


def test_nesting_the_parser_can_read_is_an_ordinary_400(api, product, cart):
    cart_id, token = cart
    before = state_snapshot()
    body = '{"quantity": ' + "[" * 200 + "1" + "]" * 200 + "}"
    _refused(item_put(api, cart_id, product.pk, body, raw=True, token=token), 400,
             "invalid_quantity")
    _refused(item_put(api, cart_id, product.pk, "[" * 200 + "]" * 200, raw=True, token=token), 400,
             "invalid_input")
    assert state_snapshot() == before


# --- bytes that are not JSON ----------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"quantity": "\xff\xfe"}',
        b"\xef\xbb\xbf\x00\x00",
        '{"quantity": NaN}',
        '{"quantity": Infinity}',
        '{"quantity": ' + "9" * 5000 + "}",
    ],
    ids=["invalid-utf8", "nul-bytes", "nan", "infinity", "5000-digit-number"],
)
def test_bytes_that_are_not_json_are_400(api, product, cart, body):
    cart_id, token = cart
    before = state_snapshot()
    _refused(item_put(api, cart_id, product.pk, body, raw=True, token=token), 400, "malformed_json")
    assert state_snapshot() == before


# --- integer overflow ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "quantity",
    [2**31, 2**63 - 1, 2**63, 2**64, 10**100, -(2**63), -(2**64), 1e300],
    ids=["2^31", "2^63-1", "2^63", "2^64", "10^100", "-2^63", "-2^64", "1e300"],
)
def test_quantities_past_any_integer_column_are_400(api, product, cart, quantity):
    cart_id, token = cart
    before = state_snapshot()
    _refused(item_put(api, cart_id, product.pk, {"quantity": quantity}, token=token), 400,
             "invalid_quantity")
    assert state_snapshot() == before


def test_quantity_at_the_int32_edge_is_refused_for_stock_not_overflow(
    api, settings, product, cart
):
    """With the per-line and per-cart limits raised to the column's maximum, the answer is
    still a 4xx."""
    settings.RESERVATION_MAX_QUANTITY = 2**31 - 1
    settings.RESERVATION_MAX_UNITS_PER_CART = 2**31 - 1
    cart_id, token = cart
    before = state_snapshot()
    response = item_put(api, cart_id, product.pk, {"quantity": 2**31 - 1}, token=token)
    _refused(response, 409, "insufficient_stock")
    assert state_snapshot() == before


# --- unicode ------------------------------------------------------------------------------

UNICODE_SKU = "ТЕЕ-☃-👕-ß"


def test_unicode_sku_from_set_stock_is_served_and_held(api):
    call_command("set_stock", UNICODE_SKU, "4", "--price", "9.99", "--name", "Ünïcödé tee 👕")
    product = Product.objects.get(sku=UNICODE_SKU)

    detail = api.get(f"/api/v1/products/{product.pk}/")
    assert detail.status_code == 200
    assert detail.json()["sku"] == UNICODE_SKU
    assert detail.json()["name"] == "Ünïcödé tee 👕"
    assert detail.json()["available"] == 4
    listed = api.get("/api/v1/products/").json()["results"]
    assert [p["sku"] for p in listed] == [UNICODE_SKU]

    cart, token = cart_create()
    held = item_put(api, cart.pk, product.pk, {"quantity": 3}, token=token)
    assert held.status_code == 200
    assert held.json()["items"][0]["sku"] == UNICODE_SKU
    order = api.post(f"/api/v1/carts/{cart.pk}/checkout/", HTTP_X_CART_TOKEN=token)
    assert order.status_code == 201
    assert order.json()["lines"][0]["sku"] == UNICODE_SKU
    assert Inventory.objects.get(pk=product.pk).on_hand == 1


def test_unicode_sku_of_64_characters_fits_and_65_is_refused():
    sku = "👕" * 64
    call_command("set_stock", sku, "1", "--price", "1")
    assert Product.objects.get(sku=sku).inventory.on_hand == 1
    with pytest.raises(CommandError, match="1 to 64 characters"):
        call_command("set_stock", "👕" * 65, "1", "--price", "1")


def _lookalikes(pk: int) -> list[str]:
    """The product's id written in ways int() accepts but a URL id must not."""
    arabic = "".join(chr(0x0660 + int(d)) for d in str(pk))
    fullwidth = "".join(chr(0xFF10 + int(d)) for d in str(pk))
    return [arabic, fullwidth, f"+{pk}", f" {pk}", f"{pk} ", f"{pk}\u200b", "1_" + str(pk)]


def test_unicode_and_lookalike_product_ids_are_404(api, product, cart):
    cart_id, token = cart
    before = state_snapshot()
    for product_id in [*_lookalikes(product.pk), "☃", "👕", "é", "1" * 5000]:
        _refused(api.get(f"/api/v1/products/{product_id}/"), 404, "product_not_found")
        _refused(item_put(api, cart_id, product_id, {"quantity": 1}, token=token), 404,
                 "product_not_found")
        _refused(
            api.delete(f"/api/v1/carts/{cart_id}/items/{product_id}/", HTTP_X_CART_TOKEN=token),
            404,
            "product_not_found",
        )
    assert state_snapshot() == before
    # The plain id still works.
    assert api.get(f"/api/v1/products/{product.pk}/").status_code == 200


def test_unicode_in_cart_ids_and_tokens_is_404(api, product, cart):
    cart_id, token = cart
    before = state_snapshot()
    for path_id, header in (
        ("☃", token),
        (f"{cart_id}é", token),
        (cart_id, token + "é"),
        (cart_id, "👕" * 40),
    ):
        response = api.get(f"/api/v1/carts/{path_id}/", HTTP_X_CART_TOKEN=header)
        _refused(response, 404, "cart_not_found")
    assert state_snapshot() == before


# --- idempotency keys and closed carts ---------------------------------------------------


def test_idempotency_key_of_another_cart_is_422_and_changes_nothing(api, product, cart):
    cart_id, token = cart
    other, other_token = cart_create()
    response = item_put(api, other.pk, product.pk, {"quantity": 1}, token=other_token)
    assert response.status_code == 200
    first = api.post(
        f"/api/v1/carts/{cart_id}/checkout/", HTTP_X_CART_TOKEN=token, HTTP_IDEMPOTENCY_KEY="k-42"
    )
    assert first.status_code == 201
    before = state_snapshot()

    for _ in range(2):
        response = api.post(
            f"/api/v1/carts/{other.pk}/checkout/",
            HTTP_X_CART_TOKEN=other_token,
            HTTP_IDEMPOTENCY_KEY="k-42",
        )
        _refused(response, 422, "idempotency_key_reused")
    assert state_snapshot() == before
    # The other cart still holds its line and can check out under a key of its own.
    again = api.post(
        f"/api/v1/carts/{other.pk}/checkout/",
        HTTP_X_CART_TOKEN=other_token,
        HTTP_IDEMPOTENCY_KEY="k-43",
    )
    assert again.status_code == 201


def test_cart_used_after_checkout_is_409_and_changes_nothing(api, product, cart):
    cart_id, token = cart
    spare = ProductFactory(on_hand=5)
    order = api.post(f"/api/v1/carts/{cart_id}/checkout/", HTTP_X_CART_TOKEN=token).json()
    before = state_snapshot()

    for response in (
        item_put(api, cart_id, product.pk, {"quantity": 1}, token=token),
        item_put(api, cart_id, product.pk, {"quantity": 0}, token=token),
        item_put(api, cart_id, spare.pk, {"quantity": 1}, token=token),
        api.delete(f"/api/v1/carts/{cart_id}/items/{product.pk}/", HTTP_X_CART_TOKEN=token),
    ):
        _refused(response, 409, "cart_checked_out")
    # Checking out again replays the one order; it buys nothing more.
    replay = api.post(f"/api/v1/carts/{cart_id}/checkout/", HTTP_X_CART_TOKEN=token)
    assert replay.status_code == 200
    assert replay.json() == order
    assert state_snapshot() == before


def test_parser_reads_no_further_than_the_limit_when_streamed(settings):
    """DRF before 3.17.2 hands the parser the raw stream, past Django's own check."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10

    class Stream(io.BytesIO):
        def read(self, size=-1):
            assert size == 11, "the whole body would be read"
            return super().read(size)

    with pytest.raises(RequestTooLarge):
        JSONParser().parse(Stream(b"[" + b"1," * 1000 + b"1]"))
    assert JSONParser().parse(Stream(b"[1, 2, 3]")) == [1, 2, 3]
