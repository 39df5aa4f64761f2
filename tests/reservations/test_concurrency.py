"""Holds, checkout and stock changes under real concurrency on PostgreSQL.

Every racer runs in its own thread with its own database connection, waits at a barrier
so that all of them reach the database together, and closes its connection when done.
A racer that does not finish within JOIN_TIMEOUT fails the test (a hang or a lock that
is never released); every exception a racer raised is collected and asserted on.
"""

import random
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial

import pytest
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Sum

from reservations.errors import (
    CartLineLimit,
    CartUnitLimit,
    CheckoutShort,
    InsufficientStock,
    StockBelowHeld,
)
from reservations.models import Cart, Order, OrderLine, Reservation
from reservations.selectors import availability_get
from reservations.services import checkout, expired_reclaim, hold_set, inventory_set
from store.models import Inventory
from tests.factories import CartFactory, ProductFactory
from tests.invariants import assert_counters_exact

pytestmark = pytest.mark.django_db(transaction=True)

# Seconds a whole race may take before its stragglers count as hung. Postgres gives up on
# a lock after DB_LOCK_TIMEOUT_MS (5 s), so a live race never comes near this.
JOIN_TIMEOUT = 60
BARRIER_TIMEOUT = 30


def _race(
    racers: list[Callable[[], object]], *, jitter: float = 0.0
) -> tuple[list[object], list[BaseException | None]]:
    """Run each racer in its own thread, all released at once; return results and errors.

    `jitter` staggers the start of each racer by up to that many seconds, so that rounds
    of a race explore different interleavings instead of always the same winner.
    """
    barrier = threading.Barrier(len(racers))
    delays = [random.uniform(0, jitter) for _ in racers]
    results: list[object] = [None] * len(racers)
    errors: list[BaseException | None] = [None] * len(racers)

    def run(index: int, racer: Callable[[], object]) -> None:
        try:
            # Connect before the barrier so that the racers meet at the first query, not
            # at the connection handshake.
            connection.ensure_connection()
            barrier.wait(timeout=BARRIER_TIMEOUT)
            if delays[index]:
                time.sleep(delays[index])
            results[index] = racer()
        except BaseException as exc:  # noqa: B036 - every failure of a racer is reported
            errors[index] = exc
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(i, racer), name=f"racer-{i}", daemon=True)
        for i, racer in enumerate(racers)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + JOIN_TIMEOUT
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    hung = [thread.name for thread in threads if thread.is_alive()]
    assert not hung, f"racers still running after {JOIN_TIMEOUT}s (deadlock or hang): {hung}"
    return results, errors


def _unexpected(errors: list[BaseException | None], *allowed: type[BaseException]) -> list:
    return [repr(e) for e in errors if e is not None and not isinstance(e, allowed)]


def _sold_units(product) -> int:
    return OrderLine.objects.filter(product=product).aggregate(units=Sum("quantity"))["units"] or 0


def _assert_stock_adds_up(product, *, initial: int, now) -> Inventory:
    """Check the counters of one product against its holds and orders."""
    inventory = Inventory.objects.get(pk=product.pk)
    assert inventory.on_hand >= 0, inventory
    assert 0 <= inventory.reserved <= inventory.on_hand, inventory
    assert_counters_exact()
    assert _sold_units(product) + inventory.on_hand == initial, inventory
    assert availability_get(product=product, now=now) >= 0
    return inventory


def _past(now, ttl):
    """An instant whose holds have expired by `now`."""
    return now - timedelta(seconds=ttl + 60)


# --- 1. Many shoppers, few units -------------------------------------------------------------


def test_fifty_shoppers_racing_for_ten_units_get_exactly_ten(now, ttl):
    product = ProductFactory(on_hand=10)
    carts = CartFactory.create_batch(50)

    results, errors = _race(
        [partial(hold_set, cart=cart, product=product, quantity=1, now=now) for cart in carts]
    )

    assert _unexpected(errors, InsufficientStock) == []
    winners = {carts[i].pk for i, e in enumerate(errors) if e is None}
    refused = [e for e in errors if isinstance(e, InsufficientStock)]
    assert len(winners) == 10
    assert len(refused) == 40
    # Units are only ever taken in this race, so every refusal saw the shelf empty.
    assert {e.extra["available"] for e in refused} == {0}
    assert all(results[i].quantity == 1 for i, e in enumerate(errors) if e is None)

    inventory = Inventory.objects.get(pk=product.pk)
    assert (inventory.on_hand, inventory.reserved) == (10, 10)
    assert availability_get(product=product, now=now) == 0
    active = Reservation.objects.filter(product=product, status=Reservation.Status.ACTIVE)
    assert active.count() == 10
    assert set(active.values_list("cart_id", flat=True)) == winners
    # A refused shopper keeps no line at all.
    assert Reservation.objects.filter(product=product).count() == 10


