"""Shoppers: threads in a few processes, each a stream of sessions through the HTTP API only.

A session opens a cart, holds a few lines (a few hot products with little stock, so 409
insufficient_stock is common, and a wider catalogue), changes and removes some, and then
checks out (with an Idempotency-Key, sometimes repeated, sometimes sent twice at once),
walks away (its holds expire), comes back after the holds expired, or empties the cart.
Every answer is counted by operation, status and error code, with its latency. Each
shopper is the only writer of its cart, so it also knows what every answer must say: a
cart, an order or a replay that disagrees with it is counted as a wrong answer.
"""

import http.client
import json
import multiprocessing as mp
import random
import signal
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

# Every operation a shopper (or the monitor) sends, and the answers it may get.
EXPECTED: dict[str, set[tuple[int, str]]] = {
    "products": {(200, "")},
    "product": {(200, "")},
    "cart_create": {(201, "")},
    "cart_get": {(200, "")},
    "hold_new": {(200, ""), (409, "insufficient_stock")},
    "hold_change": {(200, ""), (409, "insufficient_stock")},
    "hold_delete": {(200, "")},
    # 200: the other request of a double submit made the order first.
    "checkout": {(201, ""), (200, ""), (409, "insufficient_stock")},
    "checkout_replay": {(200, "")},
    # The back office confirming or cancelling a payment; 409 once the deadline passed.
    "order_confirm": {(200, ""), (409, "payment_window_expired")},
    "order_cancel": {(200, ""), (409, "payment_window_expired")},
    "health": {(200, "")},
    "metrics": {(200, "")},
}
SESSION_KINDS = {"buyer": 0.45, "abandoner": 0.27, "late": 0.1, "emptier": 0.08, "browser": 0.1}
# With a payment window, what happens to an order after checkout: the payment goes
# through, fails (the shop cancels), is never made (the order expires), or comes too late.
PAYMENTS = {"paid": 0.6, "cancelled": 0.15, "unpaid": 0.2, "too_late": 0.05}
# A confirm sent this long before the deadline must succeed (the clocks are one machine's).
_DEADLINE_MARGIN_SECONDS = 2.0
HOT_SHARE = 0.35
_WRONG_KEPT = 30
_UNEXPECTED_KEPT = 30


@dataclass(frozen=True)
class Plan:
    """What every shopper needs to know; plain data, handed to the processes."""

    ports: tuple[int, ...]  # one per web node
    hot: tuple[int, ...]
    wide: tuple[int, ...]
    ttl_seconds: float
    think_seconds: float = 0.15
    timeout_seconds: float = 60
    epoch: float = 0.0  # time.time() when the load began; answers are counted per minute
    # Above 0: checkout answers pending orders, which the back office (with this key)
    # confirms or cancels.
    payment_window_seconds: float = 0.0
    api_key: str = ""


@dataclass
class Answer:
    status: int
    body: object
    headers: dict[str, str]

    @property
    def code(self) -> str:
        if self.status >= 400 and isinstance(self.body, dict):
            return str(self.body.get("code", ""))
        return ""


