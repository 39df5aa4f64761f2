"""The product admin says why a product cannot be bought: in stock, sold out because every
unit is held (and when the next hold expires), or out of stock; expired holds are free
stock there as everywhere."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from reservations.selectors import products_with_stock_state
from reservations.services import cart_release, hold_set
from tests.factories import CartFactory, ProductFactory, expired_backlog_create

pytestmark = pytest.mark.django_db

PRODUCTS = "/admin/store/product/"
HOLDS = "/admin/reservations/reservation/"


def _hold(product, quantity, *, expires_in: timedelta, ttl: int):
    """Hold `quantity` of `product` in a new cart so that it expires `expires_in` from now
    (in the past when negative)."""
    cart = CartFactory()
    start = timezone.now() + expires_in - timedelta(seconds=ttl)
    return hold_set(cart=cart, product=product, quantity=quantity, now=start), cart


def _row(page: str, sku: str) -> str:
    [row] = [row for row in re.findall(r"<tr>.*?</tr>", page, re.S) if f">{sku}</a></th>" in row]
    return row


def _badge(html: str) -> str:
    """The badge's words, with the next expiry under it when there is one."""
    found = re.search(
        r'<span class="stock-badge [^"]*"[^>]*>([^<]*)</span>'
        r'(?:<small class="stock-next">([^<]*)</small>)?',
        html,
    )
    return " ".join(part for part in found.groups() if part)


def _cell(row: str, field: str) -> str:
    return re.search(rf'<td class="field-{field}">(.*?)</td>', row, re.S).group(1)


@pytest.fixture
def catalogue(ttl):
    """One product in each state, and one whose only holds expired unreleased."""
    plenty = ProductFactory(sku="PLENTY", on_hand=5)
    _hold(plenty, 2, expires_in=timedelta(minutes=20), ttl=ttl)
    held = ProductFactory(sku="HELD", on_hand=3)
    _hold(held, 1, expires_in=timedelta(minutes=4), ttl=ttl)
    _hold(held, 2, expires_in=timedelta(minutes=25), ttl=ttl)
    empty = ProductFactory(sku="EMPTY", on_hand=0)
    lapsed = ProductFactory(sku="LAPSED", on_hand=3)
    _hold(lapsed, 3, expires_in=-timedelta(minutes=10), ttl=ttl)
    return {"plenty": plenty, "held": held, "empty": empty, "lapsed": lapsed}


def test_the_badge_tells_the_three_states_apart(staff_client, catalogue):
    page = staff_client.get(PRODUCTS).content.decode()

    assert _badge(_row(page, "PLENTY")) == "In stock"
    assert _badge(_row(page, "HELD")) == "Sold out: all units held (next expiry in 4 min)"
    assert _badge(_row(page, "EMPTY")) == "Out of stock"


def test_expired_unreleased_holds_do_not_make_a_product_sold_out(staff_client, catalogue):
    row = _row(staff_client.get(PRODUCTS).content.decode(), "LAPSED")

    assert _badge(row) == "In stock"
    assert (_cell(row, "held"), _cell(row, "available")) == ("0", "3")
    assert _cell(row, "next_expiry_shown") == "-"


def test_the_badge_and_figures_agree_with_the_api(staff_client, api, catalogue):
    page = staff_client.get(PRODUCTS).content.decode()
    for product in catalogue.values():
        available = api.get(f"/api/v1/products/{product.pk}/").json()["available"]
        row = _row(page, product.sku)
        assert _cell(row, "available") == str(available)
        assert (_badge(row) == "In stock") == (available > 0)


def test_the_list_shows_the_next_expiry_of_live_holds(staff_client, catalogue):
    soonest = catalogue["held"].holds.order_by("expires_at").first().expires_at
    row = _row(staff_client.get(PRODUCTS).content.decode(), "HELD")

    assert _cell(row, "next_expiry_shown") == soonest.strftime("%Y-%m-%d %H:%M:%S UTC")


def test_a_product_whose_holds_are_released_is_back_in_stock(staff_client, ttl):
    product = ProductFactory(sku="BACK", on_hand=2)
    _, cart = _hold(product, 2, expires_in=timedelta(minutes=9), ttl=ttl)
    assert _badge(_row(staff_client.get(PRODUCTS).content.decode(), "BACK")).startswith(
        "Sold out: all units held (next expiry in 9 min)"
    )
    cart_release(cart=cart)
    assert _badge(_row(staff_client.get(PRODUCTS).content.decode(), "BACK")) == "In stock"


