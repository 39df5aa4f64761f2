"""The soak's audit: a clean state passes it, and each kind of broken state fails its check."""

import dataclasses
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import F

from reservations.models import OrderLine
from reservations.services import checkout, hold_set
from soak.audit import (
    Evidence,
    OrderFigures,
    ProductFigures,
    audit,
    evidence_read,
    passed,
    reclaim_log_install,
)
from store.models import Inventory
from store.services import product_create
from tests.factories import CartFactory

CART = "0f8c3b4e-0000-4000-8000-000000000001"
ORDER = "0f8c3b4e-0000-4000-8000-0000000000aa"


def _clean() -> Evidence:
    """What a healthy soak leaves: two products, one order, the release task at work."""
    return Evidence(
        products=[
            ProductFigures(product_id=1, sku="HOT", on_hand=4, reserved=2, active_units=2,
                           consumed_units=3, sold=3, received=7, ledger_units=4),
            ProductFigures(product_id=2, sku="WIDE", on_hand=198, reserved=0, active_units=0,
                           consumed_units=2, sold=2, received=200, ledger_units=198),
        ],
        orders=[
            OrderFigures(order_id=ORDER, cart_id=CART, cart_status="checked_out",
                         total=Decimal("31.00"), lines_total=Decimal("31.00"),
                         lines={1: 3, 2: 2}, holds={1: 3, 2: 2}, consumed={1: 3, 2: 2}),
        ],
        answers={("cart_create", 201, ""): 1, ("hold_new", 200, ""): 2,
                 ("hold_new", 409, "insufficient_stock"): 1, ("checkout", 201, ""): 1},
        orders_answered={CART: [ORDER]},
        release_runs_succeeded=4,
        released_holds=6,
        reclaimed_holds={"worker": 6, "web": 2},
        drift_samples=10,
        drained_active_holds=0,
        drained_reserved_units=0,
    )


def _product(evidence: Evidence, **changes) -> Evidence:
    first = dataclasses.replace(evidence.products[0], **changes)
    return dataclasses.replace(evidence, products=[first, *evidence.products[1:]])


def _order(evidence: Evidence, **changes) -> Evidence:
    return dataclasses.replace(evidence, orders=[dataclasses.replace(evidence.orders[0],
                                                                     **changes)])


def _failed(evidence: Evidence) -> set[str]:
    return {check.name for check in audit(evidence) if not check.passed}


def test_a_clean_soak_passes_every_check():
    checks = audit(_clean())

    assert [c.name for c in checks if not c.passed] == []
    assert passed(checks)
    assert len(checks) == 18


ENDED = "orders paid, cancelled and expired; none pending after the drain"


def _with_payment_window(evidence: Evidence, **statuses: int) -> Evidence:
    return dataclasses.replace(evidence, payment_window_seconds=15,
                               drained_order_statuses=statuses)


def test_with_a_payment_window_every_way_an_order_ends_is_audited():
    clean = _with_payment_window(_clean(), placed=3, cancelled=1, expired=2)
    checks = {check.name: check for check in audit(clean)}
    assert checks[ENDED].passed, checks[ENDED].detail
    assert checks[ENDED].detail == (
        "after the drain: 3 placed, 0 pending_payment, 2 expired, 1 cancelled"
    )
    assert len(checks) == 19

    assert ENDED in _failed(_with_payment_window(_clean(), placed=3, cancelled=1))
    assert ENDED in _failed(
        _with_payment_window(_clean(), placed=3, cancelled=1, expired=2, pending_payment=1)
    )


