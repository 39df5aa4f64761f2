"""Prices are bounded at every input, so no order total can overflow its column."""

from decimal import Decimal, getcontext

import pytest
from django.core.management import CommandError, call_command

from reservations.models import Order, OrderLine
from store.errors import InvalidPrice
from store.limits import MAX_PRICE, MAX_STOCK, ORDER_MAX_LINES
from store.models import Inventory, Product
from store.services import product_create
from tests.api import item_put, state_snapshot
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

LARGEST_PRICE = Decimal("99999999.99")
LARGEST_LINE = 2**31 - 1
ONE_CENT_MORE = "100000000.00"


def _new_cart(api) -> tuple[str, dict]:
    response = api.post("/api/v1/carts/")
    assert response.status_code == 201
    body = response.json()
    return body["id"], {"HTTP_X_CART_TOKEN": body["token"]}


def test_largest_price_times_largest_line_checks_out_with_the_exact_total(api, settings):
    """The per-line and per-cart limits raised to the most a line can ever hold (the stock
    column's maximum): the largest line at the largest price, and a cart of three lines
    whose units add up to it, check out with exact totals."""
    settings.RESERVATION_MAX_QUANTITY = LARGEST_LINE
    settings.RESERVATION_MAX_UNITS_PER_CART = LARGEST_LINE
    line_total = LARGEST_PRICE * LARGEST_LINE
    assert line_total == Decimal("214748364678525163.53")
    for quantities in ([LARGEST_LINE], [LARGEST_LINE - 2, 1, 1]):
        products = [
            ProductFactory(on_hand=LARGEST_LINE, price=LARGEST_PRICE) for _ in quantities
        ]
        cart_id, headers = _new_cart(api)
        for product, quantity in zip(products, quantities, strict=True):
            response = item_put(api, cart_id, product.pk, {"quantity": quantity}, **headers)
            assert response.status_code == 200, response.content

        response = api.post(f"/api/v1/carts/{cart_id}/checkout/", **headers)

        assert response.status_code == 201, response.content
        order = response.json()
        assert [line["line_total"] for line in order["lines"]] == [
            str(LARGEST_PRICE * quantity) for quantity in quantities
        ]
        assert order["total"] == str(line_total)
        assert Inventory.objects.get(pk=products[0].pk).on_hand == LARGEST_LINE - quantities[0]


def test_set_stock_refuses_a_price_one_cent_over_the_largest():
    with pytest.raises(CommandError, match="price"):
        call_command("set_stock", "BIG-0", "101", "--price", "9999999999.99")
    before = state_snapshot()
    with pytest.raises(CommandError, match="price"):
        call_command("set_stock", "BIG-1", "5", "--price", ONE_CENT_MORE)
    assert state_snapshot() == before
    call_command("set_stock", "BIG-1", "5", "--price", str(LARGEST_PRICE))
    assert Product.objects.get(sku="BIG-1").price == LARGEST_PRICE
    before = state_snapshot()
    with pytest.raises(CommandError, match="price"):
        call_command("set_stock", "BIG-1", "5", "--price", ONE_CENT_MORE)
    assert state_snapshot() == before
    assert Product.objects.get(sku="BIG-1").price == LARGEST_PRICE


def test_admin_refuses_a_price_one_cent_over_the_largest(staff_client):
    form = {"sku": "BIG-2", "name": "Big", "is_active": "on", "stock_on_hand": 1}
    before = state_snapshot()
    response = staff_client.post("/admin/store/product/add/", {**form, "price": ONE_CENT_MORE})
    assert response.status_code == 200  # the form again, with the error
    assert response.context["adminform"].form.errors["price"]
    assert state_snapshot() == before
    response = staff_client.post(
        "/admin/store/product/add/", {**form, "price": str(LARGEST_PRICE)}
    )
    assert response.status_code == 302
    assert Product.objects.get(sku="BIG-2").price == LARGEST_PRICE


@pytest.mark.parametrize(
    "price", [ONE_CENT_MORE, "9999999999.99", "-0.01", "1.001", "NaN", "Infinity"]
)
def test_product_create_refuses_a_price_out_of_bounds_and_creates_nothing(price):
    before = state_snapshot()
    with pytest.raises(InvalidPrice) as excinfo:
        product_create(sku="BIG-3", name="Big", price=Decimal(price), on_hand=1)
    assert excinfo.value.as_dict()["code"] == "invalid_price"
    assert state_snapshot() == before


def test_the_bounds_fit_the_columns():
    """The largest line, and the largest order of the most lines, fit their columns."""
    assert MAX_PRICE == LARGEST_PRICE and MAX_STOCK == LARGEST_LINE
    line_field = OrderLine._meta.get_field("line_total")
    total_field = Order._meta.get_field("total")
    assert MAX_PRICE * MAX_STOCK < 10 ** (line_field.max_digits - line_field.decimal_places)
    largest_total = MAX_PRICE * MAX_STOCK * ORDER_MAX_LINES
    assert largest_total < 10 ** (total_field.max_digits - total_field.decimal_places)
    # Exact in Python's default decimal context, which every sum of prices uses.
    assert largest_total.adjusted() + 1 + 2 <= getcontext().prec
    assert Product._meta.get_field("price").max_digits >= len(MAX_PRICE.as_tuple().digits)
