"""The first `stockhold_hold_set`, now history.

The function's one source is reservations/services/sql/hold_set.sql, installed by 0005
(which drops whatever an earlier version of this migration installed). This step stays so
that databases migrated through it keep a consistent history.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("reservations", "0002_release_run"),
        ("store", "0001_initial"),
    ]

    operations = []
