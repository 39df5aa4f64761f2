"""The peers' pattern, written over this project's tables as the baseline to beat.

Saleor (`reserve_stocks`) and pretix (quota checks) keep no counter of held units: a hold
locks the product's stock row, sums every live hold of the product (excluding the
shopper's own line), checks the sum against the stock, then replaces the shopper's
reservation row. Reads do the same sum without the lock. Correct, but both cost grows
with the number of open carts on the product, and the sum runs under the row lock, so
every other shopper of that product waits for it.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, IntegerField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from reservations.models import Reservation
from store.models import Inventory


class PeerInsufficientStock(Exception):
    pass


def _live_units(*, product_id: int, now, exclude_cart_id=None):
    live = Reservation.objects.filter(
        product_id=product_id, status=Reservation.Status.ACTIVE, expires_at__gt=now
    )
    if exclude_cart_id is not None:
        live = live.exclude(cart_id=exclude_cart_id)
    return live.aggregate(units=Sum("quantity"))["units"] or 0


def peer_hold_set(*, cart, product, quantity: int, now=None) -> None:
    """Hold `quantity` of `product` for `cart` the way Saleor's reserve_stocks does."""
    now = now or timezone.now()
    with transaction.atomic():
        on_hand = (
            Inventory.objects.select_for_update()
            .filter(pk=product.pk)
            .values_list("on_hand", flat=True)
            .get()
        )
        held = _live_units(product_id=product.pk, now=now, exclude_cart_id=cart.pk)
        if on_hand - held < quantity:
            raise PeerInsufficientStock(f"only {on_hand - held} available")
        Reservation.objects.filter(
            cart_id=cart.pk, product_id=product.pk, status=Reservation.Status.ACTIVE
        ).delete()
        Reservation.objects.create(
            cart_id=cart.pk,
            product_id=product.pk,
            quantity=quantity,
            expires_at=now + timedelta(seconds=settings.RESERVATION_TTL_SECONDS),
        )


def peer_availability_get(*, product, now=None) -> int:
    """Available units the peers' way: stock minus the sum of every live hold."""
    now = now or timezone.now()
    live = (
        Reservation.objects.filter(
            product_id=OuterRef("product_id"),
            status=Reservation.Status.ACTIVE,
            expires_at__gt=now,
        )
        .order_by()
        .values("product_id")
        .annotate(units=Sum("quantity"))
        .values("units")
    )
    available = (
        Inventory.objects.filter(pk=product.pk)
        .annotate(
            available=F("on_hand")
            - Coalesce(Subquery(live, output_field=IntegerField()), Value(0))
        )
        .values_list("available", flat=True)
        .first()
    )
    return available or 0
