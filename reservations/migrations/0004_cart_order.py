"""Carts, orders and order lines become models of `reservations`, their owner.

State only: the tables keep their names (`store_cart`, `store_order`, `store_orderline`,
set by `Meta.db_table`), so no row, constraint, index or SQL changes. The content types
of the three models move to app label `reservations` too, so permissions granted on them
and admin history keep pointing at the same rows. store/migrations/0002_cart_order.py
then drops the models from the state of `store`.
"""

import uuid

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

MODELS = ("cart", "order", "orderline")


def _content_types_move(source: str, target: str):
    def run(apps, schema_editor):
        ContentType = apps.get_model("contenttypes", "ContentType")
        db = schema_editor.connection.alias
        for model in MODELS:
            old = ContentType.objects.using(db).filter(app_label=source, model=model).first()
            if old is None:
                continue
            # A row for the target made before this migration (by post_migrate) is newer and
            # unused; the old row carries the permissions and admin history, so it wins.
            ContentType.objects.using(db).filter(app_label=target, model=model).delete()
            old.app_label = target
            old.save(update_fields=["app_label"])

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("reservations", "0003_hold_set_function"),
        ("store", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Cart",
                    fields=[
                        ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ("token_hash", models.CharField(editable=False, max_length=64)),
                        ("status", models.CharField(choices=[("open", "Open"), ("checked_out", "Checked out")], default="open", max_length=16)),
                        ("expires_at", models.DateTimeField(blank=True, null=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        ("user", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "db_table": "store_cart",
                        "ordering": ["-created_at"],
                    },
                ),
                migrations.CreateModel(
                    name="Order",
                    fields=[
                        ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ("idempotency_key", models.CharField(blank=True, max_length=255, null=True, unique=True)),
                        ("total", models.DecimalField(decimal_places=2, max_digits=14)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("cart", models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name="order", to="reservations.cart")),
                    ],
                    options={
                        "db_table": "store_order",
                        "ordering": ["-created_at"],
                    },
                ),
                migrations.CreateModel(
                    name="OrderLine",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("sku", models.CharField(max_length=64)),
                        ("quantity", models.PositiveIntegerField()),
                        ("unit_price", models.DecimalField(decimal_places=2, max_digits=12)),
                        ("line_total", models.DecimalField(decimal_places=2, max_digits=14)),
                        ("order", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="lines", to="reservations.order")),
                        ("product", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="+", to="store.product")),
                    ],
                    options={
                        "db_table": "store_orderline",
                        "ordering": ["product_id"],
                        "constraints": [
                            models.CheckConstraint(condition=models.Q(("quantity__gt", 0)), name="orderline_quantity_gt_0"),
                            models.UniqueConstraint(fields=("order", "product"), name="orderline_one_per_product"),
                        ],
                    },
                ),
                migrations.AlterField(
                    model_name="reservation",
                    name="cart",
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="holds", to="reservations.cart"),
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(
            _content_types_move("store", "reservations"),
            _content_types_move("reservations", "store"),
            elidable=False,
        ),
    ]