@dataclass
class Tally:
    """What some shoppers saw; tallies of threads and processes add up with `merge`."""

    requests: int = 0  # answered or not
    answers: Counter = field(default_factory=Counter)  # (op, status, code) -> n
    latencies: dict[str, list[float]] = field(default_factory=dict)
    # minute of the load -> latencies of the answers in it, and of the 5xx among them
    minutes: dict[int, list[float]] = field(default_factory=dict)
    minutes_5xx: Counter = field(default_factory=Counter)
    connection_errors: Counter = field(default_factory=Counter)  # (op, error) -> n
    sessions: Counter = field(default_factory=Counter)
    payments: Counter = field(default_factory=Counter)
    nodes: Counter = field(default_factory=Counter)  # web node (1, 2, ...) -> requests sent
    # cart id -> every order id a checkout answer named for it
    orders_answered: dict[str, list[str]] = field(default_factory=dict)
    wrong: int = 0
    wrong_examples: list[str] = field(default_factory=list)
    unexpected_examples: list[str] = field(default_factory=list)

    def answer(self, op: str, answer: Answer, seconds: float, minute: int) -> None:
        self.requests += 1
        self.answers[(op, answer.status, answer.code)] += 1
        self.latencies.setdefault(op, []).append(seconds)
        self.minutes.setdefault(minute, []).append(seconds)
        if answer.status >= 500:
            self.minutes_5xx[minute] += 1
        if (answer.status, answer.code) not in EXPECTED[op]:
            if len(self.unexpected_examples) < _UNEXPECTED_KEPT:
                self.unexpected_examples.append(
                    f"{op} {answer.status}: {json.dumps(answer.body)[:300]}"
                )

    def unanswered(self, op: str, error: Exception) -> None:
        self.requests += 1
        self.connection_errors[(op, type(error).__name__)] += 1

    def wrong_answer(self, what: str) -> None:
        self.wrong += 1
        if len(self.wrong_examples) < _WRONG_KEPT:
            self.wrong_examples.append(what[:400])

    def merge(self, other: "Tally") -> None:
        self.requests += other.requests
        self.answers.update(other.answers)
        for op, values in other.latencies.items():
            self.latencies.setdefault(op, []).extend(values)
        for minute, values in other.minutes.items():
            self.minutes.setdefault(minute, []).extend(values)
        self.minutes_5xx.update(other.minutes_5xx)
        self.connection_errors.update(other.connection_errors)
        self.sessions.update(other.sessions)
        self.payments.update(other.payments)
        self.nodes.update(other.nodes)
        for cart, orders in other.orders_answered.items():
            self.orders_answered.setdefault(cart, []).extend(orders)
        self.wrong += other.wrong
        self.wrong_examples.extend(other.wrong_examples[: _WRONG_KEPT - len(self.wrong_examples)])
        self.unexpected_examples.extend(
            other.unexpected_examples[: _UNEXPECTED_KEPT - len(self.unexpected_examples)]
        )


