"""The catalogue from the back office: create or update a product by its SKU."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response

from backoffice.api.base import COMMON_PARAMETERS, COMMON_RESPONSES, BackOfficeApi, error
from backoffice.serializers import BackOfficeProductOutput, ProductPutInput
from core.errors import InvalidInput
from store.errors import InvalidPrice
from store.limits import MAX_PRICE
from store.services import SKU_PATTERN, product_upsert, sku_check

SKU = OpenApiParameter(
    "sku", OpenApiTypes.STR, OpenApiParameter.PATH, pattern=SKU_PATTERN,
    description="The product's SKU: 1 to 64 letters, digits, '.', '_' or '-', starting with "
    "a letter or digit; another is `400 invalid_sku`.",
)


class ProductApi(BackOfficeApi):
    @extend_schema(
        operation_id="backoffice_product_put",
        summary="Create or update a product by SKU",
        description="Sets the product's name, price and whether it is on sale. A new SKU "
        "creates the product with its stock row, nothing on hand (stock comes through "
        "`POST /api/v1/back-office/stock/`); stock is never changed here.",
        tags=["Back office"],
        parameters=[SKU, *COMMON_PARAMETERS],
        request=ProductPutInput,
        responses={
            201: OpenApiResponse(BackOfficeProductOutput, description="The product, created."),
            200: OpenApiResponse(BackOfficeProductOutput, description="The product, updated."),
            400: error(
                "`invalid_sku`: the SKU in the path is not of the allowed form; "
                "`invalid_price`: the price is not a number from 0 to 99999999.99 with at most "
                "2 decimals; `invalid_input`: the body is not a JSON object with `name` (1 to "
                "200 characters), `price` and `is_active` (true or false); `malformed_json`."
            ),
            404: error("`not_found`: not a product URL (a SKU cannot be empty or hold '/')."),
            413: error("`request_too_large`: the body is over the size limit."),
            415: error("`unsupported_media_type`: the body is not `application/json`."),
            **COMMON_RESPONSES,
        },
    )
    def put(self, request, sku: str):
        sku_check(sku=sku)
        if not isinstance(request.data, dict):
            raise InvalidInput(
                'The body must be a JSON object like {"name": "Tee", "price": "19.90", '
                '"is_active": true}.'
            )
        data = ProductPutInput(data=request.data)
        if not data.is_valid():
            if set(data.errors) == {"price"}:
                raise InvalidPrice(
                    f"price: {data.errors['price'][0]}",
                    field="price",
                    max_price=str(MAX_PRICE),
                )
            raise exceptions.ValidationError(data.errors)
        product, created = product_upsert(
            sku=sku, actor=self.api_key.actor, **data.validated_data
        )
        return Response(
            BackOfficeProductOutput(product).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )
