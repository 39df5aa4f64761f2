"""Subprocess: drain the expired backlog with hand-written SQL; print JSON.

    python -m bench.drain_hand [BATCH]

The reference for the release task: one short transaction per batch of BATCH holds in
expiry order, with nothing in between. Lock the products of the next batch in ascending
pk order, then in one statement pick the batch's hold rows with SKIP LOCKED, mark them
expired and take their units off each product's counter.
"""

import json
import resource
import sys
import time

LOCK_PRODUCTS = """
SELECT product_id FROM store_inventory
WHERE product_id IN (
    SELECT product_id FROM reservations_reservation
    WHERE status = 'active' AND expires_at <= %(now)s
    ORDER BY expires_at LIMIT %(batch)s)
ORDER BY product_id
FOR UPDATE
"""

RELEASE = """
WITH picked AS (
    SELECT id FROM reservations_reservation
    WHERE status = 'active' AND expires_at <= %(now)s AND product_id = ANY(%(products)s)
    ORDER BY expires_at LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
), released AS (
    UPDATE reservations_reservation r SET status = 'expired', updated_at = %(now)s
    FROM picked WHERE r.id = picked.id
    RETURNING r.product_id, r.quantity
), per_product AS (
    SELECT product_id, sum(quantity)::int AS units, count(*) AS holds
    FROM released GROUP BY product_id
)
UPDATE store_inventory i SET reserved = i.reserved - p.units
FROM per_product p WHERE i.product_id = p.product_id
RETURNING p.holds, p.units
"""


def main() -> None:
    from datetime import UTC, datetime

    from bench.common import raw_connect

    batch = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    now = datetime.now(UTC)
    released = units = batches = 0
    started_wall = time.time()
    began = time.perf_counter()
    with raw_connect(autocommit=False) as conn, conn.cursor() as cur:
        while True:
            cur.execute(LOCK_PRODUCTS, {"now": now, "batch": batch})
            products = [row[0] for row in cur.fetchall()]
            if not products:
                conn.commit()
                break
            cur.execute(RELEASE, {"now": now, "batch": batch, "products": products})
            rows = cur.fetchall()
            conn.commit()
            batches += 1
            released += sum(row[0] for row in rows)
            units += sum(row[1] for row in rows)
    seconds = time.perf_counter() - began
    print(json.dumps({
        "released": released,
        "units": units,
        "batches": batches,
        "seconds": seconds,
        "started_at": started_wall,
        "finished_at": started_wall + seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
