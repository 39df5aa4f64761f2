"""Staff during the soak: restocks through the project's service, and a watch on the system.

The restocker raises and lowers `on_hand` with `reservations.services.inventory_set`, the service
behind `manage.py set_stock` and the admin, and keeps the ledger the audit needs: units
received per product are the initial stock plus every accepted increase minus every
accepted decrease. A decrease refused with StockBelowHeld counts nothing.

`inventory_set` sets an absolute figure, so a sale that commits between reading the shelf
and setting it (a checkout, or a payment confirmed for a pending order) would be
overwritten and the ledger would be off by its units. The restocker passes the figure it
read as `expected_on_hand`, the service's own optimistic check: a sale in between makes it
StaleOnHand, nothing changes, and the restock is tried afresh on the new figure.
"""

import random
import threading
from collections import Counter

from django.db import DatabaseError, connection

from reservations.errors import StaleOnHand, StockBelowHeld
from reservations.services import inventory_set
from reservations.services.reconcile import stock_drift_find
from soak.shoppers import Plan, Shopper, Tally
from store.models import Inventory, Product

_ATTEMPTS = 5


def shelf_read(product_id: int) -> int:
    """The product's `on_hand`."""
    return Inventory.objects.filter(pk=product_id).values_list("on_hand", flat=True).get()


class Restocker(threading.Thread):
    """Change one product's stock about every `interval` seconds until `stop` is set."""

    def __init__(self, *, received: dict[int, int], hot: tuple[int, ...], interval: float,
                 stop: threading.Event, seed: int) -> None:
        super().__init__(name="restocker", daemon=True)
        self.received = dict(received)
        self.hot = set(hot)
        self.interval = interval
        self.stop = stop
        self.rng = random.Random(seed)  # noqa: S311 - which product to restock, not a secret
        self.figures: Counter = Counter()
        self.errors: list[str] = []

    def _delta(self, product_id: int, on_hand: int) -> int:
        low, refill = (3, (2, 8)) if product_id in self.hot else (40, (20, 80))
        if on_hand < low:
            return self.rng.randint(*refill)
        if self.rng.random() < 0.35:
            return -self.rng.randint(1, min(on_hand, 6))
        return self.rng.randint(1, refill[1] // 2)

    def restock(self, product: Product) -> None:
        """Change the product's stock once; record what was accepted."""
        on_hand = shelf_read(product.pk)
        delta = self._delta(product.pk, on_hand)
        for attempt in range(_ATTEMPTS):
            if attempt:
                on_hand = shelf_read(product.pk)
            target = max(on_hand + delta, 0)
            try:
                inventory_set(
                    product=product, on_hand=target, expected_on_hand=on_hand,
                    actor="soak restocker",
                )
            except StaleOnHand:
                self.figures["raced"] += 1
                continue
            except StockBelowHeld:
                self.figures["refused"] += 1
                return
            change = target - on_hand
            self.received[product.pk] += change
            if change >= 0:
                self.figures["increases"] += 1
                self.figures["units_added"] += change
            else:
                self.figures["decreases"] += 1
                self.figures["units_removed"] -= change
            return
        self.figures["gave_up"] += 1

    def run(self) -> None:
        products = Product.objects.in_bulk(list(self.received))
        hot, wide = sorted(self.hot), sorted(set(products) - self.hot)
        try:
            while not self.stop.wait(self.rng.uniform(0.5, 1.5) * self.interval):
                pool = hot if hot and self.rng.random() < 0.5 else wide
                try:
                    self.restock(products[self.rng.choice(pool)])
                except DatabaseError as exc:
                    self.figures["errors"] += 1
                    if len(self.errors) < 20:
                        self.errors.append(f"{type(exc).__name__}: {exc}"[:400])
        finally:
            connection.close()


class Watch(threading.Thread):
    """Look at the running system as monitoring would, every few seconds.

    Counter drift is looked for in one statement (`stock_drift_find`: one snapshot, no
    lock), so it must find nothing at any moment, not only at the end. The health endpoint
    and /metrics are polled through the web process like an uptime check and a Prometheus
    scrape; their answers count with the shoppers'.
    """

    def __init__(self, *, plan: Plan, stop: threading.Event, every: float = 3.0) -> None:
        super().__init__(name="watch", daemon=True)
        self.stop = stop
        self.every = every
        self.tally = Tally()
        self.poller = Shopper(plan, stop, random.Random(0), self.tally)  # noqa: S311
        self.drift_samples = 0
        self.drifts: list[dict] = []
        self.errors: list[str] = []

    def run(self) -> None:
        rounds = 0
        try:
            while not self.stop.wait(self.every):
                rounds += 1
                try:
                    found = stock_drift_find()
                except DatabaseError as exc:
                    self.errors.append(f"{type(exc).__name__}: {exc}"[:400])
                    continue
                self.drift_samples += 1
                for drift in found[: max(0, 20 - len(self.drifts))]:
                    self.drifts.append(drift.__dict__)
                self.poller.call("health", "GET", "/api/v1/health/")
                if rounds % 5 == 0:
                    self.poller.call("metrics", "GET", "/metrics")
        finally:
            connection.close()
