"""Storefront API v1: thin views over the services and selectors.

Products are served here, not in `store`, because their availability is read from holds.
"""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import InvalidInput, InvalidQuantity
from core.idempotency import IDEMPOTENCY_KEY_PATTERN, idempotency_key_valid
from core.ids import id_parse
from core.throttling import CartCreateThrottle, CartWriteThrottle
from reservations import services as hold_services
from reservations.errors import InvalidIdempotencyKey
from reservations.models import Cart, Order
from reservations.selectors import (
    CartShown,
    cart_and_product_get_for_token,
    cart_get_for_token,
    cart_pk_parse,
    cart_shown_get,
    cart_shown_get_for_token,
    order_get,
    products_with_availability,
)
from reservations.serializers import (
    CartCreatedOutput,
    CartItemInput,
    CartOutput,
    ErrorOutput,
    OrderOutput,
    ProductOutput,
    cart_data,
)
from reservations.signals import cart_changed
from store.errors import ProductNotFound
from store.models import Product
from store.selectors import MAX_SKUS_PER_QUERY, product_get, sku_list_parse

CART_ID = OpenApiParameter(
    "cart_id", OpenApiTypes.UUID, OpenApiParameter.PATH,
    description="The cart's id; an unknown one is `404 cart_not_found`.",
)
PRODUCT_ID = OpenApiParameter(
    "product_id", OpenApiTypes.INT, OpenApiParameter.PATH,
    description="The product's id; an unknown or inactive one is `404 product_not_found`.",
)
# The cart's token, sent as `X-Cart-Token`: the `CartToken` security scheme
# (SPECTACULAR_SETTINGS["APPEND_COMPONENTS"]), rather than a header parameter, so Swagger UI
# asks for it once, a generated client sends it from its authenticated client, and
# schemathesis still generates and fuzzes it as a required header.
CART_TOKEN_AUTH = [{"CartToken": []}]
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    pattern=IDEMPOTENCY_KEY_PATTERN,
    description="Optional client key, 1 to 255 printable ASCII characters (a UUID will do), "
    "kept with the checkout attempt and sent again on its retries.",
)
SKUS = OpenApiParameter(
    "sku", OpenApiTypes.STR, OpenApiParameter.QUERY, many=True, explode=False,
    description=f"Only products with these SKUs, comma-separated (`?sku=A,B`), at most "
    f"{MAX_SKUS_PER_QUERY}; unknown SKUs and products not on sale are simply not listed.",
)
RETRY_AFTER = OpenApiParameter(
    "Retry-After", OpenApiTypes.INT, OpenApiParameter.HEADER, required=True,
    response=[429, 503], description="Seconds to wait before trying again.",
)
IDEMPOTENT_REPLAYED = OpenApiParameter(
    "Idempotent-Replayed", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True,
    response=[200], enum=["true"], description="The cart was already checked out; this is "
    "the order it made then.",
)


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorOutput, description=description)


# Answered by the exception handler (config/api_errors.py) when the database is
# unreachable, with Retry-After.
UNAVAILABLE = {503: _error("`unavailable`: the database cannot be reached right now.")}
# Answered by the throttles (core/throttling.py), with Retry-After.
THROTTLED = {429: _error("`throttled`: too many requests from this client.")}
CART_NOT_FOUND = "`cart_not_found`: no such cart, or a missing or wrong `X-Cart-Token`"
RETRY = (
    "`429 throttled`, `503 unavailable`: wait `Retry-After` seconds, then send the same "
    "request again."
)


class ProductPagination(LimitOffsetPagination):
    # Uncapped, a `limit` past PostgreSQL's bigint range is a database error: a 500.
    max_limit = 1000
    limit_query_description = "Number of results to return per page, at most 1000."


def _order_data(order: Order) -> dict:
    return OrderOutput(order_get(order_id=order.pk)).data


def _token(request) -> str | None:
    return request.META.get("HTTP_X_CART_TOKEN")


def _cart_and_product(request, cart_id: str, product_id: str) -> tuple[Cart, Product | None]:
    return cart_and_product_get_for_token(
        cart_id=cart_id, token=_token(request), product_id=product_id
    )


def _usual_quantity(data) -> int | None:
    """The quantity of the usual body, `{"quantity": n}` with n in range, checked without
    building the serializer; None for any other body."""
    quantity = data.get("quantity") if isinstance(data, dict) else None
    if type(quantity) is int and 0 <= quantity <= settings.RESERVATION_MAX_QUANTITY:
        return quantity
    return None


