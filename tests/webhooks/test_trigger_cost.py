"""The hold's hot path pays for the stock triggers only when availability flips.

PostgreSQL counts the calls of each function in the transaction (`track_functions`);
with the deferred triggers made immediate, each statement's trigger calls show at once.
"""

import pytest
from django.db import connection

from reservations.services import hold_set
from tests.factories import CartFactory, ProductFactory

pytestmark = pytest.mark.django_db


def _announce_calls() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(pg_stat_get_xact_function_calls("
            "'stockhold_inventory_stock_announce()'::regprocedure), 0)"
        )
        return cursor.fetchone()[0]


def test_the_trigger_function_runs_only_when_on_hand_minus_reserved_crosses_zero():
    product = ProductFactory(on_hand=41)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL track_functions = 'all'")
        # Runs the creation's queued call now, and every later one at its statement.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert _announce_calls() == 1  # the new product with stock

    carts = [CartFactory() for _ in range(40)]
    for cart in carts:
        hold_set(cart=cart, product=product, quantity=1)
    for cart in carts[:20]:
        hold_set(cart=cart, product=product, quantity=0)
    for cart in carts[:20]:
        hold_set(cart=cart, product=product, quantity=1)

    # 80 writes of `reserved`, from 41 free units down to 1 and back: no flip, no call.
    assert _announce_calls() == 1
    hold_set(cart=CartFactory(), product=product, quantity=1)  # the last unit
    assert _announce_calls() == 2
    hold_set(cart=carts[0], product=product, quantity=0)
    assert _announce_calls() == 3