BROKEN = {
    "a 5xx answer": (
        lambda e: dataclasses.replace(e, answers={**e.answers, ("checkout", 500, ""): 1}),
        {"no 5xx answers"},
    ),
    "a request without an answer": (
        lambda e: dataclasses.replace(e, connection_errors=1),
        {"no connection errors"},
    ),
    "a 429 from a throttle": (
        lambda e: dataclasses.replace(e, unexpected={("hold_new", 429, "throttled"): 3}),
        {"every answer one the shopper expects"},
    ),
    "an order that is not what the cart held": (
        lambda e: dataclasses.replace(e, wrong_answers=1, wrong_examples=["order has {}"]),
        {"every answer agrees with what the shopper did"},
    ),
    "a counter over the shelf": (
        lambda e: _product(e, reserved=5, active_units=5),
        {"0 <= reserved <= on_hand"},
    ),
    "a counter that drifted from the holds": (
        lambda e: _product(e, reserved=3),
        {"reserved == units in active holds"},
    ),
    "drift seen during the load": (
        lambda e: dataclasses.replace(e, drifts=[{"sku": "HOT", "reserved": 3}]),
        {"no counter drift at any moment of the load"},
    ),
    "a unit that left the shelf unsold": (
        lambda e: _product(e, on_hand=3, ledger_units=3),
        {"sold + on_hand == received"},
    ),
    "stock moved behind the ledger's back": (
        lambda e: _product(e, ledger_units=5),
        {"on_hand == sum of ledger movements"},
    ),
    "an oversold product": (
        lambda e: _product(e, sold=8, consumed_units=8, on_hand=0, reserved=0, active_units=0,
                           received=7, ledger_units=0),
        {"no oversell: sold <= received", "sold + on_hand == received"},
    ),
    "a sale without its consumed hold": (
        lambda e: _product(e, consumed_units=2),
        {"sold == units of consumed holds"},
    ),
    "an order of an open cart": (
        lambda e: _order(e, cart_status="open"),
        {"every order matches its checked-out cart"},
    ),
    "an order line the cart never held": (
        lambda e: _order(e, lines={1: 3, 2: 3}),
        {"every order matches its checked-out cart"},
    ),
    "a pending order whose units are not held": (
        lambda e: _order(e, status="pending_payment", holds={1: 3}, consumed={}),
        {"every order matches its checked-out cart"},
    ),
    "an expired order whose units were sold": (
        lambda e: _order(e, status="expired", holds={1: 3, 2: 2}),
        {"every order matches its checked-out cart"},
    ),
    "a checked-out cart without an order": (
        lambda e: dataclasses.replace(e, checked_out_carts_without_order=1),
        {"every order matches its checked-out cart"},
    ),
    "two orders answered for one cart": (
        lambda e: dataclasses.replace(e, orders_answered={CART: [ORDER, "another"]}),
        {"every checkout answer names the cart's one order"},
    ),
    "a release task that never ran": (
        lambda e: dataclasses.replace(e, release_runs_succeeded=0, released_holds=0,
                                      reclaimed_holds={"web": 2}),
        {"the release task ran and released holds"},
    ),
    "a failed release run": (
        lambda e: dataclasses.replace(e, release_runs_failed=1),
        {"the release task ran and released holds"},
    ),
    "a heartbeat that under-counts": (
        lambda e: dataclasses.replace(e, released_holds=5),
        {"release runs recorded every hold they moved"},
    ),
    "no reclaim by any shopper": (
        lambda e: dataclasses.replace(e, reclaimed_holds={"worker": 6}),
        {"shoppers reclaimed expired holds"},
    ),
    "a restock that failed": (
        lambda e: dataclasses.replace(e, restock_errors=["OperationalError: lock timeout"]),
        {"every restock applied or refused"},
    ),
    "holds left after the drain": (
        lambda e: dataclasses.replace(e, drained_active_holds=2, drained_reserved_units=3),
        {"after the last hold expired: no active holds, nothing reserved"},
    ),
}


@pytest.mark.parametrize("broken", BROKEN, ids=list(BROKEN))
def test_each_broken_state_fails_its_check(broken):
    breaking, failing = BROKEN[broken]

    evidence = breaking(_clean())

    assert _failed(evidence) == failing
    assert not passed(audit(evidence))


# The checks that look only at what evidence_read finds in the database.
DATABASE_CHECKS = (
    "0 <= reserved <= on_hand",
    "reserved == units in active holds",
    "on_hand == sum of ledger movements",
    "no oversell: sold <= received",
    "sold + on_hand == received",
    "sold == units of consumed holds",
    "every order matches its checked-out cart",
)


@pytest.mark.django_db
def test_evidence_read_from_the_database_finds_a_counter_moved_behind_the_services():
    reclaim_log_install()
    product = product_create(sku="SOAK-AUDIT", name="Audited", price=Decimal("2.50"),
                             on_hand=10)
    bought, kept = CartFactory(), CartFactory()
    hold_set(cart=bought, product=product, quantity=3)
    hold_set(cart=kept, product=product, quantity=2)
    order, _ = checkout(cart=bought)

    evidence = evidence_read(received={product.pk: 10})

    (figures,) = evidence.products
    assert (figures.on_hand, figures.reserved, figures.active_units, figures.sold,
            figures.consumed_units, figures.ledger_units) == (7, 2, 2, 3, 3, 7)
    (seen,) = evidence.orders
    assert (seen.order_id, seen.cart_status, seen.lines, seen.consumed) == (
        str(order.pk), "checked_out", {product.pk: 3}, {product.pk: 3})
    results = {c.name: c.passed for c in audit(evidence)}
    assert [name for name in DATABASE_CHECKS if not results[name]] == []

    # Counters and a sale changed behind the services' back.
    Inventory.objects.filter(pk=product.pk).update(reserved=F("reserved") - 1)
    Inventory.objects.filter(pk=product.pk).update(on_hand=F("on_hand") + 1)
    OrderLine.objects.filter(order=order).update(quantity=4)
    broken = evidence_read(received={product.pk: 10})

    failed = {c.name for c in audit(broken) if not c.passed} & set(DATABASE_CHECKS)
    assert failed == {
        "reserved == units in active holds",
        "on_hand == sum of ledger movements",
        "sold + on_hand == received",
        "sold == units of consumed holds",
        "every order matches its checked-out cart",
    }


@pytest.mark.django_db
def test_the_reclaim_log_names_the_process_that_moved_each_hold():
    from datetime import timedelta

    from django.utils import timezone

    from reservations.services import expired_reclaim

    reclaim_log_install()
    product = product_create(sku="SOAK-LOG", name="Logged", price=Decimal("1.00"), on_hand=5)
    long_ago = timezone.now() - timedelta(days=1)
    hold_set(cart=CartFactory(), product=product, quantity=2, now=long_ago)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL application_name = 'stockhold-web'")
    expired_reclaim(product_id=product.pk, now=timezone.now())

    assert evidence_read(received={product.pk: 5}).reclaimed_holds == {"web": 1}


@pytest.mark.django_db
def test_evidence_read_finds_each_order_where_its_status_says(settings):
    from datetime import timedelta

    from reservations.models import Order, Reservation
    from reservations.services import order_cancel, order_confirm
    from reservations.services.release import release_run

    settings.ORDER_PAYMENT_WINDOW_SECONDS = 60
    reclaim_log_install()
    product = product_create(sku="SOAK-PAY", name="Paid", price=Decimal("1.00"), on_hand=20)
    orders = []
    for quantity in (1, 2, 3, 4):
        cart = CartFactory()
        hold_set(cart=cart, product=product, quantity=5)  # released before checkout below
        hold_set(cart=cart, product=product, quantity=0)
        hold_set(cart=cart, product=product, quantity=quantity)
        orders.append(checkout(cart=cart)[0])
    order_confirm(order=orders[0], actor="psp")
    order_cancel(order=orders[1], actor="psp")
    Order.objects.filter(pk=orders[2].pk).update(
        payment_expires_at=F("payment_expires_at") - timedelta(hours=1)
    )
    Reservation.objects.filter(cart_id=orders[2].cart_id, status="active").update(
        expires_at=F("expires_at") - timedelta(hours=1)
    )
    release_run()

    evidence = evidence_read(received={product.pk: 20})

    seen = {o.order_id: (o.status, o.lines, o.holds) for o in evidence.orders}
    assert seen == {
        str(orders[0].pk): ("placed", {product.pk: 1}, {product.pk: 1}),
        str(orders[1].pk): ("cancelled", {product.pk: 2}, {product.pk: 2}),
        str(orders[2].pk): ("expired", {product.pk: 3}, {product.pk: 3}),
        str(orders[3].pk): ("pending_payment", {product.pk: 4}, {product.pk: 4}),
    }
    (figures,) = evidence.products
    assert (figures.on_hand, figures.reserved, figures.sold) == (19, 4, 1)
    results = {c.name: c.passed for c in audit(evidence)}
    assert [name for name in DATABASE_CHECKS if not results[name]] == []
