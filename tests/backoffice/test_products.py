"""PUT /api/v1/back-office/products/{sku}/: create or update a product by SKU."""

from decimal import Decimal

import pytest

from store.models import Inventory, Product, StockMovement
from tests.backoffice.conftest import back_office_snapshot, product_put, refused
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

TEE = {"name": "Black tee, M", "price": "19.90", "is_active": True}


def test_a_new_sku_creates_the_product_with_an_empty_stock_row(office, api):
    response = product_put(office, "TEE-BLK-M", TEE)
    assert response.status_code == 201
    body = response.json()
    assert {k: body[k] for k in ("sku", "name", "price", "is_active")} == {
        "sku": "TEE-BLK-M", "name": "Black tee, M", "price": "19.90", "is_active": True,
    }
    product = Product.objects.get(sku="TEE-BLK-M")
    assert body["id"] == product.pk
    assert (product.inventory.on_hand, product.inventory.reserved) == (0, 0)
    # Nothing on hand, so nothing in the ledger yet.
    assert not StockMovement.objects.filter(product=product).exists()
    listed = api.get("/api/v1/products/?sku=TEE-BLK-M").json()["results"]
    assert [(p["sku"], p["available"]) for p in listed] == [("TEE-BLK-M", 0)]


def test_an_existing_sku_is_updated_and_its_stock_is_left_alone(office, api):
    product = ProductFactory(sku="CAP", name="Cap", price=Decimal("9.00"), on_hand=7)
    response = product_put(
        office, "CAP", {"name": "Navy cap", "price": 15.5, "is_active": False}
    )
    assert response.status_code == 200
    assert response.json()["price"] == "15.50"
    product.refresh_from_db()
    assert (product.name, product.price, product.is_active) == (
        "Navy cap", Decimal("15.50"), False
    )
    assert Inventory.objects.get(pk=product.pk).on_hand == 7
    assert Product.objects.count() == 1
    # Off sale: gone from the storefront.
    assert api.get("/api/v1/products/?sku=CAP").json()["results"] == []
    # The same PUT again changes nothing and answers 200.
    before = back_office_snapshot()
    again = product_put(office, "CAP", {"name": "Navy cap", "price": "15.50", "is_active": False})
    assert again.status_code == 200
    assert back_office_snapshot() == before


@pytest.mark.parametrize("sku", ["-DASH", ".dot", "has space", "x" * 65, "a,b", "tëe", "%00"])
def test_a_sku_of_another_form_is_refused(office, sku):
    before = back_office_snapshot()
    body = refused(product_put(office, sku, TEE), 400, "invalid_sku")
    assert body["field"] == "sku"
    assert back_office_snapshot() == before


def test_a_sku_of_64_allowed_characters_is_taken(office):
    sku = "A" + "b.c_d-9" * 9
    assert len(sku) == 64
    assert product_put(office, sku, TEE).status_code == 201


@pytest.mark.parametrize(
    "price",
    ["-0.01", "100000000.00", "1.234", "abc", "NaN", "Infinity", None, True, [], "1e9"],
)
def test_a_bad_price_is_invalid_price_and_changes_nothing(office, price):
    ProductFactory(sku="CAP", price=Decimal("9.00"))
    before = back_office_snapshot()
    for sku in ("CAP", "NEW"):
        body = refused(
            product_put(office, sku, {**TEE, "price": price}), 400, "invalid_price"
        )
        assert body["detail"].startswith("price: ")
        assert body["max_price"] == "99999999.99"
    assert back_office_snapshot() == before


def test_the_highest_price_is_taken(office):
    assert product_put(office, "DEAR", {**TEE, "price": "99999999.99"}).status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {"price": "1.00", "is_active": True},
        {"name": "", "price": "1.00", "is_active": True},
        {"name": "   ", "price": "1.00", "is_active": True},
        {"name": "x" * 201, "price": "1.00", "is_active": True},
        {"name": 12, "price": "1.00", "is_active": True},
        {"name": "\ud800", "price": "1.00", "is_active": True},
        {"name": "a\u0000b", "price": "1.00", "is_active": True},
        {"name": "Tee", "price": "1.00"},
        {"name": "Tee", "price": "1.00", "is_active": "yes"},
        {"name": "Tee", "price": "1.00", "is_active": 1},
        {"name": 12, "price": "abc", "is_active": True},
        ["Tee", "1.00", True],
        "Tee",
    ],
)
def test_a_bad_body_is_invalid_input_and_changes_nothing(office, body):
    ProductFactory(sku="CAP", price=Decimal("9.00"))
    before = back_office_snapshot()
    for sku in ("CAP", "NEW"):
        refused(product_put(office, sku, body), 400, "invalid_input")
    assert back_office_snapshot() == before


def test_a_body_that_is_not_json_is_refused(office):
    before = back_office_snapshot()
    refused(product_put(office, "NEW", "{not json", raw=True), 400, "malformed_json")
    response = office.put(
        "/api/v1/back-office/products/NEW/", data="name=x", content_type="text/plain"
    )
    refused(response, 415, "unsupported_media_type")
    assert back_office_snapshot() == before


def test_a_path_without_a_sku_is_a_json_404(office):
    refused(product_put(office, "", TEE), 404, "not_found")
    refused(product_put(office, "A/B", TEE), 404, "not_found")
