"""Install stockhold_event_record from webhooks/sql/event_record.sql (core.sql_files)."""

from django.db import migrations

from webhooks.sql import SQL_FILES


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_initial"),
    ]

    operations = [
        SQL_FILES.install("event_record", "aa60d5120a0d6ffa"),
    ]
