"""Concurrent shoppers: processes of threads, one database connection per thread.

Each client owns one cart and one product and sets its line alternately to 2 and 1 units,
so every operation moves the product's counter (+1, then -1). Clients either run flat out
for a fixed time (throughput) or at a fixed pace until told to stop (latency under a
background job). Every operation is recorded as (wall-clock start, seconds taken).
"""

import multiprocessing as mp
import queue as queue_mod
import random
import threading
import time
from dataclasses import dataclass

from bench.common import latency_summary


@dataclass(frozen=True)
class Client:
    # "project" (reservations.services.hold_set) or "peer" (bench.peer)
    kind: str
    cart_id: str
    product_id: int


def _operation(kind: str):
    if kind == "project":
        from reservations.services import hold_set

        return hold_set
    if kind == "peer":
        from bench.peer import peer_hold_set

        return peer_hold_set
    raise ValueError(kind)


def _client_thread(client, start_at, end_at, interval, stop, out, lock):
    from django.db import connection

    from reservations.models import Cart
    from store.models import Product

    records: list[tuple[float, float]] = []
    errors: dict[str, int] = {}
    try:
        op = _operation(client.kind)
        cart = Cart.objects.get(pk=client.cart_id)
        product = Product.objects.get(pk=client.product_id)
        # Opens this thread's connection and makes the line exist before the clock starts.
        op(cart=cart, product=product, quantity=1)
        quantity = 1
        delay = start_at - time.time()
        if delay > 0:
            time.sleep(delay)
        # Paced clients start at a random phase so they do not fire in step.
        phase = random.random() * interval  # noqa: S311 - spreading load, not secrets
        next_at = time.time() + phase
        while not stop.is_set() and time.time() < end_at:
            if interval:
                delay = next_at - time.time()
                if delay > 0:
                    time.sleep(delay)
                next_at += interval
            quantity = 2 if quantity == 1 else 1
            wall = time.time()
            began = time.perf_counter()
            try:
                op(cart=cart, product=product, quantity=quantity)
            except Exception as exc:  # noqa: BLE001 - counted and reported, never hidden
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            records.append((wall, time.perf_counter() - began))
    except Exception as exc:  # noqa: BLE001
        errors[f"setup {type(exc).__name__}: {exc}"] = 1
    finally:
        connection.close()
    with lock:
        out.append((records, errors))


def _process_main(clients, start_at, end_at, interval, stop, results):
    # The parent closed its connections before forking (ClientPool), so every thread here
    # opens its own.
    out: list = []
    lock = threading.Lock()
    threads = [
        threading.Thread(
            target=_client_thread,
            args=(client, start_at, end_at, interval, stop, out, lock),
            daemon=True,
        )
        for client in clients
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = [r for thread_records, _ in out for r in thread_records]
    errors: dict[str, int] = {}
    for _, thread_errors in out:
        for name, count in thread_errors.items():
            errors[name] = errors.get(name, 0) + count
    results.put((records, errors))


class ClientPool:
    """Clients spread round-robin over `processes` forked processes."""

    def __init__(self, clients: list[Client], *, processes: int, duration: float | None = None,
                 rate_per_client: float | None = None):
        from django.db import connections

        connections.close_all()
        self._ctx = mp.get_context("fork")
        self.stop_event = self._ctx.Event()
        self._results = self._ctx.Queue()
        processes = max(1, min(processes, len(clients)))
        # Time to fork, connect and make each line before the clock starts.
        self.start_at = time.time() + 1.0 + 0.03 * len(clients)
        end_at = self.start_at + duration if duration else self.start_at + 24 * 3600
        interval = 1.0 / rate_per_client if rate_per_client else 0.0
        groups = [clients[i::processes] for i in range(processes)]
        self._procs = [
            self._ctx.Process(
                target=_process_main,
                args=(group, self.start_at, end_at, interval, self.stop_event, self._results),
                daemon=True,
            )
            for group in groups
        ]
        for proc in self._procs:
            proc.start()

    def wait_started(self) -> None:
        delay = self.start_at - time.time()
        if delay > 0:
            time.sleep(delay)

    def collect(self, *, stop: bool = False, timeout: float = 120.0):
        """Wait for every process (stopping them first if asked); return records, errors."""
        if stop:
            self.stop_event.set()
        records: list[tuple[float, float]] = []
        errors: dict[str, int] = {}
        deadline = time.time() + timeout
        for _ in self._procs:
            try:
                proc_records, proc_errors = self._results.get(
                    timeout=max(1, deadline - time.time()))
            except queue_mod.Empty:
                errors["client process did not report"] = errors.get(
                    "client process did not report", 0) + 1
                continue
            records.extend(proc_records)
            for name, count in proc_errors.items():
                errors[name] = errors.get(name, 0) + count
        for proc in self._procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join()
        return records, errors


def throughput(clients: list[Client], *, processes: int, duration: float,
               warmup: float = 1.0) -> dict:
    """Run the clients flat out; operations per second completed after the warm-up."""
    pool = ClientPool(clients, processes=processes, duration=warmup + duration)
    records, errors = pool.collect(timeout=warmup + duration + 120)
    window_start = pool.start_at + warmup
    window_end = window_start + duration
    measured = [lat for wall, lat in records if window_start <= wall + lat <= window_end]
    ops = len(measured)
    return {
        "ops_per_s": round(ops / duration, 1),
        "ops": ops,
        "seconds": duration,
        "clients": len(clients),
        "processes": max(1, min(processes, len(clients))),
        "errors": errors,
        "latency": latency_summary(measured),
    }


def window(records, start: float, end: float) -> list[float]:
    """Latencies of the operations that started within [start, end]."""
    return [lat for wall, lat in records if start <= wall <= end]
