"""The soak: shoppers, staff and the release task on the real processes, then the audit.

Run it with `make soak` (scripts/soak.sh starts a throwaway PostgreSQL and Redis and sets
DATABASE_URL and REDIS_URL). The database must be empty: the soak migrates it, adds a
catalogue and logs who reclaims holds.

  1. migrate; a catalogue of a few hot products with little stock and a wider one
  2. web (gunicorn), worker and beat from the Procfile, DEBUG off; wait for a release run
     (--nodes N: N web nodes and N workers, one beat, all through PgBouncer in
     transaction mode, which the soak starts: Debian's pgbouncer, installed when root)
  3. shoppers through the HTTP API, a restocker and a watch, for --seconds
  4. stop the shoppers, then web; wait for one more release run; read the evidence
  5. wait until every hold has expired and a release run after that; stop worker and beat
  6. audit; print the table; write soak/results/latest.json (nodesN.json with --nodes N),
     and RELIABILITY.md after a full-length run (with --nodes N: its section on several
     nodes only)

Exit code: 0 when the audit passes, 1 when it fails, 2 when the soak could not run.
"""

import argparse
import os
import random
import shlex
import signal
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

from devstack.servers import PgBouncer, ServerError, free_port, pgbouncer_install
from soak import audit, report
from soak.shoppers import EXPECTED, Crowd, Plan, Tally
from soak.stack import ROOT, Settings, Stack, environment, url_with_port

FULL_SECONDS = 600
HOT_STOCK = (6, 10, 16)
WIDE_PRODUCTS = 60
WIDE_STOCK = 200


_STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"soak: [{time.monotonic() - _STARTED:5.1f} s] {message}", file=sys.stderr, flush=True)


def _sigterm(signum, frame):
    raise SystemExit(128 + signum)


def arguments(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float,
                        default=float(os.environ.get("SOAK_SECONDS", FULL_SECONDS)),
                        help="load duration (default $SOAK_SECONDS or 600)")
    parser.add_argument("--shoppers", type=int, default=48)
    parser.add_argument("--processes", type=int, default=2, help="shopper processes")
    parser.add_argument("--think", type=float, default=0.15,
                        help="most seconds a shopper waits between requests")
    parser.add_argument("--ttl", type=int, default=20, help="RESERVATION_TTL_SECONDS")
    parser.add_argument("--payment-window", type=int, default=15,
                        help="ORDER_PAYMENT_WINDOW_SECONDS (0: checkout sells at once)")
    parser.add_argument("--release-interval", type=int, default=5,
                        help="RESERVATION_RELEASE_INTERVAL_SECONDS")
    parser.add_argument("--restock-interval", type=float, default=0.5)
    parser.add_argument("--web-concurrency", type=int,
                        default=int(os.environ.get("WEB_CONCURRENCY") or 4))
    parser.add_argument("--worker-concurrency", type=int,
                        default=int(os.environ.get("CELERY_WORKER_CONCURRENCY") or 2))
    parser.add_argument("--nodes", type=int, default=1,
                        help="web nodes and Celery workers; above 1 they all go through "
                        "PgBouncer in transaction mode (default 1: straight to PostgreSQL)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--work", type=Path, default=None,
                        help="directory for logs and pid files (default $SOAK_WORK or a "
                        "new temporary one)")
    parser.add_argument("--json", type=Path, default=None,
                        help="where to write the results (default soak/results/latest.json, "
                        "with --nodes N soak/results/nodesN.json)")
    parser.add_argument("--no-write", action="store_true",
                        help="write neither RELIABILITY.md nor soak/results/latest.json "
                        "(--json still writes where it says)")
    parser.add_argument("--command", default=None, help="the command to name in the report")
    args = parser.parse_args(argv)
    if args.nodes < 1:
        parser.error("--nodes must be at least 1")
    if args.json is None and not args.no_write:
        args.json = report.results_path(nodes=args.nodes)
    return args


# ------------------------------------------------------------------------- set-up ---
def django_setup(settings: Settings) -> None:
    os.environ.update(environment(settings, application_name="stockhold-soak"))
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import warnings

    import django

    # whitenoise serves from the app folders (WHITENOISE_USE_FINDERS); no collectstatic.
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
    django.setup()


def database_check_empty() -> None:
    from django.db import connection

    if "store_product" in connection.introspection.table_names():
        from store.models import Product

        if Product.objects.exists():
            raise SystemExit("soak: the database already has products; the soak needs an "
                             "empty database of its own (make soak starts one)")


