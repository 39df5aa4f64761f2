"""The admin dashboard at 1,000,000 holds: its query count and its time.

    .venv/bin/python -m devstack run -- .venv/bin/python -m bench.dashboard [--days 30]

Loads 1,000 products and 1,000,000 holds with generate_series (one cart each, made evenly
over the last `--days` days: half checked out with their orders and sales, a tenth removed,
a third expired and released, the rest active, the last half hour's live), a release run a
minute, then renders the dashboard as a logged-in superuser and times it. `--days 1` puts
the whole million in the charts' window: the worst case for them. Run it on the throwaway
servers only: it truncates the tables.
"""

import argparse
import statistics
import time

from bench.common import django_setup, log, sql

TABLES = (
    "reservations_reservation, store_orderline, store_order, store_cart, "
    "store_stockmovement, store_inventory, store_product, reservations_releaserun"
)


def _load(*, holds: int, products: int, days: int) -> None:
    sql(f"TRUNCATE {TABLES} CASCADE")
    sql(
        "INSERT INTO store_product (id, sku, name, price, is_active, created_at, updated_at)"
        " SELECT i, 'SKU-' || i, 'Product ' || i, 10, true, now(), now()"
        " FROM generate_series(1, %s) i",
        [products],
    )
    sql(
        "INSERT INTO store_inventory (product_id, on_hand, reserved, updated_at)"
        " SELECT i, 1000000, 0, now() FROM generate_series(1, %s) i",
        [products],
    )
    sql(
        "INSERT INTO store_stockmovement (product_id, kind, quantity, reason, actor, reference,"
        " created_at) SELECT i, 'correction', 1000000, '', 'bench', '', now() - interval '60 days'"
        " FROM generate_series(1, %s) i",
        [products],
    )
    # i-th hold: made `i / holds` of the span ago; its fate by i modulo 20.
    sql(
        "CREATE UNLOGGED TABLE bench_plan AS SELECT i,"
        " now() - make_interval(days => %s) * (i::float / %s) AS made,"
        " CASE WHEN i %% 20 < 10 THEN 'consumed' WHEN i %% 20 < 12 THEN 'released'"
        "      WHEN i %% 20 < 19 THEN 'expired' ELSE 'active' END AS fate"
        " FROM generate_series(1, %s) i",
        [days, holds, holds],
    )
    sql(
        "INSERT INTO store_cart (id, token_hash, status, created_at, updated_at)"
        " SELECT md5(i::text)::uuid, md5(i::text), CASE WHEN fate = 'consumed'"
        " THEN 'checked_out' ELSE 'open' END, made, made FROM bench_plan"
    )
    sql(
        "INSERT INTO reservations_reservation (cart_id, product_id, quantity, expires_at,"
        " status, created_at, updated_at)"
        " SELECT md5(i::text)::uuid, 1 + i %% %s, 1 + i %% 3, made + interval '30 minutes',"
        "  fate, made, CASE fate WHEN 'consumed' THEN made + interval '10 minutes'"
        "  WHEN 'released' THEN made + interval '5 minutes'"
        "  WHEN 'expired' THEN made + interval '31 minutes' ELSE made END"
        " FROM bench_plan",
        [products],
    )
    sql(
        "INSERT INTO store_order (id, cart_id, total, status, created_at)"
        " SELECT md5('order' || i)::uuid, md5(i::text)::uuid, 10, 'placed',"
        " made + interval '10 minutes' FROM bench_plan WHERE fate = 'consumed'"
    )
    sql(
        "INSERT INTO store_stockmovement (product_id, kind, quantity, reason, actor, reference,"
        " created_at) SELECT 1 + i %% %s, 'sale', -(1 + i %% 3), '', 'checkout',"
        " md5('order' || i)::uuid::text, made + interval '10 minutes'"
        " FROM bench_plan WHERE fate = 'consumed'",
        [products],
    )
    sql(
        "INSERT INTO reservations_releaserun (task_id, started_at, finished_at, status,"
        " released, units, batches, orders_expired, more_left, error)"
        " SELECT 'bench', now() - m * interval '1 minute',"
        " now() - m * interval '1 minute' + interval '200 milliseconds', 'succeeded',"
        " 20, 40, 1, 0, false, '' FROM generate_series(0, %s) m",
        [days * 24 * 60],
    )
    sql("DROP TABLE bench_plan")
    sql(
        "UPDATE store_inventory i SET reserved = held.units FROM (SELECT product_id,"
        " SUM(quantity) AS units FROM reservations_reservation WHERE status = 'active'"
        " GROUP BY product_id) held WHERE held.product_id = i.product_id"
    )
    sql("VACUUM ANALYZE")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--holds", type=int, default=1_000_000)
    parser.add_argument("--products", type=int, default=1_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    from bench.run import migrate

    django_setup()
    migrate()
    started = time.monotonic()
    _load(holds=args.holds, products=args.products, days=args.days)
    log(f"loaded {args.holds:,} holds over {args.days} days in {time.monotonic() - started:.0f} s")

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    user, _ = get_user_model().objects.get_or_create(
        username="bench", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    seconds, counts, slowest = [], [], []
    for _ in range(args.repeat):
        with CaptureQueriesContext(connection) as queries:
            began = time.perf_counter()
            response = client.get("/admin/monitoring/dashboard/")
            seconds.append(time.perf_counter() - began)
        if response.status_code != 200:
            raise SystemExit(f"bench: the dashboard answered {response.status_code}")
        counts.append(len(queries))
        slowest = sorted(queries.captured_queries, key=lambda q: -float(q["time"]))[:3]
    holds = sql("SELECT count(*) FROM reservations_reservation", fetch=True)[0][0]
    log(
        f"dashboard at {holds:,} holds ({args.days} days): {counts[-1]} queries, "
        f"median {statistics.median(seconds) * 1000:.0f} ms, "
        f"best {min(seconds) * 1000:.0f} ms, worst {max(seconds) * 1000:.0f} ms"
    )
    for query in slowest:
        log(f"  {float(query['time']) * 1000:.0f} ms  {' '.join(query['sql'].split())[:110]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
