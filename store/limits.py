"""Bounds of stock and money, in one place, chosen so no order total can overflow.

A line's units are held from `Inventory`, whose counters are 32-bit integer columns, so no
line, whatever `RESERVATION_MAX_QUANTITY` says, holds more than MAX_STOCK units. A price is
at most MAX_PRICE. So a line's total is below MAX_PRICE * MAX_STOCK < 2.2 * 10^17, which
fits LINE_TOTAL_DIGITS, and an order of up to ORDER_MAX_LINES lines (a cart has at most
one line per product) stays below 10^26, which fits ORDER_TOTAL_DIGITS. 28 digits is also
the precision of Python's default decimal context, so every sum is exact.
"""

from decimal import Decimal

# The stock counters (`on_hand`, `reserved`) and a line's quantity are integer columns.
MAX_STOCK = 2**31 - 1

# The largest unit price the admin, the commands and the services accept; a database
# CHECK constraint holds it for any other writer.
MAX_PRICE = Decimal("99999999.99")

# The most lines an order can have for its total to be sure to fit: any limit of lines per
# cart must stay at or below it.
ORDER_MAX_LINES = 400_000_000

# Digits (2 of them decimals) of an order line's total and of an order's total.
LINE_TOTAL_DIGITS = 20
ORDER_TOTAL_DIGITS = 28
