"""Staff free the stock a cart holds: an admin action, a command, and a delete that works."""

import pytest
from django.core.management import CommandError, call_command

from reservations.models import Cart, Order, Reservation
from reservations.services import checkout, hold_set
from store.models import Inventory
from tests.factories import CartFactory, ProductFactory
from tests.invariants import assert_counters_exact

pytestmark = pytest.mark.django_db


@pytest.fixture
def hoarder():
    """A cart holding every unit of two products."""
    products = [ProductFactory(on_hand=5), ProductFactory(on_hand=3)]
    cart = CartFactory()
    hold_set(cart=cart, product=products[0], quantity=5)
    hold_set(cart=cart, product=products[1], quantity=3)
    return cart, products


def _reserved(products) -> list[int]:
    return [Inventory.objects.get(pk=p.pk).reserved for p in products]


def test_staff_delete_a_holding_cart_and_its_units_come_back(staff_client, hoarder):
    cart, products = hoarder
    page = staff_client.get(f"/admin/reservations/cart/{cart.pk}/delete/")
    assert page.status_code == 200
    assert b"permission to delete" not in page.content

    response = staff_client.post(f"/admin/reservations/cart/{cart.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Cart.objects.filter(pk=cart.pk).exists()
    assert _reserved(products) == [0, 0]
    assert_counters_exact()


def test_a_checked_out_cart_cannot_be_deleted_its_order_stays(staff_client):
    product = ProductFactory(on_hand=5)
    cart = CartFactory()
    hold_set(cart=cart, product=product, quantity=2)
    order, _ = checkout(cart=cart)

    staff_client.post(f"/admin/reservations/cart/{cart.pk}/delete/", {"post": "yes"})

    assert Cart.objects.filter(pk=cart.pk).exists()
    assert Order.objects.filter(pk=order.pk).exists()


def test_the_release_action_frees_the_held_stock_and_keeps_the_cart(staff_client, hoarder):
    cart, products = hoarder
    response = staff_client.post(
        "/admin/reservations/cart/",
        {"action": "release_holds", "_selected_action": [str(cart.pk)]},
        follow=True,
    )
    assert response.status_code == 200
    assert b"Released 2 lines of 1 cart" in response.content
    assert _reserved(products) == [0, 0]
    assert not Reservation.objects.filter(cart=cart, status="active").exists()
    assert Cart.objects.get(pk=cart.pk).status == Cart.Status.OPEN
    assert_counters_exact()


def test_the_release_command_frees_the_held_stock(hoarder, capsys):
    cart, products = hoarder
    call_command("cart_release", str(cart.pk))
    assert _reserved(products) == [0, 0]
    assert "released 2 lines" in capsys.readouterr().out
    with pytest.raises(CommandError):
        call_command("cart_release", "00000000-0000-0000-0000-000000000000")
