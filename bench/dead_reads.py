"""Scenario `dead_reads`: storefront reads and backlog counts while the release task is dead.

Two sets of 1,000 products: `dead`, which gets 1,000 active holds a product that expired and
were never released (the drain's fixture: 1,000,000 holds, no release task), and `clear`,
which never has a hold. The products page (a page of 100, as the products list serves it:
the selector and the serializer the view uses) and one availability read
(`availability_get`) are timed on both sets alternately, sample by sample, so the machine's
noise falls on both alike: first with no holds anywhere, then with the backlog, then once it
is deleted. The figures are p50 of the `dead` products with the backlog over p50 of the
`clear` products read beside them; the same ratio before the load says how alike the two
sets read with no holds at all. The products page through the API itself
(`GET /api/v1/products/`, the `dead` products' page) is timed in each phase too.

At the same size it times what monitoring and the release task count: the health report's
backlog, the metrics' domain figures and the check that ends a release run, beside the
statements they used to run (counts over every expired hold, sequential scans).

The holds, carts and products it loads are deleted at the end, so later scenarios start
from the database as they would without it.
"""

import statistics
import time

from bench.common import latency_summary, log, sql

PAGE = 100
SINGLE_PER_PAGE = 10
SPARE = 100
SIDES = ("dead", "clear")
KINDS = ("page", "single", "api_page")
# The statements monitoring and the release task ran before their counts were bounded:
# exact counts of every expired or active hold.
COUNTS_BEFORE = {
    "health_backlog": (
        "SELECT count(*) FROM (SELECT id FROM reservations_reservation WHERE status = 'active'"
        " AND expires_at <= now() - make_interval(secs => %(grace)s) LIMIT 100000) s",
        "the health report's backlog, counted up to 100,000",
    ),
    "metrics_backlog": (
        "SELECT count(*) FROM reservations_reservation WHERE status = 'active'"
        " AND expires_at <= now() - make_interval(secs => %(grace)s)",
        "the metrics' backlog, counted in full",
    ),
    "metrics_hold_figures": (
        "SELECT count(id), sum(quantity) FROM reservations_reservation WHERE status = 'active'",
        "the metrics' active holds and units",
    ),
    "release_end": (
        "SELECT count(id), sum(quantity) FROM reservations_reservation"
        " WHERE status = 'active' AND expires_at <= now()",
        "the count that ended every release run",
    ),
}


def _products(prefix: str, count: int) -> list[int]:
    rows = sql(
        """
        WITH p AS (
            INSERT INTO store_product (sku, name, price, is_active, created_at, updated_at)
            SELECT %s || g, %s || g, 10, true, now(), now()
            FROM generate_series(1, %s) g
            RETURNING id
        )
        INSERT INTO store_inventory (product_id, on_hand, reserved, updated_at)
        SELECT id, %s, 0, now() FROM p RETURNING product_id
        """,
        (prefix, prefix, count, SPARE), fetch=True)
    return sorted(row[0] for row in rows)


def _fixture(products: int, carts: int) -> dict:
    from bench.sql import carts_load

    # `dead` first: its page of the products list comes right after earlier scenarios'.
    return {"dead": _products("BENCH-DEAD-", products),
            "clear": _products("BENCH-CLEAR-", products),
            "cart_ids": carts_load(carts)}


def _fixture_drop(fixture: dict) -> None:
    ids = fixture["dead"] + fixture["clear"]
    sql("DELETE FROM reservations_reservation WHERE product_id = ANY(%s)", (ids,))
    sql("DELETE FROM store_cart WHERE id = ANY(%s::uuid[])", (fixture["cart_ids"],))
    sql("DELETE FROM store_stockmovement WHERE product_id = ANY(%s)", (ids,))
    sql("DELETE FROM store_inventory WHERE product_id = ANY(%s)", (ids,))
    sql("DELETE FROM store_product WHERE id = ANY(%s)", (ids,))
    sql("VACUUM ANALYZE reservations_reservation, store_cart, store_inventory, store_product")


