"""Hoarding limits: a cart's first hold is recorded, and `stockhold_hold_set` enforces the
cart's limits (lines, units, lifetime).

The function gains parameters, which CREATE OR REPLACE would add as a second function
beside the old one, so the old one is dropped first. Open carts that already hold stock
get their first hold's time from their lines, so their lifetime counts from then.
"""

from django.db import migrations, models

from reservations.services.sql import sql_file_install

DROP_OLD_HOLD_SET = (
    "DROP FUNCTION IF EXISTS stockhold_hold_set(uuid, bigint, integer, timestamptz, interval)"
)

FIRST_HOLD_BACKFILL = """
UPDATE store_cart c
SET holds_started_at = first.created_at
FROM (
    SELECT cart_id, min(created_at) AS created_at FROM reservations_reservation GROUP BY cart_id
) first
WHERE first.cart_id = c.id AND c.status = 'open' AND c.holds_started_at IS NULL
"""


class Migration(migrations.Migration):
    dependencies = [
        ("reservations", "0007_ended_holds_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="cart",
            name="holds_started_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.RunSQL(FIRST_HOLD_BACKFILL, reverse_sql=migrations.RunSQL.noop),
        migrations.RunSQL(DROP_OLD_HOLD_SET, reverse_sql=migrations.RunSQL.noop),
        sql_file_install("hold_set", "51f1b02ffcc0171d"),
    ]
