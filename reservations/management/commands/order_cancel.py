"""Cancel orders, their units back to stock: `manage.py order_cancel ORDER_ID [...]`."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from reservations.models import Order
from reservations.services import order_cancel


class Command(BaseCommand):
    help = "Cancel orders; each one's units return to stock once, as ledger movements."

    def add_arguments(self, parser):
        parser.add_argument("order_ids", nargs="+", metavar="ORDER_ID")
        parser.add_argument("--reason", default="", help="Recorded on the stock movements.")

    def handle(self, *args, order_ids, reason, **options):
        for order_id in order_ids:
            try:
                order = Order.objects.get(pk=order_id)
            except (Order.DoesNotExist, ValidationError):
                raise CommandError(f"No order {order_id}.") from None
            _, cancelled = order_cancel(
                order=order, actor="command:order_cancel", reason=reason
            )
            self.stdout.write(
                f"order {order_id}: {'cancelled' if cancelled else 'already cancelled'}"
            )