def _quantity(data: dict) -> int:
    """The quantity a cart line is set to; InvalidQuantity with the field's messages."""
    quantity = _usual_quantity(data)
    if quantity is not None:
        return quantity
    # Whatever else comes is checked, and refused with its messages, by CartItemInput.
    serializer = CartItemInput(data=data)
    if not serializer.is_valid():
        errors = serializer.errors
        detail = errors.get("quantity", ["Invalid quantity."])[0]
        raise InvalidQuantity(f"quantity: {detail}", errors=errors)
    return serializer.validated_data["quantity"]


class ProductListApi(APIView):
    pagination_class = ProductPagination

    @extend_schema(
        parameters=[SKUS, RETRY_AFTER],
        responses={
            200: ProductOutput(many=True),
            400: _error(f"`invalid_input`: more than {MAX_SKUS_PER_QUERY} SKUs in `sku`."),
            **UNAVAILABLE,
        },
        operation_id="products_list",
        tags=["Products"],
        summary="List the products on sale",
        description=(
            "Products on sale, in `id` order, each with `available`: the units a new hold can "
            "take right now. A hold that has expired counts as free stock from that instant, "
            "so `available` never waits for a clean-up job. It is a figure of the moment, not "
            "a promise: only a hold (`cart_item_set`) secures stock.\n\n"
            "Paginated: `limit` (at most 1000) and `offset`; follow `next` until it is "
            "`null`. `sku=A,B` lists only those products, e.g. to refresh the ones a page or "
            "a cart shows; SKUs of products not on sale are left out.\n\n"
            "Errors: `400 invalid_input` for too many SKUs. `503 unavailable`: wait "
            "`Retry-After` seconds, then ask again."
        ),
    )
    def get(self, request):
        products = products_with_availability()
        if "sku" in request.query_params:
            products = products.filter(
                sku__in=sku_list_parse(values=request.query_params.getlist("sku"))
            )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(products, request, view=self)
        return paginator.get_paginated_response(ProductOutput(page, many=True).data)


class ProductDetailApi(APIView):
    @extend_schema(
        parameters=[PRODUCT_ID, RETRY_AFTER],
        responses={
            200: ProductOutput,
            404: _error("`product_not_found`: no such product, or it is not on sale."),
            **UNAVAILABLE,
        },
        operation_id="product_get",
        tags=["Products"],
        summary="Get a product",
        description=(
            "One product on sale, with `available` as in `products_list`.\n\n"
            "Errors: `404 product_not_found` when there is no such product or it is no longer "
            "on sale (staff took it off sale): stop offering it. `503 unavailable`: wait "
            "`Retry-After` seconds, then ask again."
        ),
    )
    def get(self, request, product_id: str):
        product = product_get(product_id=product_id)
        product = products_with_availability().filter(pk=product.pk).first()
        if product is None:
            raise ProductNotFound()
        return Response(ProductOutput(product).data)


class CartCreateApi(APIView):
    throttle_classes = [CartCreateThrottle]

    @extend_schema(
        request=None,
        parameters=[RETRY_AFTER],
        responses={201: CartCreatedOutput, **THROTTLED, **UNAVAILABLE},
        operation_id="cart_create",
        tags=["Carts"],
        summary="Create a cart",
        description=(
            "Create an empty cart for one shopper and answer its `id` and its `token`.\n\n"
            "The token is in this answer only: just its hash is stored, and it cannot be "
            "asked for again. Send it as `X-Cart-Token` on every call about this cart. Keep "
            "it like a password: on your server with the shopper's session, or in an "
            "`HttpOnly`, `Secure` cookie scoped to your shop; never in a URL, a log or "
            "`localStorage`. A lost token means a new cart (the old one's holds expire on "
            "their own).\n\n"
            "The cart holds nothing until `cart_item_set`. " + RETRY
        ),
    )
    def post(self, request):
        cart, token = hold_services.cart_create()
        # A new cart holds nothing: its lines need no query.
        shown = CartShown(
            id=cart.pk, status=cart.status, expires_at=cart.expires_at, order_id=None, lines=[]
        )
        return Response(cart_data(shown, token=token), status=status.HTTP_201_CREATED)


class CartDetailApi(APIView):
    @extend_schema(
        parameters=[CART_ID, RETRY_AFTER],
        responses={200: CartOutput, 404: _error(f"{CART_NOT_FOUND}."), **UNAVAILABLE},
        auth=CART_TOKEN_AUTH,
        operation_id="cart_get",
        tags=["Carts"],
        summary="Get a cart",
        description=(
            "The cart and its lines. Each line shows the units it holds, when its hold "
            "expires (`expires_at`) and its `status`: `active` (held), `expired` (the hold ran "
            "out: checkout will try to buy it from free stock, and setting its quantity "
            "again holds it anew) or, after checkout, `consumed`. The cart's `expires_at` is "
            "when its live holds run out; every change of the cart renews them. After "
            "checkout the cart's `status` is `checked_out` and `order_id` names its order.\n\n"
            "Errors: `404 cart_not_found`: no such cart, or a missing or wrong "
            "`X-Cart-Token` (the two are not told apart, so cart ids cannot be probed): start "
            "a new cart. `503 unavailable`: wait `Retry-After` seconds, then ask again."
        ),
    )
    def get(self, request, cart_id: str):
        return Response(cart_data(cart_shown_get_for_token(cart_id=cart_id, token=_token(request))))


