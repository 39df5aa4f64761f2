"""POST /api/v1/back-office/stock/ (batches of counts and deltas, once per Idempotency-Key)
and GET /api/v1/back-office/stock/ (figures by SKU or by change)."""

import json
from dataclasses import asdict
from datetime import timedelta, timezone

import pytest
from rest_framework.test import APIClient

from backoffice.models import IdempotentRequest, StockBatchItem
from backoffice.services import (
    StockItem,
    idempotent_request_claim,
    request_fingerprint,
    stock_batch_apply,
)
from reservations.services import checkout, hold_set, inventory_set
from store.models import Inventory, StockMovement
from tests.backoffice.conftest import back_office_snapshot, batch_post, refused
from tests.factories import ApiKeyFactory, CartFactory, ProductFactory
from tests.invariants import assert_counters_exact

pytestmark = pytest.mark.django_db


def _on_hand(sku: str) -> int:
    return Inventory.objects.get(product__sku=sku).on_hand


def _movements(**filters) -> list[tuple]:
    return list(
        StockMovement.objects.filter(**filters)
        .order_by("id")
        .values_list("product__sku", "kind", "quantity", "actor", "reference", "reason")
    )


@pytest.fixture
def shelf():
    return {
        "A": ProductFactory(sku="A", on_hand=10),
        "B": ProductFactory(sku="B", on_hand=5),
        "C": ProductFactory(sku="C", on_hand=0),
    }


# --- applying a batch ---------------------------------------------------------------------


def test_counts_and_deltas_are_ledger_movements_naming_the_key_and_the_batch(office, shelf):
    before = StockMovement.objects.count()
    response = batch_post(
        office,
        [
            {"sku": "A", "on_hand": 12},
            {"sku": "B", "delta": 3},
            {"sku": "C", "delta": 4, "reason": "delivery 4711"},
            {"sku": "B", "delta": -1, "expected_on_hand": 8},
        ],
        key="sync-2026-01-15",
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["applied"], body["refused"]) == (4, 0)
    results = [
        (i["index"], i["sku"], i["status"], i["movement"], i["on_hand"]) for i in body["items"]
    ]
    assert results == [
        (0, "A", "applied", {"kind": "correction", "quantity": 2}, 12),
        (1, "B", "applied", {"kind": "receipt", "quantity": 3}, 8),
        (2, "C", "applied", {"kind": "receipt", "quantity": 4}, 4),
        (3, "B", "applied", {"kind": "adjustment", "quantity": -1}, 7),
    ]
    assert [(s["sku"], s["on_hand"], s["held"], s["available"]) for s in body["stock"]] == [
        ("A", 12, 0, 12), ("B", 7, 0, 7), ("C", 4, 0, 4),
    ]
    key = "sync-2026-01-15"
    assert _movements(id__gt=0)[before:] == [
        ("A", "correction", 2, "api-key:erp", key, "back-office count"),
        ("B", "receipt", 3, "api-key:erp", key, "back-office receipt"),
        ("C", "receipt", 4, "api-key:erp", key, "delivery 4711"),
        ("B", "adjustment", -1, "api-key:erp", key, "back-office adjustment"),
    ]
    assert_counters_exact()


def test_a_count_of_the_figure_on_hand_is_applied_without_a_movement(office, shelf):
    before = StockMovement.objects.count()
    item = batch_post(office, [{"sku": "A", "on_hand": 10}]).json()["items"][0]
    assert (item["status"], item["movement"], item["on_hand"]) == ("applied", None, 10)
    assert StockMovement.objects.count() == before