def migrate() -> None:
    """`manage.py migrate`, in this process: it has the soak's settings (the schedules)."""
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def catalogue(rng: random.Random) -> tuple[dict[int, int], tuple[int, ...], tuple[int, ...]]:
    """Create the products through the service; return initial stock, hot ids, other ids."""
    from store.services import product_create

    received: dict[int, int] = {}
    hot, wide = [], []
    for n, on_hand in enumerate(HOT_STOCK, start=1):
        product = product_create(sku=f"SOAK-HOT-{n}", name=f"Hot product {n}",
                                 price=Decimal(rng.randint(500, 5000)) / 100, on_hand=on_hand)
        received[product.pk] = on_hand
        hot.append(product.pk)
    for n in range(1, WIDE_PRODUCTS + 1):
        product = product_create(sku=f"SOAK-{n:04d}", name=f"Product {n}",
                                 price=Decimal(rng.randint(100, 20000)) / 100,
                                 on_hand=WIDE_STOCK)
        received[product.pk] = WIDE_STOCK
        wide.append(product.pk)
    return received, tuple(hot), tuple(wide)


def back_office_key() -> str:
    """A back-office API key for the shop's payment step."""
    from backoffice.services import api_key_create

    return api_key_create(name="soak-payments")[1]


def release_figures() -> tuple[int, int]:
    """(succeeded runs, holds they released) so far."""
    from django.db.models import Count, Sum

    from reservations.models import ReleaseRun

    figures = ReleaseRun.objects.filter(status=ReleaseRun.Status.SUCCEEDED).aggregate(
        runs=Count("id"), holds=Sum("released")
    )
    return figures["runs"], figures["holds"] or 0


def release_wait(stack: Stack, *, after, timeout: float) -> None:
    """Wait for a release run that started after `after` (any run: None) to succeed."""
    from reservations.models import ReleaseRun

    runs = ReleaseRun.objects.filter(status=ReleaseRun.Status.SUCCEEDED)
    if after is not None:
        runs = runs.filter(started_at__gt=after)
    deadline = time.monotonic() + timeout
    while not runs.exists():
        stack.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"no release run succeeded within {timeout:.0f} s\n"
                f"worker:\n{stack.tail('worker')}\nbeat:\n{stack.tail('beat')}"
            )
        time.sleep(0.5)


def last_expiry():
    from django.db.models import Max
    from django.utils import timezone

    from reservations.models import Reservation

    latest = Reservation.objects.filter(status=Reservation.Status.ACTIVE).aggregate(
        at=Max("expires_at")
    )["at"]
    return max(latest or timezone.now(), timezone.now())


def pooler_timeouts(settings: Settings) -> dict[str, str]:
    """Return the timeouts a server connection of the pooler runs with, as SHOW shows them.

    Behind the pooler they come only from the role's defaults, which `migrate` set: the
    soak stops here when they are not those of the settings.
    """
    import psycopg

    from config.database import database_timeouts

    seen = {}
    with psycopg.connect(settings.pooled_database_url, autocommit=True) as connection:
        for parameter, milliseconds in database_timeouts().items():
            shown, in_ms = connection.execute(
                "SELECT current_setting(%s), setting::int FROM pg_settings WHERE name = %s",
                [parameter, parameter],
            ).fetchone()
            if in_ms != milliseconds:
                raise RuntimeError(f"{parameter} is {shown} through the pooler, not the "
                                   f"{milliseconds} ms of the settings")
            seen[parameter] = shown
    return seen


class PoolWatch:
    """Sample the pooler's console during the load; keep its busiest moments."""

    def __init__(self, bouncer: PgBouncer | None) -> None:
        self.bouncer = bouncer
        self.figures = {"samples": 0, "clients_max": 0, "clients_waiting_max": 0,
                        "server_connections_max": 0, "max_wait_ms": 0.0}

    def sample(self) -> None:
        if self.bouncer is None:
            return
        f = self.figures
        for pool in self.bouncer.console("SHOW POOLS"):
            if pool["database"] == "pgbouncer":
                continue
            f["clients_max"] = max(f["clients_max"], pool["cl_active"] + pool["cl_waiting"])
            f["clients_waiting_max"] = max(f["clients_waiting_max"], pool["cl_waiting"])
            servers = sum(pool[k] for k in ("sv_active", "sv_idle", "sv_used", "sv_tested",
                                            "sv_login"))
            f["server_connections_max"] = max(f["server_connections_max"], servers)
            wait_ms = pool["maxwait"] * 1000 + pool.get("maxwait_us", 0) / 1000
            f["max_wait_ms"] = max(f["max_wait_ms"], round(wait_ms, 1))
        f["samples"] += 1

    def document(self, *, timeouts: dict[str, str]) -> dict | None:
        if self.bouncer is None:
            return None
        stats = [row for row in self.bouncer.console("SHOW STATS")
                 if row["database"] != "pgbouncer"]
        return {
            "pgbouncer": self.bouncer.version(),
            "pool_mode": "transaction",
            "timeouts_through_the_pooler": timeouts,
            **self.figures,
            "transactions": sum(int(row["total_xact_count"]) for row in stats),
            "queries": sum(int(row["total_query_count"]) for row in stats),
        }