def test_the_product_page_explains_the_state_and_links_the_live_holds(staff_client, catalogue):
    held = catalogue["held"]
    page = staff_client.get(f"{PRODUCTS}{held.pk}/change/").content.decode()

    assert _badge(page) == "Sold out: all units held (next expiry in 4 min)"
    soonest = held.holds.order_by("expires_at").first().expires_at
    assert f"Next hold expiry: {soonest:%Y-%m-%d %H:%M:%S} UTC (in 4 min)" in page
    link = "/admin/reservations/reservation/?product=HELD&amp;status__exact=active&amp;expiry=live"
    assert f'<a href="{link}">The live holds of this product</a>' in page
    empty = staff_client.get(f"{PRODUCTS}{catalogue['empty'].pk}/change/").content.decode()
    assert _badge(empty) == "Out of stock" and "No live holds." in empty


def test_the_held_figure_links_the_live_holds_and_the_link_lists_only_them(
    staff_client, catalogue, ttl
):
    product = ProductFactory(sku="LINKED", on_hand=6)
    _hold(product, 2, expires_in=timedelta(minutes=4), ttl=ttl)
    _hold(product, 1, expires_in=timedelta(minutes=12), ttl=ttl)
    # Not live: expired and not yet released, and released; HELD's holds are another
    # product's.
    _hold(product, 1, expires_in=-timedelta(minutes=1), ttl=ttl)
    _, cart = _hold(product, 1, expires_in=timedelta(minutes=7), ttl=ttl)
    cart_release(cart=cart)
    live = set(product.holds.filter(status="active", expires_at__gt=timezone.now()))

    row = _row(staff_client.get(PRODUCTS).content.decode(), "LINKED")
    held = _cell(row, "held")
    link = re.search(r'<a href="([^"]+)"', held).group(1).replace("&amp;", "&")
    response = staff_client.get(link)

    assert ">3</a>" in held and link.startswith(HOLDS)
    assert set(response.context["cl"].result_list) == live
    assert len(live) == 2


def test_staff_filter_the_product_list_by_stock_state(staff_client, catalogue):
    def skus(state):
        response = staff_client.get(f"{PRODUCTS}?stock={state}")
        return {product.sku for product in response.context["cl"].result_list}

    assert skus("held") == {"HELD"}
    assert skus("out_of_stock") == {"EMPTY"}
    assert skus("in_stock") == {"PLENTY", "LAPSED"}


def _shop(count: int, ttl: int):
    """`count` products, each with several live and expired holds."""
    for index in range(count):
        product = ProductFactory(on_hand=6)
        for minutes in (3, 11, -5):
            _hold(product, 1, expires_in=timedelta(minutes=minutes + index), ttl=ttl)


@pytest.mark.parametrize("count", [1, 12])
def test_the_product_list_costs_the_same_queries_for_any_number_of_products(
    staff_client, ttl, count, django_assert_num_queries
):
    _shop(count, ttl)
    staff_client.get(PRODUCTS)  # Per-process caches are warm from here on.
    # Session, user, the page's count, the whole list's count, the page's products with
    # their figures and next expiry.
    with django_assert_num_queries(5):
        response = staff_client.get(PRODUCTS)
    assert len(response.context["cl"].result_list) == count
    with django_assert_num_queries(5):
        staff_client.get(f"{PRODUCTS}?stock=held")


@pytest.mark.parametrize("count", [1, 12])
def test_the_product_page_costs_the_same_queries_however_many_holds(
    staff_client, ttl, count, django_assert_num_queries
):
    _shop(1, ttl)
    product = ProductFactory(on_hand=100)
    for _ in range(count):
        _hold(product, 1, expires_in=timedelta(minutes=8), ttl=ttl)
    url = f"{PRODUCTS}{product.pk}/change/"
    staff_client.get(url)  # Per-process caches (content types) are warm from here on.
    # Session, user, the product with its figures and next expiry, its movements.
    with django_assert_num_queries(4):
        response = staff_client.get(url)
    assert response.status_code == 200


def test_the_next_expiry_is_read_from_the_partial_index_of_active_holds():
    # 20 products with 300 live holds each.
    expired_backlog_create(
        products=20, carts=300, expired_at=timezone.now() + timedelta(minutes=10)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE reservations_reservation")

    plan = products_with_stock_state().explain()

    assert "reservation_active_prod_exp" in plan
    assert "Seq Scan on reservations_reservation" not in plan