class _Reader:
    """The reads of one set of products: its page of the products list, as the view builds
    it, and single availability reads rotating over its products."""

    def __init__(self, ids: list[int], *, api: bool) -> None:
        from django.test import Client

        from store.models import Product

        self.ids = ids
        self.products = list(Product.objects.filter(pk__in=ids).order_by("pk"))
        self.next = 0
        self.client = None
        if api:
            # Products of earlier scenarios come before this set in the list.
            offset = Product.objects.filter(is_active=True, pk__lt=ids[0]).count()
            self.path = f"/api/v1/products/?limit={PAGE}&offset={offset}"
            self.client = Client(HTTP_HOST="localhost")
            listed = [row["sku"] for row in self.api_page()["results"]]
            if listed != [p.sku for p in self.products[:PAGE]]:
                raise RuntimeError(f"{self.path} does not list this set's first products")

    def page(self) -> list:
        from reservations.selectors import products_with_availability
        from reservations.serializers import ProductOutput

        products = products_with_availability().filter(pk__gte=self.ids[0])[:PAGE]
        return ProductOutput(products, many=True).data

    def api_page(self) -> dict:
        response = self.client.get(self.path)
        if response.status_code != 200:
            raise RuntimeError(f"{self.path} answered {response.status_code}")
        return response.json()

    def single(self) -> int:
        from reservations.selectors import availability_get

        product = self.products[self.next % len(self.products)]
        self.next += 1
        return availability_get(product=product)


def _reads(readers: dict[str, _Reader], samples: int) -> dict[str, dict[str, list[float]]]:
    """Time both sets' reads alternately, in ABBA order, `samples` pages each."""
    ids = [i for reader in readers.values() for i in reader.ids]
    # Every product's holds once, so both sets start from warm caches.
    sql("SELECT count(stockhold_inventory_available(id)) FROM store_product "
        "WHERE id = ANY(%s)", (ids,))
    times = {side: {kind: [] for kind in KINDS} for side in readers}

    def timed(side, kind, call):
        began = time.perf_counter()
        call()
        times[side][kind].append(time.perf_counter() - began)

    for reader in readers.values():
        for _ in range(5):
            reader.page()
            reader.single()
    for n in range(samples):
        for side in (SIDES if n % 2 == 0 else SIDES[::-1]):
            reader = readers[side]
            timed(side, "page", reader.page)
            for _ in range(SINGLE_PER_PAGE):
                timed(side, "single", reader.single)
            if reader.client is not None:
                timed(side, "api_page", reader.api_page)
    return times


def _p50(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1000


def _timed(call, repeats: int = 7) -> float:
    """p50 milliseconds of `call` over `repeats` calls after one warm-up."""
    call()
    seconds = []
    for _ in range(repeats):
        began = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - began)
    return round(_p50(seconds), 3)


def _counts() -> dict:
    """p50 ms of each backlog count as monitoring and the release task make it now, and of
    the statements they ran before."""
    from django.conf import settings
    from django.db import connection

    from monitoring.checks import backlog_get
    from monitoring.metrics import DatabaseCollector
    from reservations.services.release import expired_left

    grace = settings.RESERVATION_BACKLOG_GRACE_SECONDS

    def before(statement):
        def call():
            with connection.cursor() as cursor:
                cursor.execute(statement, {"grace": grace})
                cursor.fetchall()
        return call

    return {
        "before": {key: {"ms": _timed(before(statement)), "what": what}
                   for key, (statement, what) in COUNTS_BEFORE.items()},
        "after": {
            "health_backlog": {"ms": _timed(lambda: backlog_get()),
                               "what": "the health report's backlog, holds and orders up to "
                                       "10,000 each"},
            "metrics_domain_figures": {
                "ms": _timed(lambda: list(DatabaseCollector().collect())),
                "what": "every domain figure of a metrics scrape (all its queries)"},
            "release_end": {"ms": _timed(lambda: expired_left()),
                            "what": "the end of a release run: is any expired hold left"},
        },
        "health_reports": backlog_get().as_dict(),
    }


def _summary(phases: list[dict], side: str, kind: str) -> dict:
    return latency_summary([t for phase in phases for t in phase[side][kind]])