def versions(redis_url: str) -> tuple[str, str]:
    import redis
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgresql = cursor.fetchone()[0]
    return postgresql, redis.Redis.from_url(redis_url).info("server")["redis_version"]


# ----------------------------------------------------------------------------- run ---
def evidence_complete(evidence: audit.Evidence, tally: Tally, restocker, watch) -> None:
    evidence.answers = dict(tally.answers)
    evidence.unexpected = {
        key: n for key, n in tally.answers.items() if (key[1], key[2]) not in EXPECTED[key[0]]
    }
    evidence.connection_errors = sum(tally.connection_errors.values())
    evidence.wrong_answers = tally.wrong
    evidence.wrong_examples = list(tally.wrong_examples)
    evidence.orders_answered = {cart: list(orders) for cart, orders
                                in tally.orders_answered.items()}
    evidence.drift_samples = watch.drift_samples
    evidence.drifts = list(watch.drifts)
    evidence.restock_errors = list(restocker.errors) + list(watch.errors)


def soak(args: argparse.Namespace, settings: Settings, work: Path,
         bouncer: PgBouncer | None = None) -> dict:
    """Run the soak; return the report document. `bouncer`: the pooler the processes use."""
    from django.db import connections
    from django.utils import timezone

    from soak.staff import Restocker, Watch

    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    rng = random.Random(seed)  # noqa: S311 - a catalogue, not a secret

    database_check_empty()
    log("migrating")
    migrate()
    audit.reclaim_log_install()
    received, hot, wide = catalogue(rng)
    api_key = back_office_key()
    postgresql, redis_version = versions(settings.redis_url)
    info = report.machine(postgresql=postgresql, redis=redis_version)
    timeouts = pooler_timeouts(settings) if bouncer is not None else {}
    pools = PoolWatch(bouncer)
    # The shoppers are forked below; they never use Django's connections.
    connections.close_all()

    stack = Stack(settings, work)
    stop = threading.Event()
    crowd = restocker = watch = None
    try:
        for name in ("web", "worker", "beat"):
            stack.start(name)
        stack.wait_web()
        ports = ", ".join(f"127.0.0.1:{port}" for port in settings.ports)
        through = (f" through PgBouncer {bouncer.version()} (transaction mode, "
                   f"{', '.join(f'{k} {v}' for k, v in timeouts.items())})" if bouncer else "")
        log(f"web on {ports}{through}; waiting for the first release run")
        release_wait(stack, after=None, timeout=120)

        plan = Plan(ports=settings.ports, hot=hot, wide=wide, ttl_seconds=settings.ttl_seconds,
                    think_seconds=args.think, epoch=time.time(),
                    payment_window_seconds=settings.payment_window_seconds, api_key=api_key)
        crowd = Crowd(plan, shoppers=args.shoppers, processes=args.processes, seed=seed)
        crowd.start()
        began = time.monotonic()
        restocker = Restocker(received=received, hot=hot, interval=args.restock_interval,
                              stop=stop, seed=seed + 1)
        watch = Watch(plan=plan, stop=stop)
        restocker.start()
        watch.start()
        log(f"{args.shoppers} shoppers for {args.seconds:.0f} s (seed {seed}); logs in {work}")
        next_report = began + 30
        while (now := time.monotonic()) < began + args.seconds:
            stack.check_alive()
            pools.sample()
            if now >= next_report:
                runs, holds = release_figures()
                log(f"{now - began:.0f} s: {crowd.sent():,} requests; release task "
                    f"{runs} runs, {holds:,} holds released")
                next_report += 30
            time.sleep(min(1.0, max(began + args.seconds - now, 0.01)))

        log("stopping the shoppers")
        tally = crowd.stop()
        seconds = time.monotonic() - began
        stop.set()
        restocker.join(timeout=60)
        watch.join(timeout=60)
        tally.merge(watch.tally)
        stack.stop("web")

        log("waiting for one more release run")
        release_wait(stack, after=timezone.now(),
                     timeout=settings.release_interval_seconds * 4 + 60)
        evidence = audit.evidence_read(received=restocker.received)

        expiry = last_expiry()
        log(f"waiting for the last holds to expire ({expiry:%H:%M:%S}) and one more run")
        release_wait(stack, after=expiry,
                     timeout=(expiry - timezone.now()).total_seconds()
                     + settings.release_interval_seconds * 4 + 60)
        (
            evidence.drained_active_holds,
            evidence.drained_reserved_units,
            evidence.drained_order_statuses,
        ) = audit.drained_read()
        runs, _ = release_figures()
        stack.stop("beat")
        stack.stop("worker")
        pooler = pools.document(timeouts=timeouts)
    except (KeyboardInterrupt, SystemExit):
        log("interrupted: stopping the shoppers, web, worker and beat")
        raise
    finally:
        stop.set()
        if crowd is not None:
            crowd.kill()
        stack.stop_all()
        connections.close_all()

    evidence_complete(evidence, tally, restocker, watch)
    evidence.payment_window_seconds = settings.payment_window_seconds
    checks = audit.audit(evidence)
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": args.command or shlex.join(["python", "-m", "soak", *sys.argv[1:]]),
        "passed": audit.passed(checks),
        "settings": {
            "seconds": args.seconds, "shoppers": args.shoppers, "processes": args.processes,
            "think_seconds": args.think, "ttl_seconds": settings.ttl_seconds,
            "release_interval_seconds": settings.release_interval_seconds,
            "payment_window_seconds": settings.payment_window_seconds,
            "restock_interval_seconds": args.restock_interval,
            "web_concurrency": settings.web_concurrency,
            "worker_concurrency": settings.worker_concurrency, "seed": seed,
            "nodes": settings.nodes,
            "hot": [(f"SOAK-HOT-{n}", stock) for n, stock in enumerate(HOT_STOCK, start=1)],
            "wide_products": WIDE_PRODUCTS, "wide_stock": WIDE_STOCK,
        },
        "traffic": report.traffic(tally, seconds),
        "pooler": pooler,
        "release": {
            "runs_succeeded": evidence.release_runs_succeeded,
            "runs_succeeded_with_drain": runs,
            "runs_failed": evidence.release_runs_failed,
            "released_holds": evidence.released_holds,
            "reclaimed_by_shoppers": evidence.reclaimed_holds.get("web", 0),
            "reclaimed_by_release_task": evidence.reclaimed_holds.get("worker", 0),
            "reclaimed_by_staff": evidence.reclaimed_holds.get("staff", 0),
        },
        "restocks": dict(restocker.figures),
        "orders": len(evidence.orders),
        "order_statuses": evidence.drained_order_statuses,
        "units_sold": sum(p.sold for p in evidence.products),
        "checks": [check.__dict__ for check in checks],
        "machine": info,
        "evidence": audit.evidence_json(evidence),
    }


