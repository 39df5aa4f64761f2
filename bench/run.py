"""The benchmark suite: every scenario of issue 5, each compared within the same run.

Run it with `make bench` (scripts/bench.sh starts the throwaway PostgreSQL). Options:
  --quick           short measurements and a 100,000-hold drain (for trying the harness)
  --only a,b        run only these scenarios (hot_hold, scaling, reads, peer_pattern, http,
                    dead_reads, drain); the outputs list the others as not run
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass

from bench.common import (
    ROOT,
    django_env,
    django_setup,
    latency_summary,
    log,
    sql,
)
from bench.dead_reads import scenario_dead_reads

SCENARIOS = ("hot_hold", "scaling", "reads", "peer_pattern", "http", "dead_reads", "drain")


@dataclass(frozen=True)
class Sizes:
    seconds: float          # one throughput measurement
    scaling_seconds: float  # one point of the scaling curve
    reads: int              # availability reads per product (project)
    peer_read_seconds: float
    live_holds: tuple[int, ...]
    drain_products: int
    drain_carts: int        # holds = products x carts
    drain_clients: int
    drain_rate_per_client: float
    drain_quiet_seconds: float  # each of the two windows without a drain
    http_seconds: float


# The drain is the target's 1,000,000 expired holds over 1,000 products (1,000 carts of
# one hold per product). If the machine is slow enough that the suite's budget runs out,
# the drains are cut short and the figures say so.
FULL = Sizes(seconds=8, scaling_seconds=6, reads=2000, peer_read_seconds=6,
             live_holds=(0, 10_000, 100_000), drain_products=1000, drain_carts=1000,
             drain_clients=4, drain_rate_per_client=25, drain_quiet_seconds=20, http_seconds=8)
QUICK = Sizes(seconds=3, scaling_seconds=2, reads=300, peer_read_seconds=2,
              live_holds=(0, 10_000, 100_000), drain_products=100, drain_carts=1000,
              drain_clients=4, drain_rate_per_client=25, drain_quiet_seconds=3, http_seconds=3)

HOT_CLIENTS = 16
# hot_hold is measured at each of these; its value is the lower ratio.
HOT_CLIENT_LEVELS = (16, 64)
PROCESSES = 2
SCALING_LEVELS = (1, 2, 4, 8, 16, 32, 64, 128)
HTTP_CONNECTIONS = 16
BIG_STOCK = 100_000_000
# The whole suite must end within 15 minutes; the open-ended steps (the drains) are cut
# to what is left of this budget.
SUITE_BUDGET_SECONDS = 14 * 60


# ----------------------------------------------------------------------------- setup ---
def migrate() -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT, env=django_env(), capture_output=True, text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"bench: migrate failed:\n{done.stdout}{done.stderr}")


def product_make(sku: str, on_hand: int = BIG_STOCK):
    from decimal import Decimal

    from store.services import product_create

    return product_create(sku=sku, name=sku, price=Decimal("10.00"), on_hand=on_hand)


def carts_make(count: int) -> list[str]:
    from reservations.services import cart_create

    return [str(cart_create()[0].pk) for _ in range(count)]


def reserved_of(product_id: int) -> int:
    return sql("SELECT reserved FROM store_inventory WHERE product_id = %s", (product_id,),
               fetch=True)[0][0]


def machine() -> dict:
    import django

    mem_kb = 0
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    cpu = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo
                        if line.startswith("model name")), "")
    except OSError:
        pass
    nproc = subprocess.run(  # noqa: S603
        ["nproc"], capture_output=True, text=True).stdout.strip()  # noqa: S607
    commit = subprocess.run(  # noqa: S603
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
        cwd=ROOT, capture_output=True, text=True).stdout.strip()
    from bench.http import load_generator

    return {
        "nproc": int(nproc) if nproc.isdigit() else os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "postgresql": sql("SHOW server_version", fetch=True)[0][0],
        "postgresql_flags": os.environ.get("BENCH_PG_FLAGS", ""),
        "python": platform.python_version(),
        "django": django.get_version(),
        "os": platform.platform(),
        "load_generator": load_generator(),
        "commit": commit,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _mean(values):
    return sum(values) / len(values) if values else float("nan")


def _ratio(a, b):
    return round(a / b, 3) if b else None


def entry(value, target, op, unit="ratio", **raw) -> dict:
    met = None
    if value is not None:
        met = value >= target if op == ">=" else value <= target
    return {"value": value, "target": target, "op": op, "unit": unit, "met": met, **raw}


# ------------------------------------------------------------------------ scenarios ---
def _conventional(product_id: int, clients: int, seconds: float) -> dict:
    from bench.sql import CONVENTIONAL_HOLD, conventional_reset, pgbench

    before = reserved_of(product_id)
    try:
        return pgbench(script=CONVENTIONAL_HOLD, clients=clients, duration=seconds,
                       defines={"pid": product_id}, threads=PROCESSES)
    finally:
        conventional_reset(product_id=product_id, reserved=before)
        sql("VACUUM store_inventory")


def _project(carts, product_id, clients, seconds, kind="project") -> dict:
    from bench.load import Client, throughput

    result = throughput([Client(kind, carts[i], product_id) for i in range(clients)],
                        processes=PROCESSES, duration=seconds)
    sql("VACUUM store_inventory, store_cart")
    return result


def _side(ctx, side, clients, seconds) -> dict:
    product = ctx["hot_product"]
    if side == "conventional":
        return _conventional(product.pk, clients, seconds)
    return _project(ctx["hot_carts"], product.pk, clients, seconds, kind=side)


def _cost_per_op(ctx, kind: str, ops: int = 200) -> dict:
    """CPU milliseconds and SQL statements of one hold in this process, one client alone."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bench.load import _operation
    from reservations.models import Cart

    op = _operation(kind)
    cart = Cart.objects.get(pk=carts_make(1)[0])
    product = ctx["hot_product"]
    for i in range(10):
        op(cart=cart, product=product, quantity=1 + i % 2)
    # The warm-up left 2 units: going to 1 moves the counter, like every measured hold.
    with CaptureQueriesContext(connection) as queries:
        op(cart=cart, product=product, quantity=1)
    round_trips = len(queries.captured_queries)
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(ops):
        op(cart=cart, product=product, quantity=1 + i % 2)
    result = {
        "cpu_ms_per_op": round((time.process_time() - cpu) / ops * 1000, 2),
        "wall_ms_per_op": round((time.perf_counter() - wall) / ops * 1000, 2),
        "sql_round_trips": round_trips,
    }
    connection.close()
    return result


