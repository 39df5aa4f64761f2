"""The index of active holds by product and expiry carries each hold's quantity, so the
availability read sums either side of a product's holds (expired or live) from the index
alone (store/sql/inventory_available.sql)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('reservations', '0012_dashboard_indexes'),
        ('store', '0008_dashboard_indexes'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='reservation',
            name='reservation_active_prod_exp',
        ),
        migrations.AddIndex(
            model_name='reservation',
            index=models.Index(condition=models.Q(('status', 'active')), fields=['product', 'expires_at'], include=('quantity',), name='reservation_active_prod_exp'),
        ),
    ]
