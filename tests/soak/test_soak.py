"""A short soak in the suite: `python -m soak` for 20 seconds, on a database of its own,
with one web node, and with two web nodes and two workers behind PgBouncer.

The same driver as `make soak`: web, worker and beat from the Procfile on the suite's
PostgreSQL server and Redis, shoppers through the HTTP API, staff restocks, the release
task; then the audit. Holds last 4 s and the release task runs every 8 s, so in 20 s many
holds expire, some are reclaimed by shoppers before the task gets to them, and the rest
are released by it. Checkout holds the units for a 4 s payment window, which the shop's
payment step confirms, cancels, lets pass, or misses.
"""

import json
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import environ
import psycopg
import pytest
from psycopg import sql

from tests.servers import pgbouncer_needed

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]
SECONDS = 20


@pytest.fixture
def soak_database():
    """A new, empty database on the suite's PostgreSQL server; dropped afterwards."""
    config = environ.Env.db_url_config(os.environ["DATABASE_URL"])
    name = f"stockhold_soak_{secrets.token_hex(4)}"
    admin = psycopg.connect(
        host=config["HOST"], port=config["PORT"], user=config["USER"],
        password=config["PASSWORD"] or None, dbname=config["NAME"], autocommit=True,
    )
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    auth = config["USER"] + (f":{config['PASSWORD']}" if config["PASSWORD"] else "")
    try:
        yield f"postgres://{auth}@{config['HOST']}:{config['PORT']}/{name}"
    finally:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))
        admin.close()


def _stop_leftovers(work: Path) -> None:
    """Stop web, worker or beat that a killed driver left behind (each leads its group)."""
    for pidfile in work.glob("*.pid"):
        pid = int(pidfile.read_text())
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"gunicorn" in command or b"celery" in command or b"pgbouncer" in command:
            os.killpg(pid, signal.SIGKILL)


@pytest.mark.parametrize("nodes", [1, 2], ids=["one-node", "two-nodes-behind-pgbouncer"])
def test_short_soak_through_the_real_processes_passes_the_audit(
    soak_database, redis_url, tmp_path, nodes
):
    if nodes > 1:
        pgbouncer_needed()
    work = tmp_path / "work"
    results = tmp_path / "soak.json"
    env = {
        **os.environ,
        "DATABASE_URL": soak_database,
        "REDIS_URL": redis_url,
        "WEB_CONCURRENCY": "3",
        "CELERY_WORKER_CONCURRENCY": "2",
    }
    argv = [
        sys.executable, "-m", "soak", "--seconds", str(SECONDS), "--shoppers", "32",
        "--ttl", "4", "--payment-window", "4", "--release-interval", "8", "--no-write",
        "--json", str(results),
        "--work", str(work), "--nodes", str(nodes),
    ]
    driver = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    try:
        output, _ = driver.communicate(timeout=180)
    finally:
        if driver.poll() is None:
            # SIGTERM lets the driver stop its processes; SIGKILL if it cannot.
            driver.send_signal(signal.SIGTERM)
            try:
                driver.wait(timeout=60)
            except subprocess.TimeoutExpired:
                driver.kill()
                driver.wait()
        _stop_leftovers(work)
        from config.celery import app

        app.control.purge()  # the beat's last sends, never consumed

    assert driver.returncode in (0, 1), output
    document = json.loads(results.read_text())
    failed = [c for c in document["checks"] if not c["passed"]]
    assert failed == [], output
    assert driver.returncode == 0, output
    traffic = document["traffic"]
    assert traffic["status_5xx"] == 0 and traffic["connection_errors"] == 0
    # The run did real work: carts, holds, contention, orders, releases.
    assert traffic["requests"] > 100
    assert traffic["by_code"].get("409 insufficient_stock", 0) > 0
    assert document["orders"] > 0
    # Checkout held for payment: orders were paid, cancelled and left to expire.
    statuses = document["order_statuses"]
    assert statuses.get("pending_payment", 0) == 0 and all(
        statuses.get(s, 0) > 0 for s in ("placed", "cancelled", "expired")
    ), statuses
    if nodes == 1:
        # One payment in twenty comes too late; in 20 s of the slower two-node stack (twice
        # the processes on the same cores) there may be none.
        assert traffic["by_code"].get("409 payment_window_expired", 0) > 0
    assert document["release"]["released_holds"] > 0
    assert document["release"]["reclaimed_by_shoppers"] > 0
    # Every web node served shoppers; with two, all through the pooler, timeouts in force.
    by_node = traffic["requests_by_node"]
    assert len(by_node) == nodes and all(n > 0 for n in by_node.values()), by_node
    pooler = document["pooler"]
    if nodes == 1:
        assert pooler is None
    else:
        assert pooler["pool_mode"] == "transaction" and pooler["transactions"] > 0
        assert pooler["timeouts_through_the_pooler"] == {
            "lock_timeout": "5s", "statement_timeout": "30s"
        }