def scenario_hot_hold(ctx, sizes: Sizes) -> None:
    """Project vs pgbench's conventional transaction on one product, at 16 and 64 clients,
    rounds in ABBA order at each."""
    from bench.sql import conventional_table_make

    conventional_table_make()
    by_clients = {}
    order = ("project", "conventional", "conventional", "project")
    for clients in HOT_CLIENT_LEVELS:
        rounds = []
        for side in order:
            log(f"hot_hold: {side}, {clients} clients, {sizes.seconds} s")
            result = _side(ctx, side, clients, sizes.seconds)
            rounds.append({"side": side, **result})
            log(f"hot_hold: {side} {result['ops_per_s']} ops/s")
        mean = {side: _mean([r["ops_per_s"] for r in rounds if r["side"] == side])
                for side in set(order)}
        by_clients[str(clients)] = {
            "ratio": _ratio(mean["project"], mean["conventional"]),
            "project_ops_per_s": round(mean["project"], 1),
            "conventional_ops_per_s": round(mean["conventional"], 1),
            "rounds": rounds,
        }
        ctx["scaling_points"][clients] = mean
    cost = {kind: _cost_per_op(ctx, kind) for kind in ("project",)}
    ratios = [point["ratio"] for point in by_clients.values()]
    ctx["results"]["hot_hold"] = entry(
        min(ratios) if None not in ratios else None, 2.0, ">=",
        by_clients=by_clients,
        one_client_in_process=cost,
        processes=PROCESSES,
        postgresql_flags=os.environ.get("BENCH_PG_FLAGS", ""),
    )


