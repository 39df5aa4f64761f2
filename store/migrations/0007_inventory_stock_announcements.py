"""Stock webhooks: a product going out of stock or coming back records an event.

Adds `in_stock_announced` (what the last announcement said), sets it from the stock as it
is now (so migrating announces nothing), installs the functions of store/sql/ and the two
deferred constraint triggers that call them at commit. Adding the column locks the table
for the rest of the migration, so no stock moves between the figure and the triggers.
"""

from django.db import migrations, models

from store.sql import SQL_FILES

ANNOUNCED_FROM_STOCK = """
    UPDATE store_inventory
    SET in_stock_announced = stockhold_inventory_available(product_id) > 0
"""

# An INSERT trigger cannot look at OLD, hence two triggers over one function. The WHEN
# clauses are evaluated on each row write; only a flip of `on_hand - reserved > 0` queues
# the function for the commit.
TRIGGERS = [
    """
    CREATE CONSTRAINT TRIGGER store_inventory_stock_insert
    AFTER INSERT ON store_inventory
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    WHEN (NEW.on_hand - NEW.reserved > 0)
    EXECUTE FUNCTION stockhold_inventory_stock_announce()
    """,
    """
    CREATE CONSTRAINT TRIGGER store_inventory_stock_update
    AFTER UPDATE OF on_hand, reserved ON store_inventory
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    WHEN ((OLD.on_hand - OLD.reserved > 0) <> (NEW.on_hand - NEW.reserved > 0))
    EXECUTE FUNCTION stockhold_inventory_stock_announce()
    """,
]
DROP_TRIGGERS = [
    "DROP TRIGGER IF EXISTS store_inventory_stock_update ON store_inventory",
    "DROP TRIGGER IF EXISTS store_inventory_stock_insert ON store_inventory",
]


class Migration(migrations.Migration):
    dependencies = [
        ("store", "0006_inventory_updated_at_reference_wider"),
        # The holds' table, read by the available figure.
        ("reservations", "0010_order_status"),
        # stockhold_event_record, called by the triggers.
        ("webhooks", "0002_event_record"),
    ]

    operations = [
        migrations.AddField(
            model_name="inventory",
            name="in_stock_announced",
            field=models.BooleanField(db_default=False, editable=False),
        ),
        SQL_FILES.install("inventory_available", "f9c73bc6bb43b35d"),
        SQL_FILES.install("inventory_stock_announce", "20811e6cedb58617"),
        migrations.RunSQL(ANNOUNCED_FROM_STOCK, reverse_sql=migrations.RunSQL.noop),
        migrations.RunSQL(TRIGGERS, reverse_sql=DROP_TRIGGERS),
    ]
