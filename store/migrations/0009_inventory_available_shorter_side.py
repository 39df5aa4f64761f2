"""The available figure reads the shorter side of a product's active holds, expired or
live, so it stays cheap when the release task is down (store/sql/inventory_available.sql).
"""

from django.db import migrations

from store.sql import SQL_FILES


class Migration(migrations.Migration):
    dependencies = [
        ("store", "0008_dashboard_indexes"),
        # The index it reads, with the holds' quantities.
        ("reservations", "0013_active_holds_index_quantity"),
    ]

    operations = [
        SQL_FILES.install("inventory_available", "126aedfd374a0078"),
    ]