def scenario_scaling(ctx, sizes: Sizes) -> None:
    """Hot-product throughput from 1 to 128 clients, project beside pgbench."""
    from bench.sql import conventional_table_make

    conventional_table_make()
    points = ctx["scaling_points"]
    for clients in SCALING_LEVELS:
        if clients in points:
            continue  # measured by the hot_hold rounds
        log(f"scaling: {clients} clients, {sizes.scaling_seconds} s each side")
        points[clients] = {}
        for side in ("project", "conventional"):
            result = _side(ctx, side, clients, sizes.scaling_seconds)
            points[clients][side] = result["ops_per_s"]
            if result.get("errors"):
                points[clients][f"{side}_errors"] = result["errors"]
        log(f"scaling: {clients} clients " + ", ".join(
            f"{side} {points[clients][side]}" for side in ("project", "conventional")))
    curve = [{"clients": c, "project_ops_per_s": round(points[c]["project"], 1),
              "conventional_ops_per_s": round(points[c]["conventional"], 1),
              "ratio": _ratio(points[c]["project"], points[c]["conventional"])}
             for c in sorted(points)]
    ctx["results"]["scaling"] = {"points": curve, "plot": "bench/results/scaling.png"}


def _live_products(ctx, sizes: Sizes):
    """Products with 0, 10,000 and 100,000 live holds (made once, shared)."""
    if "live_products" not in ctx:
        from bench.sql import live_holds_load

        products = {}
        for count in sizes.live_holds:
            product = product_make(f"BENCH-LIVE-{count}")
            if count:
                began = time.perf_counter()
                live_holds_load(product_id=product.pk, count=count)
                log(f"loaded {count} live holds in {time.perf_counter() - began:.1f} s")
            products[count] = product
        ctx["live_products"] = products
    return ctx["live_products"]


def scenario_reads(ctx, sizes: Sizes) -> None:
    """availability_get at 0, 10k, 100k live holds, interleaved; the peers' sum beside."""
    from bench.peer import peer_availability_get
    from reservations.selectors import availability_get

    products = _live_products(ctx, sizes)
    counts = sorted(products)

    def measure(fn, max_calls, max_seconds):
        samples = {c: [] for c in counts}
        for c in counts:  # warm the plan cache and the connection
            for _ in range(5):
                fn(product=products[c])
        deadline = time.perf_counter() + max_seconds
        for _ in range(max_calls):
            # Round-robin over the products, so noise on the machine hits each alike.
            for c in counts:
                began = time.perf_counter()
                fn(product=products[c])
                samples[c].append(time.perf_counter() - began)
            if time.perf_counter() > deadline:
                break
        return {c: latency_summary(samples[c]) for c in counts}

    log("read_flatness: availability_get")
    project = measure(availability_get, sizes.reads, 30)
    log("read_flatness: the peers' summing read")
    peer = measure(peer_availability_get, sizes.reads, sizes.peer_read_seconds)
    top, zero = counts[-1], counts[0]
    ctx["results"]["read_flatness"] = entry(
        _ratio(project[top]["p50_ms"], project[zero]["p50_ms"]), 1.2, "<=",
        live_holds=counts,
        project={str(c): project[c] for c in counts},
        peer={str(c): peer[c] for c in counts},
        peer_p50_ratio=_ratio(peer[top]["p50_ms"], peer[zero]["p50_ms"]),
        project_p99_ratio=_ratio(project[top]["p99_ms"], project[zero]["p99_ms"]),
    )


