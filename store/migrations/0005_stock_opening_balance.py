"""Open the ledger: one opening movement per product, equal to its stock today.

Stock moved before the ledger existed has no movements, so each product gets one
"correction" for its current `on_hand` and the check `on_hand == sum(movements)` holds
from here on. A product left without a stock row (an admin save that failed half-way)
gets one with nothing on hand. The stock table is locked for the statement's
transaction, so no sale slips in between a figure read and its movement.
"""

from django.db import migrations

OPEN = [
    "LOCK TABLE store_inventory IN SHARE ROW EXCLUSIVE MODE",
    """
    INSERT INTO store_inventory (product_id, on_hand, reserved, updated_at)
    SELECT p.id, 0, 0, statement_timestamp()
    FROM store_product p
    WHERE NOT EXISTS (SELECT 1 FROM store_inventory i WHERE i.product_id = p.id)
    """,
    """
    INSERT INTO store_stockmovement (product_id, kind, quantity, reason, actor, reference,
                                     created_at)
    SELECT i.product_id, 'correction', i.on_hand, 'opening balance', 'migration', '',
           statement_timestamp()
    FROM store_inventory i
    WHERE i.on_hand <> 0
      AND NOT EXISTS (SELECT 1 FROM store_stockmovement m WHERE m.product_id = i.product_id)
    """,
]


class Migration(migrations.Migration):
    dependencies = [
        ("store", "0004_stock_movement"),
    ]

    operations = [
        migrations.RunSQL(OPEN, reverse_sql=migrations.RunSQL.noop),
    ]
