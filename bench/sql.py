"""Raw SQL of the suite: bulk fixtures, the conventional transaction under pgbench."""

import os
import re
import subprocess
import tempfile
from pathlib import Path

from bench.common import pg_params, sql
from devstack.servers import postgres_bin_dir

# The conventional hold, as a shop would write it by hand: lock the product's stock row,
# insert the hold, move the counter, commit. The product row stays locked for three
# statements and the commit. bench_conv_hold is a copy of reservations_reservation with
# all its indexes and constraints (LIKE ... INCLUDING ALL), so the insert costs the same;
# each transaction is a new shopper (a fresh cart id), so the unique open-line index
# never refuses it.
CONVENTIONAL_HOLD = """\
BEGIN;
SELECT on_hand, reserved FROM store_inventory WHERE product_id = :pid FOR UPDATE;
INSERT INTO bench_conv_hold
    (cart_id, product_id, quantity, expires_at, status, created_at, updated_at)
    VALUES (gen_random_uuid(), :pid, 1, now() + interval '30 minutes', 'active', now(), now());
UPDATE store_inventory SET reserved = reserved + 1, updated_at = now() WHERE product_id = :pid;
COMMIT;
"""


def conventional_table_make() -> None:
    sql("DROP TABLE IF EXISTS bench_conv_hold")
    sql("CREATE TABLE bench_conv_hold (LIKE reservations_reservation INCLUDING ALL)")


def conventional_reset(*, product_id: int, reserved: int) -> None:
    """Forget the conventional holds and put the product's counter back."""
    sql("TRUNCATE bench_conv_hold")
    sql("UPDATE store_inventory SET reserved = %s WHERE product_id = %s", (reserved, product_id))


def pgbench(*, script: str, clients: int, duration: float, defines: dict[str, object],
            threads: int = 2) -> dict:
    """Run pgbench with a custom script; return its tps (without connection time)."""
    params = pg_params()
    binary = Path(os.environ.get("BENCH_PGBENCH") or postgres_bin_dir() / "pgbench")
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as handle:
        handle.write(script)
        path = handle.name
    threads = max(1, min(threads, clients))
    command = [
        str(binary), "-n", "-M", "simple",
        "-c", str(clients), "-j", str(threads), "-T", str(int(round(duration))),
        "-h", params["host"], "-p", params["port"], "-U", params["user"],
        "-f", path,
    ]
    for name, value in defines.items():
        command += ["-D", f"{name}={value}"]
    command.append(params["dbname"])
    try:
        done = subprocess.run(  # noqa: S603 - pgbench, arguments built here
            command, capture_output=True, text=True, timeout=duration + 120)
    finally:
        os.unlink(path)
    output = done.stdout + done.stderr
    tps = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", output)
    if done.returncode != 0 or tps is None:
        raise RuntimeError(f"pgbench failed ({done.returncode}):\n{output}")
    latency = re.search(r"latency average = ([0-9.]+) ms", output)
    processed = re.search(r"number of transactions actually processed: (\d+)", output)
    failed = re.search(r"number of failed transactions: (\d+)", output)
    return {
        "ops_per_s": round(float(tps.group(1)), 1),
        "ops": int(processed.group(1)) if processed else None,
        "seconds": int(round(duration)),
        "clients": clients,
        "threads": threads,
        "latency_avg_ms": float(latency.group(1)) if latency else None,
        "failed": int(failed.group(1)) if failed else 0,
    }


def carts_load(count: int) -> list[str]:
    """Insert `count` open carts in one statement; return their ids."""
    rows = sql(
        """
        INSERT INTO store_cart (id, token_hash, status, expires_at, created_at, updated_at)
        SELECT gen_random_uuid(), repeat('0', 64), 'open', now() + interval '1 day', now(), now()
        FROM generate_series(1, %s)
        RETURNING id
        """,
        (count,),
        fetch=True,
    )
    return [str(row[0]) for row in rows]


# The loaders below move `on_hand` by hand; each then records the difference in the stock
# ledger, as the services would, so the drift check finds only what the benchmark did.
LEDGER_ALIGN = """
    INSERT INTO store_stockmovement (product_id, kind, quantity, reason, actor, reference,
                                     created_at)
    SELECT i.product_id, 'correction', i.on_hand - coalesce(m.units, 0), 'bench load',
           'bench', '', now()
    FROM store_inventory i
    LEFT JOIN (SELECT product_id, sum(quantity)::int AS units FROM store_stockmovement
               WHERE product_id = ANY(%(products)s) GROUP BY product_id) m
        ON m.product_id = i.product_id
    WHERE i.product_id = ANY(%(products)s) AND i.on_hand <> coalesce(m.units, 0)
"""