def test_a_batch_mixing_applied_and_refused_items_applies_each_on_its_own(office, shelf, now):
    cart = CartFactory()
    hold_set(cart=cart, product=shelf["B"], quantity=4)
    before = {sku: _on_hand(sku) for sku in "ABC"}
    movements = StockMovement.objects.count()
    body = batch_post(
        office,
        [
            {"sku": "A", "delta": 5},
            {"sku": "NOPE", "delta": 1},
            {"sku": "B", "on_hand": 2},
            {"sku": "A", "on_hand": 1, "expected_on_hand": 10},
            {"sku": "C", "delta": 0},
            {"sku": "C", "on_hand": -1},
            {"sku": "C", "delta": -1},
            {"sku": "C", "on_hand": 2**31},
            {"sku": "B", "delta": 2, "expected_on_hand": 5},
        ],
    ).json()
    items = body["items"]
    assert (body["applied"], body["refused"]) == (2, 7)
    assert [item["status"] for item in items] == ["applied"] + ["refused"] * 7 + ["applied"]
    codes = [item["error"]["code"] for item in items if item["status"] == "refused"]
    assert codes == [
        "unknown_sku", "stock_below_held", "stale_on_hand", "invalid_quantity",
        "invalid_quantity", "invalid_quantity", "invalid_quantity",
    ]
    below = items[2]["error"]
    assert (below["held"], below["holds"], below["requested"], below["carts"]) == (
        4, 1, 2, [str(cart.pk)]
    )
    stale = items[3]["error"]
    assert (stale["expected_on_hand"], stale["on_hand"]) == (10, 15)
    assert items[1]["error"]["sku"] == "NOPE"
    assert "movement" not in items[1] and "on_hand" not in items[1]
    # Only the two applied items moved stock, each by one movement.
    assert {sku: _on_hand(sku) for sku in "ABC"} == {"A": 15, "B": 7, "C": 0}
    assert before == {"A": 10, "B": 5, "C": 0}
    assert StockMovement.objects.count() == movements + 2
    assert [(s["sku"], s["on_hand"], s["held"], s["available"]) for s in body["stock"]] == [
        ("A", 15, 0, 15), ("B", 7, 4, 3), ("C", 0, 0, 0),
    ]
    assert StockBatchItem.objects.count() == 9
    assert_counters_exact()


def test_expired_holds_never_block_a_batch_and_count_as_free(office, shelf, now, ttl):
    hold_set(cart=CartFactory(), product=shelf["A"], quantity=8, now=now - timedelta(hours=2))
    body = batch_post(office, [{"sku": "A", "on_hand": 1}]).json()
    assert body["items"][0]["status"] == "applied"
    assert body["stock"][0] | {"updated_at": None} == {
        "sku": "A", "on_hand": 1, "held": 0, "available": 1, "updated_at": None
    }
    assert_counters_exact()


def test_a_reference_of_255_characters_is_kept_whole(office, shelf):
    key = "k" * 255
    assert batch_post(office, [{"sku": "A", "delta": 1}], key=key).status_code == 200
    assert StockMovement.objects.filter(reference=key).count() == 1


# --- refused as a whole -------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, code",
    [
        ({"sku": "A", "delta": 1}, "invalid_input"),
        ([], "invalid_input"),
        (None, "invalid_input"),
        ("A", "invalid_input"),
        ([{"sku": "A", "delta": 1}] * 1001, "batch_too_large"),
        ([{"sku": "A", "delta": 1}, {"sku": "B", "on_hand": 1, "delta": 1}], "invalid_input"),
        ([{"sku": "A", "delta": 1}, {"sku": "B"}], "invalid_input"),
        ([{"sku": "A", "on_hand": "5"}], "invalid_input"),
        ([{"sku": "A", "on_hand": 1.5}], "invalid_input"),
        ([{"sku": "A", "delta": True}], "invalid_input"),
        ([{"sku": 5, "delta": 1}], "invalid_input"),
        ([{"sku": "", "delta": 1}], "invalid_input"),
        ([{"sku": "A\u0000", "delta": 1}], "invalid_input"),
        ([{"sku": "\ud800", "delta": 1}], "invalid_input"),
        ([{"delta": 1}], "invalid_input"),
        ([{"sku": "A", "delta": 1}, 7], "invalid_input"),
        ([{"sku": "A", "delta": 1, "expected_on_hand": "10"}], "invalid_input"),
        ([{"sku": "A", "delta": 1, "reason": "x" * 201}], "invalid_input"),
    ],
)
def test_a_body_that_is_not_a_batch_is_refused_and_applies_nothing(office, shelf, body, code):
    before = back_office_snapshot()
    answer = refused(batch_post(office, body), 400, code)
    if code == "batch_too_large":
        assert answer["max_items"] == 1000
    assert back_office_snapshot() == before
    # The key was not used up: the same key with a good batch is applied.
    assert batch_post(office, [{"sku": "A", "delta": 1}]).status_code == 200


