"""Load the demo catalogue and a demo staff login (idempotent)."""

from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from store.models import Product
from store.services import product_create

DEMO_CATALOG = [
    ("TEE-BLK-M", "Black tee, M", "19.90", 40),
    ("TEE-WHT-L", "White tee, L", "19.90", 25),
    ("HOODIE-GRY", "Grey hoodie", "49.00", 12),
    ("CAP-NAVY", "Navy cap", "15.50", 30),
    ("MUG-LOGO", "Logo mug", "9.90", 60),
    ("SNEAKER-42", "Limited sneaker, size 42", "129.00", 3),
    ("POSTER-A2", "Tour poster A2", "12.00", 0),
    ("TOTE-CANVAS", "Canvas tote", "14.00", 18),
]


class Command(BaseCommand):
    help = "Load a small demo catalogue and a staff user (admin / admin by default)."

    def add_arguments(self, parser):
        parser.add_argument("--admin-username", default="admin")
        parser.add_argument("--admin-password", default="admin")
        parser.add_argument(
            "--no-admin", action="store_true", help="Do not create the demo staff user."
        )

    def handle(self, *args, admin_username, admin_password, no_admin, **options):
        created = 0
        with transaction.atomic():
            for sku, name, price, on_hand in DEMO_CATALOG:
                if not Product.objects.filter(sku=sku).exists():
                    product_create(
                        sku=sku, name=name, price=Decimal(price), on_hand=on_hand,
                        actor="command:seed_demo",
                    )
                    created += 1
        self.stdout.write(f"Demo catalogue: {created} products added, {len(DEMO_CATALOG)} in all.")
        if no_admin:
            return
        user_model = get_user_model()
        if not user_model.objects.filter(username=admin_username).exists():
            user_model.objects.create_superuser(admin_username, "", admin_password)
            self.stdout.write(f"Demo staff user: {admin_username} / {admin_password}")
