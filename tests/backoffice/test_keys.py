"""API keys: made by the command (shown once, only a hash kept), checked on every
back-office request, refused with 401 when missing, malformed, wrong or revoked."""

import hashlib
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from backoffice.models import ApiKey
from backoffice.services import api_key_revoke, api_key_touch
from reservations import tokens
from store.models import StockMovement
from tests.backoffice.conftest import back_office_snapshot, batch_post, product_put, refused
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

BACK_OFFICE_CALLS = [
    ("get", "/api/v1/back-office/stock/"),
    ("post", "/api/v1/back-office/stock/"),
    ("put", "/api/v1/back-office/products/NEW-1/"),
]


def _call(client, method, url):
    if method == "get":
        return client.get(url)
    return getattr(client, method)(
        url,
        data='[{"sku": "A", "delta": 1}]'
        if method == "post"
        else '{"name": "x", "price": "1", "is_active": true}',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    )


def _key_create(name="erp") -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("api_key_create", f"--name={name}", stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_the_command_prints_the_key_once_and_stores_only_its_hash():
    key, note = _key_create("erp")
    assert key.startswith("sh_") and len(key) == 3 + 8 + 1 + 43
    assert "shown only this once" in note
    row = ApiKey.objects.values().get(name="erp")
    prefix, secret = key[3:11], key[12:]
    assert row["prefix"] == prefix
    assert row["secret_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert not any(secret in str(value) for value in row.values())
    # The key works.
    ProductFactory(sku="TEE", on_hand=3)
    client = APIClient()
    response = client.get("/api/v1/back-office/stock/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200
    assert response.json()["results"][0]["sku"] == "TEE"


def test_each_key_is_new_and_a_name_is_never_given_twice():
    first, _ = _key_create("erp")
    second, _ = _key_create("wms")
    assert first != second and first[3:11] != second[3:11]
    api_key_revoke(api_key=ApiKey.objects.get(name="erp"))
    with pytest.raises(CommandError, match="already an API key named erp"):
        _key_create("erp")
    assert ApiKey.objects.count() == 2


@pytest.mark.parametrize("name", ["", "has space", "-lead", "x" * 101, "naïve", "a/b"])
def test_a_bad_name_is_refused_and_nothing_is_created(name):
    with pytest.raises(CommandError, match="letters, digits"):
        _key_create(name)
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize("method, url", BACK_OFFICE_CALLS)
@pytest.mark.parametrize(
    "authorization, detail",
    [
        (None, "An API key is required"),
        ("", "must be `Bearer <key>`"),
        ("Bearer", "must be `Bearer <key>`"),
        ("Basic c3RhZmY6cHc=", "must be `Bearer <key>`"),
        ("Bearer not-a-key", "not valid"),
        ("Bearer sh_00000000_" + "j" * 43, "not valid"),  # the key's prefix, another secret
        ("Bearer sh_ffffffff_" + "k" * 43, "not valid"),  # no such prefix, the key's secret
        ("Bearer sh_00000000_" + "k" * 42 + "é", "not valid"),
    ],
)
def test_a_missing_malformed_or_wrong_key_is_401_and_changes_nothing(
    api_key, method, url, authorization, detail
):
    # The key is sh_00000000_kkk…k.
    ApiKey.objects.filter(pk=api_key.pk).update(prefix="00000000")
    ProductFactory(sku="A", on_hand=1)
    before = back_office_snapshot()
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    client = APIClient()
    client.credentials(**headers)
    body = refused(_call(client, method, url), 401, "unauthorized")
    assert detail in body["detail"]
    assert back_office_snapshot() == before
    client.credentials(HTTP_AUTHORIZATION="Bearer sh_00000000_" + "k" * 43)
    assert client.get("/api/v1/back-office/stock/").status_code == 200


@pytest.mark.parametrize("method, url", BACK_OFFICE_CALLS)
def test_a_revoked_key_is_401_from_the_next_request(api_key, office, method, url):
    ProductFactory(sku="A", on_hand=1)
    assert office.get("/api/v1/back-office/stock/").status_code == 200
    api_key_revoke(api_key=api_key)
    before = back_office_snapshot()
    response = _call(office, method, url)
    body = refused(response, 401, "unauthorized")
    assert body["detail"] == "This API key has been revoked."
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert back_office_snapshot() == before


def test_every_401_says_how_to_authenticate(api_key):
    for authorization in (None, "Bearer nope", f"Bearer {api_key.key}x"):
        client = APIClient()
        if authorization:
            client.credentials(HTTP_AUTHORIZATION=authorization)
        response = client.get("/api/v1/back-office/stock/")
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == 'Bearer realm="back-office"'


def test_keys_are_compared_in_constant_time(api_key, monkeypatch):
    compared = []
    real = tokens.hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(tokens.hmac, "compare_digest", spy)
    client = APIClient()
    wrong = f"sh_{api_key.prefix}_{'w' * 43}"
    unknown = f"sh_abcdef01_{'w' * 43}"
    for key in (wrong, unknown):
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        assert client.get("/api/v1/back-office/stock/").status_code == 401
    # An unknown prefix costs the same comparison as a wrong secret.
    assert len(compared) == 2


def test_the_storefront_needs_no_key_and_ignores_one(api_key):
    ProductFactory(sku="TEE", on_hand=2)
    for authorization in (None, "Bearer nope", f"Bearer {api_key.key}"):
        client = APIClient()
        if authorization:
            client.credentials(HTTP_AUTHORIZATION=authorization)
        assert client.get("/api/v1/products/").status_code == 200
        assert client.post("/api/v1/carts/").status_code == 201


def test_a_cart_token_is_not_a_key(api):
    cart = api.post("/api/v1/carts/").json()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {cart['token']}")
    refused(client.get("/api/v1/back-office/stock/"), 401, "unauthorized")


def test_last_used_at_moves_at_most_once_a_minute(api_key, office, monkeypatch):
    assert api_key.last_used_at is None
    office.get("/api/v1/back-office/stock/")
    first = ApiKey.objects.get(pk=api_key.pk).last_used_at
    assert first is not None
    office.get("/api/v1/back-office/stock/")
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at == first
    later = first + timedelta(seconds=61)
    monkeypatch.setattr(timezone, "now", lambda: later)
    office.get("/api/v1/back-office/stock/")
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at == later


def test_touch_is_conditional_so_a_stale_copy_does_not_write(api_key, now):
    stale_copy = ApiKey.objects.get(pk=api_key.pk)
    assert api_key_touch(api_key=api_key, now=now)
    # Another request read the row before the first touch: its touch writes nothing.
    assert not api_key_touch(api_key=stale_copy, now=now + timedelta(seconds=5))
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at == now


def test_the_revoke_command(api_key):
    out = StringIO()
    call_command("api_key_revoke", "--name", "erp", stdout=out)
    assert "Revoked API key erp" in out.getvalue()
    call_command("api_key_revoke", "--name", "erp", stdout=out)
    assert "was revoked already" in out.getvalue()
    assert ApiKey.objects.get().revoked_at is not None
    with pytest.raises(CommandError, match="No API key is named nobody"):
        call_command("api_key_revoke", "--name", "nobody")


def test_the_ledger_and_the_admin_never_see_a_key(api_key, office):
    """The actor is the key's name, never its secret."""
    ProductFactory(sku="A", on_hand=1)
    assert batch_post(office, [{"sku": "A", "delta": 2}]).status_code == 200
    product = {"name": "B", "price": "1.00", "is_active": True}
    assert product_put(office, "B", product).status_code == 201
    actors = set(StockMovement.objects.values_list("actor", flat=True))
    assert "api-key:erp" in actors
    assert not any(api_key.key[12:] in actor for actor in actors)