def scenario_peer_pattern(ctx, sizes: Sizes) -> None:
    """Project vs the peers' lock-sum-insert on a product with 10,000 live holds."""
    from bench.load import Client, throughput

    products = _live_products(ctx, sizes)
    product = products[10_000] if 10_000 in products else products[max(products)]
    project_carts = carts_make(HOT_CLIENTS)
    peer_carts = carts_make(HOT_CLIENTS)
    rounds = []
    for side in ("project", "peer", "peer", "project"):
        carts = peer_carts if side == "peer" else project_carts
        clients = [Client(side, cart, product.pk) for cart in carts]
        log(f"peer_pattern: {side}, {HOT_CLIENTS} clients, {sizes.seconds} s")
        result = throughput(clients, processes=PROCESSES, duration=sizes.seconds)
        sql("VACUUM store_inventory, store_cart, reservations_reservation")
        rounds.append({"side": side, **result})
        log(f"peer_pattern: {side} {result['ops_per_s']} ops/s")
    project = _mean([r["ops_per_s"] for r in rounds if r["side"] == "project"])
    peer = _mean([r["ops_per_s"] for r in rounds if r["side"] == "peer"])
    live = sql(
        "SELECT count(*) FROM reservations_reservation WHERE product_id = %s "
        "AND status = 'active' AND expires_at > now()", (product.pk,), fetch=True)[0][0]
    ctx["results"]["peer_pattern"] = entry(
        _ratio(project, peer), 5.0, ">=",
        project_ops_per_s=round(project, 1), peer_ops_per_s=round(peer, 1),
        live_holds_on_product=live, clients=HOT_CLIENTS, processes=PROCESSES, rounds=rounds,
    )


