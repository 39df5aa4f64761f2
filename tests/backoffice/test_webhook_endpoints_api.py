"""/api/v1/back-office/webhook-endpoints/: list, register, read, change, rotate the secret."""

import json

import pytest
from rest_framework.test import APIClient

from backoffice.services import api_key_revoke
from tests.backoffice.conftest import refused
from webhooks.models import Delivery, Endpoint
from webhooks.services import endpoint_create, event_record

pytestmark = pytest.mark.django_db

BASE = "/api/v1/back-office/webhook-endpoints/"


def _post(client, body, *, raw=False):
    return client.post(
        BASE, data=body if raw else json.dumps(body), content_type="application/json"
    )


def _patch(client, endpoint_id, body, *, raw=False):
    return client.patch(
        f"{BASE}{endpoint_id}/",
        data=body if raw else json.dumps(body),
        content_type="application/json",
    )


def _rotate(client, endpoint_id):
    return client.post(f"{BASE}{endpoint_id}/rotate-secret/")


def _endpoints() -> list[tuple]:
    """Every endpoint as stored: what a refused request must leave as it was."""
    return list(
        Endpoint.objects.order_by("pk").values_list(
            "pk", "url", "secret", "event_types", "description", "is_active", "updated_at"
        )
    )


@pytest.fixture
def endpoint():
    created, _secret = endpoint_create(
        url="https://erp.example.com/hooks", event_types=["order.created"], description="ERP"
    )
    return created


# --- register -----------------------------------------------------------------------------


def test_create_answers_the_endpoint_and_its_secret_once(office):
    response = _post(
        office,
        {
            "url": " https://erp.example.com/hooks ",
            "event_types": ["order.created", "stock.out_of_stock", "order.created"],
            "description": "ERP",
        },
    )

    assert response.status_code == 201, response.content
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    stored = Endpoint.objects.get()
    assert body == {
        "id": stored.pk,
        "url": "https://erp.example.com/hooks",
        "event_types": ["stock.out_of_stock", "order.created"],
        "description": "ERP",
        "is_active": True,
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
        "secret": stored.secret,
    }
    assert body["secret"].startswith("whsec_") and body["created_at"]


def test_create_with_only_a_url_subscribes_to_every_type(office):
    response = _post(office, {"url": "http://10.0.0.5:8080/in"})

    assert response.status_code == 201
    body = response.json()
    assert (body["event_types"], body["description"], body["is_active"]) == ([], "", True)


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"url": "ftp://example.com/x"}, 400, "invalid_webhook_url"),
        ({"url": ""}, 400, "invalid_webhook_url"),
        ({"url": "https://example.com/" + "a" * 2000}, 400, "invalid_webhook_url"),
        ({"url": "https://e.example.com/", "event_types": ["order.shipped"]}, 400,
         "unknown_event_type"),
        ({"url": "https://e.example.com/", "event_types": "order.created"}, 400,
         "invalid_input"),
        ({"url": "https://e.example.com/", "event_types": [5]}, 400, "invalid_input"),
        ({"url": 7}, 400, "invalid_input"),
        ({"event_types": []}, 400, "invalid_input"),
        ({"url": "https://e.example.com/", "is_active": "yes"}, 400, "invalid_input"),
        ({"url": "https://e.example.com/", "description": "d" * 201}, 400, "invalid_input"),
        ([{"url": "https://e.example.com/"}], 400, "invalid_input"),
        ("{", 400, "malformed_json"),
    ],
)
def test_a_refused_create_registers_nothing(office, endpoint, body, status, code):
    before = _endpoints()

    response = _post(office, body, raw=isinstance(body, str))

    answer = refused(response, status, code)
    assert "secret" not in answer
    assert _endpoints() == before


def test_an_unknown_event_type_is_named(office):
    body = refused(
        _post(office, {"url": "https://e.example.com/", "event_types": ["order.created", "x.y"]}),
        400,
        "unknown_event_type",
    )
    assert (body["field"], body["unknown"]) == ("event_types", ["x.y"])


# --- list and read ------------------------------------------------------------------------


def test_list_pages_every_endpoint_oldest_first_without_secrets(office, endpoint):
    other, _ = endpoint_create(url="https://b.example.com/", event_types=[], is_active=False)

    response = office.get(BASE, {"limit": 1})

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2 and body["next"]
    assert [e["id"] for e in body["results"]] == [endpoint.pk]
    second = office.get(BASE, {"limit": 1, "offset": 1}).json()["results"]
    assert [(e["id"], e["is_active"]) for e in second] == [(other.pk, False)]
    assert endpoint.secret not in response.content.decode()
    assert all("secret" not in e for e in body["results"] + second)


def test_get_answers_the_endpoint_without_its_secret(office, endpoint):
    response = office.get(f"{BASE}{endpoint.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["url"], body["event_types"], body["description"]) == (
        endpoint.pk, "https://erp.example.com/hooks", ["order.created"], "ERP",
    )
    assert "secret" not in body and endpoint.secret not in response.content.decode()


@pytest.mark.parametrize("endpoint_id", ["999999", "abc", "0", "-1", "9" * 40, "%F0%9F%92%A5"])
def test_an_unknown_endpoint_is_a_404_with_its_own_code(office, endpoint, endpoint_id):
    before = _endpoints()

    refused(office.get(f"{BASE}{endpoint_id}/"), 404, "webhook_endpoint_not_found")
    refused(_patch(office, endpoint_id, {"is_active": False}), 404, "webhook_endpoint_not_found")
    refused(_rotate(office, endpoint_id), 404, "webhook_endpoint_not_found")
    assert _endpoints() == before


