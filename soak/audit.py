"""The audit after the load: what the database and the shoppers' answers must agree on.

`evidence_read` gathers the figures from the database in one snapshot; `audit` is a pure
function of them (and of what the shoppers, the restocker and the watch saw), so a broken
state fed to it by hand fails it.
"""

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class ProductFigures:
    product_id: int
    sku: str
    on_hand: int
    reserved: int
    active_units: int  # units in holds with status `active`, expired or not
    consumed_units: int  # units in holds a checkout or a payment consumed
    sold: int  # units in lines of sold (`placed`) orders
    received: int  # the restocker's ledger: initial stock + accepted changes
    ledger_units: int  # sum of the product's stock movements (the ledger in the database)


# Where an order's units are, by its status: the statuses of its cart's holds that carry
# them. A sold order consumed them; a pending one holds them; an expired one's holds ran
# out (reclaimed or not yet); a pending order cancelled gave them back.
HOLDS_OF_ORDER = {
    "placed": ("consumed",),
    "pending_payment": ("active",),
    "expired": ("active", "expired"),
    "cancelled": ("released",),
}


@dataclass(frozen=True)
class OrderFigures:
    order_id: str
    cart_id: str
    cart_status: str
    total: Decimal
    lines_total: Decimal
    lines: dict[int, int]  # product id -> units ordered
    holds: dict[int, int]  # product id -> units of the cart's holds in HOLDS_OF_ORDER[status]
    status: str = "placed"
    consumed: dict[int, int] = field(default_factory=dict)  # units of consumed holds


@dataclass
class Evidence:
    """Everything the audit looks at. Plain data: JSON and hand-made tests alike."""

    products: list[ProductFigures]
    orders: list[OrderFigures]
    checked_out_carts_without_order: int = 0
    consumed_holds_without_order: int = 0
    # What the shoppers saw (soak.shoppers.Tally, summed up).
    answers: dict[tuple[str, int, str], int] = field(default_factory=dict)
    unexpected: dict[tuple[str, int, str], int] = field(default_factory=dict)
    connection_errors: int = 0
    wrong_answers: int = 0
    wrong_examples: list[str] = field(default_factory=list)
    orders_answered: dict[str, list[str]] = field(default_factory=dict)
    # The release task, from its heartbeat rows and from the holds it moved.
    release_runs_succeeded: int = 0
    release_runs_failed: int = 0
    release_errors: list[str] = field(default_factory=list)
    released_holds: int = 0  # sum of the runs' own counts
    # Holds moved from active to expired, by who moved them (web, worker, staff).
    reclaimed_holds: dict[str, int] = field(default_factory=dict)
    # The watch during the load, and the restocker.
    drift_samples: int = 0
    drifts: list[dict] = field(default_factory=list)
    restock_errors: list[str] = field(default_factory=list)
    # After the last hold expired and one more release run.
    drained_active_holds: int | None = None
    drained_reserved_units: int | None = None
    drained_order_statuses: dict[str, int] = field(default_factory=dict)
    # ORDER_PAYMENT_WINDOW_SECONDS of the run: above 0, every way an order ends must occur.
    payment_window_seconds: int = 0


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


def _first(items: list, count: int = 5) -> str:
    shown = "; ".join(str(item) for item in items[:count])
    return shown + (f"; ... {len(items) - count} more" if len(items) > count else "")


def _products_where(evidence: Evidence, bad, describe) -> tuple[bool, str]:
    found = [describe(p) for p in evidence.products if bad(p)]
    if found:
        return False, f"{len(found)} of {len(evidence.products)} products: {_first(found)}"
    return True, f"all {len(evidence.products)} products"


def _traffic_checks(e: Evidence) -> list[Check]:
    answered = sum(e.answers.values())
    server_errors = {k: n for k, n in e.answers.items() if k[1] >= 500}
    checks = [
        Check("no 5xx answers", not server_errors,
              f"{sum(server_errors.values())} of {answered}: "
              + _first([f"{op} {status} x{n}" for (op, status, _), n in server_errors.items()])
              if server_errors else f"0 of {answered}"),
        Check("no connection errors", e.connection_errors == 0,
              f"{e.connection_errors} requests got no answer"),
        Check("every answer one the shopper expects", not e.unexpected,
              _first([f"{op} {status} {code or '-'} x{n}"
                      for (op, status, code), n in e.unexpected.items()])
              if e.unexpected else f"{answered} answers"),
        Check("every answer agrees with what the shopper did", e.wrong_answers == 0,
              f"{e.wrong_answers} wrong: {_first(e.wrong_examples, 3)}"
              if e.wrong_answers else "carts, orders, replays and 409s as sent"),
    ]
    return checks


def _stock_checks(e: Evidence) -> list[Check]:
    checks = []
    ok, detail = _products_where(
        e, lambda p: not 0 <= p.reserved <= p.on_hand,
        lambda p: f"{p.sku} reserved {p.reserved}, on hand {p.on_hand}")
    checks.append(Check("0 <= reserved <= on_hand", ok, detail))
    ok, detail = _products_where(
        e, lambda p: p.reserved != p.active_units,
        lambda p: f"{p.sku} reserved {p.reserved}, active holds {p.active_units}")
    checks.append(Check("reserved == units in active holds", ok, detail))
    ok, detail = _products_where(
        e, lambda p: p.on_hand != p.ledger_units,
        lambda p: f"{p.sku} on hand {p.on_hand}, ledger movements {p.ledger_units}")
    checks.append(Check("on_hand == sum of ledger movements", ok, detail))
    checks.append(Check(
        "no counter drift at any moment of the load",
        e.drift_samples > 0 and not e.drifts,
        f"{len(e.drifts)} drifts in {e.drift_samples} samples: {_first(e.drifts, 3)}"
        if e.drifts else f"{e.drift_samples} samples",
    ))
    ok, detail = _products_where(
        e, lambda p: p.sold > p.received,
        lambda p: f"{p.sku} sold {p.sold} of {p.received} received")
    checks.append(Check("no oversell: sold <= received", ok, detail))
    ok, detail = _products_where(
        e, lambda p: p.sold + p.on_hand != p.received,
        lambda p: f"{p.sku} sold {p.sold} + on hand {p.on_hand} != received {p.received}")
    checks.append(Check("sold + on_hand == received", ok, detail))
    ok, detail = _products_where(
        e, lambda p: p.sold != p.consumed_units,
        lambda p: f"{p.sku} sold {p.sold}, consumed holds {p.consumed_units}")
    checks.append(Check("sold == units of consumed holds", ok, detail))
    return checks


def _order_checks(e: Evidence) -> list[Check]:
    bad = []
    for order in e.orders:
        if order.cart_status != "checked_out":
            bad.append(f"order {order.order_id}: cart {order.cart_id} is {order.cart_status}")
        if order.status not in HOLDS_OF_ORDER:
            bad.append(f"order {order.order_id}: status {order.status}")
        elif not order.lines or order.lines != order.holds:
            bad.append(f"order {order.order_id} ({order.status}): lines {order.lines}, "
                       f"holds {HOLDS_OF_ORDER[order.status]} {order.holds}")
        if order.status != "placed" and order.consumed:
            bad.append(f"order {order.order_id} ({order.status}): consumed {order.consumed}")
        if order.total != order.lines_total:
            bad.append(f"order {order.order_id}: total {order.total} != {order.lines_total}")
    if e.checked_out_carts_without_order:
        bad.append(f"{e.checked_out_carts_without_order} checked-out carts have no order")
    if e.consumed_holds_without_order:
        bad.append(f"{e.consumed_holds_without_order} consumed holds belong to no order")
    checks = [Check("every order matches its checked-out cart", not bad,
                    _first(bad) if bad else f"{len(e.orders)} orders")]

    by_cart = {order.cart_id: order.order_id for order in e.orders}
    wrong = []
    for cart, orders in e.orders_answered.items():
        named = set(orders)
        if len(named) != 1 or by_cart.get(cart) not in named:
            wrong.append(f"cart {cart}: answered {sorted(named)}, database {by_cart.get(cart)}")
    answered = sum(len(orders) for orders in e.orders_answered.values())
    checks.append(Check(
        "every checkout answer names the cart's one order", not wrong,
        _first(wrong) if wrong else f"{answered} answers for {len(e.orders_answered)} carts",
    ))
    if e.payment_window_seconds:
        # After the drain every deadline has passed and a release run came after it: each
        # order was paid, cancelled or marked expired.
        statuses = Counter(e.drained_order_statuses)
        ended = all(statuses[s] for s in ("placed", "cancelled", "expired"))
        checks.append(Check(
            "orders paid, cancelled and expired; none pending after the drain",
            ended and statuses["pending_payment"] == 0,
            "after the drain: " + ", ".join(f"{statuses[s]} {s}" for s in HOLDS_OF_ORDER),
        ))
    return checks


def _release_checks(e: Evidence) -> list[Check]:
    worker = e.reclaimed_holds.get("worker", 0)
    shoppers = e.reclaimed_holds.get("web", 0)
    return [
        Check("the release task ran and released holds",
              e.release_runs_succeeded > 0 and e.released_holds > 0
              and e.release_runs_failed == 0,
              f"{e.release_runs_succeeded} runs succeeded, {e.release_runs_failed} failed, "
              f"{e.released_holds} holds released"
              + (f"; {_first(e.release_errors, 2)}" if e.release_errors else "")),
        Check("release runs recorded every hold they moved", worker == e.released_holds,
              f"runs say {e.released_holds}, the worker moved {worker}"),
        Check("shoppers reclaimed expired holds", shoppers > 0,
              f"{shoppers} holds reclaimed by shoppers' writes"),
        Check("every restock applied or refused", not e.restock_errors,
              _first(e.restock_errors, 3) if e.restock_errors else "no errors"),
        Check("after the last hold expired: no active holds, nothing reserved",
              e.drained_active_holds == 0 and e.drained_reserved_units == 0,
              f"{e.drained_active_holds} active holds, "
              f"{e.drained_reserved_units} units reserved"),
    ]


def audit(evidence: Evidence) -> list[Check]:
    """Every check of the soak, in the order they are reported."""
    return [
        *_traffic_checks(evidence),
        *_stock_checks(evidence),
        *_order_checks(evidence),
        *_release_checks(evidence),
    ]


def passed(checks: list[Check]) -> bool:
    return bool(checks) and all(check.passed for check in checks)


# -------------------------------------------------------------------- the database ---
RECLAIM_LOG_TABLE = "soak_reclaim_log"
# Instrumentation of the soak's own throwaway database: every hold moved from active to
# expired is logged with the application_name of the process that moved it (each process
# of the soak connects with its own). Insert-only, so it adds no lock anybody waits for.
RECLAIM_LOG_SQL = (
    """
    CREATE TABLE IF NOT EXISTS soak_reclaim_log (
        app text NOT NULL,
        quantity integer NOT NULL,
        at timestamptz NOT NULL DEFAULT clock_timestamp()
    )
    """,
    """
    CREATE OR REPLACE FUNCTION soak_reclaim_logged() RETURNS trigger AS $$
    BEGIN
        INSERT INTO soak_reclaim_log (app, quantity)
        VALUES (current_setting('application_name'), NEW.quantity);
        RETURN NULL;
    END
    $$ LANGUAGE plpgsql
    """,
    "DROP TRIGGER IF EXISTS soak_reclaim_logged ON reservations_reservation",
    """
    CREATE TRIGGER soak_reclaim_logged
    AFTER UPDATE OF status ON reservations_reservation
    FOR EACH ROW
    WHEN (OLD.status = 'active' AND NEW.status = 'expired')
    EXECUTE FUNCTION soak_reclaim_logged()
    """,
)
_APP_NAMES = {"stockhold-web": "web", "stockhold-worker": "worker", "stockhold-soak": "staff"}


def reclaim_log_install() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for statement in RECLAIM_LOG_SQL:
            cursor.execute(statement)


def _per_product(queryset, key: str) -> dict[int, int]:
    from django.db.models import Sum

    return {
        row[key]: row["units"]
        for row in queryset.order_by().values(key).annotate(units=Sum("quantity"))
    }


def evidence_read(*, received: dict[int, int]) -> Evidence:
    """Read the stock, orders, release runs and reclaims in one REPEATABLE READ snapshot."""
    from django.db import connection, transaction
    from django.db.models import F, Sum

    from reservations.models import Cart, Order, OrderLine, ReleaseRun, Reservation
    from reservations.services.reconcile import stock_figures

    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        holds = Reservation.objects.all()
        consumed = _per_product(holds.filter(status=Reservation.Status.CONSUMED), "product_id")
        sold = _per_product(OrderLine.objects.filter(order__status="placed"), "product_id")
        # The counters beside their holds and ledger come from the project's own invariant check.
        products = [
            ProductFigures(
                product_id=f.product_id, sku=f.sku, on_hand=f.on_hand, reserved=f.reserved,
                active_units=f.active_units, consumed_units=consumed.get(f.product_id, 0),
                sold=sold.get(f.product_id, 0), received=received.get(f.product_id, 0),
                ledger_units=f.ledger_units,
            )
            for f in stock_figures()
        ]

        lines: dict[str, dict[int, int]] = defaultdict(dict)
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for order_id, product_id, quantity, line_total in OrderLine.objects.values_list(
            "order_id", "product_id", "quantity", "line_total"
        ):
            lines[str(order_id)][product_id] = quantity
            totals[str(order_id)] += line_total
        # Units of each checked-out cart's holds, by status. A line released before
        # checkout is left out: a cart has one open line per product, and checkout keeps
        # every open line, so the released holds of an order are those released after it.
        by_status: dict[str, dict[str, dict[int, int]]] = defaultdict(lambda: defaultdict(dict))
        for cart_id, product_id, quantity, status in holds.filter(
            cart__status=Cart.Status.CHECKED_OUT
        ).exclude(
            status=Reservation.Status.RELEASED, updated_at__lt=F("cart__order__created_at")
        ).values_list("cart_id", "product_id", "quantity", "status"):
            by_status[str(cart_id)][status][product_id] = quantity
        used = {cart: held["consumed"] for cart, held in by_status.items() if held["consumed"]}

        def held_for(cart_id: str, status: str) -> dict[int, int]:
            units: dict[int, int] = {}
            for hold_status in HOLDS_OF_ORDER.get(status, ()):
                units.update(by_status[cart_id].get(hold_status, {}))
            return units

        orders = [
            OrderFigures(
                order_id=str(order_id), cart_id=str(cart_id), cart_status=cart_status,
                total=total, lines_total=totals.get(str(order_id), Decimal("0")),
                lines=lines.get(str(order_id), {}), holds=held_for(str(cart_id), status),
                status=status, consumed=by_status[str(cart_id)].get("consumed", {}),
            )
            for order_id, cart_id, cart_status, total, status in Order.objects.values_list(
                "id", "cart_id", "cart__status", "total", "status"
            )
        ]
        carts_with_orders = {order.cart_id for order in orders}

        runs = ReleaseRun.objects.all()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT app, count(*) FROM soak_reclaim_log GROUP BY app ORDER BY app"
            )
            reclaimed = {_APP_NAMES.get(app, app): count for app, count in cursor.fetchall()}
        return Evidence(
            products=products,
            orders=orders,
            checked_out_carts_without_order=Cart.objects.filter(
                status=Cart.Status.CHECKED_OUT, order__isnull=True
            ).count(),
            consumed_holds_without_order=sum(
                1 for cart in used if cart not in carts_with_orders
            ),
            release_runs_succeeded=runs.filter(status=ReleaseRun.Status.SUCCEEDED).count(),
            release_runs_failed=runs.filter(status=ReleaseRun.Status.FAILED).count(),
            release_errors=list(
                runs.filter(status=ReleaseRun.Status.FAILED).values_list("error", flat=True)[:5]
            ),
            released_holds=runs.aggregate(holds=Sum("released"))["holds"] or 0,
            reclaimed_holds=reclaimed,
        )


def drained_read() -> tuple[int, int, dict[str, int]]:
    """(active holds, reserved units, orders by status) over everything."""
    from django.db.models import Count, Sum

    from reservations.models import Order, Reservation
    from store.models import Inventory

    return (
        Reservation.objects.filter(status=Reservation.Status.ACTIVE).count(),
        Inventory.objects.aggregate(units=Sum("reserved"))["units"] or 0,
        dict(Order.objects.values_list("status").annotate(n=Count("id")).order_by()),
    )


def evidence_json(evidence: Evidence) -> dict:
    """The evidence as JSON-ready data, orders counted rather than listed."""
    data = asdict(evidence)
    for name in ("answers", "unexpected"):
        data[name] = {" ".join(map(str, key)).strip(): n for key, n in data[name].items()}
    data["orders"] = len(evidence.orders)
    data["orders_answered"] = len(evidence.orders_answered)
    return data
