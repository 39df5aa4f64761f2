"""The stock ledger: every path that moves `on_hand` writes its movement, and the drift
check finds `on_hand` moved behind the ledger's back."""

import importlib
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from reservations.errors import StaleOnHand, StockBelowHeld
from reservations.services import checkout, hold_set, inventory_adjust, inventory_set
from reservations.services.reconcile import stock_drift_find
from store.models import Inventory, Product, StockMovement
from store.services import product_create
from tests.factories import CartFactory, ProductFactory
from tests.invariants import assert_counters_exact

pytestmark = pytest.mark.django_db


def _movements(product) -> list[tuple]:
    return list(
        StockMovement.objects.filter(product=product)
        .order_by("id")
        .values_list("kind", "quantity", "actor", "reason")
    )


def _on_hand(product) -> int:
    return Inventory.objects.get(pk=product.pk).on_hand


def test_every_path_that_moves_stock_writes_its_movement(now, ttl):
    product = product_create(sku="LED-1", name="Ledger", price=Decimal("2.00"), on_hand=10,
                             actor="command:test")
    inventory_adjust(product=product, delta=5, actor="staff:ann", reason="delivery", now=now)
    inventory_adjust(product=product, delta=-1, actor="staff:ann", reason="broken", now=now)
    inventory_set(product=product, on_hand=12, actor="staff:bob", now=now)
    live = CartFactory()
    hold_set(cart=live, product=product, quantity=2, now=now)
    order, _ = checkout(cart=live, now=now)
    # A line whose hold was reclaimed is bought from free stock (the SQL path).
    late = CartFactory()
    hold_set(cart=late, product=product, quantity=3, now=now)
    later = now + timedelta(seconds=ttl + 1)
    inventory_set(product=product, on_hand=10, actor="staff:bob", now=later)  # reclaims
    late_order, _ = checkout(cart=late, now=later)
    call_command("set_stock", "LED-1", "20", stdout=StringIO())

    assert _movements(product) == [
        ("receipt", 10, "command:test", "initial stock"),
        ("adjustment", 5, "staff:ann", "delivery"),
        ("adjustment", -1, "staff:ann", "broken"),
        ("correction", -2, "staff:bob", "count"),
        ("sale", -2, "checkout", ""),
        ("sale", -3, "checkout", ""),
        ("correction", 13, "command:set_stock", "count"),
    ]
    sales = StockMovement.objects.filter(product=product, kind="sale").order_by("id")
    assert [m.reference for m in sales] == [str(order.pk), str(late_order.pk)]
    assert _on_hand(product) == 20
    assert_counters_exact()


def test_set_stock_records_a_new_products_stock_as_a_receipt():
    call_command("set_stock", "LED-NEW", "7", "--price", "1.00", stdout=StringIO())
    product = Product.objects.get(sku="LED-NEW")
    assert _movements(product) == [("receipt", 7, "command:set_stock", "initial stock")]


def test_a_change_based_on_a_stale_figure_is_refused_and_changes_nothing(now):
    product = ProductFactory(on_hand=10)
    buyer = CartFactory()
    hold_set(cart=buyer, product=product, quantity=3, now=now)
    checkout(cart=buyer, now=now)

    for change in (
        lambda: inventory_adjust(product=product, delta=5, expected_on_hand=10, now=now),
        lambda: inventory_set(product=product, on_hand=15, expected_on_hand=10, now=now),
    ):
        with pytest.raises(StaleOnHand) as refused:
            change()
        assert refused.value.code == "stale_on_hand"
        assert refused.value.extra == {"sku": product.sku, "expected_on_hand": 10, "on_hand": 7}
    assert _on_hand(product) == 7
    assert StockMovement.objects.filter(product=product).count() == 2  # receipt, sale

    inventory_adjust(product=product, delta=5, expected_on_hand=7, now=now)
    assert _on_hand(product) == 12
    assert_counters_exact()


def test_a_refused_change_writes_no_movement(now):
    product = ProductFactory(on_hand=5)
    hold_set(cart=CartFactory(), product=product, quantity=4, now=now)
    with pytest.raises(StockBelowHeld):
        inventory_adjust(product=product, delta=-2, now=now)
    assert (_on_hand(product), StockMovement.objects.filter(product=product).count()) == (5, 1)
    # A count that finds the figure unchanged moves nothing and records nothing.
    inventory_set(product=product, on_hand=5, now=now)
    assert StockMovement.objects.filter(product=product).count() == 1


def test_the_drift_check_finds_on_hand_moved_behind_the_ledgers_back(webhook):
    product = ProductFactory(on_hand=10, sku="LED-RAW")
    assert stock_drift_find() == []
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE store_inventory SET on_hand = on_hand + 1 WHERE product_id = %s",
            [product.pk],
        )

    (drift,) = stock_drift_find()
    assert (drift.ledger_drifted, drift.counter_drifted) == (True, False)
    assert drift.problem == "on hand 11, ledger 10"
    out = StringIO()
    with pytest.raises(SystemExit):
        call_command("reconcile_stock", stdout=out)
    assert "LED-RAW: on hand 11, ledger 10" in out.getvalue()
    assert [a["key"] for a in webhook.received] == ["stock_counter_drift"]
    # --repair mends `reserved` only: which of on hand and ledger is right needs a count.
    with pytest.raises(SystemExit):
        call_command("reconcile_stock", "--repair", stdout=out)
    assert "1 products still drifted" in out.getvalue()


def test_a_product_without_a_stock_row_is_drift():
    product = Product.objects.create(sku="LED-HALF", name="Half", price=1)
    (drift,) = stock_drift_find()
    assert (drift.product_id, drift.problem) == (
        product.pk, "no stock row (ledger 0, active holds 0)"
    )


def test_the_opening_balance_migration_gives_existing_stock_its_movement():
    opening = importlib.import_module("store.migrations.0005_stock_opening_balance")
    stocked = ProductFactory(on_hand=9)
    empty = ProductFactory(on_hand=0)
    half = Product.objects.create(sku="LED-OLD", name="Old", price=1)
    # As before the ledger: stock without movements.
    StockMovement.objects.all().delete()

    with connection.cursor() as cursor:
        for statement in opening.OPEN:
            cursor.execute(statement)

    assert _movements(stocked) == [("correction", 9, "migration", "opening balance")]
    assert _movements(empty) == []
    assert Inventory.objects.get(pk=half.pk).on_hand == 0
    assert_counters_exact()
