"""Small real servers and clients the tests share: free ports, a webhook receiver, JSON calls."""

import json
import os
import sys
import threading
import urllib.error
import urllib.request
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from devstack.servers import free_port, pgbouncer_install


@contextmanager
def runserver(env: dict[str, str], log_path: Path):
    """`manage.py runserver` with `env` on a free port, answering its liveness check for the
    block; yields (process, base URL). Its output goes to `log_path`."""
    from tests import celery_processes

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
    with celery_processes.running(argv, env, log_path) as process:

        def up():
            if process.poll() is not None:
                raise AssertionError(f"runserver exited:\n{log_path.read_text()}")
            try:
                urllib.request.urlopen(base + "/api/v1/health/live/", timeout=2)  # noqa: S310
                return True
            except (urllib.error.URLError, ConnectionError):
                return False

        celery_processes.wait_until(up, timeout=30, message="runserver did not start")
        yield process, base


def pgbouncer_needed() -> None:
    """Install Debian's pgbouncer if it is missing and may be (root); if it cannot be, skip
    the test with the reason, or fail it in CI (CI set), where it must run."""
    reason = pgbouncer_install()
    if reason:
        message = f"this test needs Debian's pgbouncer: {reason}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def api_call(base, method, path, body=None, token=None, timeout=15, headers=None):
    """Call the project's JSON API; return (status, body, headers), for errors too."""
    request = urllib.request.Request(
        base + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            **({"X-Cart-Token": token} if token else {}),
            **(headers or {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = {"raw": raw[:500].decode(errors="replace")}
        return error.code, answer, dict(error.headers)


def api_request(base, method, path, body=None, token=None, timeout=15, headers=None):
    """Call the project's JSON API; return (status, body), for errors too."""
    return api_call(base, method, path, body, token, timeout, headers)[:2]


class WebhookReceiver:
    """Record every POST to `url`: its JSON body in `received`, and the request as sent
    (path, headers with lower-case names, raw body) in `requests`. It answers `status`, or
    first the codes queued in `answers`, one per request; `delay` makes it answer late."""

    def __init__(self, path: str = "/hooks/alerts") -> None:
        self.received: list[dict] = []
        self.requests: list[dict] = []
        self.answers: list[int] = []
        self.delay = 0.0
        self.status = 200
        self.released = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.received.append(json.loads(body))
                    receiver.requests.append(
                        {
                            "path": self.path,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "body": body,
                        }
                    )
                    status = receiver.answers.pop(0) if receiver.answers else receiver.status
                if receiver.delay:
                    receiver.released.wait(receiver.delay)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a client that gave up (timeout test) is expected

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}{path}"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def sent(self) -> list[tuple[str, str]]:
        """(key, kind) of every alert received, in order."""
        with self._lock:
            return [(body["key"], body["kind"]) for body in self.received]

    def close(self) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()