def _ratio(a: list[float], b: list[float]) -> float:
    return round(_p50(a) / _p50(b), 3)


def scenario_dead_reads(ctx, sizes) -> None:
    """Products page and one availability read with 1,000,000 expired, never-released holds
    (1,000 a product) against products with none; the backlog counts at that size."""
    from bench.run import entry
    from bench.sql import expired_holds_load

    products, carts = sizes.drain_products, sizes.drain_carts
    count = products * carts
    # Page samples per set and phase; each brings ten single reads.
    samples = 100 if count >= 1_000_000 else 40
    fixture = _fixture(products, carts)
    try:
        readers = {"dead": _Reader(fixture["dead"], api=True),
                   "clear": _Reader(fixture["clear"], api=False)}
        log(f"dead_reads: 2 x {products} products, no holds: {samples} pages and "
            f"{samples * SINGLE_PER_PAGE} single reads of each set, alternately")
        empty = [_reads(readers, samples)]
        began = time.perf_counter()
        units = expired_holds_load(product_ids=fixture["dead"], cart_ids=fixture["cart_ids"],
                                   count=count, spare=SPARE)
        load_seconds = time.perf_counter() - began
        log(f"dead_reads: loaded {count:,} expired holds ({units:,} units) on one set in "
            f"{load_seconds:.0f} s; the same reads")
        dead = _reads(readers, samples)
        log("dead_reads: the backlog counts of health, metrics and the release run")
        counts = _counts()
        sql("DELETE FROM reservations_reservation WHERE product_id = ANY(%s)",
            (fixture["dead"],))
        sql("UPDATE store_inventory SET reserved = 0, on_hand = %s WHERE product_id = ANY(%s)",
            (SPARE, fixture["dead"]))
        sql("VACUUM ANALYZE reservations_reservation, store_inventory")
        log("dead_reads: the backlog deleted; the same reads")
        empty.append(_reads(readers, samples))
    finally:
        _fixture_drop(fixture)

    page_ratio = _ratio(dead["dead"]["page"], dead["clear"]["page"])
    single_ratio = _ratio(dead["dead"]["single"], dead["clear"]["single"])
    single_met = single_ratio <= 1.2
    no_holds = {kind: [t for phase in empty for t in phase["dead"][kind]] for kind in KINDS}
    result = entry(
        page_ratio, 1.5, "<=",
        single_read={"value": single_ratio, "target": 1.2, "op": "<=", "met": single_met},
        page={"backlog": latency_summary(dead["dead"]["page"]),
              "beside_backlog_no_holds": latency_summary(dead["clear"]["page"]),
              "no_holds_anywhere": _summary(empty, "dead", "page")},
        single={"backlog": latency_summary(dead["dead"]["single"]),
                "beside_backlog_no_holds": latency_summary(dead["clear"]["single"]),
                "no_holds_anywhere": _summary(empty, "dead", "single")},
        api_page={"backlog": latency_summary(dead["dead"]["api_page"]),
                  "no_holds_anywhere": _summary(empty, "dead", "api_page"),
                  "endpoint": readers["dead"].path},
        # The same two sets read alternately with no holds anywhere: how alike they are.
        sets_alike_no_holds={
            "page": _ratio(empty[0]["dead"]["page"] + empty[1]["dead"]["page"],
                           empty[0]["clear"]["page"] + empty[1]["clear"]["page"]),
            "single": _ratio(empty[0]["dead"]["single"] + empty[1]["dead"]["single"],
                             empty[0]["clear"]["single"] + empty[1]["clear"]["single"]),
        },
        # The backlog's phase against the phases before and after it, same products: exposed
        # to the machine's load changing between phases.
        across_phases={kind: _ratio(dead["dead"][kind], no_holds[kind]) for kind in KINDS},
        counts=counts,
        holds=count, products=products, page_size=PAGE, samples=samples,
        load_seconds=round(load_seconds, 1), scaled_down=count < 1_000_000,
    )
    result["met"] = bool(result["met"] and single_met)
    ctx["results"]["dead_scheduler_reads"] = result
    log(f"dead_reads: page p50 ratio {page_ratio}, single read p50 ratio {single_ratio}")
