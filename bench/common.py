"""What every part of the suite shares: the Django environment, the server, small stats."""

import math
import os
import secrets
import statistics
import sys
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"

# A throwaway key per run, shared with the processes the suite starts.
os.environ.setdefault("BENCH_SECRET_KEY", secrets.token_urlsafe(50))

# The production settings (config.settings with DEBUG off), as gunicorn would load them.
DJANGO_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "DEBUG": "0",
    "SECRET_KEY": os.environ["BENCH_SECRET_KEY"],
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "LOG_LEVEL": "WARNING",
    # The per-client throttles stay on (their cost is part of every cart write) but with
    # a rate no run reaches: the load comes from one address, production's from many.
    "THROTTLE_CART_CREATE": "100000000/min",
    "THROTTLE_CART_WRITE": "100000000/min",
}


def django_env() -> dict[str, str]:
    """Return the environment a Django process of the suite runs with."""
    env = dict(os.environ)
    env.update(DJANGO_ENV)
    if str(ROOT) not in env.get("PYTHONPATH", "").split(os.pathsep):
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def django_setup() -> None:
    """Set up Django in this process with the suite's environment."""
    os.environ.update(DJANGO_ENV)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import warnings

    import django

    # whitenoise serves from the app folders (WHITENOISE_USE_FINDERS); no collectstatic.
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
    django.setup()


def database_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        raise SystemExit("bench: DATABASE_URL must point at the throwaway PostgreSQL; "
                         "run the suite through `make bench` (scripts/bench.sh)")
    return url


def pg_params() -> dict[str, str]:
    """Host, port, user and database of DATABASE_URL, for pgbench and psql."""
    parsed = urlparse(database_url())
    return {
        "host": parsed.hostname or "127.0.0.1",
        "port": str(parsed.port or 5432),
        "user": parsed.username or "postgres",
        "dbname": (parsed.path or "/postgres").lstrip("/") or "postgres",
    }


def raw_connect(autocommit: bool = True):
    """A plain psycopg connection to the server, outside Django."""
    import psycopg

    return psycopg.connect(database_url(), autocommit=autocommit)


def sql(statement: str, params=None, *, fetch: bool = False):
    """Run one statement on a fresh autocommit connection; return the rows if asked."""
    with raw_connect() as conn, conn.cursor() as cur:
        cur.execute(statement, params)
        return cur.fetchall() if fetch else None


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_summary(seconds: list[float]) -> dict[str, float]:
    """p50, p90, p99, mean and max in milliseconds, and the sample size."""
    if not seconds:
        return {"n": 0}
    return {
        "n": len(seconds),
        "p50_ms": round(percentile(seconds, 50) * 1000, 3),
        "p90_ms": round(percentile(seconds, 90) * 1000, 3),
        "p99_ms": round(percentile(seconds, 99) * 1000, 3),
        "mean_ms": round(statistics.fmean(seconds) * 1000, 3),
        "max_ms": round(max(seconds) * 1000, 3),
    }


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)