def test_shoppers_asking_random_quantities_never_get_more_than_the_stock(now, ttl):
    product = ProductFactory(on_hand=10)
    carts = CartFactory.create_batch(50)
    rng = random.Random(20260115)
    wanted = {cart.pk: rng.randint(1, 3) for cart in carts}

    _, errors = _race(
        [
            partial(hold_set, cart=cart, product=product, quantity=wanted[cart.pk], now=now)
            for cart in carts
        ]
    )

    assert _unexpected(errors, InsufficientStock) == []
    winners = [carts[i].pk for i, e in enumerate(errors) if e is None]
    held = sum(wanted[pk] for pk in winners)
    inventory = Inventory.objects.get(pk=product.pk)
    assert 0 < held <= 10
    assert inventory.reserved == held
    assert_counters_exact()
    assert inventory.on_hand == 10
    left = availability_get(product=product, now=now)
    assert left == 10 - held
    holds = Reservation.objects.filter(product=product, status=Reservation.Status.ACTIVE)
    assert {h.cart_id: h.quantity for h in holds} == {pk: wanted[pk] for pk in winners}
    # Free stock only shrank during the race, so a shopper was refused only when what
    # they asked for exceeded even what is left now, and was told a figure below it.
    for i, error in enumerate(errors):
        if error is not None:
            requested = wanted[carts[i].pk]
            assert requested > left, (requested, left)
            assert left <= error.extra["available"] < requested, error.extra


def _expired_six_of_ten(*, now, ttl):
    """A product with 10 on hand, 6 of them in holds of other carts that have expired."""
    product = ProductFactory(on_hand=10)
    for _ in range(3):
        hold_set(cart=CartFactory(), product=product, quantity=2, now=_past(now, ttl))
    assert Inventory.objects.get(pk=product.pk).reserved == 6
    assert availability_get(product=product, now=now) == 10
    return product


def test_racers_reclaim_expired_holds_exactly_once(now, ttl):
    product = _expired_six_of_ten(now=now, ttl=ttl)
    carts = CartFactory.create_batch(50)

    _, errors = _race(
        [partial(hold_set, cart=cart, product=product, quantity=1, now=now) for cart in carts]
    )

    assert _unexpected(errors, InsufficientStock) == []
    winners = [carts[i].pk for i, e in enumerate(errors) if e is None]
    # The 4 free units go first; the first shopper to find the shelf empty reclaims the
    # six expired ones under the product lock, and the next ones queue behind it and
    # take what it freed: all ten units are held, never more.
    assert len(winners) == 10
    inventory = Inventory.objects.get(pk=product.pk)
    # Freed twice, `reserved` would trail the live holds; never, it would exceed them.
    assert (inventory.on_hand, inventory.reserved) == (10, len(winners))
    assert Inventory.objects.get(pk=product.pk).reserved == len(winners)
    assert_counters_exact()
    active = Reservation.objects.filter(product=product, status=Reservation.Status.ACTIVE)
    assert sorted(active.values_list("cart_id", flat=True)) == sorted(winners)
    assert not active.filter(expires_at__lte=now).exists()
    assert Reservation.objects.filter(product=product, status="expired").count() == 3
    # Whatever the race left is sellable, and not one unit more: 10 in all.
    left = 10 - len(winners)
    assert availability_get(product=product, now=now) == left
    if left:
        hold_set(cart=CartFactory(), product=product, quantity=left, now=now)
    with pytest.raises(InsufficientStock) as refused:
        hold_set(cart=CartFactory(), product=product, quantity=1, now=now)
    assert refused.value.extra["available"] == 0
    assert Inventory.objects.get(pk=product.pk).reserved == 10
    assert_counters_exact()


