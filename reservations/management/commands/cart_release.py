"""Give back everything carts hold: `manage.py cart_release CART_ID [CART_ID ...]`."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError
from reservations.models import Cart
from reservations.services import cart_release


class Command(BaseCommand):
    help = "Release every hold of the given open carts; their units are free stock again."

    def add_arguments(self, parser):
        parser.add_argument("cart_ids", nargs="+", metavar="CART_ID")

    def handle(self, *args, cart_ids, **options):
        for cart_id in cart_ids:
            try:
                cart = Cart.objects.get(pk=cart_id)
            except (Cart.DoesNotExist, ValidationError):
                raise CommandError(f"No cart {cart_id}.") from None
            try:
                lines = cart_release(cart=cart)
            except DomainError as exc:
                raise CommandError(f"Cart {cart_id}: {exc.detail}") from None
            self.stdout.write(f"cart {cart_id}: released {lines} lines")
