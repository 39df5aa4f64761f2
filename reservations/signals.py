"""Signals of carts and holds, for apps above this one to connect to.

This app imports no app above it; monitoring learns of shopper activity by connecting
here (see MonitoringConfig.ready).
"""

from django.dispatch import Signal

# Sent by the storefront API after a shopper changed a cart: a hold set or removed, or a
# checkout. Arguments: `cart`. Sent with `send`, so receivers must not raise.
cart_changed = Signal()
