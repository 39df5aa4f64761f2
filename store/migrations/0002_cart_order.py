"""Carts, orders and order lines leave the state of `store`.

reservations/migrations/0004_cart_order.py gave them to `reservations` first; the tables
stay where they are, so this only forgets the old models.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("reservations", "0004_cart_order"),
        ("store", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="OrderLine"),
                migrations.DeleteModel(name="Order"),
                migrations.DeleteModel(name="Cart"),
            ],
            database_operations=[],
        ),
    ]
