"""Orders from the back office: read one, and confirm or cancel its payment."""

import uuid

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response

from backoffice.api.base import COMMON_PARAMETERS, COMMON_RESPONSES, BackOfficeApi, error
from reservations.errors import OrderNotFound
from reservations.models import Order
from reservations.selectors import order_get
from reservations.serializers import OrderOutput
from reservations.services import order_cancel, order_confirm

ORDER_ID = OpenApiParameter(
    "order_id", OpenApiTypes.UUID, OpenApiParameter.PATH,
    description="The order's id, as checkout answered it; an unknown one is "
    "`404 order_not_found`.",
)
NOT_FOUND = {404: error("`order_not_found`: no such order.")}
EXPIRED = (
    "`payment_window_expired`: the order's `payment_expires_at` has passed; its units are "
    "free stock again and nothing was changed. Take the shopper back to a cart."
)


def _order(order_id: str) -> Order:
    try:
        pk = uuid.UUID(order_id) if order_id.isascii() else None
    except ValueError:
        pk = None
    order = Order.objects.filter(pk=pk).first() if pk else None
    if order is None:
        raise OrderNotFound()
    return order


def _answer(order: Order) -> Response:
    return Response(OrderOutput(order_get(order_id=order.pk)).data)


class OrderApi(BackOfficeApi):
    @extend_schema(
        operation_id="backoffice_order_get",
        summary="Read an order",
        description="The order with its lines and `status` as of now: `pending_payment` "
        "until its `payment_expires_at`, `expired` from that instant (before any clean-up "
        "runs), `placed` once paid or sold at checkout, `cancelled`.",
        tags=["Back office"],
        parameters=[ORDER_ID, *COMMON_PARAMETERS],
        responses={200: OrderOutput, **NOT_FOUND, **COMMON_RESPONSES},
    )
    def get(self, request, order_id: str):
        return _answer(_order(order_id))


class OrderConfirmApi(BackOfficeApi):
    @extend_schema(
        operation_id="backoffice_order_confirm",
        summary="Confirm an order's payment",
        description="The payment went through: the order's held units are sold (they leave "
        "the shelf as `sale` movements naming the order and this API key) and it is `placed`. "
        "Confirming a `placed` order again answers it unchanged, so a retry after a lost "
        "answer is safe. Call it from your payment provider's success callback, before "
        "`payment_expires_at`.",
        tags=["Back office"],
        parameters=[ORDER_ID, *COMMON_PARAMETERS],
        request=None,
        responses={
            200: OpenApiResponse(OrderOutput, description="The order, `placed`."),
            409: error(
                f"{EXPIRED} `order_cancelled`: the order was cancelled; it cannot be paid."
            ),
            **NOT_FOUND,
            **COMMON_RESPONSES,
        },
    )
    def post(self, request, order_id: str):
        order, _ = order_confirm(order=_order(order_id), actor=self.api_key.actor)
        return _answer(order)


class OrderCancelApi(BackOfficeApi):
    @extend_schema(
        operation_id="backoffice_order_cancel",
        summary="Cancel an order",
        description="The payment failed or the shopper gave up: a `pending_payment` order's "
        "held units go back to free stock at once; a `placed` order's units come back to the "
        "shelf as `return` movements naming the order and this API key. Cancelling a "
        "cancelled order answers it unchanged.",
        tags=["Back office"],
        parameters=[ORDER_ID, *COMMON_PARAMETERS],
        request=None,
        responses={
            200: OpenApiResponse(OrderOutput, description="The order, `cancelled`."),
            409: error(EXPIRED),
            **NOT_FOUND,
            **COMMON_RESPONSES,
        },
    )
    def post(self, request, order_id: str):
        order, _ = order_cancel(order=_order(order_id), actor=self.api_key.actor)
        return _answer(order)