def test_item_errors_are_listed_by_index(office, shelf):
    answer = refused(
        batch_post(office, [{"sku": "A", "delta": 1}, {"sku": "B"}, {"sku": 3, "delta": 1}]),
        400,
        "invalid_input",
    )
    assert set(answer["errors"]) == {"1", "2"}
    assert answer["detail"].startswith("item 1: Give either on_hand")
    assert "sku" in answer["errors"]["2"]


def test_1000_items_are_one_batch(office, shelf):
    body = [{"sku": "A", "delta": 1}] * 10 + [{"sku": f"NOPE-{n}", "delta": 1} for n in range(990)]
    response = batch_post(office, body)
    assert response.status_code == 200
    answer = response.json()
    assert (answer["applied"], answer["refused"], len(answer["items"])) == (10, 990, 1000)
    assert answer["items"][999] == {
        "index": 999, "sku": "NOPE-989", "status": "refused",
        "error": {"code": "unknown_sku", "detail": "No product has the SKU NOPE-989.",
                  "sku": "NOPE-989"},
    }
    assert _on_hand("A") == 20


def test_malformed_json_and_other_media_are_refused(office, shelf):
    before = back_office_snapshot()
    refused(batch_post(office, "[{", raw=True), 400, "malformed_json")
    response = office.post(
        "/api/v1/back-office/stock/", data="sku=A", content_type="text/plain",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    refused(response, 415, "unsupported_media_type")
    assert back_office_snapshot() == before


@pytest.mark.parametrize(
    "key, code",
    [
        (None, "idempotency_key_required"),
        ("", "invalid_idempotency_key"),
        ("has space", "invalid_idempotency_key"),
        ("k" * 256, "invalid_idempotency_key"),
        ("clé", "invalid_idempotency_key"),
    ],
)
def test_a_batch_needs_a_well_formed_idempotency_key(office, shelf, key, code):
    before = back_office_snapshot()
    refused(batch_post(office, [{"sku": "A", "delta": 1}], key=key), 400, code)
    assert back_office_snapshot() == before


# --- one answer per Idempotency-Key -------------------------------------------------------


def test_a_repeat_gets_the_first_answer_and_applies_nothing(office, shelf):
    batch = [{"sku": "A", "delta": 2}, {"sku": "NOPE", "on_hand": 1}]
    first = batch_post(office, batch, key="once")
    assert first.status_code == 200 and "Idempotent-Replayed" not in first
    inventory_set(product=shelf["A"], on_hand=3)  # stock moves since
    before = back_office_snapshot()
    # The same batch, its keys in another order and spaced otherwise: the same request.
    raw = json.dumps([{"delta": 2, "sku": "A"}, {"on_hand": 1, "sku": "NOPE"}], indent=2)
    repeats = (batch_post(office, batch, key="once"), batch_post(office, raw, key="once", raw=True))
    for repeat in repeats:
        assert repeat.status_code == 200
        assert repeat["Idempotent-Replayed"] == "true"
        assert repeat.json() == first.json()
    assert back_office_snapshot() == before
    assert _on_hand("A") == 3


def test_a_key_used_for_another_batch_is_422_and_applies_nothing(office, shelf):
    assert batch_post(office, [{"sku": "A", "delta": 2}], key="once").status_code == 200
    before = back_office_snapshot()
    body = refused(batch_post(office, [{"sku": "A", "delta": 3}], key="once"), 422,
                   "idempotency_key_reused")
    assert "different request" in body["detail"]
    assert back_office_snapshot() == before


def test_keys_of_different_api_keys_are_apart(office, shelf):
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {ApiKeyFactory(name='wms').key}")
    assert batch_post(office, [{"sku": "A", "delta": 2}], key="k").status_code == 200
    assert batch_post(other, [{"sku": "A", "delta": 5}], key="k").status_code == 200
    assert _on_hand("A") == 17
    assert _movements(reference="k") == [
        ("A", "receipt", 2, "api-key:erp", "k", "back-office receipt"),
        ("A", "receipt", 5, "api-key:wms", "k", "back-office receipt"),
    ]


def test_a_batch_that_died_half_way_is_resumed_by_its_repeat(api_key, office, shelf):
    """Items applied before the failure are not applied again; the rest are."""
    batch = [{"sku": "A", "delta": 2}, {"sku": "B", "delta": -1}, {"sku": "C", "on_hand": 6}]
    items = [StockItem(**item) for item in batch]
    fingerprint = request_fingerprint(
        operation="stock_apply", payload=[asdict(item) for item in items]
    )
    with idempotent_request_claim(api_key=api_key, key="resume", fingerprint=fingerprint) as claim:
        stock_batch_apply(request=claim, items=items[:1], actor=api_key.actor)
        # ...and the request dies here: no answer stored, the claim released.
    assert IdempotentRequest.objects.get(key="resume").status_code is None
    assert _on_hand("A") == 12

    response = batch_post(office, batch, key="resume")
    assert response.status_code == 200 and "Idempotent-Replayed" not in response
    assert [item["on_hand"] for item in response.json()["items"]] == [12, 4, 6]
    assert {sku: _on_hand(sku) for sku in "ABC"} == {"A": 12, "B": 4, "C": 6}
    assert len(_movements(reference="resume")) == 3
    assert batch_post(office, batch, key="resume")["Idempotent-Replayed"] == "true"
    assert_counters_exact()


# --- reading stock ------------------------------------------------------------------------


def _rows(response) -> list[tuple]:
    assert response.status_code == 200, response.content[:300]
    return [(r["sku"], r["on_hand"], r["held"], r["available"]) for r in response.json()["results"]]


def test_stock_by_sku_counts_expired_holds_as_free(office, shelf, now, ttl):
    hold_set(cart=CartFactory(), product=shelf["A"], quantity=3, now=now - timedelta(hours=2))
    hold_set(cart=CartFactory(), product=shelf["A"], quantity=2)
    ProductFactory(sku="OFF", on_hand=4, is_active=False)
    assert _rows(office.get("/api/v1/back-office/stock/?sku=A&sku=OFF&sku=NOPE")) == [
        ("A", 10, 2, 8), ("OFF", 4, 0, 4),
    ]
    assert _rows(office.get("/api/v1/back-office/stock/?sku=A,C")) == [
        ("A", 10, 2, 8), ("C", 0, 0, 0),
    ]
    assert _rows(office.get("/api/v1/back-office/stock/?sku=")) == []
    assert len(_rows(office.get("/api/v1/back-office/stock/"))) == 4
    # The storefront's figure is the same one.
    assert office.get("/api/v1/products/?sku=A").json()["results"][0]["available"] == 8


def test_stock_changed_since_an_instant(office, shelf, now):
    Inventory.objects.update(updated_at=now - timedelta(days=1))
    inventory_set(product=shelf["A"], on_hand=20, now=now - timedelta(hours=1))
    inventory_set(product=shelf["B"], on_hand=20, now=now)
    url = "/api/v1/back-office/stock/?updated_since="
    since = (now - timedelta(minutes=30)).isoformat().replace("+00:00", "Z")
    assert _rows(office.get(url + since)) == [("B", 20, 0, 20)]
    response = office.get(url + (now - timedelta(minutes=30)).isoformat().replace("+", "%2B"))
    assert _rows(response) == [("B", 20, 0, 20)]
    row = office.get(url + since).json()["results"][0]
    assert row["updated_at"] == now.isoformat().replace("+00:00", "Z")
    assert _rows(office.get(url + since + "&sku=A")) == []


def test_a_sale_and_a_hold_on_updated_at(office, shelf, now):
    """A sale changes on hand, so its stock shows as changed; a hold alone does not."""
    for product in shelf.values():
        inventory_set(product=product, on_hand=9, now=now - timedelta(days=1))
    held = CartFactory()
    hold_set(cart=held, product=shelf["A"], quantity=1, now=now)
    bought = CartFactory()
    hold_set(cart=bought, product=shelf["B"], quantity=2, now=now)
    checkout(cart=bought, now=now)
    since = (now - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    assert _rows(office.get(f"/api/v1/back-office/stock/?updated_since={since}")) == [
        ("B", 7, 0, 7)
    ]


def test_an_expired_line_bought_at_checkout_moves_updated_at(office, shelf, now, ttl):
    inventory_set(product=shelf["C"], on_hand=5, now=now - timedelta(days=1))
    cart = CartFactory()
    hold_set(cart=cart, product=shelf["C"], quantity=2, now=now - timedelta(hours=1))
    batch_post(office, [{"sku": "C", "delta": 1}])  # reclaims the expired hold
    Inventory.objects.filter(pk=shelf["C"].pk).update(updated_at=now - timedelta(days=1))
    checkout(cart=cart, now=now)
    assert Inventory.objects.get(pk=shelf["C"].pk).updated_at == now
    assert _on_hand("C") == 4


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "2026-01-15T12:00:00",
        "2026-01-15T12:00:00 02:00",
        "2026-13-01T00:00:00Z",
        "",
        "9999-12-31T23:00:00-18:00",  # after year 9999 in UTC
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
    ],
)
def test_a_bad_updated_since_is_invalid_input(office, shelf, value):
    body = refused(
        office.get("/api/v1/back-office/stock/", {"updated_since": value}), 400, "invalid_input"
    )
    assert body["field"] == "updated_since"


