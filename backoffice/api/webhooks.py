"""Webhook endpoints from the back office: list, register, read, change, rotate the secret.

Endpoints are never deleted (their deliveries keep them, as in the admin): `is_active`
false stops their deliveries. The signing secret is answered only by the create and the
rotation.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response

from backoffice.api.base import (
    COMMON_PARAMETERS,
    COMMON_RESPONSES,
    BackOfficeApi,
    BackOfficePagination,
    error,
)
from backoffice.serializers import (
    WebhookEndpointCreateInput,
    WebhookEndpointOutput,
    WebhookEndpointSecretOutput,
    WebhookEndpointUpdateInput,
)
from core.errors import InvalidInput
from webhooks.models import Endpoint
from webhooks.selectors import endpoint_get, endpoints_list
from webhooks.services import endpoint_create, endpoint_secret_rotate, endpoint_update

ENDPOINT_ID = OpenApiParameter(
    "endpoint_id", OpenApiTypes.INT, OpenApiParameter.PATH,
    description="The endpoint's id; an unknown one is `404 webhook_endpoint_not_found`.",
)
NOT_FOUND = error(
    "`webhook_endpoint_not_found`: no endpoint has this id; `not_found`: not an endpoint URL."
)
INVALID_BODY = (
    "`invalid_webhook_url`: `url` is not an absolute http:// or https:// URL of at most 2000 "
    "characters; `unknown_event_type`: `event_types` names a type that does not exist (listed "
    "in `unknown`); `invalid_input`: the body is not a JSON object of the fields below with "
    "their JSON types, or `description` is over 200 characters; `malformed_json`. Nothing "
    "changed."
)
BODY_ERRORS = {
    413: error("`request_too_large`: the body is over the size limit."),
    415: error("`unsupported_media_type`: the body is not `application/json`."),
}


def _input(serializer_class, data) -> dict:
    """The validated fields of a JSON object body; InvalidInput for anything else."""
    if not isinstance(data, dict):
        raise InvalidInput(
            'The body must be a JSON object like {"url": "https://erp.example.com/hooks", '
            '"event_types": ["order.created"]}.'
        )
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        raise exceptions.ValidationError(serializer.errors)
    return serializer.validated_data


def _with_secret(endpoint: Endpoint, secret: str, *, status_code: int) -> Response:
    endpoint.secret = secret
    # The one answer that holds the secret: no cache keeps it.
    return Response(
        WebhookEndpointSecretOutput(endpoint).data,
        status=status_code,
        headers={"Cache-Control": "no-store"},
    )


class WebhookEndpointListApi(BackOfficeApi):
    pagination_class = BackOfficePagination

    @extend_schema(
        operation_id="backoffice_webhook_endpoint_list",
        summary="List the webhook endpoints",
        description="Every endpoint, active or not, oldest first, page by page: its URL, the "
        "event types it receives and whether it is active. Secrets are never listed: each is "
        "answered once, by `backoffice_webhook_endpoint_create` or "
        "`backoffice_webhook_endpoint_rotate_secret`.",
        tags=["Back office"],
        parameters=COMMON_PARAMETERS,
        responses={200: WebhookEndpointOutput(many=True), **COMMON_RESPONSES},
    )
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(endpoints_list(), request, view=self)
        return paginator.get_paginated_response(WebhookEndpointOutput(page, many=True).data)

    @extend_schema(
        operation_id="backoffice_webhook_endpoint_create",
        summary="Register a webhook endpoint",
        description="Registers a URL that receives a signed POST of each event of the types "
        "it subscribes to (none: every type), from events recorded after this answer on. "
        "The answer holds the endpoint's new signing `secret`, this once: store it with the "
        "receiver, which checks each delivery's `X-Stockhold-Signature` with it.",
        tags=["Back office"],
        parameters=COMMON_PARAMETERS,
        request=WebhookEndpointCreateInput,
        responses={
            201: OpenApiResponse(
                WebhookEndpointSecretOutput,
                description="The endpoint, registered, with its signing secret.",
            ),
            400: error(INVALID_BODY),
            **BODY_ERRORS,
            **COMMON_RESPONSES,
        },
    )
    def post(self, request):
        data = _input(WebhookEndpointCreateInput, request.data)
        endpoint, secret = endpoint_create(**data)
        return _with_secret(endpoint, secret, status_code=status.HTTP_201_CREATED)


class WebhookEndpointDetailApi(BackOfficeApi):
    @extend_schema(
        operation_id="backoffice_webhook_endpoint_get",
        summary="Read a webhook endpoint",
        description="The endpoint's URL, the event types it receives (empty: every type), "
        "its description and whether it is active; never its secret.",
        tags=["Back office"],
        parameters=[ENDPOINT_ID, *COMMON_PARAMETERS],
        responses={200: WebhookEndpointOutput, 404: NOT_FOUND, **COMMON_RESPONSES},
    )
    def get(self, request, endpoint_id: str):
        return Response(WebhookEndpointOutput(endpoint_get(endpoint_id=endpoint_id)).data)

    @extend_schema(
        operation_id="backoffice_webhook_endpoint_update",
        summary="Change a webhook endpoint",
        description="Changes the fields given and leaves the others as they are. "
        "`is_active: false` stops the endpoint's deliveries (its pending ones are given up "
        "when they come due); endpoints are never deleted, since their deliveries keep "
        "them. The secret stays: `backoffice_webhook_endpoint_rotate_secret` replaces it.",
        tags=["Back office"],
        parameters=[ENDPOINT_ID, *COMMON_PARAMETERS],
        request=WebhookEndpointUpdateInput,
        responses={
            200: OpenApiResponse(WebhookEndpointOutput, description="The endpoint, changed."),
            400: error(INVALID_BODY),
            404: NOT_FOUND,
            **BODY_ERRORS,
            **COMMON_RESPONSES,
        },
    )
    def patch(self, request, endpoint_id: str):
        endpoint = endpoint_get(endpoint_id=endpoint_id)
        data = _input(WebhookEndpointUpdateInput, request.data)
        endpoint = endpoint_update(endpoint=endpoint, **data)
        return Response(WebhookEndpointOutput(endpoint).data)


class WebhookEndpointSecretApi(BackOfficeApi):
    @extend_schema(
        operation_id="backoffice_webhook_endpoint_rotate_secret",
        summary="Rotate a webhook endpoint's signing secret",
        description="Gives the endpoint a new random signing secret and answers it, this "
        "once. Every delivery attempt from now on, retries of older events included, is "
        "signed with the new secret only: give it to the receiver right away.",
        tags=["Back office"],
        parameters=[ENDPOINT_ID, *COMMON_PARAMETERS],
        request=None,
        responses={
            200: OpenApiResponse(
                WebhookEndpointSecretOutput,
                description="The endpoint with its new signing secret.",
            ),
            404: NOT_FOUND,
            **COMMON_RESPONSES,
        },
    )
    def post(self, request, endpoint_id: str):
        endpoint = endpoint_get(endpoint_id=endpoint_id)
        secret = endpoint_secret_rotate(endpoint=endpoint)
        return _with_secret(endpoint, secret, status_code=status.HTTP_200_OK)
