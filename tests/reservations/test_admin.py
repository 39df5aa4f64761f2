"""Admin pages for staff: they render, show the stock figures, and never run N+1."""

import re
from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser

import pytest

from reservations.services import checkout, hold_set
from store.models import Inventory, Product
from tests.factories import CartFactory, ProductFactory
from tests.invariants import assert_counters_exact

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(now):
    """Several products, carts with holds (live and expired) and an order."""
    products = [ProductFactory(on_hand=10) for _ in range(6)]
    for index in range(6):
        cart = CartFactory()
        for product in products[: index + 1]:
            hold_set(cart=cart, product=product, quantity=1)
    old = CartFactory()
    hold_set(cart=old, product=products[0], quantity=2, now=now - timedelta(days=1))
    buyer = CartFactory()
    hold_set(cart=buyer, product=products[1], quantity=1)
    checkout(cart=buyer)
    return products


@pytest.mark.parametrize(
    "url",
    [
        "/admin/store/product/",
        "/admin/reservations/cart/",
        "/admin/reservations/order/",
        "/admin/reservations/reservation/",
        "/admin/reservations/reservation/?status__exact=active&expiry=expired",
        "/admin/reservations/reservation/?expiry=live",
        "/admin/reservations/reservation/?expiry=soon",
        "/admin/reservations/releaserun/",
    ],
)
def test_changelists_render_with_a_bounded_number_of_queries(
    staff_client, shop, url, django_assert_max_num_queries
):
    with django_assert_max_num_queries(12):
        response = staff_client.get(url)
    assert response.status_code == 200


def test_product_list_shows_on_hand_held_and_available(staff_client, shop):
    product = shop[0]
    # 6 live holds of 1 unit and one expired hold of 2 units (not counted as held).
    response = staff_client.get(f"/admin/store/product/?q={product.sku}")
    cells = response.content.decode()
    assert '<td class="field-on_hand">10</td>' in cells
    assert re.search(r'<td class="field-held"><a href="[^"]+"[^>]*>6</a></td>', cells)
    assert '<td class="field-available">4</td>' in cells


def test_cart_page_shows_its_holds_inline(staff_client, shop):
    cart = CartFactory()
    hold_set(cart=cart, product=shop[2], quantity=3)
    response = staff_client.get(f"/admin/reservations/cart/{cart.pk}/change/")
    assert response.status_code == 200
    assert shop[2].sku in response.content.decode()


def test_staff_stock_change_goes_through_the_service(staff_client, shop):
    product = shop[0]
    url = f"/admin/store/product/{product.pk}/change/"
    form = {"sku": product.sku, "name": product.name, "price": "10.00", "is_active": "on",
            "expected_on_hand": "10"}
    staff_client.post(url, {**form, "stock_count": 3})
    assert Inventory.objects.get(pk=product.pk).on_hand == 10  # 6 units held: refused
    staff_client.post(url, {**form, "stock_count": 8})
    assert Inventory.objects.get(pk=product.pk).on_hand == 8


