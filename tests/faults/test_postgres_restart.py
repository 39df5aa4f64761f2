"""PostgreSQL restarted under the web process while shoppers hold and check out."""

import json
import threading
import time
from pathlib import Path

import pytest

from devstack.servers import Postgres
from tests import celery_processes
from tests.celery_processes import manage
from tests.servers import api_call, runserver

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

ROOT = Path(__file__).resolve().parents[2]
ON_HAND = 100_000
SHOPPERS = 4


@pytest.fixture
def postgres():
    """A PostgreSQL of the test's own; stop() and start() keep its port and data."""
    with Postgres() as server:
        yield server


def _manage(env: dict[str, str], *args: str) -> str:
    result = manage(*args, env=env, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


AUDIT = """
import json
from django.db.models import Sum
from reservations.models import Cart, Order, OrderLine, Reservation
from store.models import Inventory, Product
p = Product.objects.get(sku="PG-RESTART")
inv = Inventory.objects.get(product=p)
active = Reservation.objects.filter(product=p, status="active").aggregate(u=Sum("quantity"))["u"]
used = Reservation.objects.filter(product=p, status="consumed")
consumed = used.aggregate(u=Sum("quantity"))["u"]
lines = OrderLine.objects.filter(product=p)
sold = lines.filter(order__status="placed").aggregate(u=Sum("quantity"))["u"]
pending = lines.filter(order__status="pending_payment").aggregate(u=Sum("quantity"))["u"]
# A sold order's lines are its cart's consumed holds; a pending one's its active holds.
held_as = {"placed": "consumed", "pending_payment": "active"}
bad_orders = [
    str(o.pk) for o in Order.objects.prefetch_related("lines")
    if o.status not in held_as
    or sum(line.quantity for line in o.lines.all())
    != (Reservation.objects.filter(cart_id=o.cart_id, status=held_as[o.status])
        .aggregate(u=Sum("quantity"))["u"] or 0)
]
print(json.dumps({
    "on_hand": inv.on_hand, "reserved": inv.reserved, "active": active or 0,
    "consumed": consumed or 0, "sold": sold or 0, "pending": pending or 0,
    "active_in_open_carts": Reservation.objects.filter(
        product=p, status="active", cart__status="open").aggregate(u=Sum("quantity"))["u"] or 0,
    "statuses": sorted(set(Order.objects.values_list("status", flat=True))),
    "orders": Order.objects.count(),
    "order_carts": [str(c) for c in Order.objects.values_list("cart_id", flat=True)],
    "consumed_without_order": Reservation.objects.filter(status="consumed")
        .exclude(cart__order__isnull=False).count(),
    "bad_orders": bad_orders,
}))
"""


class Shoppers:
    """Threads that each loop: a cart, a hold, a change, a checkout; every answer kept."""

    def __init__(self, base: str, product_id: int) -> None:
        self.base, self.product_id = base, product_id
        self.answers: list[tuple[float, str, int, dict, dict]] = []
        self.checkouts: dict[str, int] = {}  # cart id -> status of its last checkout
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(SHOPPERS)]

    def _call(self, what, method, path, body=None, token=None):
        answer = api_call(self.base, method, path, body, token, timeout=20)
        with self._lock:
            self.answers.append((time.monotonic(), what, *answer))
        return answer

    def _run(self):
        while not self.stop.is_set():
            status, cart, _ = self._call("cart", "POST", "/api/v1/carts/")
            if status != 201:
                time.sleep(0.05)
                continue
            item = f"/api/v1/carts/{cart['id']}/items/{self.product_id}/"
            self._call("hold", "PUT", item, {"quantity": 3}, cart["token"])
            self._call("change", "PUT", item, {"quantity": 2}, cart["token"])
            status, _, _ = self._call(
                "checkout", "POST", f"/api/v1/carts/{cart['id']}/checkout/", token=cart["token"]
            )
            with self._lock:
                self.checkouts[cart["id"]] = status

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def since(self, moment: float):
        with self._lock:
            return [a for a in self.answers if a[0] >= moment]


@pytest.mark.parametrize("window", [0, 900], ids=["sold-at-checkout", "payment-window"])
def test_postgres_restart_under_shoppers(tmp_path, postgres, window):
    """With a payment window, checkout holds the units for the payment instead of selling
    them; either way nothing is lost or counted twice across the restart."""
    env = celery_processes.process_env(
        ORDER_PAYMENT_WINDOW_SECONDS=str(window),
        DATABASE_URL=postgres.url,
        ALLOWED_HOSTS="127.0.0.1",
        SECRET_KEY="postgres-restart-fault-test-secret-key-long-enough-for-production",
        CONN_MAX_AGE="60",
        DB_CONNECT_TIMEOUT="2",
        THROTTLE_CART_CREATE="off",
        THROTTLE_CART_WRITE="off",
        ALERT_WEBHOOK_URL="",
        ADMINS="",
        SENTRY_DSN="",
    )
    _manage(env, "migrate", "--no-input", "-v", "0")
    created = _manage(
        env,
        "shell",
        "-c",
        "from store.services import product_create; "
        f"print(product_create(sku='PG-RESTART', name='PG', price=2, on_hand={ON_HAND}).pk)",
    )
    product_id = int(created.strip().splitlines()[-1])

    log_path = tmp_path / "web.log"
    with runserver(env, log_path) as (web, base):
        with Shoppers(base, product_id) as shoppers:
            time.sleep(1.5)
            down_at = time.monotonic()
            postgres.stop()
            time.sleep(3)
            during = shoppers.since(down_at + 0.5)
            postgres.start()
            up_at = time.monotonic()
            time.sleep(4)
        after = [a for a in shoppers.since(up_at + 1.0)]
        assert web.poll() is None, "the web process died"
        web_log = log_path.read_text()

    statuses = sorted({a[2] for a in shoppers.answers})
    errors = [a for a in shoppers.answers if a[2] >= 500 and a[2] != 503]
    assert errors == [], (errors[:5], web_log[-4000:])
    unavailable = [a for a in shoppers.answers if a[2] == 503]
    assert [a for a in unavailable if a[3].get("code") != "unavailable"] == []
    assert [a for a in unavailable if not a[4].get("Retry-After")] == []
    assert during and all(a[2] == 503 for a in during), sorted({a[2] for a in during})
    # Recovered without a restart: the answers after the database came back are successes.
    assert after, statuses
    assert {a[2] for a in after if a[1] == "checkout"} == {201}, sorted({a[2] for a in after})
    assert all(a[2] in (200, 201) for a in after), sorted({a[2] for a in after})

    audit = json.loads(_manage(env, "shell", "-c", AUDIT).strip().splitlines()[-1])
    # Every unit is either on the shelf or sold; `reserved` is exactly the active holds:
    # the open carts' and the pending orders'.
    assert audit["on_hand"] + audit["sold"] == ON_HAND, audit
    assert audit["reserved"] == audit["active"], audit
    assert audit["active"] == audit["active_in_open_carts"] + audit["pending"], audit
    assert audit["statuses"] == (["pending_payment"] if window else ["placed"]), audit
    assert audit["consumed"] == audit["sold"], audit
    assert audit["consumed_without_order"] == 0 and audit["bad_orders"] == [], audit
    # A checkout answered 201 made its order; one that never made an order took no stock.
    made = set(audit["order_carts"])
    ok = {cart for cart, status in shoppers.checkouts.items() if status == 201}
    assert ok <= made
    assert audit["orders"] == len(made) > 0
