"""A day of a small shop, for the browser tests and the screenshots in docs/.

Carts are made through the services (so counters, ledger and orders are right), then
their rows are moved back in time by the same amount, the way tests/conftest.py's Clock
ages rows. Release runs every five minutes, with a two-hour outage in which beat was down
and expired holds waited.
"""

import random
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.utils import timezone

from reservations.models import Cart, Order, ReleaseRun, Reservation
from reservations.services import cart_create, cart_release, checkout, hold_set
from reservations.services.release import release_run
from store.models import Product, StockMovement
from store.services import product_create

CATALOGUE = [
    ("TEE-BLK-M", "T-shirt, black, M", 300),
    ("TEE-WHT-L", "T-shirt, white, L", 240),
    ("MUG-ENAMEL", "Enamel mug", 180),
    ("CAP-NAVY", "Cap, navy", 120),
    ("TOTE-NAT", "Tote bag, natural", 90),
    ("SOCK-3PK", "Socks, 3-pack", 150),
    ("POSTER-A2", "Poster, A2", 60),
]
# The products' shares of the carts: the first ones are the busiest.
WEIGHTS = [30, 22, 16, 12, 8, 7, 5]
OUTAGE = (timedelta(hours=7), timedelta(hours=5))  # ago: from, to


def _age(cart: Cart, *, age: timedelta, made: timedelta) -> None:
    """Move the cart's rows back: it ended `age` ago and was started `made` ago."""
    order = Order.objects.filter(cart=cart).first()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE reservations_reservation SET created_at = created_at - %s,"
            " updated_at = updated_at - %s, expires_at = expires_at - %s WHERE cart_id = %s",
            [made, age, age, cart.pk],
        )
        cursor.execute(
            "UPDATE store_cart SET created_at = created_at - %s, updated_at = updated_at - %s,"
            " expires_at = expires_at - %s, holds_started_at = holds_started_at - %s"
            " WHERE id = %s",
            [made, age, age, made, cart.pk],
        )
    if order is not None:
        Order.objects.filter(pk=order.pk).update(created_at=order.created_at - age)
        for movement in StockMovement.objects.filter(reference=str(order.pk)):
            StockMovement.objects.filter(pk=movement.pk).update(
                created_at=movement.created_at - age
            )


def _shopper(rng: random.Random, products: list[Product], *, age: timedelta, fate: str) -> Cart:
    cart, _ = cart_create()
    for product in set(rng.choices(products, weights=WEIGHTS, k=rng.choice([1, 1, 2, 3]))):
        hold_set(cart=cart, product=product, quantity=rng.randint(1, 3))
    if fate == "checkout":
        checkout(cart=cart)
    elif fate == "remove":
        cart_release(cart=cart)
    _age(cart, age=age, made=age + timedelta(minutes=rng.uniform(2, 20)))
    return cart


def _fate(rng: random.Random) -> str:
    draw = rng.random()
    return "checkout" if draw < 0.5 else "remove" if draw < 0.6 else "abandon"


def _runs(rng: random.Random, *, now) -> None:
    runs = []
    for step in range(24 * 12, -1, -1):
        ago = timedelta(minutes=5 * step, seconds=30)
        if OUTAGE[1] < ago <= OUTAGE[0]:
            continue
        started = now - ago
        released = rng.randint(0, 6)
        failed = OUTAGE[1] - timedelta(minutes=10) < ago <= OUTAGE[1]
        runs.append(ReleaseRun(
            task_id=f"seed-{step}",
            started_at=started,
            finished_at=started + timedelta(seconds=rng.uniform(0.05, 0.6)),
            status=ReleaseRun.Status.FAILED if failed else ReleaseRun.Status.SUCCEEDED,
            released=0 if failed else released,
            units=0 if failed else released * 2,
            error="OperationalError: connection to server lost" if failed else "",
        ))
    ReleaseRun.objects.bulk_create(runs)


def seed_day(*, carts: int = 220, seed: int = 7) -> dict:
    """Seed a day of carts, checkouts, expirations and release runs; return a summary."""
    rng = random.Random(seed)
    now = timezone.now()
    products = [
        product_create(sku=sku, name=name, price=Decimal("19.90"), on_hand=on_hand)
        for sku, name, on_hand in CATALOGUE
    ]
    StockMovement.objects.update(created_at=now - timedelta(days=2))
    for _ in range(carts):
        # More shoppers in the evening than at night, and some in the last hour.
        age = timedelta(minutes=rng.triangular(35, 24 * 60 - 5, 6 * 60))
        _shopper(rng, products, age=age, fate=_fate(rng))
    for _ in range(carts // 10):
        _shopper(rng, products, age=timedelta(minutes=rng.uniform(1, 55)), fate="checkout")
    # The release task ran every five minutes, but not during the outage: what expired then
    # waited for the first run after it.
    release_run(task_id="seed")
    for hold in Reservation.objects.filter(status=Reservation.Status.EXPIRED).only("expires_at"):
        ago = now - hold.expires_at
        released = (
            now - OUTAGE[1] if OUTAGE[1] < ago <= OUTAGE[0]
            else hold.expires_at + timedelta(seconds=rng.uniform(20, 300))
        )
        Reservation.objects.filter(pk=hold.pk).update(updated_at=min(released, now))
    ReleaseRun.objects.filter(task_id="seed").delete()
    _runs(rng, now=now)
    # Live carts now, and a few whose holds expired a few minutes ago.
    live = [_shopper(rng, products, age=timedelta(0), fate="abandon") for _ in range(12)]
    ttl = timedelta(seconds=settings.RESERVATION_TTL_SECONDS)
    for _ in range(4):
        _shopper(rng, products, age=ttl + timedelta(minutes=rng.uniform(3, 6)), fate="abandon")
    # Two ways to be sold out: every unit in live carts, and nothing on the shelf.
    limited = product_create(
        sku="SNEAKER-42", name="Limited sneaker, size 42", price=Decimal("129.00"), on_hand=3
    )
    for quantity in (2, 1):
        cart, _ = cart_create()
        hold_set(cart=cart, product=limited, quantity=quantity)
    product_create(sku="SCARF-RED", name="Scarf, red", price=Decimal("24.00"), on_hand=0)
    return {"products": products, "live_carts": live}