def test_hold_is_not_refused_while_another_shopper_reclaims(now, ttl):
    """Deterministic form of the race above: shopper 2 meets shopper 1 mid-reclaim.

    Shopper 1 finds the shelf empty and starts reclaiming the expired holds; a trigger
    installed by this test pauses it on the first hold it moves (the product row and the
    expired holds are locked, the counter not yet lowered). Shopper 2 asks for 1 unit
    meanwhile. Six units are free, so shopper 2 must get its hold, if need be after
    waiting for shopper 1.
    """
    product = _expired_six_of_ten(now=now, ttl=ttl)
    hold_set(cart=CartFactory(), product=product, quantity=4, now=now)
    first, second = CartFactory(), CartFactory()
    armed, locked, second_done = threading.Event(), threading.Event(), threading.Event()
    second_pid: list[int] = []
    with connection.cursor() as cursor:
        cursor.execute(_PAUSE_RECLAIM)

    def first_shopper():
        armed.wait(timeout=BARRIER_TIMEOUT)
        return hold_set(cart=first, product=product, quantity=1, now=now)

    def second_shopper():
        locked.wait(timeout=BARRIER_TIMEOUT)
        second_pid.append(connection.connection.info.backend_pid)
        try:
            return hold_set(cart=second, product=product, quantity=1, now=now)
        finally:
            second_done.set()

    def referee():
        # Holds the lock the trigger waits for; lets shopper 1 go on once shopper 2 has
        # either answered or queued on a lock.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [_PAUSE_KEY])
            armed.set()
            try:
                while not locked.is_set():
                    cursor.execute(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                        " AND objid = %s AND NOT granted",
                        [_PAUSE_KEY],
                    )
                    if cursor.fetchone()[0]:
                        locked.set()
                    else:
                        time.sleep(0.01)
                while not second_done.wait(timeout=0.02):
                    if not second_pid:
                        continue
                    cursor.execute(
                        "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s",
                        [second_pid[0]],
                    )
                    if cursor.fetchone() == ("Lock",):
                        break
            finally:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [_PAUSE_KEY])

    try:
        _, errors = _race([first_shopper, second_shopper, referee])
    finally:
        with connection.cursor() as cursor:
            cursor.execute(_PAUSE_RECLAIM_DROP)

    assert [repr(e) for e in errors] == ["None", "None", "None"]
    assert Inventory.objects.get(pk=product.pk).reserved == 6
    assert_counters_exact()
    assert availability_get(product=product, now=now) == 4


_PAUSE_KEY = 20260115
# Pauses a transaction on the first expired hold it moves, until the referee lets go.
_PAUSE_RECLAIM = f"""
    CREATE FUNCTION test_pause_reclaim() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_advisory_xact_lock_shared({_PAUSE_KEY});
        RETURN NEW;
    END $$;
    CREATE TRIGGER test_pause_reclaim BEFORE UPDATE ON reservations_reservation
    FOR EACH ROW WHEN (OLD.status = 'active' AND NEW.status = 'expired')
    EXECUTE FUNCTION test_pause_reclaim();
"""
_PAUSE_RECLAIM_DROP = """
    DROP TRIGGER IF EXISTS test_pause_reclaim ON reservations_reservation;
    DROP FUNCTION IF EXISTS test_pause_reclaim();
"""


# --- 2. One cart, many checkouts -------------------------------------------------------------


@pytest.mark.parametrize("racers", [2, 8])
def test_concurrent_checkouts_of_one_cart_create_one_order(now, ttl, racers):
    held, bought = ProductFactory(on_hand=5), ProductFactory(on_hand=5)
    cart = CartFactory()
    # One line was reclaimed after it expired (checkout buys it from free stock), the
    # other is a live hold (checkout consumes it): both must leave the shelf once.
    hold_set(cart=cart, product=bought, quantity=3, now=_past(now, ttl))
    hold_set(cart=cart, product=held, quantity=2, now=now)
    with transaction.atomic():
        assert expired_reclaim(product_id=bought.pk, now=now) == 3

    results, errors = _race([partial(checkout, cart=cart, now=now) for _ in range(racers)])

    assert [repr(e) for e in errors if e is not None] == []
    assert sorted(created for _, created in results) == [False] * (racers - 1) + [True]
    assert len({order.pk for order, _ in results}) == 1
    assert Order.objects.count() == 1
    order = Order.objects.get(cart=cart)
    assert order.pk == results[0][0].pk
    lines = {line.product_id: line.quantity for line in order.lines.all()}
    assert lines == {held.pk: 2, bought.pk: 3}
    for product, on_hand in ((held, 3), (bought, 2)):
        inventory = Inventory.objects.get(pk=product.pk)
        assert (inventory.on_hand, inventory.reserved) == (on_hand, 0)
        _assert_stock_adds_up(product, initial=5, now=now)
    assert Cart.objects.get(pk=cart.pk).status == Cart.Status.CHECKED_OUT
    assert set(Reservation.objects.filter(cart=cart).values_list("status", flat=True)) == {
        "consumed"
    }