def request(port: int, method: str, path: str, *, body=None, headers=None,
            timeout: float = 60) -> Answer:
    """One HTTP request on a connection of its own (gunicorn's sync workers close it)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        payload = None if body is None else json.dumps(body).encode()
        sent = {"Content-Type": "application/json"} if payload is not None else {}
        sent.update(headers or {})
        connection.request(method, path, body=payload, headers=sent)
        response = connection.getresponse()
        raw = response.read()
        headers_in = {key.lower(): value for key, value in response.getheaders()}
    finally:
        connection.close()
    if headers_in.get("content-type", "").startswith("application/json") and raw:
        try:
            data = json.loads(raw)
        except ValueError:
            data = {"raw": raw[:300].decode(errors="replace")}
    else:
        data = {"raw": raw[:300].decode(errors="replace")}
    return Answer(response.status, data, headers_in)


class Shopper:
    """One thread of sessions; the only writer of the carts it opens."""

    def __init__(self, plan: Plan, stop, rng: random.Random, tally: Tally) -> None:
        self.plan, self.stop, self.rng, self.tally = plan, stop, rng, tally
        self.blind = False  # a request of this session went unanswered
        self.sent = 0

    # -- HTTP ---------------------------------------------------------------------------
    def call(self, op: str, method: str, path: str, *, body=None, token=None,
             headers=None, tally: Tally | None = None) -> Answer | None:
        tally = tally or self.tally
        sent = dict(headers or {})
        if token:
            sent["X-Cart-Token"] = token
        # Round robin over the web nodes, as a load balancer without sticky sessions
        # sends them: one cart's requests go to every node in turn, and so do, as a rule,
        # the two halves of a double submit.
        node = self.sent % len(self.plan.ports)
        self.sent += 1
        tally.nodes[node + 1] += 1
        began = time.perf_counter()
        try:
            answer = request(self.plan.ports[node], method, path, body=body, headers=sent,
                             timeout=self.plan.timeout_seconds)
        except (OSError, http.client.HTTPException) as exc:
            tally.unanswered(op, exc)
            self.blind = True
            return None
        minute = max(int((time.time() - self.plan.epoch) // 60), 0)
        tally.answer(op, answer, time.perf_counter() - began, minute)
        return answer

    def pause(self, seconds: float) -> bool:
        """Wait like a person would; False once the soak is over."""
        return not self.stop.wait(seconds)

    def think(self) -> bool:
        return self.pause(self.rng.uniform(0, self.plan.think_seconds))

    def product(self) -> int:
        if self.plan.hot and self.rng.random() < HOT_SHARE:
            return self.rng.choice(self.plan.hot)
        return self.rng.choice(self.plan.wide)

    # -- checks of what an answer must say ----------------------------------------------
    def expect_items(self, what: str, answer: Answer, lines: dict[int, int]) -> None:
        if self.blind or answer.status != 200 or not isinstance(answer.body, dict):
            return
        shown = {item["product_id"]: item["quantity"] for item in answer.body.get("items", [])}
        if shown != lines:
            self.tally.wrong_answer(f"{what}: cart shows {shown}, the shopper set {lines}")

    def expect_short(self, what: str, answer: Answer) -> None:
        body = answer.body if isinstance(answer.body, dict) else {}
        short = body.get("lines") or [body]
        for line in short:
            if line.get("available", 0) >= line.get("requested", 0):
                self.tally.wrong_answer(f"{what}: 409 insufficient_stock with {line}")

    # -- a session ----------------------------------------------------------------------
    def browse(self) -> None:
        if self.rng.random() < 0.5:
            offset = self.rng.randrange(0, max(len(self.plan.wide), 1))
            self.call("products", "GET", f"/api/v1/products/?limit=20&offset={offset}")
        else:
            self.call("product", "GET", f"/api/v1/products/{self.product()}/")

    def hold(self, cart: dict, lines: dict[int, int], product_id: int, quantity: int) -> None:
        op = "hold_change" if product_id in lines else "hold_new"
        answer = self.call(
            op, "PUT", f"/api/v1/carts/{cart['id']}/items/{product_id}/",
            body={"quantity": quantity}, token=cart["token"],
        )
        if answer is None:
            return
        if answer.status == 200:
            if quantity:
                lines[product_id] = quantity
            else:
                lines.pop(product_id, None)
            self.expect_items(f"PUT {quantity} of {product_id}", answer, lines)
        elif answer.code == "insufficient_stock":
            self.expect_short(f"PUT {quantity} of {product_id}", answer)

    def remove(self, cart: dict, lines: dict[int, int], product_id: int) -> None:
        answer = self.call(
            "hold_delete", "DELETE", f"/api/v1/carts/{cart['id']}/items/{product_id}/",
            token=cart["token"],
        )
        if answer is not None and answer.status == 200:
            lines.pop(product_id, None)
            self.expect_items(f"DELETE {product_id}", answer, lines)

    def order_seen(self, cart: dict, lines: dict[int, int], answer: Answer, what: str) -> None:
        order = answer.body if isinstance(answer.body, dict) else {}
        self.tally.orders_answered.setdefault(cart["id"], []).append(str(order.get("id")))
        bought = {line["product_id"]: line["quantity"] for line in order.get("lines", [])}
        if str(order.get("cart_id")) != cart["id"]:
            self.tally.wrong_answer(f"{what}: order of cart {order.get('cart_id')}")
        if not self.blind and bought != lines:
            self.tally.wrong_answer(f"{what}: order has {bought}, the cart held {lines}")

    def double_submit(self, cart: dict, path: str, key: str) -> list[Answer | None]:
        """The same checkout sent twice at once, as a double click does."""
        answers: list[Answer | None] = [None, None]
        tallies = [self.tally, Tally()]  # one per thread, added up after

        def send(i: int) -> None:
            answers[i] = self.call("checkout", "POST", path, token=cart["token"],
                                   headers={"Idempotency-Key": key}, tally=tallies[i])

        other = threading.Thread(target=send, args=(1,))
        other.start()
        send(0)
        other.join()
        self.tally.merge(tallies[1])
        return answers

    def checkout(self, cart: dict, lines: dict[int, int], *, retry: bool = True) -> None:
        if not lines:
            return
        path = f"/api/v1/carts/{cart['id']}/checkout/"
        key = uuid.uuid4().hex
        if self.rng.random() < 0.1:
            answers = self.double_submit(cart, path, key)
            statuses = sorted(a.status for a in answers if a is not None)
            if statuses == [200, 201]:
                ids = {a.body.get("id") for a in answers if isinstance(a.body, dict)}
                if len(ids) != 1:
                    self.tally.wrong_answer(f"double submit: two orders {ids}")
            elif statuses == [201, 201]:
                self.tally.wrong_answer("double submit: both requests created an order")
            made = [a for a in answers if a is not None and a.status in (200, 201)]
            for answer in made:
                self.order_seen(cart, lines, answer, "double submit")
            if made:
                self.payment(made[0].body)
            answer = next((a for a in answers if a is not None), None)
            if made or answer is None:
                return
        else:
            answer = self.call("checkout", "POST", path, token=cart["token"],
                               headers={"Idempotency-Key": key})
            if answer is None:
                return
            if answer.status in (200, 201):
                self.order_seen(cart, lines, answer, "checkout")
            if answer.status == 201 and self.rng.random() < 0.3:
                self.replay(cart, lines, path, key, answer)
            if answer.status == 201:
                self.payment(answer.body)
                return
        if answer.status == 409 and answer.code == "insufficient_stock":
            self.expect_short("checkout", answer)
            if not retry or not self.think():
                return
            # Give up the short lines and try once more with what is left.
            body = answer.body if isinstance(answer.body, dict) else {}
            for line in body.get("lines", []):
                self.hold(cart, lines, line["product_id"], 0)
            self.checkout(cart, lines, retry=False)

    def back_office(self, op: str, order_id: str, action: str) -> Answer | None:
        return self.call(
            op, "POST", f"/api/v1/back-office/orders/{order_id}/{action}/",
            headers={"Authorization": f"Bearer {self.plan.api_key}"},
        )

    def payment(self, order) -> None:
        """What the shop's payment step does with a pending order."""
        if not isinstance(order, dict) or order.get("status") != "pending_payment":
            return
        deadline = datetime.fromisoformat(order["payment_expires_at"]).timestamp()
        outcome = self.rng.choices(list(PAYMENTS), weights=list(PAYMENTS.values()))[0]
        self.tally.payments[outcome] += 1
        if outcome == "unpaid":
            return  # the units come back at the deadline, with no one asking
        if outcome == "too_late":
            if not self.pause(max(deadline - time.time(), 0) + 1.0):
                return
        elif not self.think():
            return
        op, action, status = {
            "paid": ("order_confirm", "confirm", "placed"),
            "too_late": ("order_confirm", "confirm", "placed"),
            "cancelled": ("order_cancel", "cancel", "cancelled"),
        }[outcome]
        sent_at = time.time()
        answer = self.back_office(op, order["id"], action)
        if answer is None or self.blind:
            return
        body = answer.body if isinstance(answer.body, dict) else {}
        if answer.status == 200 and (body.get("status") != status or outcome == "too_late"):
            self.tally.wrong_answer(
                f"{action} of {order['id']} ({outcome}): 200 with status {body.get('status')}"
            )
        early = deadline - sent_at > _DEADLINE_MARGIN_SECONDS
        if answer.code == "payment_window_expired" and early and outcome != "too_late":
            self.tally.wrong_answer(
                f"{action} of {order['id']}: payment_window_expired "
                f"{deadline - sent_at:.1f} s before the deadline"
            )

    def replay(self, cart: dict, lines: dict[int, int], path: str, key: str,
               first: Answer) -> None:
        """Send the checkout again (a retry after a lost answer): the same order, 200."""
        headers = {"Idempotency-Key": key} if self.rng.random() < 0.8 else {}
        answer = self.call("checkout_replay", "POST", path, token=cart["token"],
                           headers=headers)
        if answer is None or answer.status != 200:
            return
        self.order_seen(cart, lines, answer, "replay")
        if answer.headers.get("idempotent-replayed") != "true":
            self.tally.wrong_answer("replay: no Idempotent-Replayed header")
        if isinstance(answer.body, dict) and answer.body.get("id") != first.body.get("id"):
            self.tally.wrong_answer(
                f"replay: order {answer.body.get('id')} instead of {first.body.get('id')}"
            )

    def session(self) -> None:
        self.blind = False
        kind = self.rng.choices(list(SESSION_KINDS), weights=list(SESSION_KINDS.values()))[0]
        self.tally.sessions[kind] += 1
        if kind == "browser":
            for _ in range(self.rng.randint(1, 4)):
                self.browse()
                if not self.think():
                    return
            return
        if self.rng.random() < 0.3:
            self.browse()
        answer = self.call("cart_create", "POST", "/api/v1/carts/")
        if answer is None or answer.status != 201:
            return
        cart = {"id": answer.body["id"], "token": answer.body["token"]}
        lines: dict[int, int] = {}
        for _ in range(self.rng.randint(1, 4)):
            if not self.think():
                return
            self.hold(cart, lines, self.product(), self.rng.randint(1, 3))
        for _ in range(self.rng.randint(0, 2)):
            if not lines or not self.think():
                break
            product_id = self.rng.choice(list(lines))
            if self.rng.random() < 0.3:
                self.remove(cart, lines, product_id)
            else:
                self.hold(cart, lines, product_id, self.rng.randint(0, 4))
        if self.rng.random() < 0.2 and self.think():
            answer = self.call("cart_get", "GET", f"/api/v1/carts/{cart['id']}/",
                               token=cart["token"])
            if answer is not None:
                self.expect_items("GET cart", answer, lines)
        if not self.think():
            return
        if kind == "buyer":
            self.checkout(cart, lines)
        elif kind == "late":
            # Back after the holds ran out: expired lines are bought from free stock if
            # there is enough, or held again first.
            if not self.pause(self.plan.ttl_seconds * self.rng.uniform(1.05, 1.6)):
                return
            if lines and self.rng.random() < 0.5:
                product_id = self.rng.choice(list(lines))
                self.hold(cart, lines, product_id, lines[product_id])
            self.checkout(cart, lines)
        elif kind == "emptier":
            for product_id in list(lines):
                if self.rng.random() < 0.5:
                    self.remove(cart, lines, product_id)
                else:
                    self.hold(cart, lines, product_id, 0)
        # An abandoner walks away: the holds expire on their own.

    def run(self) -> None:
        while not self.stop.is_set():
            self.session()