class CartItemApi(APIView):
    throttle_classes = [CartWriteThrottle]

    @extend_schema(
        parameters=[CART_ID, PRODUCT_ID, RETRY_AFTER],
        request=CartItemInput,
        auth=CART_TOKEN_AUTH,
        operation_id="cart_item_set",
        tags=["Carts"],
        summary="Hold units of a product",
        description=(
            "Set how many units of the product the cart holds: the line's new quantity, not "
            "an increment; `0` removes the line. Only the difference is taken from stock or "
            "given back, and the cart's other live holds are renewed. The answer is the "
            "whole cart. Setting a quantity is safe to repeat.\n\n"
            "Errors, and what to do:\n\n"
            "- `409 insufficient_stock`: not enough free stock. `available` is the most this "
            "cart could hold of it right now, its own units included: offer that, or set it.\n"
            "- `409 cart_line_limit`, `409 cart_unit_limit` (with `max_quantity`, the most "
            "this line may hold): the cart is as large as a cart may be.\n"
            "- `409 cart_lifetime_exceeded`: the cart has held stock for as long as a cart "
            "may; it can still remove lines and check out, but hold nothing more: start a "
            "new cart.\n"
            "- `409 cart_checked_out`: the cart was checked out; start a new one.\n"
            "- `404 product_not_found`: no such product, or it is no longer on sale; "
            "`404 cart_not_found`: see `cart_get`.\n"
            "- `400 invalid_quantity`: `quantity` must be a whole number from 0 to the most "
            "a line may hold.\n"
            "- " + RETRY
        ),
        responses={
            200: CartOutput,
            400: _error(
                "`invalid_quantity`: `quantity` is not a whole number from 0 to the largest "
                "a line may hold; `invalid_input`: the body is not a JSON object; "
                "`malformed_json`: the body is not JSON."
            ),
            404: _error(
                f"{CART_NOT_FOUND}; `product_not_found`: no such product, or it is not on "
                "sale."
            ),
            409: _error(
                "`insufficient_stock`: not enough free stock, with what the cart could hold "
                "(`available`); `cart_checked_out`: the cart can no longer change; "
                "`cart_line_limit`: a new line past the most a cart may have (`max_lines`); "
                "`cart_unit_limit`: units past the most a cart may hold (`max_units`), with "
                "the most this line may hold (`max_quantity`); `cart_lifetime_exceeded`: the "
                "cart's holds have run their whole lifetime (`max_lifetime_seconds`) since its "
                "first hold, so it can hold nothing more (0 still removes a line, and checkout "
                "still buys what stock allows); start a new cart."
            ),
            413: _error("`request_too_large`: the body is over the size limit."),
            415: _error("`unsupported_media_type`: the body is not `application/json`."),
            **THROTTLED,
            **UNAVAILABLE,
        },
    )
    def put(self, request, cart_id: str, product_id: str):
        quantity, product_pk = _usual_quantity(request.data), id_parse(product_id)
        if quantity is not None and product_pk is not None:
            # The usual request: the checks, the hold and the answer's read in one call.
            shown = hold_services.cart_item_put(
                cart_id=cart_pk_parse(cart_id), token=_token(request), product_id=product_pk,
                quantity=quantity,
            )
            cart_changed.send(sender=self.__class__, cart=Cart(id=shown.id))
            return Response(cart_data(shown))
        # Anything else (most of it refused) takes the longer way, which answers errors in
        # the order a client expects: the cart and token first, then the body, then the
        # product.
        cart, product = _cart_and_product(request, cart_id, product_id)
        if not isinstance(request.data, dict):
            raise InvalidInput("The body must be a JSON object like {\"quantity\": 2}.")
        quantity = _quantity(request.data)
        if product is None:
            raise ProductNotFound()
        hold_services.hold_set(cart=cart, product=product, quantity=quantity)
        cart_changed.send(sender=self.__class__, cart=cart)
        return Response(cart_data(cart_shown_get(cart_id=cart.pk)))

    @extend_schema(
        parameters=[CART_ID, PRODUCT_ID, RETRY_AFTER],
        request=None,
        auth=CART_TOKEN_AUTH,
        operation_id="cart_item_remove",
        tags=["Carts"],
        summary="Remove a line",
        description=(
            "Remove the cart's line of this product and give its units back to stock at "
            "once. The answer is the whole cart.\n\n"
            "Errors: `404 item_not_found`: the cart has no line of this product (a retry "
            "of a removal that went through finds this: nothing to do). `404 cart_not_found`: "
            "see `cart_get`. `409 cart_checked_out`: the cart was checked out. " + RETRY
        ),
        responses={
            200: CartOutput,
            404: _error(
                f"{CART_NOT_FOUND}; `product_not_found`: no such product; `item_not_found`: "
                "the cart has no line for that product."
            ),
            409: _error("`cart_checked_out`: the cart can no longer change."),
            **THROTTLED,
            **UNAVAILABLE,
        },
    )
    def delete(self, request, cart_id: str, product_id: str):
        cart, product = _cart_and_product(request, cart_id, product_id)
        if product is None:
            raise ProductNotFound()
        hold_services.hold_remove(cart=cart, product=product)
        cart_changed.send(sender=self.__class__, cart=cart)
        return Response(cart_data(cart_shown_get(cart_id=cart.pk)))


