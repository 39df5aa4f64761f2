"""Input and output shapes of the storefront API."""

from django.conf import settings
from rest_framework import serializers

from reservations.selectors import line_status


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
    status = serializers.SerializerMethodField()

    def get_status(self, line) -> str:
        return line_status(line, now=self.context["now"])


class CartOutput(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)
    order_id = serializers.SerializerMethodField()
    items = serializers.SerializerMethodField()

    def get_order_id(self, cart) -> str | None:
        order_id = self.context.get("order_id")
        return str(order_id) if order_id else None

    def get_items(self, cart) -> list[dict]:
        return CartItemOutput(self.context["lines"], many=True, context=self.context).data


class CartCreatedOutput(CartOutput):
    token = serializers.CharField(
        help_text="Secret of this cart: send it as X-Cart-Token. Shown only once."
    )


class OrderLineOutput(serializers.Serializer):
    product_id = serializers.IntegerField()
    sku = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    line_total = serializers.DecimalField(max_digits=14, decimal_places=2)


class OrderOutput(serializers.Serializer):
    id = serializers.UUIDField()
    cart_id = serializers.UUIDField()
    total = serializers.DecimalField(max_digits=14, decimal_places=2)
    created_at = serializers.DateTimeField()
    lines = OrderLineOutput(many=True)


class ErrorOutput(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