def _process(plan: Plan, stop, results, seeds: list[int], counter) -> None:
    # Ctrl-C reaches the whole foreground group; the driver stops the shoppers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tallies = [Tally() for _ in seeds]
    threads = [
        threading.Thread(
            target=Shopper(plan, stop, random.Random(seed), tally).run, daemon=True  # noqa: S311 - shoppers' choices, not secrets
        )
        for seed, tally in zip(seeds, tallies, strict=True)
    ]
    for thread in threads:
        thread.start()
    while True:
        alive = [thread for thread in threads if thread.is_alive()]
        with counter.get_lock():
            counter.value = sum(tally.requests for tally in tallies)
        if not alive:
            break
        alive[0].join(timeout=1)
    merged = Tally()
    for tally in tallies:
        merged.merge(tally)
    results.put(merged)


class Crowd:
    """`shoppers` threads spread over `processes` processes, until `stop()`."""

    def __init__(self, plan: Plan, *, shoppers: int, processes: int, seed: int) -> None:
        ctx = mp.get_context("fork")
        self.stop_event = ctx.Event()
        self.results = ctx.Queue()
        self.counters = [ctx.Value("q", 0) for _ in range(processes)]
        seeds = [seed * 1000 + n for n in range(shoppers)]
        self.processes = [
            ctx.Process(
                target=_process,
                args=(plan, self.stop_event, self.results, seeds[i::processes], self.counters[i]),
                daemon=True,
            )
            for i in range(processes)
        ]

    def start(self) -> None:
        for process in self.processes:
            process.start()

    def sent(self) -> int:
        """Requests so far (updated about once a second)."""
        return sum(counter.value for counter in self.counters)

    def stop(self, timeout: float = 120) -> Tally:
        """Stop every shopper after its request in flight; return what they all saw."""
        self.stop_event.set()
        merged = Tally()
        deadline = time.monotonic() + timeout
        for _ in self.processes:
            merged.merge(self.results.get(timeout=max(deadline - time.monotonic(), 1)))
        for process in self.processes:
            process.join(timeout=max(deadline - time.monotonic(), 1))
        return merged

    def kill(self) -> None:
        self.stop_event.set()
        for process in self.processes:
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