def live_holds_load(*, product_id: int, count: int) -> None:
    """Give `product_id` `count` more live holds of 1 unit, each in a cart of its own.

    The units go into `reserved` and `on_hand` alike, so the counters stay exact and the
    free stock of the product does not change.
    """
    sql(
        """
        WITH carts AS (
            INSERT INTO store_cart (id, token_hash, status, expires_at, created_at, updated_at)
            SELECT gen_random_uuid(), repeat('0', 64), 'open', now() + interval '1 day',
                   now(), now()
            FROM generate_series(1, %(n)s)
            RETURNING id
        )
        INSERT INTO reservations_reservation
            (cart_id, product_id, quantity, expires_at, status, created_at, updated_at)
        SELECT id, %(pid)s, 1, now() + interval '20 minutes' + random() * interval '10 minutes',
               'active', now(), now()
        FROM carts
        """,
        {"n": count, "pid": product_id},
    )
    sql(
        "UPDATE store_inventory SET on_hand = on_hand + %(n)s, reserved = reserved + %(n)s "
        "WHERE product_id = %(pid)s",
        {"n": count, "pid": product_id},
    )
    sql(LEDGER_ALIGN, {"products": [product_id]})
    sql("VACUUM ANALYZE store_cart, reservations_reservation, store_inventory")


def expired_holds_load(*, product_ids: list[int], cart_ids: list[str], count: int,
                       spare: int) -> int:
    """Load `count` expired active holds over the products; return the units.

    Holds take distinct (cart, product) pairs, expire at random times over the past day
    (so each release batch spans many products, as after a real outage) and hold 1 or 2
    units. Each product's `reserved` counts them and `on_hand` leaves `spare` free units.
    Foreign key triggers are off during the load (session_replication_role), which only
    the throwaway server's superuser may do; every key is valid by construction.
    """
    pairs = len(product_ids) * len(cart_ids)
    if count > pairs:
        raise ValueError(f"{count} holds need {count} distinct (cart, product) pairs; have {pairs}")
    from bench.common import raw_connect

    with raw_connect() as conn, conn.cursor() as cur:
        cur.execute("SET session_replication_role = replica")
        cur.execute(
            """
            INSERT INTO reservations_reservation
                (cart_id, product_id, quantity, expires_at, status, created_at, updated_at)
            SELECT c.cart_id, p.product_id, 1 + (random() < 0.5)::int,
                   now() - interval '1 minute' - random() * interval '1 day',
                   'active', now() - interval '2 days', now() - interval '2 days'
            FROM generate_series(0, %(n)s - 1) AS g(i)
            JOIN unnest(%(carts)s::uuid[]) WITH ORDINALITY AS c(cart_id, ci)
                ON c.ci = g.i / %(np)s + 1
            JOIN unnest(%(products)s::bigint[]) WITH ORDINALITY AS p(product_id, pi)
                ON p.pi = g.i %% %(np)s + 1
            """,
            {"n": count, "carts": cart_ids, "products": product_ids, "np": len(product_ids)},
        )
        cur.execute("SET session_replication_role = DEFAULT")
        cur.execute(
            """
            UPDATE store_inventory i SET reserved = s.units, on_hand = s.units + %(spare)s
            FROM (SELECT product_id, sum(quantity)::int AS units FROM reservations_reservation
                  WHERE status = 'active' AND product_id = ANY(%(products)s)
                  GROUP BY product_id) s
            WHERE i.product_id = s.product_id
            """,
            {"spare": spare, "products": product_ids},
        )
        cur.execute(LEDGER_ALIGN, {"products": product_ids})
        cur.execute(
            "SELECT coalesce(sum(quantity), 0) FROM reservations_reservation "
            "WHERE status = 'active' AND expires_at <= now()"
        )
        units = cur.fetchone()[0]
    sql("VACUUM ANALYZE reservations_reservation, store_inventory, store_cart")
    return int(units)


def reservations_truncate() -> None:
    sql("TRUNCATE reservations_reservation")
    sql("UPDATE store_inventory SET reserved = 0")
    sql("VACUUM ANALYZE reservations_reservation, store_inventory")
