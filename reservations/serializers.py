"""Input and output shapes of the storefront API."""

from datetime import datetime

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.errors import ERROR_CODES
from reservations.models import Cart, Order
from reservations.selectors import CartShown
from store.limits import LINE_TOTAL_DIGITS, ORDER_TOTAL_DIGITS

# What a cart line's `status` can be: see reservations.selectors.CartLine.
LINE_STATUSES = ("active", "expired", "consumed")


class StrictIntegerField(serializers.IntegerField):
    """An integer that must be a JSON integer: no strings, floats or booleans."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class ProductOutput(serializers.Serializer):
    id = serializers.IntegerField()
    sku = serializers.CharField()
    name = serializers.CharField()
    price = serializers.DecimalField(max_digits=12, decimal_places=2)
    available = serializers.IntegerField(help_text="Units a new hold can take right now.")


class CartItemInput(serializers.Serializer):
    quantity = StrictIntegerField(min_value=0, help_text="Units to hold; 0 removes the line.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Read at call time, so a changed setting applies without a restart of the import.
        self.fields["quantity"] = StrictIntegerField(
            min_value=0,
            max_value=settings.RESERVATION_MAX_QUANTITY,
            help_text="Units to hold; 0 removes the line.",
        )


class CartItemOutput(serializers.Serializer):
    product_id = serializers.IntegerField()
    sku = serializers.CharField()
    name = serializers.CharField()
    price = serializers.DecimalField(max_digits=12, decimal_places=2)
    quantity = serializers.IntegerField()
    expires_at = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=LINE_STATUSES)


class CartOutput(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=Cart.Status.choices)
    expires_at = serializers.DateTimeField(allow_null=True)
    order_id = serializers.SerializerMethodField()
    items = serializers.SerializerMethodField()

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_order_id(self, cart) -> str | None:
        order_id = self.context.get("order_id")
        return str(order_id) if order_id else None

    @extend_schema_field(CartItemOutput(many=True))
    def get_items(self, cart) -> list[dict]:
        return CartItemOutput(self.context["lines"], many=True, context=self.context).data


class CartCreatedOutput(CartOutput):
    token = serializers.CharField(
        help_text="Secret of this cart: send it as X-Cart-Token. Shown only once."
    )


def _datetime_data(value: datetime | None) -> str | None:
    """A time as serializers.DateTimeField shows it: ISO 8601 in the current time zone,
    `Z` for UTC."""
    if value is None:
        return None
    text = value.astimezone(timezone.get_current_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def cart_data(cart: CartShown, *, token: str | None = None) -> dict:
    """What CartOutput shows of `cart` (CartCreatedOutput, with `token`), built directly.

    Every cart request answers with it, and the serializers cost several times the rest
    of a cart GET; they stay to describe the answer in the OpenAPI schema, and
    tests/reservations/test_cart_reads.py holds the two to the same output.
    """
    data = {
        "id": str(cart.id),
        "status": cart.status,
        "expires_at": _datetime_data(cart.expires_at),
        "order_id": str(cart.order_id) if cart.order_id else None,
        "items": [
            {
                "product_id": line.product_id,
                "sku": line.sku,
                "name": line.name,
                # Prices are stored with two decimals, as CartItemOutput shows them.
                "price": f"{line.price:f}",
                "quantity": line.quantity,
                "expires_at": _datetime_data(line.expires_at),
                "status": line.status,
            }
            for line in cart.lines
        ],
    }
    if token is not None:
        data["token"] = token
    return data


class OrderLineOutput(serializers.Serializer):
    product_id = serializers.IntegerField()
    sku = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    line_total = serializers.DecimalField(max_digits=LINE_TOTAL_DIGITS, decimal_places=2)


class OrderOutput(serializers.Serializer):
    id = serializers.UUIDField()
    cart_id = serializers.UUIDField()
    status = serializers.ChoiceField(
        choices=Order.Status.choices,
        source="shown_status",
        help_text="`placed`: sold. `pending_payment`: its units are held for the payment "
        "until `payment_expires_at` (with ORDER_PAYMENT_WINDOW_SECONDS above 0); confirming "
        "the payment makes it `placed`. `expired`: the deadline passed unpaid and its units "
        "are free stock again. `cancelled`: its units went back to stock.",
    )
    total = serializers.DecimalField(max_digits=ORDER_TOTAL_DIGITS, decimal_places=2)
    created_at = serializers.DateTimeField()
    payment_expires_at = serializers.DateTimeField(
        allow_null=True,
        help_text="When an unpaid order's units go back to free stock; null when checkout "
        "sold at once.",
    )
    lines = OrderLineOutput(many=True)


class ShortLineOutput(serializers.Serializer):
    product_id = serializers.IntegerField()
    sku = serializers.CharField()
    requested = serializers.IntegerField()
    available = serializers.IntegerField()


class ErrorOutput(serializers.Serializer):
    """An error: a stable `code`, a sentence for people, and the data of that error."""

    code = serializers.ChoiceField(choices=ERROR_CODES)
    detail = serializers.CharField()
    errors = serializers.DictField(
        required=False,
        help_text="`invalid_quantity`, `invalid_input`: the messages of each invalid field.",
    )
    product_id = serializers.IntegerField(
        required=False, help_text="`insufficient_stock` of a hold, `item_not_found`."
    )
    sku = serializers.CharField(required=False, help_text="`insufficient_stock` of a hold.")
    requested = serializers.IntegerField(
        required=False,
        help_text="`insufficient_stock` of a hold, `cart_unit_limit`: the quantity asked for.",
    )
    available = serializers.IntegerField(
        required=False,
        help_text="`insufficient_stock` of a hold: the most this cart could hold right now.",
    )
    max_quantity = serializers.IntegerField(
        required=False,
        help_text="`cart_unit_limit`: the most this line may hold within the cart's limit.",
    )
    max_lines = serializers.IntegerField(
        required=False, help_text="`cart_line_limit`: the most lines a cart may have."
    )
    max_units = serializers.IntegerField(
        required=False, help_text="`cart_unit_limit`: the most units a cart may hold."
    )
    max_lifetime_seconds = serializers.IntegerField(
        required=False,
        help_text="`cart_lifetime_exceeded`: how long after its first hold a cart may hold stock.",
    )
    lines = ShortLineOutput(
        many=True,
        required=False,
        help_text="`insufficient_stock` at checkout: every short line; `product_not_on_sale`: "
        "every line of a product no longer on sale (`available` 0).",
    )
