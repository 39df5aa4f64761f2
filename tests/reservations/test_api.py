"""Storefront API v1: every endpoint, and every bad input answered with a 4xx and a code."""

import json
import uuid
from decimal import Decimal

import pytest
from django.core.management import call_command

from reservations.models import Cart
from store.models import Inventory
from tests.api import item_put, state_snapshot
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


def _new_cart(api) -> tuple[str, dict]:
    response = api.post("/api/v1/carts/")
    assert response.status_code == 201
    body = response.json()
    return body["id"], {"HTTP_X_CART_TOKEN": body["token"]}


@pytest.fixture
def product():
    return ProductFactory(on_hand=5, price=Decimal("12.50"), sku="TEE-1", name="Tee")


@pytest.fixture
def cart(api, product):
    """An open cart holding 2 of `product`."""
    cart_id, headers = _new_cart(api)
    assert item_put(api, cart_id, product.pk, {"quantity": 2}, **headers).status_code == 200
    return cart_id, headers


# --- products ---------------------------------------------------------------------------


def test_product_list_shows_live_availability(api, product):
    ProductFactory(on_hand=1, is_active=False)
    response = api.get("/api/v1/products/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert body["results"] == [
        {"id": product.pk, "sku": "TEE-1", "name": "Tee", "price": "12.50", "available": 5}
    ]


def test_product_list_is_one_query_however_many_products(api, django_assert_num_queries):
    for _ in range(20):
        ProductFactory(on_hand=3)
    with django_assert_num_queries(2):  # count + page
        assert api.get("/api/v1/products/?limit=50").status_code == 200


@pytest.mark.parametrize(
    "query",
    [f"limit={2**63}", "limit=" + "9" * 40, "limit=5000", f"offset={2**63}&limit={2**62}"],
    ids=["2^63", "40-digits", "5000", "offset+limit-past-bigint"],
)
def test_product_list_limit_is_capped_not_a_500(api, query):
    for _ in range(3):
        ProductFactory(on_hand=1)
    response = api.get(f"/api/v1/products/?{query}")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert len(body["results"]) == (0 if "offset" in query else 3)


def test_product_list_limit_over_the_cap_gets_a_full_page(api, monkeypatch):
    from reservations.api import ProductPagination

    assert ProductPagination.max_limit == 1000
    monkeypatch.setattr(ProductPagination, "max_limit", 2)
    for _ in range(3):
        ProductFactory(on_hand=1)
    body = api.get("/api/v1/products/?limit=5000").json()
    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert body["next"].endswith("?limit=2&offset=2")


@pytest.mark.parametrize(
    "query", ["sku=MUG-1,TEE-1,NOPE,OFF-1,MUG-1", "sku=MUG-1&sku=TEE-1,NOPE&sku=OFF-1"]
)
def test_product_list_filtered_by_sku(api, product, query, django_assert_num_queries):
    mug = ProductFactory(on_hand=2, sku="MUG-1")
    ProductFactory(on_hand=9, sku="CAP-1")
    ProductFactory(on_hand=9, sku="OFF-1", is_active=False)
    with django_assert_num_queries(2):  # count + page, as unfiltered
        response = api.get(f"/api/v1/products/?{query}")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [row["sku"] for row in body["results"]] == ["TEE-1", "MUG-1"]
    assert body["results"][1] == {
        "id": mug.pk, "sku": "MUG-1", "name": mug.name, "price": f"{mug.price:.2f}", "available": 2
    }


@pytest.mark.parametrize("query", ["sku=", "sku=,", "sku=NOPE", "sku=TEE-1%00"])
def test_product_list_filter_that_names_no_product_finds_nothing(api, product, query):
    response = api.get(f"/api/v1/products/?{query}")
    assert response.status_code == 200
    assert response.json() == {"count": 0, "next": None, "previous": None, "results": []}


