"""gunicorn settings for the web process: Prometheus multiprocess mode across workers.

Every worker writes its request metrics to files in PROMETHEUS_MULTIPROC_DIR and /metrics
adds them up, whichever worker answers the scrape. When the variable is unset, the master
makes a private directory and removes it on exit. The workers inherit the variable; it
must be set before they import prometheus_client, which is why it is done here, in the
master, and why this file imports prometheus_client only inside the hooks.
"""

import os
import shutil
import tempfile
from pathlib import Path

# Marks a directory this file made, so a master re-executed by USR2 (which inherits the
# environment) makes its own instead of sharing the old master's.
_PRIVATE = "STOCKHOLD_PROMETHEUS_PRIVATE_DIR"
_state: dict[str, str] = {}


def on_starting(server):
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if not path or path == os.environ.get(_PRIVATE):
        path = tempfile.mkdtemp(prefix=f"stockhold-metrics-{os.getpid()}-")
        _state["made"] = path
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.environ[_PRIVATE] = path
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    # Files of an earlier run would add its counts to this one's.
    for stale in directory.glob("*.db"):
        stale.unlink()
    server.log.info("Prometheus multiprocess metrics in %s", path)


def child_exit(server, worker):
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:  # an exception here would stop the master
        # Only when metrics are multiprocess; read by gunicorn before any Django import.
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid, path)


def on_exit(server):
    if "made" in _state:
        shutil.rmtree(_state["made"], ignore_errors=True)