# --- 3. Checkouts racing hold changes on the same products -----------------------------------


def _steps(*calls: Callable[[], object]) -> list[str]:
    """Run the calls in order; a refusal is an outcome, anything else escapes."""
    outcomes = []
    for call in calls:
        try:
            call()
            outcomes.append("ok")
        except (InsufficientStock, CheckoutShort) as exc:
            outcomes.append(exc.code)
    return outcomes


def test_checkout_racing_hold_changes_neither_deadlocks_nor_oversells(now, ttl):
    past = _past(now, ttl)
    rounds = 20
    for round_no in range(rounds):
        p, q = ProductFactory(on_hand=10), ProductFactory(on_hand=10)
        a, b, c1, c2, c3, c4, c5 = CartFactory.create_batch(7)
        # Expired holds of other carts: free stock that must be reclaimed before reuse.
        hold_set(cart=CartFactory(), product=p, quantity=3, now=past)
        hold_set(cart=CartFactory(), product=q, quantity=3, now=past)
        if round_no % 2:
            # Cart A's Q line expired too: its checkout must reclaim and buy it, or fail
            # short if the racers took the units first.
            hold_set(cart=a, product=q, quantity=2, now=past)
            hold_set(cart=a, product=p, quantity=2, now=now)
        else:
            hold_set(cart=a, product=p, quantity=2, now=now)
            hold_set(cart=a, product=q, quantity=2, now=now)
        # Cart B added Q before P: its line order is the reverse of the pk order.
        hold_set(cart=b, product=q, quantity=1, now=now)
        hold_set(cart=b, product=p, quantity=1, now=now)
        hold_set(cart=c3, product=p, quantity=1, now=now)
        hold_set(cart=c4, product=q, quantity=1, now=now)
        hold_set(cart=c5, product=p, quantity=2, now=now)
        hold_set(cart=c5, product=q, quantity=2, now=now)
        # P: 10 on hand, 3 expired + A 2 + B 1 + C3 1 + C5 2 reserved; Q likewise.

        def hold(cart, product, quantity):
            return partial(hold_set, cart=cart, product=product, quantity=quantity, now=now)

        results, errors = _race(
            [
                partial(_steps, partial(checkout, cart=a, now=now)),
                partial(_steps, partial(checkout, cart=b, now=now)),
                partial(_steps, hold(c1, p, 2), hold(c1, q, 2)),
                partial(_steps, hold(c2, q, 2), hold(c2, p, 2)),
                # Raises that need more than the free stock: they reclaim expired holds.
                partial(_steps, hold(c3, p, 5), hold(c3, q, 3)),
                partial(_steps, hold(c4, q, 5), hold(c4, p, 3)),
                # Lowering and removing give units back while the others take them.
                partial(_steps, hold(c5, q, 1), hold(c5, p, 0), hold(c5, q, 0)),
            ]
        )

        unexpected = _unexpected(errors)
        deadlocks = [e for e in unexpected if "deadlock" in e.lower()]
        assert deadlocks == [], f"round {round_no}: {deadlocks}"
        assert unexpected == [], f"round {round_no}: {unexpected}"
        assert results[6] == ["ok", "ok", "ok"], f"round {round_no}: giving back failed"
        for product in (p, q):
            _assert_stock_adds_up(product, initial=10, now=now)
        for cart, outcome in ((a, results[0]), (b, results[1])):
            cart.refresh_from_db()
            if outcome == ["ok"]:
                assert cart.status == Cart.Status.CHECKED_OUT, f"round {round_no}"
                assert not Reservation.objects.filter(
                    cart=cart, status__in=("active", "expired")
                ).exists()
            else:
                assert outcome == ["insufficient_stock"], f"round {round_no}: {outcome}"
                assert cart.status == Cart.Status.OPEN, f"round {round_no}"
                assert not Order.objects.filter(cart=cart).exists()
        # Only A's expired line can be short; B's live holds are always honoured.
        assert results[1] == ["ok"], f"round {round_no}: {results[1]}"
        if round_no % 2 == 0:
            assert results[0] == ["ok"], f"round {round_no}: {results[0]}"


