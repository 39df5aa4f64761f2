"""`make run`'s processes stop cleanly on Ctrl-C: the running task finishes, nothing errs.

honcho runs the Procfile as `make run` does: each entry in a session of its own, honcho in
the terminal's foreground process group. Ctrl-C is SIGINT to that group; honcho then sends
SIGTERM to each entry's process group. The Celery worker's pool processes have left its
group (config/celery.py), so only its main process hears it and shuts down warmly.
"""

import os
import re
import signal
import sys
from pathlib import Path

import pytest

from devstack.processes import process_start, process_stop, session_pids
from devstack.servers import free_port
from reservations.services import cart_create, hold_set
from store.services import product_create
from tests.celery_processes import process_env, wait_until
from tests.servers import WebhookReceiver
from webhooks.models import Delivery, EventType
from webhooks.services import endpoint_create

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Long enough that the delivery is still being sent when Ctrl-C arrives, and well within
# the 5 s honcho waits before it kills what is left.
RECEIVER_DELAY = 2.5


@pytest.fixture
def receiver():
    server = WebhookReceiver(path="/hooks/stockhold")
    yield server
    server.close()


def test_ctrl_c_stops_every_process_warmly_and_quietly(tmp_path, receiver):
    endpoint_create(url=receiver.url, event_types=[EventType.STOCK_OUT_OF_STOCK])
    product = product_create(sku="LAST-ONE", name="Last one", price=5, on_hand=1)
    hold_set(cart=cart_create()[0], product=product, quantity=1)  # one delivery to send
    receiver.delay = RECEIVER_DELAY
    venv_bin = str(Path(sys.executable).parent)
    # What scripts/run.sh exports for `make run`.
    env = process_env(
        DEBUG="1",
        ALLOWED_HOSTS="*",
        PATH=f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        WEB_CONCURRENCY="2",
        CELERY_WORKER_CONCURRENCY="2",
        FLOWER_PORT=str(free_port()),
        FLOWER_ADDRESS="127.0.0.1",
        FLOWER_BASIC_AUTH="admin:admin",
        WEBHOOK_DISPATCH_INTERVAL_SECONDS="1",
    )
    log_path = tmp_path / "honcho.log"
    argv = [sys.executable, "-m", "honcho", "start", "-f", "Procfile", "--port", str(free_port())]

    honcho = process_start(argv, env=env, log_path=log_path)
    try:
        wait_until(
            lambda: receiver.requests or honcho.poll() is not None,
            timeout=90,
            message="the worker never started sending the delivery",
        )
        assert honcho.poll() is None, log_path.read_text()
        os.killpg(honcho.pid, signal.SIGINT)  # Ctrl-C on the terminal
        honcho.wait(timeout=30)
    finally:
        process_stop(honcho, timeout=5)

    output = log_path.read_text()
    leaders = [int(pid) for pid in re.findall(r"\| \S+ started \(pid=(\d+)\)", output)]
    assert len(leaders) == 4, output
    assert [pid for leader in leaders for pid in session_pids(leader)] == [], output
    assert "SIGKILL" not in output
    errors = [line for line in output.splitlines() if "ERROR" in line or "Traceback" in line]
    assert errors == [], output
    assert "No hostname" not in output
    # The task that was running when Ctrl-C came finished, once.
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.DELIVERED, 1), output
    assert len(receiver.requests) == 1