# --- change -------------------------------------------------------------------------------


def test_patch_changes_only_the_fields_given(office, endpoint):
    response = _patch(office, endpoint.pk, {"event_types": [], "description": "ERP (all)"})

    assert response.status_code == 200
    body = response.json()
    assert "secret" not in body
    stored = Endpoint.objects.get(pk=endpoint.pk)
    assert (stored.url, stored.event_types, stored.description, stored.is_active) == (
        "https://erp.example.com/hooks", [], "ERP (all)", True,
    )
    assert stored.secret == endpoint.secret
    assert body["event_types"] == [] and body["description"] == "ERP (all)"

    response = _patch(office, endpoint.pk, {"url": "https://new.example.com/h", "is_active": False})
    stored.refresh_from_db()
    assert response.status_code == 200
    assert (stored.url, stored.is_active, stored.description) == (
        "https://new.example.com/h", False, "ERP (all)",
    )


def test_an_empty_patch_changes_nothing(office, endpoint):
    before = _endpoints()

    response = _patch(office, endpoint.pk, {})

    assert response.status_code == 200
    assert _endpoints() == before


@pytest.mark.parametrize(
    "body, code",
    [
        # A valid field beside an invalid one: neither is applied.
        ({"description": "new", "url": "example.com/hooks"}, "invalid_webhook_url"),
        ({"url": "https://new.example.com/", "event_types": ["order.shipped"]},
         "unknown_event_type"),
        ({"is_active": None}, "invalid_input"),
        ({"is_active": 0}, "invalid_input"),
        ({"description": ["x"]}, "invalid_input"),
        (["is_active"], "invalid_input"),
        ("nope", "malformed_json"),
    ],
)
def test_a_refused_patch_changes_nothing(office, endpoint, body, code):
    before = _endpoints()

    refused(_patch(office, endpoint.pk, body, raw=body == "nope"), 400, code)

    assert _endpoints() == before


# --- rotate -------------------------------------------------------------------------------


def test_rotate_answers_the_new_secret_once_and_only_it_signs_from_now_on(office, endpoint):
    old = endpoint.secret

    response = _rotate(office, endpoint.pk)

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    stored = Endpoint.objects.get(pk=endpoint.pk)
    assert body["secret"] == stored.secret != old
    assert body["secret"].startswith("whsec_")
    assert (body["id"], body["url"], body["event_types"]) == (
        endpoint.pk, endpoint.url, endpoint.event_types,
    )
    # Never shown again.
    assert stored.secret not in office.get(f"{BASE}{endpoint.pk}/").content.decode()
    assert stored.secret not in office.get(BASE).content.decode()


# --- deliveries ---------------------------------------------------------------------------


def _deliveries(endpoint_id: int) -> list[str]:
    return sorted(
        Delivery.objects.filter(endpoint_id=endpoint_id).values_list("event__type", flat=True)
    )


def test_a_registered_endpoint_receives_the_types_it_subscribed_to(office):
    orders = _post(
        office, {"url": "https://erp.example.com/h", "event_types": ["order.created"]}
    ).json()["id"]
    every = _post(office, {"url": "https://all.example.com/h"}).json()["id"]
    paused = _post(office, {"url": "https://off.example.com/h", "is_active": False}).json()["id"]

    event_record(type="order.created", data={"order_id": 1})
    event_record(type="stock.out_of_stock", data={"product_id": 1})

    assert _deliveries(orders) == ["order.created"]
    assert _deliveries(every) == ["order.created", "stock.out_of_stock"]
    assert _deliveries(paused) == []

    # Changed through the API: deactivated, and subscribed to other types.
    assert _patch(office, orders, {"is_active": False}).status_code == 200
    changed = _patch(office, paused, {"is_active": True, "event_types": ["order.cancelled"]})
    assert changed.status_code == 200
    event_record(type="order.created", data={"order_id": 2})
    event_record(type="order.cancelled", data={"order_id": 2})

    assert _deliveries(orders) == ["order.created"]
    assert _deliveries(paused) == ["order.cancelled"]


# --- keys ---------------------------------------------------------------------------------


def _every_operation(endpoint_id: int) -> list[tuple[str, str, dict]]:
    body = {"url": "https://x.example.com/", "is_active": False}
    return [
        ("get", BASE, {}),
        ("post", BASE, body),
        ("get", f"{BASE}{endpoint_id}/", {}),
        ("patch", f"{BASE}{endpoint_id}/", body),
        ("post", f"{BASE}{endpoint_id}/rotate-secret/", {}),
    ]


@pytest.mark.parametrize("key", ["missing", "wrong", "revoked"])
def test_every_operation_needs_a_live_api_key(api_key, endpoint, key):
    client = APIClient()
    if key == "wrong":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.key[:-1]}x")
    if key == "revoked":
        api_key_revoke(api_key=api_key)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.key}")
    before = _endpoints()

    for method, path, body in _every_operation(endpoint.pk):
        response = getattr(client, method)(
            path, data=json.dumps(body) if body else None, content_type="application/json"
        )
        answer = refused(response, 401, "unauthorized")
        assert response["WWW-Authenticate"].startswith("Bearer"), (method, path)
        assert "secret" not in answer

    assert _endpoints() == before


def test_endpoints_cannot_be_deleted(office, endpoint):
    before = _endpoints()

    refused(office.delete(f"{BASE}{endpoint.pk}/"), 405, "method_not_allowed")

    assert _endpoints() == before
