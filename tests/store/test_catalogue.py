"""The catalogue: the demo seed and the product read the API uses."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from store.errors import ProductNotFound
from store.models import Inventory, Product
from store.selectors import product_get
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


def test_seed_demo_is_idempotent():
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())
    assert Product.objects.count() == 8
    assert Inventory.objects.count() == 8
    assert get_user_model().objects.get(username="admin").is_staff


def test_product_get_takes_only_a_plain_positive_bigint():
    product = ProductFactory()
    assert product_get(product_id=str(product.pk)) == product
    for bad in ["0", "-1", "+1", " 1", "1_0", "\u0661", "9" * 19, "9" * 5000, "x"]:
        with pytest.raises(ProductNotFound):
            product_get(product_id=bad)
