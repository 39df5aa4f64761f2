"""Admin pages for staff: they render, show the stock figures, and never run N+1."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model

from reservations.services import checkout, hold_set
from store.models import Inventory
from tests.factories import CartFactory, ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("staff", "", "pw")
    client.force_login(user)
    return client


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
    assert '<td class="field-held">6</td>' in cells
    assert '<td class="field-available">4</td>' in cells


def test_cart_page_shows_its_holds_inline(staff_client, shop):
    cart = CartFactory()
    hold_set(cart=cart, product=shop[2], quantity=3)
    response = staff_client.get(f"/admin/reservations/cart/{cart.pk}/change/")
    assert response.status_code == 200
    assert shop[2].sku in response.content.decode()


def test_staff_stock_change_goes_through_the_service(staff_client, shop):
    product = shop[0]
    form = {"sku": product.sku, "name": product.name, "price": "10.00", "is_active": "on"}
    staff_client.post(f"/admin/store/product/{product.pk}/change/", {**form, "stock_on_hand": 3})
    assert Inventory.objects.get(pk=product.pk).on_hand == 10  # 6 units held: refused
    staff_client.post(f"/admin/store/product/{product.pk}/change/", {**form, "stock_on_hand": 8})
    assert Inventory.objects.get(pk=product.pk).on_hand == 8


def test_admin_refuses_anonymous(client):
    response = client.get("/admin/store/product/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
