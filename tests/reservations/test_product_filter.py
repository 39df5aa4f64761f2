"""GET /api/v1/products/?sku=A,B: the storefront's product list, only those SKUs."""

import pytest

from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


def _skus(response) -> list[str]:
    assert response.status_code == 200, response.content[:300]
    return [product["sku"] for product in response.json()["results"]]


@pytest.fixture
def catalogue():
    ProductFactory(sku="TEE-M", on_hand=3)
    ProductFactory(sku="TEE-L", on_hand=0)
    ProductFactory(sku="CAP", on_hand=5)
    ProductFactory(sku="OFF", on_hand=5, is_active=False)


def test_only_the_skus_asked_for_are_listed(api, catalogue):
    assert _skus(api.get("/api/v1/products/?sku=CAP,TEE-M")) == ["TEE-M", "CAP"]
    assert _skus(api.get("/api/v1/products/?sku=CAP&sku=TEE-L")) == ["TEE-L", "CAP"]
    assert len(_skus(api.get("/api/v1/products/"))) == 3


def test_unknown_and_off_sale_skus_are_simply_not_listed(api, catalogue):
    assert _skus(api.get("/api/v1/products/?sku=NOPE,OFF,CAP,,")) == ["CAP"]
    assert _skus(api.get("/api/v1/products/?sku=NOPE")) == []
    assert _skus(api.get("/api/v1/products/?sku=")) == []
    assert _skus(api.get("/api/v1/products/?sku=%00,CAP")) == ["CAP"]


def test_the_filter_keeps_availability_and_pagination(api, catalogue):
    body = api.get("/api/v1/products/?sku=TEE-M,TEE-L,CAP&limit=2").json()
    assert body["count"] == 3 and body["next"]
    assert [(p["sku"], p["available"]) for p in body["results"]] == [("TEE-M", 3), ("TEE-L", 0)]


def test_at_most_1000_skus(api, catalogue, django_assert_num_queries):
    many = ",".join(f"S{n}" for n in range(1001))
    response = api.get(f"/api/v1/products/?sku={many}")
    assert (response.status_code, response.json()["code"]) == (400, "invalid_input")
    with django_assert_num_queries(2):  # count + page, as without the filter
        assert _skus(api.get("/api/v1/products/?sku=" + ",".join(["CAP"] * 1000))) == ["CAP"]