def test_product_list_filter_takes_at_most_a_thousand_skus(api, product):
    skus = ["TEE-1", *(f"S{n}" for n in range(999))]
    response = api.get("/api/v1/products/?sku=" + ",".join(skus))
    assert response.status_code == 200
    assert response.json()["count"] == 1

    response = api.get("/api/v1/products/?sku=" + ",".join([*skus, "ONE-MORE"]))
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_input"


def test_product_detail(api, product, cart):
    response = api.get(f"/api/v1/products/{product.pk}/")
    assert response.status_code == 200
    assert response.json()["available"] == 3


@pytest.mark.parametrize("product_id", ["999999", "abc", "0", "-1", "1" * 30, "%F0%9F%92%A5"])
def test_unknown_product_is_404(api, product_id):
    response = api.get(f"/api/v1/products/{product_id}/")
    assert response.status_code == 404
    assert response.json()["code"] == "product_not_found"


def test_inactive_product_is_404(api):
    hidden = ProductFactory(on_hand=3, is_active=False)
    response = api.get(f"/api/v1/products/{hidden.pk}/")
    assert response.status_code == 404
    assert response.json()["code"] == "product_not_found"


# --- carts ------------------------------------------------------------------------------


def test_create_cart_returns_token_once_and_stores_only_its_hash(api):
    response = api.post("/api/v1/carts/")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "token", "status", "expires_at", "order_id", "items"}
    assert body["status"] == "open" and body["items"] == [] and body["expires_at"] is None
    assert len(body["token"]) >= 43  # 256 bits, url-safe base64
    stored = Cart.objects.get(pk=body["id"])
    assert body["token"] not in stored.token_hash
    detail = api.get(f"/api/v1/carts/{body['id']}/", HTTP_X_CART_TOKEN=body["token"])
    assert detail.status_code == 200
    assert "token" not in detail.json()


def test_cart_detail_shows_items(api, product, cart):
    cart_id, headers = cart
    body = api.get(f"/api/v1/carts/{cart_id}/", **headers).json()
    assert body["status"] == "open"
    assert body["items"] == [
        {
            "product_id": product.pk,
            "sku": "TEE-1",
            "name": "Tee",
            "price": "12.50",
            "quantity": 2,
            "expires_at": body["expires_at"],
            "status": "active",
        }
    ]