def pooler_start(database_url: str) -> PgBouncer:
    """PgBouncer in transaction mode in front of the soak's PostgreSQL (installed if it may)."""
    reason = pgbouncer_install()
    if reason:
        raise RuntimeError(f"--nodes needs Debian's pgbouncer: {reason}")
    bouncer = PgBouncer(upstream_port=urlsplit(database_url).port or 5432)
    try:
        bouncer.start()
    except BaseException:
        bouncer.close()
        raise
    return bouncer


def main(argv=None) -> int:
    args = arguments(argv)
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if not database_url.startswith("postgres") or not redis_url.startswith("redis"):
        log("DATABASE_URL (PostgreSQL) and REDIS_URL must be set; `make soak` "
            "(scripts/soak.sh) starts throwaway servers and sets both")
        return 2
    signal.signal(signal.SIGTERM, _sigterm)
    work = args.work or Path(os.environ.get("SOAK_WORK") or
                             tempfile.mkdtemp(prefix="stockhold-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    bouncer = None
    try:
        if args.nodes > 1:
            try:
                bouncer = pooler_start(database_url)
            except (RuntimeError, ServerError) as exc:
                log(f"the soak could not run: {exc}")
                return 2
            # scripts/soak.sh stops it if this driver is killed.
            (work / "pgbouncer.pid").write_text(str(bouncer.process.pid))
            log(bouncer.describe())
        settings = Settings(
            database_url=database_url, redis_url=redis_url,
            ports=tuple(free_port() for _ in range(args.nodes)),
            ttl_seconds=args.ttl, release_interval_seconds=args.release_interval,
            payment_window_seconds=args.payment_window,
            web_concurrency=args.web_concurrency, worker_concurrency=args.worker_concurrency,
            pooled_database_url=url_with_port(database_url, bouncer.port) if bouncer else "",
            database_pooler="transaction" if bouncer else "",
        )
        django_setup(settings)
        try:
            document = soak(args, settings, work, bouncer)
        except RuntimeError as exc:
            log(f"the soak could not run: {exc}")
            return 2
    finally:
        if bouncer is not None:
            bouncer.close()
            (work / "pgbouncer.pid").unlink(missing_ok=True)
    print(report.table(document))
    full = args.seconds >= FULL_SECONDS
    report.write(document, json_path=args.json, reliability=full and not args.no_write)
    if args.json is not None:
        log(f"results in {args.json}" + (", figures in RELIABILITY.md" if full
                                         and not args.no_write else ""))
    return 0 if document["passed"] else 1