class CartCheckoutApi(APIView):
    throttle_classes = [CartWriteThrottle]

    @extend_schema(
        parameters=[CART_ID, IDEMPOTENCY_KEY, RETRY_AFTER, IDEMPOTENT_REPLAYED],
        request=None,
        auth=CART_TOKEN_AUTH,
        operation_id="cart_checkout",
        tags=["Checkout"],
        summary="Check out a cart",
        description=(
            "Buy everything the cart holds and answer the order, `201`. Lines whose hold is "
            "active are bought for sure; lines whose hold expired are bought from free stock "
            "when there is enough. It is all or nothing: a refused checkout changes nothing.\n\n"
            "With a payment window (`ORDER_PAYMENT_WINDOW_SECONDS` above 0) the order is "
            "`pending_payment`: nothing is sold yet, its units stay held until "
            "`payment_expires_at`. Confirm the payment from the shop's server "
            "(`backoffice_order_confirm`) before then, or cancel it "
            "(`backoffice_order_cancel`); at the deadline its units are free stock again and "
            "the order shows `expired`.\n\n"
            "A cart is checked out once. Repeating the call, after a timeout or a lost "
            "connection, answers the same order with `200` and `Idempotent-Replayed: true`. "
            "Send an `Idempotency-Key` too, a new one per cart and the same on every retry: "
            "it is recorded with the order, and a key that already checked out another cart "
            "is refused, so a retry sent with the wrong cart cannot place a second order.\n\n"
            "Errors, and what to do:\n\n"
            "- `409 insufficient_stock`: lines whose hold expired and whose units are gone, "
            "every one in `lines` with `requested` and `available`; lower or remove them "
            "(`cart_item_set`) and check out again.\n"
            "- `409 product_not_on_sale`: lines of products taken off sale, in `lines`; "
            "remove them and check out the rest.\n"
            "- `409 cart_empty`: the cart holds nothing.\n"
            "- `422 idempotency_key_reused`: the key already checked out another cart; use a "
            "new key for this cart.\n"
            "- `400 invalid_idempotency_key`: not 1 to 255 printable ASCII characters.\n"
            "- `404 cart_not_found`: see `cart_get`.\n"
            "- " + RETRY + " The same order comes back if the first call went through."
        ),
        responses={
            201: OpenApiResponse(OrderOutput, description="The order this checkout made."),
            200: OpenApiResponse(
                OrderOutput, description="The cart was already checked out: its one order."
            ),
            400: _error("`invalid_idempotency_key`: not 1 to 255 printable ASCII characters."),
            404: _error(f"{CART_NOT_FOUND}."),
            409: _error(
                "`cart_empty`: nothing to check out; `product_not_on_sale`: lines of products "
                "no longer on sale, whatever the state of their holds, every one listed in "
                "`lines` (remove them to check out the rest); `insufficient_stock`: lines "
                "whose hold expired can no longer be bought, every one listed in `lines`."
            ),
            422: _error(
                "`idempotency_key_reused`: the key was already used to check out another cart."
            ),
            **THROTTLED,
            **UNAVAILABLE,
        },
    )
    def post(self, request, cart_id: str):
        cart = cart_get_for_token(cart_id=cart_id, token=_token(request))
        key = request.headers.get("Idempotency-Key")
        if key is not None and not idempotency_key_valid(key):
            raise InvalidIdempotencyKey()
        order, created = hold_services.checkout(cart=cart, idempotency_key=key)
        cart_changed.send(sender=self.__class__, cart=cart)
        response = Response(
            _order_data(order), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )
        if not created:
            response["Idempotent-Replayed"] = "true"
        return response

