import pytest

from reservations.selectors import availability_get
from reservations.services import hold_set
from tests.factories import CartFactory, ProductFactory

pytestmark = pytest.mark.django_db


def test_hold_reduces_availability(now):
    product = ProductFactory(on_hand=5)
    hold_set(cart=CartFactory(), product=product, quantity=2, now=now)
    assert availability_get(product=product, now=now) == 3
