"""Input and output shapes of the back-office API."""

from rest_framework import serializers

from reservations.serializers import ErrorOutput, StrictIntegerField
from store.limits import MAX_PRICE, MAX_STOCK
from store.models import StockMovement
from webhooks.models import Endpoint, EventType

# What a stock batch's item can be: see backoffice.services.stock.
ITEM_STATUSES = ("applied", "refused")


class StrictCharField(serializers.CharField):
    """A string that must be a JSON string (no numbers or booleans turned into text) that
    PostgreSQL can store: no NUL (DRF refuses it) and no lone surrogate (a JSON escape
    such as backslash-ud800 alone)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A JSON `true` or `false`: no "yes", 1 or "on"."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class BackOfficeErrorOutput(ErrorOutput):
    """An error of the back office: a stable `code`, a sentence, and the data of that error."""

    field = serializers.CharField(
        required=False,
        help_text="`invalid_input`, `invalid_price`, `invalid_sku`, `invalid_webhook_url`, "
        "`unknown_event_type`: the field at fault.",
    )
    unknown = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="`unknown_event_type`: the event types that do not exist.",
    )
    max_price = serializers.CharField(
        required=False, help_text="`invalid_price`: the highest price a product may have."
    )
    max_items = serializers.IntegerField(
        required=False, help_text="`batch_too_large`: the most items a batch may have."
    )
    held = serializers.IntegerField(
        required=False, help_text="`stock_below_held`: units in live holds of the product."
    )
    holds = serializers.IntegerField(
        required=False, help_text="`stock_below_held`: how many live holds those are."
    )
    carts = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="`stock_below_held`: ids of (up to 10 of) the carts holding them.",
    )
    expected_on_hand = serializers.IntegerField(
        required=False, help_text="`stale_on_hand`: the figure the change was based on."
    )
    on_hand = serializers.IntegerField(
        required=False, help_text="`stale_on_hand`: the figure on hand now."
    )


class ProductPutInput(serializers.Serializer):
    name = StrictCharField(max_length=200, help_text="The product's name, 1 to 200 characters.")
    price = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=0,
        max_value=MAX_PRICE,
        help_text=f"Unit price, from 0 to {MAX_PRICE}, at most 2 decimals.",
    )
    is_active = StrictBooleanField(help_text="On sale: shown on the storefront and buyable.")


class BackOfficeProductOutput(serializers.Serializer):
    id = serializers.IntegerField()
    sku = serializers.CharField()
    name = serializers.CharField()
    price = serializers.DecimalField(max_digits=12, decimal_places=2)
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class StockItemInput(serializers.Serializer):
    """One item of a batch: a count (`on_hand`) or a change (`delta`), not both."""

    sku = StrictCharField(
        trim_whitespace=False, help_text="The product's SKU; an unknown one is `unknown_sku`."
    )
    on_hand = StrictIntegerField(
        required=False,
        help_text=f"A count: set on hand to this, 0 to {MAX_STOCK}; the difference is "
        "recorded as a `correction`.",
    )
    delta = StrictIntegerField(
        required=False,
        help_text="Units in (> 0, a `receipt`) or out (< 0, an `adjustment`); not 0.",
    )
    expected_on_hand = StrictIntegerField(
        required=False,
        allow_null=True,
        help_text="The on-hand figure this change is based on: when stock moved since, the "
        "item is refused with `stale_on_hand`.",
    )
    reason = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="Why, for the ledger; by default `back-office count|receipt|adjustment`.",
    )

    def validate(self, data):
        if ("on_hand" in data) == ("delta" in data):
            raise serializers.ValidationError("Give either on_hand (a count) or delta, not both.")
        return data


class MovementOutput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=StockMovement.Kind.choices)
    quantity = serializers.IntegerField(help_text="Signed units moved.")


class StockItemResultOutput(serializers.Serializer):
    index = serializers.IntegerField(help_text="The item's place in the batch, from 0.")
    sku = serializers.CharField()
    status = serializers.ChoiceField(
        choices=ITEM_STATUSES,
        help_text="`applied`, or `refused` (then nothing of this item changed; see `error`).",
    )
    movement = MovementOutput(
        required=False,
        allow_null=True,
        help_text="Applied: the ledger movement it wrote; null when a count found the figure "
        "already on hand.",
    )
    on_hand = serializers.IntegerField(required=False, help_text="Applied: on hand after it.")
    error = BackOfficeErrorOutput(
        required=False,
        help_text="Refused: why. `unknown_sku`; `invalid_quantity` (a count out of range, a "
        "delta of 0, or on hand going below 0 or over the maximum); `stale_on_hand`; "
        "`stock_below_held`, with the units `held`.",
    )


class StockLevelOutput(serializers.Serializer):
    sku = serializers.CharField()
    on_hand = serializers.IntegerField(help_text="Units physically sellable.")
    held = serializers.IntegerField(help_text="Units in live holds.")
    available = serializers.IntegerField(
        help_text="What a new hold could take now: on hand less live holds (expired holds "
        "count as free, as on the storefront)."
    )
    updated_at = serializers.DateTimeField(
        source="stock_updated_at",
        help_text="When on hand last changed (holds come and go without moving it).",
    )


class StockBatchOutput(serializers.Serializer):
    applied = serializers.IntegerField(help_text="Items applied.")
    refused = serializers.IntegerField(help_text="Items refused.")
    items = StockItemResultOutput(many=True, help_text="Every item's result, in batch order.")
    stock = StockLevelOutput(
        many=True, help_text="The figures after the batch of each known SKU in it, once each."
    )


class EventTypeNameField(serializers.ChoiceField):
    """An event type's name: any JSON string; whether it is a known type is the services'
    check (`unknown_event_type`), so the schema lists the known ones without refusing here."""

    def __init__(self, **kwargs):
        super().__init__(choices=EventType.choices, **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid_choice", input=data)
        return data


_URL_HELP = (
    "Where each delivery is POSTed: an absolute http:// or https:// URL of at most "
    f"{Endpoint._meta.get_field('url').max_length} characters; another is "
    "`invalid_webhook_url`."
)
_EVENT_TYPES_HELP = (
    "The event types the endpoint receives, each once; empty: every type, those added "
    "later included. A type that does not exist is `unknown_event_type`."
)
_DESCRIPTION_MAX_LENGTH = Endpoint._meta.get_field("description").max_length


class WebhookEndpointCreateInput(serializers.Serializer):
    url = StrictCharField(allow_blank=True, help_text=_URL_HELP)
    event_types = serializers.ListField(
        child=EventTypeNameField(), required=False, default=list, help_text=_EVENT_TYPES_HELP
    )
    description = StrictCharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=_DESCRIPTION_MAX_LENGTH,
        help_text=f"For people: whose endpoint it is, at most {_DESCRIPTION_MAX_LENGTH} "
        "characters.",
    )
    is_active = StrictBooleanField(
        required=False, default=True, help_text="Receives deliveries; true by default."
    )


class WebhookEndpointUpdateInput(serializers.Serializer):
    """The fields to change; those left out stay as they are."""

    url = StrictCharField(required=False, allow_blank=True, help_text=_URL_HELP)
    event_types = serializers.ListField(
        child=EventTypeNameField(), required=False, help_text=_EVENT_TYPES_HELP
    )
    description = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=_DESCRIPTION_MAX_LENGTH,
        help_text=f"For people, at most {_DESCRIPTION_MAX_LENGTH} characters.",
    )
    is_active = StrictBooleanField(
        required=False,
        help_text="false: no new deliveries, and pending ones are given up when they come "
        "due; true again: new events are delivered.",
    )


class WebhookEndpointOutput(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField()
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices),
        help_text="The event types it receives; empty: every type.",
    )
    description = serializers.CharField()
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class WebhookEndpointSecretOutput(WebhookEndpointOutput):
    secret = serializers.CharField(
        help_text="The signing secret (`whsec_...`): receivers check each delivery's "
        "`X-Stockhold-Signature` with it. Answered only here; keep it now.",
    )