def scenario_http(ctx, sizes: Sizes) -> None:
    """PUT a cart line through gunicorn vs GET liveness on the same server, ABCCBA.

    The cart GET (the same token check and cart read a PUT answers with, no write) is
    measured beside them for the report: it shows what the framework's floor for a cart
    request is, apart from the hold itself. gunicorn runs the production settings: the
    scenario refuses a server with DEBUG on, and counts the throttle's INCRs in Valkey
    during the hold rounds, so a throttle counting anywhere but Redis fails it.
    """
    from bench import http
    from reservations.services.release import release_run

    # A healthy deployment has a recent successful release run; without one, every
    # worker's request-path watchdog would send "release job stale".
    release_run(max_run_seconds=5)
    product = product_make("BENCH-HTTP")
    workers = http.production_web_concurrency()
    log(f"http: gunicorn ({' '.join(http.procfile_web_command())}), "
        f"{workers} workers, load by {http.load_generator()}")
    server = http.Gunicorn(workers=workers)
    try:
        if http.debug_on(server.port):
            raise RuntimeError("gunicorn runs with DEBUG on; production runs with it off")
        carts = http.carts_create(server.port, 8 * HTTP_CONNECTIONS)
        for cart_id, token in carts:  # every line exists before the clock starts
            status, data = http.request("PUT", server.port, http.hold_path(cart_id, product.pk),
                                        {"quantity": 1}, {"X-Cart-Token": token})
            if status != 200:
                raise RuntimeError(f"PUT answered {status}: {data}")
        common = {"port": server.port, "carts": carts, "product_id": product.pk,
                  "connections": HTTP_CONNECTIONS}
        for which in ("live", "hold", "cart"):  # warm every worker
            http.run_endpoint(which=which, seconds=2, **common)
        rounds = []
        for which in ("live", "hold", "cart", "cart", "hold", "live"):
            log(f"http: {which}, {HTTP_CONNECTIONS} connections, {sizes.http_seconds} s")
            before = http.redis_stats()
            result = http.run_endpoint(which=which, seconds=sizes.http_seconds, **common)
            result["redis_incr"] = http.redis_stats()["incr"] - before["incr"]
            rounds.append({"endpoint": which, **result})
            log(f"http: {which} {result['requests_per_s']} requests/s "
                f"(non-2xx {result['non_2xx']}, Redis INCR {result['redis_incr']})")
    except Exception:
        log("gunicorn log tail:\n" + http.gunicorn_log_tail(server))
        raise
    finally:
        server.stop()
    holds = [r for r in rounds if r["endpoint"] == "hold"]
    # wrk counts the answers it read; requests still in flight when it stopped were
    # counted by the throttle too, so there are at least as many INCRs as holds.
    incr_per_hold = _ratio(sum(r["redis_incr"] for r in holds),
                           sum(r["requests"] or 0 for r in holds))
    if not incr_per_hold or incr_per_hold < 1:
        raise RuntimeError(f"the throttle counted {incr_per_hold} INCRs in Redis per hold")
    hold = _mean([r["requests_per_s"] for r in holds])
    live = _mean([r["requests_per_s"] for r in rounds if r["endpoint"] == "live"])
    cart = _mean([r["requests_per_s"] for r in rounds if r["endpoint"] == "cart"])
    log("http: CPU and queries per request, in this process (Django test client)")
    in_process = _http_in_process(product)
    bad = sum(r["non_2xx"] for r in rounds)
    results = ctx["results"]
    results["http"] = entry(
        _ratio(hold, live), 0.35, ">=",
        hold_requests_per_s=round(hold, 1), live_requests_per_s=round(live, 1),
        cart_read_requests_per_s=round(cart, 1), hold_vs_cart_read=_ratio(hold, cart),
        minimal_endpoint=http.LIVE_PATH, hold_endpoint="PUT /api/v1/carts/{id}/items/{product_id}/",
        non_2xx=bad, workers=workers, connections=HTTP_CONNECTIONS,
        load_generator=http.load_generator(), web_command=" ".join(http.procfile_web_command()),
        debug=False, throttle_redis_incr_per_hold=incr_per_hold,
        in_process=in_process, rounds=rounds,
    )
    for key, name, target in (("http_hold_cpu_ms", "hold", 1.0),
                              ("http_cart_cpu_ms", "cart", 0.5)):
        figures = in_process[name]
        results[key] = entry(
            figures["cpu_ms_per_request"], target, "<=", unit="ms",
            endpoint=figures["endpoint"], repeats=figures["cpu_ms_repeats"],
            requests_per_repeat=figures["requests_per_repeat"],
            sql_statements=figures["sql_statements"],
            redis_round_trips=figures["redis_round_trips"],
            # The machine's yardstick: the same measure of the cheapest endpoint, which
            # neither a hold nor a cart read can beat.
            live_cpu_ms_per_request=in_process["live"]["cpu_ms_per_request"],
            note="process CPU per request, Django test client in the bench process, "
            "minimum over the repeats",
        )