@pytest.mark.parametrize(
    "token", [None, "", "wrong", "x" * 5000], ids=["missing", "empty", "wrong", "huge"]
)
def test_missing_or_wrong_token_is_404(api, product, cart, token):
    cart_id, _ = cart
    headers = {} if token is None else {"HTTP_X_CART_TOKEN": token}
    before = state_snapshot()
    for response in (
        api.get(f"/api/v1/carts/{cart_id}/", **headers),
        item_put(api, cart_id, product.pk, {"quantity": 1}, **headers),
        api.delete(f"/api/v1/carts/{cart_id}/items/{product.pk}/", **headers),
        api.post(f"/api/v1/carts/{cart_id}/checkout/", **headers),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "cart_not_found"
    assert state_snapshot() == before


def test_another_carts_token_does_not_open_this_cart(api, product, cart):
    cart_id, _ = cart
    _, other_headers = _new_cart(api)
    before = state_snapshot()
    assert api.get(f"/api/v1/carts/{cart_id}/", **other_headers).status_code == 404
    assert item_put(api, cart_id, product.pk, {"quantity": 1}, **other_headers).status_code == 404
    assert api.post(f"/api/v1/carts/{cart_id}/checkout/", **other_headers).status_code == 404
    assert state_snapshot() == before


@pytest.mark.parametrize(
    "cart_id",
    ["not-a-uuid", "123", str(uuid.uuid4()), "１２３４５６７８-1234-1234-1234-123456789012"],
)
def test_bad_or_unknown_cart_id_is_404(api, product, cart_id):
    response = api.get(f"/api/v1/carts/{cart_id}/", HTTP_X_CART_TOKEN="anything")
    assert response.status_code == 404
    assert response.json()["code"] == "cart_not_found"


# --- items ------------------------------------------------------------------------------


def test_put_sets_raises_lowers_and_zero_removes(api, product, cart):
    cart_id, headers = cart
    assert item_put(api, cart_id, product.pk, {"quantity": 5}, **headers).json()["items"][0][
        "quantity"
    ] == 5
    assert api.get(f"/api/v1/products/{product.pk}/").json()["available"] == 0
    body = item_put(api, cart_id, product.pk, {"quantity": 0}, **headers).json()
    assert body["items"] == []
    assert api.get(f"/api/v1/products/{product.pk}/").json()["available"] == 5


def test_put_beyond_stock_is_409_with_available(api, product, cart):
    cart_id, headers = cart
    before = state_snapshot()
    response = item_put(api, cart_id, product.pk, {"quantity": 6}, **headers)
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "insufficient_stock"
    assert body["available"] == 5 and body["requested"] == 6
    assert state_snapshot() == before


@pytest.mark.parametrize(
    "body",
    [
        {"quantity": -1},
        {"quantity": 10_001},
        {"quantity": 2**64},
        {"quantity": 10**400},
        {"quantity": 1.5},
        {"quantity": 2.0},
        {"quantity": "3"},
        {"quantity": True},
        {"quantity": None},
        {"quantity": [1]},
        {},
        {"qty": 1},
    ],
    ids=lambda b: json.dumps(b)[:40],
)
def test_bad_quantity_is_400_and_changes_nothing(api, product, cart, body):
    cart_id, headers = cart
    before = state_snapshot()
    response = item_put(api, cart_id, product.pk, body, **headers)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_quantity"
    assert state_snapshot() == before


@pytest.mark.parametrize(
    "raw", ["{bad json", "", "[1, 2]", '"quantity"', "null", '{"quantity": 1', "1"]
)
def test_malformed_or_non_object_body_is_400(api, product, cart, raw):
    cart_id, headers = cart
    before = state_snapshot()
    response = item_put(api, cart_id, product.pk, raw, raw=True, **headers)
    assert response.status_code == 400
    assert response.json()["code"] in {"malformed_json", "invalid_input", "invalid_quantity"}
    assert state_snapshot() == before


def test_non_json_content_type_is_415(api, product, cart):
    cart_id, headers = cart
    before = state_snapshot()
    response = api.put(
        f"/api/v1/carts/{cart_id}/items/{product.pk}/",
        data="quantity=1",
        content_type="application/x-www-form-urlencoded",
        **headers,
    )
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    assert state_snapshot() == before


@pytest.mark.parametrize("product_id", ["999999", "abc", "-3", "9" * 40])
def test_put_unknown_product_is_404(api, cart, product_id):
    cart_id, headers = cart
    before = state_snapshot()
    response = item_put(api, cart_id, product_id, {"quantity": 1}, **headers)
    assert response.status_code == 404
    assert response.json()["code"] == "product_not_found"
    assert state_snapshot() == before


def test_put_inactive_product_is_404(api, cart):
    cart_id, headers = cart
    hidden = ProductFactory(on_hand=3, is_active=False)
    before = state_snapshot()
    response = item_put(api, cart_id, hidden.pk, {"quantity": 1}, **headers)
    assert response.status_code == 404
    assert response.json()["code"] == "product_not_found"
    assert state_snapshot() == before


def test_delete_item_releases_the_hold(api, product, cart):
    cart_id, headers = cart
    response = api.delete(f"/api/v1/carts/{cart_id}/items/{product.pk}/", **headers)
    assert response.status_code == 200
    assert response.json()["items"] == []
    assert Inventory.objects.get(pk=product.pk).reserved == 0


def test_delete_item_not_in_cart_is_404(api, product):
    cart_id, headers = _new_cart(api)
    response = api.delete(f"/api/v1/carts/{cart_id}/items/{product.pk}/", **headers)
    assert response.status_code == 404
    assert response.json()["code"] == "item_not_found"


def test_wrong_method_is_405(api, cart):
    cart_id, headers = cart
    response = api.patch(f"/api/v1/carts/{cart_id}/", **headers)
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


# --- checkout ---------------------------------------------------------------------------


def test_checkout_creates_order_then_replays_it(api, product, cart):
    cart_id, headers = cart
    response = api.post(f"/api/v1/carts/{cart_id}/checkout/", **headers)
    assert response.status_code == 201
    order = response.json()
    assert order["cart_id"] == cart_id
    assert order["total"] == "25.00"
    assert order["lines"] == [
        {
            "product_id": product.pk,
            "sku": "TEE-1",
            "quantity": 2,
            "unit_price": "12.50",
            "line_total": "25.00",
        }
    ]
    again = api.post(f"/api/v1/carts/{cart_id}/checkout/", **headers)
    assert again.status_code == 200
    assert again.json() == order
    assert again["Idempotent-Replayed"] == "true"
    assert Inventory.objects.get(pk=product.pk).on_hand == 3
    cart_body = api.get(f"/api/v1/carts/{cart_id}/", **headers).json()
    assert cart_body["status"] == "checked_out"
    assert cart_body["order_id"] == order["id"]
    assert [item["status"] for item in cart_body["items"]] == ["consumed"]


def test_checkout_empty_cart_is_409(api):
    cart_id, headers = _new_cart(api)
    before = state_snapshot()
    response = api.post(f"/api/v1/carts/{cart_id}/checkout/", **headers)
    assert response.status_code == 409
    assert response.json()["code"] == "cart_empty"
    assert state_snapshot() == before


def test_cart_used_after_checkout_is_409(api, product, cart):
    cart_id, headers = cart
    api.post(f"/api/v1/carts/{cart_id}/checkout/", **headers)
    before = state_snapshot()
    for response in (
        item_put(api, cart_id, product.pk, {"quantity": 1}, **headers),
        api.delete(f"/api/v1/carts/{cart_id}/items/{product.pk}/", **headers),
    ):
        assert response.status_code == 409
        assert response.json()["code"] == "cart_checked_out"
    assert state_snapshot() == before


def test_idempotency_key_reused_for_another_cart_is_422(api, product, cart):
    cart_id, headers = cart
    other_id, other_headers = _new_cart(api)
    item_put(api, other_id, product.pk, {"quantity": 1}, **other_headers)
    api.post(f"/api/v1/carts/{cart_id}/checkout/", HTTP_IDEMPOTENCY_KEY="k-1", **headers)
    before = state_snapshot()
    response = api.post(
        f"/api/v1/carts/{other_id}/checkout/", HTTP_IDEMPOTENCY_KEY="k-1", **other_headers
    )
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert state_snapshot() == before


@pytest.mark.parametrize("key", ["", "x" * 256, "with space", "naïve"])
def test_bad_idempotency_key_is_400(api, cart, key):
    cart_id, headers = cart
    before = state_snapshot()
    response = api.post(
        f"/api/v1/carts/{cart_id}/checkout/", HTTP_IDEMPOTENCY_KEY=key, **headers
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_idempotency_key"
    assert state_snapshot() == before


# --- docs -------------------------------------------------------------------------------


def test_openapi_schema_and_docs_are_served(api):
    schema = api.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/carts/{cart_id}/items/{product_id}/" in paths
    assert "/api/v1/carts/{cart_id}/checkout/" in paths
    assert api.get("/api/docs/").status_code == 200


def test_openapi_schema_is_valid_and_generated_without_warnings(tmp_path):
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml")
    )
    assert "ErrorCodeEnum" in (tmp_path / "schema.yaml").read_text()
