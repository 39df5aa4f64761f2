"""Stock changes by staff under live holds: the service and `set_stock`."""

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from reservations.errors import StockBelowHeld
from reservations.models import Reservation
from reservations.services import hold_set, inventory_set
from store.models import Inventory, Product
from tests.factories import CartFactory, ProductFactory

pytestmark = pytest.mark.django_db


def test_stock_cannot_go_below_live_holds_and_the_error_names_them(now):
    product = ProductFactory(on_hand=10)
    carts = [CartFactory(), CartFactory()]
    hold_set(cart=carts[0], product=product, quantity=3, now=now)
    hold_set(cart=carts[1], product=product, quantity=2, now=now)
    with pytest.raises(StockBelowHeld) as excinfo:
        inventory_set(product=product, on_hand=4, now=now)
    error = excinfo.value
    assert (error.extra["held"], error.extra["holds"]) == (5, 2)
    assert set(error.extra["carts"]) == {str(c.pk) for c in carts}
    assert "5 units are held by 2 live holds" in error.detail
    assert Inventory.objects.get(pk=product.pk).on_hand == 10
    assert inventory_set(product=product, on_hand=5, now=now).on_hand == 5


def test_expired_holds_never_block_a_stock_change(now, ttl):
    product = ProductFactory(on_hand=10)
    hold_set(cart=CartFactory(), product=product, quantity=8, now=now)
    later = now + timedelta(seconds=ttl)
    inventory = inventory_set(product=product, on_hand=0, now=later)
    assert (inventory.on_hand, inventory.reserved) == (0, 0)
    assert Reservation.objects.get().status == "expired"


def test_set_stock_creates_then_updates(now):
    out = StringIO()
    call_command("set_stock", "NEW-1", "7", "--name", "New thing", "--price", "3.50", stdout=out)
    product = Product.objects.get(sku="NEW-1")
    assert (product.name, product.price, product.inventory.on_hand) == (
        "New thing",
        Decimal("3.50"),
        7,
    )
    assert "Created NEW-1" in out.getvalue()
    call_command("set_stock", "NEW-1", "9", stdout=out)
    product.refresh_from_db()
    assert (product.name, product.inventory.on_hand) == ("New thing", 9)


def test_set_stock_refuses_to_go_below_held_units():
    product = ProductFactory(on_hand=5, sku="HELD-1")
    hold_set(cart=CartFactory(), product=product, quantity=4)
    with pytest.raises(CommandError, match="4 units are held by 1 live holds"):
        call_command("set_stock", "HELD-1", "3")
    assert Inventory.objects.get(pk=product.pk).on_hand == 5


@pytest.mark.parametrize(
    "args, message",
    [
        (["NEW-2", "5"], "give its price"),
        (["NEW-2", "5", "--price", "abc"], "decimal"),
        (["NEW-2", "5", "--price", "-1"], "0 or more"),
        (["NEW-2", "5", "--price", "1.234"], "2 decimals"),
        (["NEW-2", "-5", "--price", "1"], "from 0 to 2147483647"),
        (["NEW-2", "2147483648", "--price", "1"], "from 0 to 2147483647"),
    ],
)
def test_set_stock_bad_input(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("set_stock", *args)
    assert not Product.objects.filter(sku="NEW-2").exists()