def test_any_offset_python_reads_is_taken(office, shelf, now):
    """PostgreSQL takes offsets up to 15:59; the instant is passed on in UTC."""
    Inventory.objects.update(updated_at=now - timedelta(days=1))
    inventory_set(product=shelf["B"], on_hand=20, now=now)
    since = (now - timedelta(minutes=30)).astimezone(timezone(timedelta(hours=-18, minutes=-19)))
    response = office.get("/api/v1/back-office/stock/", {"updated_since": since.isoformat()})
    assert _rows(response) == [("B", 20, 0, 20)]


def test_at_most_1000_skus_are_asked_for(office, shelf):
    many = ",".join(f"S{n}" for n in range(1001))
    refused(office.get(f"/api/v1/back-office/stock/?sku={many}"), 400, "invalid_input")
    fine = ",".join(["A"] + [f"S{n}" for n in range(999)])
    assert _rows(office.get(f"/api/v1/back-office/stock/?sku={fine}")) == [("A", 10, 0, 10)]


def test_stock_is_paginated(office, shelf):
    first = office.get("/api/v1/back-office/stock/?limit=2").json()
    assert first["count"] == 3 and len(first["results"]) == 2 and first["next"]
    second = office.get(first["next"]).json()
    assert [r["sku"] for r in first["results"] + second["results"]] == ["A", "B", "C"]


def test_stock_list_is_a_fixed_number_of_queries(office, django_assert_num_queries):
    for n in range(40):
        product = ProductFactory(on_hand=n + 1)
        hold_set(cart=CartFactory(), product=product, quantity=1)
    office.get("/api/v1/back-office/stock/")  # notes the key's use: a write, once a minute
    with django_assert_num_queries(3):  # the key, the count, the page
        assert office.get("/api/v1/back-office/stock/").status_code == 200
