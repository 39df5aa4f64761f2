"""The admin of API keys: list, create (the key shown once), revoke; never edit or delete."""

import re

import pytest
from rest_framework.test import APIClient

from backoffice.models import ApiKey
from reservations.tokens import token_hash
from tests.backoffice.conftest import batch_post
from tests.factories import ApiKeyFactory, ProductFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/backoffice/apikey/"


def _works(key: str) -> bool:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client.get("/api/v1/back-office/stock/").status_code == 200


def test_the_list_shows_names_prefixes_and_dates_never_secrets(staff_client):
    live = ApiKeyFactory(name="erp")
    gone = ApiKeyFactory(name="old-sync")
    ApiKey.objects.filter(pk=gone.pk).update(revoked_at="2026-01-01T00:00:00Z")
    page = staff_client.get(CHANGELIST).content.decode()
    for api_key in (live, gone):
        assert api_key.name in page
        assert f"sh_{api_key.prefix}_…" in page
        assert api_key.secret_hash not in page and api_key.key[12:] not in page
    revoked_only = staff_client.get(CHANGELIST + "?state=revoked").content.decode()
    assert "old-sync" in revoked_only and ">erp<" not in revoked_only


def test_adding_a_key_shows_it_once_and_stores_only_its_hash(staff_client):
    response = staff_client.post(CHANGELIST + "add/", {"name": "warehouse-sync"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    key = re.search(r"sh_[0-9a-f]{8}_[A-Za-z0-9_-]{43}", page)[0]
    api_key = ApiKey.objects.get(name="warehouse-sync")
    assert api_key.secret_hash == token_hash(key[12:])
    assert _works(key)
    # Never again: not on the key's page, not in the list.
    for url in (CHANGELIST, f"{CHANGELIST}{api_key.pk}/change/"):
        assert key[12:] not in staff_client.get(url).content.decode()


@pytest.mark.parametrize("name", ["", "has space", "erp"])
def test_adding_a_key_with_a_bad_or_taken_name_creates_nothing(staff_client, name):
    ApiKeyFactory(name="erp")
    response = staff_client.post(CHANGELIST + "add/", {"name": name})
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert ApiKey.objects.count() == 1


def test_the_revoke_action_revokes_the_selected_keys(staff_client):
    ProductFactory(sku="A", on_hand=1)
    erp, wms, other = ApiKeyFactory(name="erp"), ApiKeyFactory(name="wms"), ApiKeyFactory()
    ApiKey.objects.filter(pk=wms.pk).update(revoked_at="2026-01-01T00:00:00Z")
    response = staff_client.post(
        CHANGELIST,
        {"action": "revoke_keys", "_selected_action": [erp.pk, wms.pk]},
        follow=True,
    )
    assert "Revoked 1 API keys; 1 were revoked already." in response.content.decode()
    assert ApiKey.objects.get(pk=erp.pk).revoked_at is not None
    assert str(ApiKey.objects.get(pk=wms.pk).revoked_at).startswith("2026-01-01")
    assert not _works(erp.key)
    assert _works(other.key)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {erp.key}")
    assert batch_post(client, [{"sku": "A", "delta": 1}]).status_code == 401


def test_a_key_is_never_edited_or_deleted(staff_client):
    api_key = ApiKeyFactory(name="erp")
    page = f"{CHANGELIST}{api_key.pk}/change/"
    assert staff_client.get(page).status_code == 200
    assert staff_client.post(page, {"name": "renamed"}).status_code == 403
    delete = f"{CHANGELIST}{api_key.pk}/delete/"
    assert staff_client.post(delete, {"post": "yes"}).status_code == 403
    assert ApiKey.objects.get().name == "erp"


def test_the_requests_sent_with_an_idempotency_key_are_listed(staff_client):
    api_key = ApiKeyFactory(name="erp")
    ProductFactory(sku="A", on_hand=1)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.key}")
    assert batch_post(client, [{"sku": "A", "delta": 1}], key="nightly-42").status_code == 200
    page = staff_client.get("/admin/backoffice/idempotentrequest/").content.decode()
    assert "nightly-42" in page
