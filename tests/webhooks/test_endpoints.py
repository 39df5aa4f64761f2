"""Endpoint services: validated input, a random secret, rotation."""

import pytest

from core.errors import ERROR_CODES, InvalidInput
from webhooks.errors import InvalidWebhookUrl, UnknownEventType
from webhooks.models import Endpoint
from webhooks.services import endpoint_create, endpoint_secret_rotate, endpoint_update

pytestmark = pytest.mark.django_db


def test_create_returns_the_endpoint_and_its_new_random_secret():
    endpoint, secret = endpoint_create(
        url=" https://shop.example.com/hooks ",
        event_types=["order.created", "stock.out_of_stock", "order.created"],
        description="ERP",
    )
    other, other_secret = endpoint_create(url="http://10.0.0.5:8080/in", event_types=[])

    stored = Endpoint.objects.get(pk=endpoint.pk)
    assert stored.url == "https://shop.example.com/hooks"
    # Known types once each, in their defined order; empty means every type.
    assert stored.event_types == ["stock.out_of_stock", "order.created"]
    assert other.event_types == []
    assert stored.secret == secret and secret.startswith("whsec_") and len(secret) > 40
    assert other_secret != secret
    assert stored.is_active and stored.created_at


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/x", "example.com/hooks", "https://", "javascript:alert(1)",
     "https://exa mple.com/", "", 7, "https://example.com/" + "a" * 2000],
)
def test_a_url_other_than_absolute_http_or_https_is_refused(url):
    with pytest.raises(InvalidWebhookUrl) as refused:
        endpoint_create(url=url, event_types=[])

    assert refused.value.code == "invalid_webhook_url"
    assert refused.value.extra["field"] == "url"
    assert Endpoint.objects.count() == 0


@pytest.mark.parametrize("types", [["order.shipped"], "order.created", [None], 5])
def test_unknown_event_types_are_refused(types):
    with pytest.raises(UnknownEventType) as refused:
        endpoint_create(url="https://example.com/", event_types=types)

    assert refused.value.code == "unknown_event_type"
    assert Endpoint.objects.count() == 0


def test_the_error_codes_are_stable_and_listed():
    assert {"invalid_webhook_url", "unknown_event_type"} <= set(ERROR_CODES)


def test_update_changes_only_what_it_is_given_and_validates_it():
    endpoint, secret = endpoint_create(url="https://a.example.com/", event_types=[])

    endpoint_update(endpoint=endpoint, event_types=["order.cancelled"], is_active=False)
    with pytest.raises(InvalidWebhookUrl):
        endpoint_update(endpoint=endpoint, url="file:///etc/passwd")
    with pytest.raises(InvalidInput):
        endpoint_update(endpoint=endpoint, description="x" * 201)

    stored = Endpoint.objects.get(pk=endpoint.pk)
    assert (stored.url, stored.event_types, stored.is_active, stored.secret) == (
        "https://a.example.com/", ["order.cancelled"], False, secret
    )


def test_rotating_the_secret_replaces_it():
    endpoint, old = endpoint_create(url="https://a.example.com/", event_types=[])

    new = endpoint_secret_rotate(endpoint=endpoint)

    assert new != old and new.startswith("whsec_")
    assert Endpoint.objects.get(pk=endpoint.pk).secret == new
