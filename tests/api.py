"""Calls of the storefront API and the state a refused call must leave, shared by the tests."""

import json

from reservations.models import Cart, Order, OrderLine, Reservation
from store.models import Inventory, Product


def item_put(api, cart_id, product_id, body, *, raw=False, token=None, **headers):
    """PUT a cart line; `body` is sent as JSON unless `raw` (then as it is)."""
    if token is not None:
        headers["HTTP_X_CART_TOKEN"] = token
    return api.put(
        f"/api/v1/carts/{cart_id}/items/{product_id}/",
        data=body if raw else json.dumps(body),
        content_type="application/json",
        **headers,
    )


def state_snapshot():
    """Everything a refused request must leave as it was."""
    return (
        list(Inventory.objects.order_by("pk").values_list("pk", "on_hand", "reserved")),
        list(
            Reservation.objects.order_by("pk").values_list("pk", "quantity", "status", "cart_id")
        ),
        list(Order.objects.order_by("pk").values_list("pk", "cart_id", "idempotency_key")),
        OrderLine.objects.count(),
        list(Cart.objects.order_by("pk").values_list("pk", "status")),
        list(Product.objects.order_by("pk").values_list("pk", "sku")),
    )
