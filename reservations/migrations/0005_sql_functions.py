"""Install the write functions from reservations/services/sql/*.sql.

From here on those files are the source of the functions; the text frozen in 0003 is
history. `stockhold_hold_set` changes its result columns, which CREATE OR REPLACE cannot
do, so the old one is dropped first.
"""

from django.db import migrations

from reservations.services.sql import sql_file_install

DROP_OLD_HOLD_SET = (
    "DROP FUNCTION IF EXISTS stockhold_hold_set(uuid, bigint, integer, timestamptz, interval)"
)


class Migration(migrations.Migration):
    dependencies = [
        ("reservations", "0004_cart_order"),
    ]

    operations = [
        migrations.RunSQL(DROP_OLD_HOLD_SET, reverse_sql=migrations.RunSQL.noop),
        sql_file_install("expired_reclaim", "681040a57eb64586"),
        sql_file_install("stock_take", "48b7458fac678d10"),
        sql_file_install("hold_set", "02f658c43e82d633"),
    ]