# --- 4. A stock change racing a hold ---------------------------------------------------------


@pytest.mark.parametrize("holders", [1, 4])
def test_stock_change_racing_holds_never_leaves_more_held_than_on_hand(now, ttl, holders):
    for round_no in range(15):
        product = ProductFactory(on_hand=10)
        hold_set(cart=CartFactory(), product=product, quantity=5, now=now)
        hold_set(cart=CartFactory(), product=product, quantity=3, now=_past(now, ttl))
        # 10 on hand, 5 live + 3 expired reserved. Lowering to 7 fits only if fewer than
        # 3 more units get held; one holder asks 4, four holders ask 2 each.
        quantity = 4 if holders == 1 else 2
        carts = CartFactory.create_batch(holders)

        _, errors = _race(
            [partial(inventory_set, product=product, on_hand=7, now=now)]
            + [
                partial(hold_set, cart=cart, product=product, quantity=quantity, now=now)
                for cart in carts
            ],
            # Left alone, the stock change nearly always wins; stagger to get both orders.
            jitter=0.05,
        )

        unexpected = [repr(e) for e in errors if isinstance(e, IntegrityError | OperationalError)]
        assert unexpected == [], f"round {round_no}: {unexpected}"
        assert _unexpected(errors[:1], StockBelowHeld) == [], f"round {round_no}"
        assert _unexpected(errors[1:], InsufficientStock) == [], f"round {round_no}"
        stock_changed = errors[0] is None
        new_held = quantity * sum(e is None for e in errors[1:])
        inventory = _assert_stock_adds_up(product, initial=7 if stock_changed else 10, now=now)
        assert inventory.on_hand == (7 if stock_changed else 10), f"round {round_no}"
        # The expired hold was reclaimed by whoever came first, and only once.
        assert inventory.reserved == 5 + new_held, f"round {round_no}"
        assert Reservation.objects.filter(product=product, status="expired").count() == 1
        if stock_changed:
            assert 5 + new_held <= 7, f"round {round_no}"
        else:
            assert errors[0].extra["held"] == 5 + new_held > 7, f"round {round_no}"
        if holders == 1:
            # Both cannot fit: exactly one of the two is refused.
            assert stock_changed != (errors[1] is None), f"round {round_no}: {errors}"


# --- 5. One cart at its limits -----------------------------------------------------------------


@pytest.mark.parametrize("limit", ["lines", "units"])
def test_concurrent_puts_on_one_cart_at_its_limit_let_only_one_through(
    now, ttl, settings, limit
):
    """Two new lines that each fit the cart's limit but not both: the cart's lock makes the
    second see the first, so exactly one is held and the other refused with nothing taken."""
    settings.RESERVATION_MAX_LINES_PER_CART = 2
    settings.RESERVATION_MAX_UNITS_PER_CART = 5
    # lines: one line of 1 is held, each racer adds a line of 1 (units stay under 5);
    # units: one line of 3 is held, each racer adds 2 in a line of its own (2 lines fit).
    held, racer_quantity, refusal = (1, 1, CartLineLimit) if limit == "lines" else (
        3, 2, CartUnitLimit
    )
    if limit == "units":
        settings.RESERVATION_MAX_LINES_PER_CART = 3
    for round_no in range(5):
        cart = CartFactory()
        first = ProductFactory(on_hand=10)
        wanted = [ProductFactory(on_hand=10), ProductFactory(on_hand=10)]
        hold_set(cart=cart, product=first, quantity=held, now=now)

        _, errors = _race(
            [
                partial(hold_set, cart=cart, product=product, quantity=racer_quantity, now=now)
                for product in wanted
            ]
        )

        assert _unexpected(errors, refusal) == [], f"round {round_no}"
        assert sorted(e is None for e in errors) == [False, True], f"round {round_no}: {errors}"
        winner = wanted[errors.index(None)]
        lines = Reservation.objects.filter(cart=cart, status="active")
        assert sorted(lines.values_list("product_id", "quantity")) == sorted(
            [(first.pk, held), (winner.pk, racer_quantity)]
        ), f"round {round_no}"
        for product in wanted:
            expected = racer_quantity if product == winner else 0
            assert Inventory.objects.get(pk=product.pk).reserved == expected, f"round {round_no}"
        assert_counters_exact()
