"""What the stock triggers cost the hold: pgbench runs of stockhold_hold_set, triggers on
and off, one after the other.

    python -m devstack run -- .venv/bin/python -m bench.trigger_cost [--seconds 10] [--rounds 6]

It needs a throwaway PostgreSQL (devstack gives one): it migrates it and adds its own
products and carts. Two workloads, each warmed up once, then measured in rounds with the
two triggers of store_inventory disabled and enabled, alternating which goes first (the
figures drift as tables and caches warm, so each side gets the same share of early and
late runs); the medians are compared:

- steady: a product with more stock than the run can take; every call moves `reserved`
  but `on_hand - reserved` never reaches 0, so the WHEN clause never lets the triggers
  fire. This is the hold's hot path.
- flipping: a product with 3 units and 50 carts setting their line to 0 or 1, so the free
  stock hits 0 and comes back all the time; each flip records an event and a delivery to
  the one endpoint registered. The worst case, for scale.
"""

import argparse
import json
import statistics

from bench.common import django_setup, log, sql
from bench.sql import pgbench

STEADY = """\
\\set n random(1, 1000)
\\set q random(1, 5)
SELECT stockhold_hold_set((SELECT id FROM bench_trigger_cart WHERE n = :n), :pid, :q,
    NULL, interval '30 minutes', 50, 1000, interval '2 hours');
"""
# Refusals (SH409: too little stock) are part of this workload; the wrapper turns them into
# a result, as the service does, so that pgbench does not stop the client.
FLIPPING = """\
\\set n random(1, 50)
\\set q random(0, 1)
SELECT bench_trigger_hold_try((SELECT id FROM bench_trigger_cart WHERE n = :n), :pid, :q);
"""
HOLD_TRY = """
CREATE OR REPLACE FUNCTION bench_trigger_hold_try(p_cart uuid, p_product bigint, p_q integer)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM stockhold_hold_set(p_cart, p_product, p_q, NULL, interval '30 minutes', 50,
                               1000, interval '2 hours');
    RETURN true;
EXCEPTION WHEN SQLSTATE 'SH409' THEN
    RETURN false;
END
$$
"""
TRIGGERS = ("store_inventory_stock_insert", "store_inventory_stock_update")


def _setup() -> dict[str, int]:
    from django.core.management import call_command

    from reservations.services import cart_create
    from store.services import product_create
    from webhooks.services import endpoint_create

    call_command("migrate", verbosity=0)
    steady = product_create(sku="BENCH-TRIGGER-STEADY", name="steady", price=1,
                            on_hand=100_000_000)
    flipping = product_create(sku="BENCH-TRIGGER-FLIP", name="flipping", price=1, on_hand=3)
    endpoint_create(url="https://hooks.example.com/bench", event_types=[])
    sql("DROP TABLE IF EXISTS bench_trigger_cart")
    sql("CREATE TABLE bench_trigger_cart (n integer PRIMARY KEY, id uuid NOT NULL)")
    for n in range(1, 1001):
        cart, _ = cart_create()
        sql("INSERT INTO bench_trigger_cart VALUES (%s, %s)", (n, cart.pk))
    sql(HOLD_TRY)
    return {"steady": steady.pk, "flipping": flipping.pk}


def _triggers(enabled: bool) -> None:
    for name in TRIGGERS:
        verb = "ENABLE" if enabled else "DISABLE"
        sql(f"ALTER TABLE store_inventory {verb} TRIGGER {name}")


def _events() -> int:
    return sql("SELECT count(*) FROM webhooks_event", fetch=True)[0][0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()

    django_setup()
    products = _setup()
    results = {}
    try:
        for workload, script in (("steady", STEADY), ("flipping", FLIPPING)):
            runs = {"off": [], "on": []}
            events = {"off": 0, "on": 0}
            pgbench(script=script, clients=args.clients, duration=args.seconds,
                    defines={"pid": products[workload]})
            for round_ in range(args.rounds):
                for side in ("off", "on") if round_ % 2 == 0 else ("on", "off"):
                    _triggers(side == "on")
                    before = _events()
                    run = pgbench(script=script, clients=args.clients, duration=args.seconds,
                                  defines={"pid": products[workload]})
                    events[side] += _events() - before
                    runs[side].append(run)
                    log(f"{workload} triggers {side}: {run['ops_per_s']} calls/s, "
                        f"{run['latency_avg_ms']} ms")
            tps = {side: statistics.median(r["ops_per_s"] for r in runs[side]) for side in runs}
            latency = {side: statistics.median(r["latency_avg_ms"] for r in runs[side])
                       for side in runs}
            results[workload] = {
                "calls_per_s_median": {side: round(v, 1) for side, v in tps.items()},
                "calls_per_s_runs": {side: [r["ops_per_s"] for r in runs[side]] for side in runs},
                "latency_avg_ms_median": {side: round(v, 3) for side, v in latency.items()},
                "change": round(tps["on"] / tps["off"] - 1, 4),
                "events": events,
                "rounds": args.rounds,
                "seconds": args.seconds,
                "clients": args.clients,
            }
    finally:
        _triggers(True)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
