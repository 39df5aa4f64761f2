"""The hold, cart and order pages: SKUs instead of ids, one time format, short cart ids,
a product filter on holds, read-only records without Save buttons, bounded queries."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from reservations.admin import HoldProductFilter
from reservations.models import Reservation
from reservations.services import checkout, hold_set
from tests.factories import CartFactory, ProductFactory

pytestmark = pytest.mark.django_db

HOLDS = "/admin/reservations/reservation/"
CARTS = "/admin/reservations/cart/"
ORDERS = "/admin/reservations/order/"
TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"


@pytest.fixture
def tee(ttl):
    """A cart holding 3 × TEE-BLK-M that expires in 5 minutes, and a mug held elsewhere."""
    tee = ProductFactory(sku="TEE-BLK-M", on_hand=10)
    mug = ProductFactory(sku="MUG", on_hand=10)
    cart = CartFactory()
    start = timezone.now() + timedelta(minutes=5) - timedelta(seconds=ttl)
    hold_set(cart=cart, product=tee, quantity=3, now=start)
    hold_set(cart=CartFactory(), product=mug, quantity=1)
    return cart, Reservation.objects.get(cart=cart, product=tee)


def _shown(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def test_the_cart_page_lists_its_holds_by_sku_with_their_expiry(staff_client, tee):
    cart, hold = tee
    page = staff_client.get(f"{CARTS}{cart.pk}/change/").content.decode()

    assert f"3 × TEE-BLK-M (active, expires {hold.expires_at:%H:%M:%S} UTC)" in page
    assert f"product {hold.product_id}" not in page
    assert f"<p>{_shown(hold.expires_at)}</p>" in page
    # The whole cart id on its own page.
    assert str(cart.pk) in page


def test_a_hold_past_its_expiry_says_so_by_its_sku(tee):
    _, hold = tee
    hold.expires_at = timezone.now() - timedelta(seconds=1)
    assert str(hold) == (
        f"3 × TEE-BLK-M (expired {hold.expires_at:%H:%M:%S} UTC, not yet released)"
    )


def test_the_hold_list_shows_times_in_one_format_and_short_cart_ids(staff_client, tee):
    cart, hold = tee
    page = staff_client.get(HOLDS).content.decode()

    assert f'<td class="field-expires_at_shown">{_shown(hold.expires_at)}</td>' in page
    assert (
        f'<td class="field-cart_short"><span title="{cart.pk}">{str(cart.pk)[:8]}…</span></td>'
        in page
    )
    assert '<td class="field-sku">TEE-BLK-M</td>' in page


def test_the_cart_list_shows_short_ids_with_the_whole_id_on_hover(staff_client, tee):
    cart, hold = tee
    page = staff_client.get(CARTS).content.decode()

    assert f'<span title="{cart.pk}">{str(cart.pk)[:8]}…</span>' in page
    row = next(row for row in re.findall(r"<tr>.*?</tr>", page, re.S) if str(cart.pk) in row)
    assert re.search(rf'<td class="field-expires_at_shown">{TIME}</td>', row)
    assert re.search(rf'<td class="field-created_at_shown">{TIME}</td>', row)
    assert '<td class="field-units_held">3</td>' in row


def test_the_cart_list_does_not_count_expired_holds_as_held(staff_client, ttl):
    cart = CartFactory()
    hold_set(cart=cart, product=ProductFactory(on_hand=5), quantity=4,
             now=timezone.now() - timedelta(seconds=ttl + 60))
    page = staff_client.get(CARTS).content.decode()
    row = next(row for row in re.findall(r"<tr>.*?</tr>", page, re.S) if str(cart.pk) in row)
    assert '<td class="field-line_count">1</td>' in row
    assert '<td class="field-units_held">0</td>' in row


def test_the_order_list_shows_short_ids_and_one_time_format(staff_client, tee):
    cart, _ = tee
    order, _ = checkout(cart=cart)
    page = staff_client.get(ORDERS).content.decode()

    for full in (order.pk, cart.pk):
        assert f'<span title="{full}">{str(full)[:8]}…</span>' in page
    assert f'<td class="field-created_at_shown">{_shown(order.created_at)}</td>' in page
    detail = staff_client.get(f"{ORDERS}{order.pk}/change/").content.decode()
    assert str(order.pk) in detail and "3 × TEE-BLK-M" in detail


def test_the_hold_list_filters_by_product_sku(staff_client, tee):
    response = staff_client.get(f"{HOLDS}?product=TEE-BLK-M")
    assert {hold.product.sku for hold in response.context["cl"].result_list} == {"TEE-BLK-M"}
    response = staff_client.get(f"{HOLDS}?product=MUG&status__exact=active")
    assert [hold.product.sku for hold in response.context["cl"].result_list] == ["MUG"]


def test_the_product_filter_offers_only_products_with_active_holds_a_few_at_a_time(
    staff_client, tee, monkeypatch
):
    ProductFactory(sku="NEVER-HELD")
    page = staff_client.get(HOLDS).content.decode()
    assert "?product=TEE-BLK-M" in page and "?product=MUG" in page
    assert "NEVER-HELD" not in page

    monkeypatch.setattr(HoldProductFilter, "shown", 1)
    page = staff_client.get(HOLDS).content.decode()
    assert "?product=MUG" in page and "?product=TEE-BLK-M" not in page
    # A product past the first few stays reachable by its SKU, and is shown as chosen.
    page = staff_client.get(f"{HOLDS}?product=TEE-BLK-M").content.decode()
    assert re.search(r'<li class="selected">\s*<a href="\?product=TEE-BLK-M"', page)


@pytest.mark.parametrize("page", ["order", "reservation", "cart"])
def test_read_only_records_show_no_save_button(staff_client, tee, page):
    cart, hold = tee
    if page == "order":
        order, _ = checkout(cart=cart)
        url = f"{ORDERS}{order.pk}/change/"
    elif page == "reservation":
        url = f"{HOLDS}{hold.pk}/change/"
    else:
        url = f"{CARTS}{cart.pk}/change/"

    response = staff_client.get(url)

    assert response.status_code == 200
    assert 'name="_save"' not in response.content.decode()
    assert staff_client.post(url, {}).status_code == 403


def test_the_product_page_keeps_its_save_button(staff_client, tee):
    cart, hold = tee
    page = staff_client.get(f"/admin/store/product/{hold.product_id}/change/").content.decode()
    assert 'name="_save"' in page


def _shop(count: int, ttl: int):
    """`count` carts, each with a live and an expired hold; half checked out."""
    products = [ProductFactory(on_hand=100) for _ in range(2)]
    for index in range(count):
        cart = CartFactory()
        hold_set(cart=cart, product=products[0], quantity=1)
        hold_set(cart=cart, product=products[1], quantity=1,
                 now=timezone.now() - timedelta(seconds=ttl + 60))
        if index % 2:
            checkout(cart=cart)


@pytest.mark.parametrize("count", [2, 14])
@pytest.mark.parametrize(
    ("url", "queries"),
    [
        # Session, user, the page's count, the whole list's count, the page's rows, and:
        (HOLDS, 8),  # the product filter's choices, the date hierarchy's range and days
        (CARTS, 7),  # the date hierarchy's range and days
        (ORDERS, 7),  # the date hierarchy's range and days
    ],
)
def test_the_lists_cost_the_same_queries_for_any_number_of_rows(
    staff_client, ttl, count, url, queries, django_assert_num_queries
):
    _shop(count, ttl)
    staff_client.get(url)  # Per-process caches (content types) are warm from here on.
    with django_assert_num_queries(queries):
        response = staff_client.get(url)
    assert len(response.context["cl"].result_list) >= count // 2
