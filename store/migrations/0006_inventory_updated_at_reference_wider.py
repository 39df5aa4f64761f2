"""Back-office stock: a movement's reference holds a whole Idempotency-Key (255
characters; widening a varchar rewrites nothing), and `Inventory.updated_at` is indexed
for the "stock changed since" read."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('store', '0005_stock_opening_balance'),
    ]

    operations = [
        migrations.AlterField(
            model_name='stockmovement',
            name='reference',
            field=models.CharField(blank=True, max_length=255),
        ),
        migrations.AddIndex(
            model_name='inventory',
            index=models.Index(fields=['updated_at'], name='inventory_updated_at'),
        ),
    ]