def _http_in_process(product, requests: int = 200, repeats: int = 5) -> dict:
    """CPU milliseconds (the minimum over `repeats` runs of `requests`), SQL statements and
    Redis round trips per request of each endpoint, no server."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from bench import http

    client = Client(HTTP_HOST="localhost")
    cart = client.post("/api/v1/carts/").json()
    path = f"/api/v1/carts/{cart['id']}/items/{product.pk}/"
    token = {"HTTP_X_CART_TOKEN": cart["token"]}

    def hold(i):
        return client.put(path, json.dumps({"quantity": 1 + i % 2}),
                          content_type="application/json", **token)

    def live(i):
        return client.get("/api/v1/health/live/")

    def read(i):
        return client.get(f"/api/v1/carts/{cart['id']}/", **token)

    endpoints = {"hold": f"PUT {http.hold_path('{id}', '{product_id}')}",
                 "cart": "GET /api/v1/carts/{id}/", "live": f"GET {http.LIVE_PATH}"}
    figures = {}
    for name, call in (("hold", hold), ("cart", read), ("live", live)):
        for i in range(10):
            answer = call(i)
            if answer.status_code != 200:
                raise RuntimeError(f"{endpoints[name]} answered {answer.status_code}")
        # The warm-up left 2 units: call(0) sets 1, so the counter moves.
        with CaptureQueriesContext(connection) as queries:
            call(0)
        # Read now: every request starts by clearing the connection's query log.
        statements = len(queries.captured_queries)
        cpu_ms, wall_ms = [], []
        redis_before = http.redis_stats()
        for _ in range(repeats):
            cpu, wall = time.process_time(), time.perf_counter()
            for i in range(requests):
                call(i)
            cpu_ms.append((time.process_time() - cpu) / requests * 1000)
            wall_ms.append((time.perf_counter() - wall) / requests * 1000)
        # Nothing else talks to Valkey now; the second INFO's own read is not a request's.
        redis_reads = http.redis_stats()["reads"] - redis_before["reads"] - 1
        figures[name] = {
            "endpoint": endpoints[name],
            "cpu_ms_per_request": round(min(cpu_ms), 3),
            "cpu_ms_repeats": [round(x, 3) for x in cpu_ms],
            "wall_ms_per_request": round(min(wall_ms), 3),
            "requests_per_repeat": requests,
            "sql_statements": statements,
            "redis_round_trips": round(redis_reads / (requests * repeats), 2),
        }
    return figures


def _drain_fixture(sizes: Sizes) -> dict:
    from bench.sql import carts_load

    rows = sql(
        """
        WITH p AS (
            INSERT INTO store_product (sku, name, price, is_active, created_at, updated_at)
            SELECT 'BENCH-DRAIN-' || g, 'drain ' || g, 10, true, now(), now()
            FROM generate_series(1, %s) g
            RETURNING id
        )
        INSERT INTO store_inventory (product_id, on_hand, reserved, updated_at)
        SELECT id, 0, 0, now() FROM p RETURNING product_id
        """,
        (sizes.drain_products,), fetch=True)
    product_ids = sorted(row[0] for row in rows)
    return {"product_ids": product_ids, "cart_ids": carts_load(sizes.drain_carts)}


def _drain_load(fixture, count) -> tuple[int, float]:
    from bench.sql import expired_holds_load, reservations_truncate

    reservations_truncate()
    began = time.perf_counter()
    units = expired_holds_load(product_ids=fixture["product_ids"], cart_ids=fixture["cart_ids"],
                               count=count, spare=BIG_STOCK)
    seconds = time.perf_counter() - began
    # The load ends with a vacuum (expired_holds_load): a checkpoint settles it as _settle
    # settles the database after a drain.
    sql("CHECKPOINT")
    return units, seconds


def _settle() -> None:
    """Leave the database as a load leaves it: the holds table vacuumed and analysed, and
    the pages written so far on disk, so that a checkpoint the last bulk write set off
    does not run into the window measured next."""
    sql("VACUUM ANALYZE reservations_reservation, store_inventory")
    sql("CHECKPOINT")


def _drain_clients(ctx, fixture, sizes):
    from bench.load import Client

    ids = fixture["product_ids"]
    step = max(1, len(ids) // sizes.drain_clients)
    return [Client("project", ctx["drain_carts"][i], ids[i * step])
            for i in range(sizes.drain_clients)]


def _drain_subprocess(module: str, *args: str) -> dict:
    done = subprocess.run(  # noqa: S603 - this interpreter, a module of bench/
        [sys.executable, "-m", module, *args], cwd=ROOT, env=django_env(),
        capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"{module} failed:\n{done.stdout}{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _quiet_window(sizes) -> tuple[float, float]:
    """Let the shoppers run `drain_quiet_seconds` with nothing else; return the window,
    from a second in (the time the last job's process takes to end)."""
    start = time.time() + 1.0
    time.sleep(1.0 + sizes.drain_quiet_seconds)
    return start, time.time()


def _drain_with_clients(ctx, fixture, sizes, module, *args) -> tuple[dict, dict]:
    from bench.load import ClientPool, window

    pool = ClientPool(_drain_clients(ctx, fixture, sizes), processes=1,
                      rate_per_client=sizes.drain_rate_per_client)
    pool.wait_started()
    time.sleep(1.0)
    try:
        drained = _drain_subprocess(module, *args)
    finally:
        records, errors = pool.collect(stop=True)
    during = window(records, drained["started_at"], drained["finished_at"])
    return drained, {"latency": latency_summary(during), "errors": errors}


def scenario_drain(ctx, sizes: Sizes) -> None:
    """A dead scheduler's backlog: release task vs hand-written SQL, holds alongside."""
    from bench.load import ClientPool, window
    from reservations.services.reconcile import stock_drift_find

    count = sizes.drain_products * sizes.drain_carts
    fixture = _drain_fixture(sizes)
    ctx["drain_carts"] = carts_make(sizes.drain_clients)
    loads = []

    # 1. The hand-written drain, with the paced shoppers running.
    units, seconds = _drain_load(fixture, count)
    loads.append(seconds)
    log(f"drain: loaded {count} expired holds ({units} units) in {seconds:.0f} s; "
        "hand-written drain")
    hand, hand_clients = _drain_with_clients(ctx, fixture, sizes, "bench.drain_hand")
    hand_drift = len(stock_drift_find())
    log(f"drain: hand-written {hand['released']} holds in {hand['seconds']:.1f} s")

    # 2. A fresh backlog. The shoppers run throughout: without a drain, during the release
    # task, and without a drain again once it is done. The two windows without one are the
    # baseline together: about two thirds as many operations as during the drain, so both
    # p99s are read off samples of a like size, and from both sides of the drain. Between
    # the drain and the second window the database is settled as the load leaves it before
    # the first (_settle): the million rows the drain left dead would otherwise be vacuumed,
    # and the checkpoint its WAL set off would finish, during that window, and the drain's
    # own aftermath would count as the baseline. Holds during the settling are reported
    # on their own.
    units, seconds = _drain_load(fixture, count)
    loads.append(seconds)
    log(f"drain: reloaded in {seconds:.0f} s; shoppers without a drain")
    pool = ClientPool(_drain_clients(ctx, fixture, sizes), processes=1,
                      rate_per_client=sizes.drain_rate_per_client)
    pool.wait_started()
    quiet = []
    try:
        quiet.append(_quiet_window(sizes))
        # A run that would overrun the suite's budget stops starting batches (the task's
        # own max_run_seconds); the rate is then taken over what it released.
        budget = max(30, int(ctx["deadline"] - time.time() - 60 - sizes.drain_quiet_seconds))
        log(f"drain: release task (time budget {budget} s)")
        task = _drain_subprocess("bench.drain_task", str(budget))
        log("drain: settling (vacuum, checkpoint), shoppers alongside")
        settle_began = time.time()
        _settle()
        settling = (settle_began, time.time())
        log(f"drain: settled in {settling[1] - settling[0]:.1f} s; shoppers without a drain again")
        quiet.append(_quiet_window(sizes))
    finally:
        records, errors = pool.collect(stop=True)
    task_clients = {"latency": latency_summary(
        window(records, task["started_at"], task["finished_at"])), "errors": errors}
    quiet_latencies = [lat for start, end in quiet for lat in window(records, start, end)]
    without = {"latency": latency_summary(quiet_latencies), "errors": errors,
               "before": latency_summary(window(records, *quiet[0])),
               "after": latency_summary(window(records, *quiet[1]))}
    settling_clients = {"latency": latency_summary(window(records, *settling)),
                        "seconds": round(settling[1] - settling[0], 1)}
    task_drift = len(stock_drift_find())
    left = sql("SELECT count(*) FROM reservations_reservation WHERE status = 'active' "
               "AND expires_at <= now()", fetch=True)[0][0]
    log(f"drain: release task {task['released']} holds in {task['seconds']:.1f} s")

    task_rate = task["released"] / task["seconds"]
    hand_rate = hand["released"] / hand["seconds"]
    common = {"holds": count, "products": sizes.drain_products,
              "scaled_down": count < 1_000_000, "load_seconds": [round(s, 1) for s in loads]}
    results = ctx["results"]
    results["drain_rate"] = entry(
        _ratio(task_rate, hand_rate), 0.5, ">=",
        task_holds_per_s=round(task_rate), hand_holds_per_s=round(hand_rate),
        task=task, hand=hand, expired_left_after_task=left,
        counter_drift_products={"task": task_drift, "hand": hand_drift}, **common,
    )
    during = task_clients["latency"].get("p99_ms")
    without_p99 = without["latency"].get("p99_ms")
    results["drain_p99"] = entry(
        _ratio(during, without_p99), 2.0, "<=",
        p99_ms_during_task=during, p99_ms_without_drain=without_p99,
        p99_ms_during_hand=hand_clients["latency"].get("p99_ms"),
        p99_ms_while_settling=settling_clients["latency"].get("p99_ms"),
        during_task=task_clients, without_drain=without, while_settling=settling_clients,
        during_hand=hand_clients,
        clients=sizes.drain_clients, rate_per_client=sizes.drain_rate_per_client, **common,
    )
    results["drain_memory"] = entry(
        round(task["peak_rss_mb"], 1), 256, "<=", unit="MB",
        rss_before_drain_mb=round(task["rss_before_drain_mb"], 1),
        hand_peak_rss_mb=round(hand["peak_rss_mb"], 1),
        note="peak RSS (ru_maxrss) of the subprocess running the release task", **common,
    )


RUNNERS = {
    "hot_hold": scenario_hot_hold,
    "scaling": scenario_scaling,
    "reads": scenario_reads,
    "peer_pattern": scenario_peer_pattern,
    "http": scenario_http,
    "dead_reads": scenario_dead_reads,
    "drain": scenario_drain,
}
KEYS = {
    "hot_hold": ["hot_hold"], "scaling": ["scaling"], "reads": ["read_flatness"],
    "peer_pattern": ["peer_pattern"],
    "http": ["http", "http_hold_cpu_ms", "http_cart_cpu_ms"],
    "dead_reads": ["dead_scheduler_reads"],
    "drain": ["drain_rate", "drain_p99", "drain_memory"],
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="")
    parser.add_argument("--no-write", action="store_true",
                        help="print the table only; keep results/ and BENCHMARKS.md")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    only = [s for s in args.only.split(",") if s] or list(SCENARIOS)
    unknown = set(only) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")

    started = time.time()
    django_setup()
    migrate()
    from bench import report

    ctx = {"results": {}, "scaling_points": {}, "deadline": started + SUITE_BUDGET_SECONDS}
    info = machine()
    log(f"machine: {info['nproc']} CPUs, {info['memory_gib']} GiB, PostgreSQL "
        f"{info['postgresql']}, Python {info['python']}, load {info['load_average_at_start']}")
    ctx["hot_product"] = product_make("BENCH-HOT")
    ctx["hot_carts"] = carts_make(max(SCALING_LEVELS))
    failures = {}
    for name in SCENARIOS:
        if name not in only:
            continue
        began = time.time()
        try:
            RUNNERS[name](ctx, sizes)
        except Exception as exc:  # noqa: BLE001 - one broken scenario must not hide the rest
            traceback.print_exc()
            failures[name] = f"{type(exc).__name__}: {exc}"
            for key in KEYS[name]:
                ctx["results"][key] = {"value": None, "target": None, "met": None,
                                       "error": failures[name]}
        log(f"{name} took {time.time() - began:.0f} s")
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    info["suite_seconds"] = round(time.time() - started)
    info["sizes"] = sizes.__dict__ | {"quick": args.quick}
    document = report.build(ctx["results"], info, only)
    print(report.table(document))
    if not args.no_write:
        report.write(document)
    log(f"suite took {info['suite_seconds']} s")
    return 1 if failures else 0