def test_admin_refuses_anonymous(client):
    response = client.get("/admin/store/product/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


class _FormReader(HTMLParser):
    """The fields a browser would send back from the admin's change form, as it showed them."""

    def __init__(self):
        super().__init__()
        self.fields: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type") not in ("submit", "checkbox"):
            self.fields[name] = attrs.get("value") or ""
        elif tag == "input" and name and "checked" in attrs:
            self.fields[name] = attrs.get("value") or "on"
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and "selected" in attrs:
            self.fields[self._select] = attrs.get("value") or ""
        elif tag == "textarea" and name:
            self._textarea = name
            self.fields[name] = ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.fields[self._textarea] += data


def _form_as_shown(client, url: str) -> dict[str, str]:
    reader = _FormReader()
    reader.feed(client.get(url).content.decode())
    reader.fields.pop("csrfmiddlewaretoken", None)
    return reader.fields


def test_a_save_from_a_form_opened_before_a_sale_keeps_the_sale(staff_client):
    """Defect: the admin wrote back the stock figure the form had loaded (lost update)."""
    product = ProductFactory(on_hand=10, price=Decimal("10.00"))
    url = f"/admin/store/product/{product.pk}/change/"
    shown = _form_as_shown(staff_client, url)

    buyer = CartFactory()
    hold_set(cart=buyer, product=product, quantity=3)
    checkout(cart=buyer)
    assert Inventory.objects.get(pk=product.pk).on_hand == 7

    response = staff_client.post(url, {**shown, "price": "12.00"})

    assert response.status_code == 302
    product.refresh_from_db()
    assert (product.price, Inventory.objects.get(pk=product.pk).on_hand) == (Decimal("12.00"), 7)
    assert_counters_exact()


def test_a_stock_change_from_a_stale_form_is_refused_with_the_reason(staff_client):
    product = ProductFactory(on_hand=10, price=Decimal("10.00"))
    url = f"/admin/store/product/{product.pk}/change/"
    shown = _form_as_shown(staff_client, url)
    buyer = CartFactory()
    hold_set(cart=buyer, product=product, quantity=3)
    checkout(cart=buyer)

    response = staff_client.post(
        url, {**shown, "price": "12.00", "stock_adjustment": "5", "stock_on_hand": "15"}
    )

    assert response.status_code == 200
    assert "has 7 on hand, not the 10 this change was based on" in response.content.decode()
    product.refresh_from_db()
    assert (product.price, Inventory.objects.get(pk=product.pk).on_hand) == (Decimal("10.00"), 7)
    assert_counters_exact()


def test_adding_a_product_with_stock_past_the_column_is_refused_whole(staff_client):
    """Defect: an active product was saved without a stock row, with two contrary messages."""
    response = staff_client.post(
        "/admin/store/product/add/",
        {"sku": "BIG-1", "name": "Big", "price": "1.00", "is_active": "on",
         "stock_on_hand": "3000000000"},
        follow=True,
    )

    assert response.status_code == 200
    assert "Ensure this value is less than or equal to 2147483647" in response.content.decode()
    assert not Product.objects.filter(sku="BIG-1").exists()
    assert [str(m) for m in response.context["messages"]] == []


def test_adding_a_product_creates_its_stock_row_and_receipt(staff_client):
    staff_client.post(
        "/admin/store/product/add/",
        {"sku": "NEW-9", "name": "New", "price": "1.00", "is_active": "on",
         "stock_on_hand": "4"},
    )
    product = Product.objects.get(sku="NEW-9")
    assert Inventory.objects.get(pk=product.pk).on_hand == 4
    assert list(product.movements.values_list("kind", "quantity", "actor")) == [
        ("receipt", 4, "staff:staff")
    ]


def test_a_refused_stock_change_saves_nothing_of_the_form(staff_client):
    """Defect: the refused stock change was dropped while name and price were saved."""
    product = ProductFactory(on_hand=10, name="Old name")
    hold_set(cart=CartFactory(), product=product, quantity=6)
    url = f"/admin/store/product/{product.pk}/change/"
    shown = _form_as_shown(staff_client, url)

    response = staff_client.post(
        url, {**shown, "name": "New name", "stock_count": "3", "stock_on_hand": "3"}
    )

    assert response.status_code == 200
    assert "Nothing was saved" in response.content.decode()
    assert "6 units are held by 1 live holds" in response.content.decode()
    product.refresh_from_db()
    assert (product.name, Inventory.objects.get(pk=product.pk).on_hand) == ("Old name", 10)
    assert not product.movements.exclude(kind="receipt").exists()


def test_staff_adjust_and_count_through_the_form_and_see_the_movements(staff_client):
    product = ProductFactory(on_hand=10)
    url = f"/admin/store/product/{product.pk}/change/"

    staff_client.post(url, {**_form_as_shown(staff_client, url), "stock_adjustment": "5",
                            "stock_reason": "delivery 42"})
    staff_client.post(url, {**_form_as_shown(staff_client, url), "stock_count": "12"})
    page = staff_client.get(url).content.decode()

    assert Inventory.objects.get(pk=product.pk).on_hand == 12
    assert list(product.movements.values_list("kind", "quantity", "reason", "actor")) == [
        ("correction", -3, "count", "staff:staff"),
        ("adjustment", 5, "delivery 42", "staff:staff"),
        ("receipt", 10, "initial stock", "test"),
    ]
    # Newest first on the product's page.
    assert page.index("-3") < page.index("+5") < page.index("+10")
    assert_counters_exact()


def test_adjustment_and_count_together_are_refused(staff_client):
    product = ProductFactory(on_hand=10)
    url = f"/admin/store/product/{product.pk}/change/"
    response = staff_client.post(
        url, {**_form_as_shown(staff_client, url), "stock_adjustment": "1", "stock_count": "4"}
    )
    assert "an adjustment or a count, not both" in response.content.decode()
    assert Inventory.objects.get(pk=product.pk).on_hand == 10
