"""factory-boy factories for the domain models."""

from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from backoffice.keys import key_parse
from backoffice.models import ApiKey
from reservations.models import Cart, Reservation
from reservations.tokens import token_hash
from store.models import Inventory, Product, StockMovement
from store.services import inventory_open, stock_movements_record


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product
        skip_postgeneration_save = True

    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"Product {n}")
    price = Decimal("10.00")
    is_active = True

    @factory.post_generation
    def on_hand(self, create, extracted, **kwargs):
        """Create the stock row and its receipt, as the services do: `ProductFactory(on_hand=5)`."""
        if create:
            inventory_open(product=self, on_hand=extracted or 0, actor="test")


class CartFactory(factory.django.DjangoModelFactory):
    """A cart whose token is `cart.token` (only on the factory's instance)."""

    class Meta:
        model = Cart

    token = factory.Sequence(lambda n: f"test-token-{n:08d}")
    token_hash = factory.LazyAttribute(lambda o: token_hash(o.token))

    @classmethod
    def _create(cls, model_class, *args, token=None, **kwargs):
        cart = super()._create(model_class, *args, **kwargs)
        cart.token = token
        return cart


class ApiKeyFactory(factory.django.DjangoModelFactory):
    """A back-office API key whose key is `api_key.key` (only on the factory's instance);
    `ApiKeyFactory(key="sh_...")` gives it a known one."""

    class Meta:
        model = ApiKey

    name = factory.Sequence(lambda n: f"client-{n}")
    key = factory.Sequence(lambda n: f"sh_{n:08x}_{'k' * 43}")
    prefix = factory.LazyAttribute(lambda o: key_parse(o.key)[0])
    secret_hash = factory.LazyAttribute(lambda o: token_hash(key_parse(o.key)[1]))

    @classmethod
    def _create(cls, model_class, *args, key=None, **kwargs):
        api_key = super()._create(model_class, *args, **kwargs)
        api_key.key = key
        return api_key


class ReservationFactory(factory.django.DjangoModelFactory):
    """A raw hold row. It does not move `Inventory.reserved`; use the services for that."""

    class Meta:
        model = Reservation

    cart = factory.SubFactory(CartFactory)
    product = factory.SubFactory(ProductFactory)
    quantity = 1
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=30))


def expired_backlog_create(*, products: int, carts: int, expired_at, units: int = 1):
    """Bulk-create products x carts active holds that expired at `expired_at`.

    Each product's `reserved` counter matches its holds and its `on_hand` its ledger, as
    the services would leave them.
    """
    start = Product.objects.count()
    product_rows = Product.objects.bulk_create(
        Product(sku=f"BULK-{start + i}", name=f"Bulk {start + i}", price=1)
        for i in range(products)
    )
    Inventory.objects.bulk_create(
        Inventory(product=p, on_hand=carts * units, reserved=carts * units) for p in product_rows
    )
    stock_movements_record(
        kind=StockMovement.Kind.RECEIPT,
        quantities=[(p.pk, carts * units) for p in product_rows],
        actor="test",
    )
    cart_rows = Cart.objects.bulk_create(Cart(token_hash="x" * 64) for _ in range(carts))
    Reservation.objects.bulk_create(
        Reservation(cart=c, product=p, quantity=units, expires_at=expired_at)
        for p in product_rows
        for c in cart_rows
    )
    return product_rows
