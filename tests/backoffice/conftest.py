"""Clients of the back-office API, and what a refused request must leave as it was."""

import json

import pytest
from rest_framework.test import APIClient

from backoffice.models import ApiKey, IdempotentRequest, StockBatchItem
from store.models import Inventory, Product, StockMovement
from tests.factories import ApiKeyFactory


@pytest.fixture
def api_key(db):
    """A live API key named `erp`; its key is `api_key.key`."""
    return ApiKeyFactory(name="erp")


@pytest.fixture
def office(api_key):
    """An API client that sends `api_key` as its bearer token."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.key}")
    return client


def batch_post(client, body, *, key: str | None = "batch-1", raw: bool = False):
    """POST a stock batch; `body` is sent as JSON unless `raw`, with `key` as its
    Idempotency-Key (None: no header)."""
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(
        "/api/v1/back-office/stock/",
        data=body if raw else json.dumps(body),
        content_type="application/json",
        **headers,
    )


def product_put(client, sku, body, *, raw: bool = False):
    return client.put(
        f"/api/v1/back-office/products/{sku}/",
        data=body if raw else json.dumps(body),
        content_type="application/json",
    )


def back_office_snapshot():
    """Everything a refused back-office request must leave as it was."""
    return (
        list(Product.objects.order_by("pk").values_list("pk", "sku", "name", "price", "is_active")),
        list(Inventory.objects.order_by("pk").values_list("pk", "on_hand", "reserved")),
        list(StockMovement.objects.order_by("pk").values_list("pk", "product_id", "quantity")),
        list(IdempotentRequest.objects.order_by("pk").values_list("pk", "key", "status_code")),
        StockBatchItem.objects.count(),
        list(ApiKey.objects.order_by("pk").values_list("pk", "revoked_at")),
    )


def refused(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == code, body
    return body
