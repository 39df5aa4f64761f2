"""A shopper's PUT of a cart line is one call, `stockhold_cart_item_put`, which checks the
cart's token and the product before the hold; the cart every answer shows is read by
`stockhold_cart_shown`, planned once per connection. `stockhold_hold_set` no longer writes
the line's row a second time to slide its expiry (reservations/services/sql/)."""

from django.db import migrations

from reservations.services.sql import sql_file_install


class Migration(migrations.Migration):
    dependencies = [
        ("reservations", "0013_active_holds_index_quantity"),
    ]

    operations = [
        sql_file_install("cart_shown", "112ea56056c24fda"),
        sql_file_install("cart_item_put", "d640b14ac97dab09"),
        sql_file_install("hold_set", "02332a495be8d001"),
    ]
