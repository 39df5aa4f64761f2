"""Stock from the back office: read it by SKU or by change, and apply batches of counts
and deltas, each item on its own, once per Idempotency-Key."""

from dataclasses import asdict
from datetime import UTC, datetime

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema

from backoffice.api.base import (
    COMMON_PARAMETERS,
    COMMON_RESPONSES,
    IDEMPOTENCY_KEY,
    IDEMPOTENT_REPLAYED,
    BackOfficeApi,
    BackOfficePagination,
    error,
)
from backoffice.errors import BatchTooLarge
from backoffice.models import IdempotentRequest
from backoffice.selectors import stock_levels
from backoffice.serializers import StockBatchOutput, StockItemInput, StockLevelOutput
from backoffice.services import MAX_BATCH_ITEMS, StockItem, stock_batch_apply
from core.errors import InvalidInput, first_message
from store.selectors import MAX_SKUS_PER_QUERY, sku_list_parse

SKUS = OpenApiParameter(
    "sku", OpenApiTypes.STR, OpenApiParameter.QUERY, many=True, explode=True,
    description=f"Only these SKUs (`?sku=A&sku=B`; `?sku=A,B` too), at most "
    f"{MAX_SKUS_PER_QUERY}; unknown ones are simply not listed.",
)
UPDATED_SINCE = OpenApiParameter(
    "updated_since", OpenApiTypes.DATETIME, OpenApiParameter.QUERY,
    description="Only stock whose on hand changed at or after this instant: ISO 8601 with "
    "its offset (`2026-01-15T12:00:00Z`; `+` URL-encoded as `%2B`). A change is stamped "
    "when its transaction started, so ask from a little before the last sync.",
)



def _batch(data) -> list[StockItem]:
    """The items of a batch body; InvalidInput or BatchTooLarge, and nothing applied,
    when the body as a whole is not a batch."""
    if not isinstance(data, list) or not data:
        raise InvalidInput(
            f"The body must be a JSON list of 1 to {MAX_BATCH_ITEMS} items like "
            '[{"sku": "TEE-M", "on_hand": 12}, {"sku": "CAP", "delta": -2}].'
        )
    if len(data) > MAX_BATCH_ITEMS:
        raise BatchTooLarge(
            f"A batch has at most {MAX_BATCH_ITEMS} items, not {len(data)}: send it in parts.",
            max_items=MAX_BATCH_ITEMS,
        )
    items = StockItemInput(data=data, many=True)
    if not items.is_valid():
        # By item index: DRF gives the items' errors as a list, or as a dict by index.
        found = items.errors
        by_index = found.items() if isinstance(found, dict) else enumerate(found)
        errors = {str(index): e for index, e in by_index if e}
        index, first = next(iter(errors.items()))
        raise InvalidInput(
            f"item {index}: {first_message(first)} Nothing was applied.", errors=errors
        )
    return [StockItem(**item) for item in items.validated_data]


def _updated_since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        since = parse_datetime(value)
        # In UTC: PostgreSQL takes offsets up to 15:59 only, Python up to 23:59.
        since = since.astimezone(UTC) if since and timezone.is_aware(since) else None
    except (ValueError, OverflowError):  # no such date, or out of range once in UTC
        since = None
    if since is None:
        raise InvalidInput(
            "updated_since must be an ISO 8601 date and time with its offset, like "
            "2026-01-15T12:00:00Z (a '+' in a query string is written %2B).",
            field="updated_since",
        )
    return since


class StockApi(BackOfficeApi):
    pagination_class = BackOfficePagination

    @extend_schema(
        operation_id="backoffice_stock_list",
        summary="Stock figures by SKU or by change",
        description="On hand, units in live holds and available (what a new hold could take "
        "now, expired holds counted as free, as on the storefront) of every product with "
        "stock, on sale or not, by id. `sku` and `updated_since` narrow it down; without "
        "them, it is every product, page by page.",
        tags=["Back office"],
        parameters=[SKUS, UPDATED_SINCE, *COMMON_PARAMETERS],
        responses={
            200: StockLevelOutput(many=True),
            400: error(
                "`invalid_input`: `updated_since` is not an ISO 8601 date and time with its "
                "offset, or more than 1000 SKUs were asked for."
            ),
            **COMMON_RESPONSES,
        },
    )
    def get(self, request):
        skus = (
            sku_list_parse(values=request.query_params.getlist("sku"))
            if "sku" in request.query_params
            else None
        )
        since = _updated_since(request.query_params.get("updated_since"))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            stock_levels(skus=skus, updated_since=since), request, view=self
        )
        return paginator.get_paginated_response(StockLevelOutput(page, many=True).data)

    @extend_schema(
        operation_id="backoffice_stock_apply",
        summary="Apply a batch of stock counts and deltas",
        description="1 to 1000 items, each a count (`on_hand`: set the figure, recorded as a "
        "`correction`) or a delta (`delta` > 0 a `receipt`, < 0 an `adjustment`), optionally "
        "based on `expected_on_hand`. Each item is applied or refused on its own, in order, "
        "in a transaction of its own; the answer lists every item's result and the figures "
        "of each SKU after the batch. Every movement names the API key "
        "(`api-key:<name>`) and has the Idempotency-Key as its reference. A body that is "
        "not a batch as a whole is refused with nothing applied.",
        tags=["Back office"],
        parameters=[IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED, *COMMON_PARAMETERS],
        request=StockItemInput(many=True),
        responses={
            200: OpenApiResponse(
                StockBatchOutput,
                description="Every item's result, applied or refused; the same answer again "
                "for a repeat of the Idempotency-Key (`Idempotent-Replayed: true`).",
            ),
            400: error(
                "`idempotency_key_required`: no Idempotency-Key; `invalid_idempotency_key`: "
                "not 1 to 255 printable ASCII characters; `invalid_input`: the body is not a "
                "list of 1 to 1000 items each with a `sku` and exactly one of `on_hand` and "
                "`delta` (whole numbers), with `errors` by item index; `batch_too_large`: "
                "over 1000 items (`max_items`); `malformed_json`. Nothing was applied."
            ),
            409: error(
                "`idempotency_key_in_progress`: a request with this Idempotency-Key is being "
                "worked on; send it again in a moment for its answer."
            ),
            413: error("`request_too_large`: the body is over the size limit."),
            415: error("`unsupported_media_type`: the body is not `application/json`."),
            422: error(
                "`idempotency_key_reused`: the Idempotency-Key was used for a different "
                "batch; nothing was applied."
            ),
            **COMMON_RESPONSES,
        },
    )
    def post(self, request):
        key = self.idempotency_key()
        items = _batch(request.data)

        def apply(claim: IdempotentRequest) -> tuple[int, dict]:
            results = stock_batch_apply(request=claim, items=items, actor=self.api_key.actor)
            levels = stock_levels(skus={item.sku for item in items})
            applied = sum(result["status"] == "applied" for result in results)
            return 200, {
                "applied": applied,
                "refused": len(results) - applied,
                "items": results,
                "stock": StockLevelOutput(levels, many=True).data,
            }

        return self.idempotent_response(
            key=key,
            operation="stock_apply",
            payload=[asdict(item) for item in items],
            work=apply,
        )
