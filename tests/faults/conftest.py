"""Fixtures of the fault tests: a webhook receiver, free ports, throwaway servers."""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class WebhookReceiver:
    """Record every JSON body POSTed to `url`."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.received.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/alerts"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def sent(self) -> list[tuple[str, str]]:
        """(key, kind) of every alert received, in order."""
        with self._lock:
            return [(body["key"], body["kind"]) for body in self.received]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def webhook(settings):
    """A webhook receiver on 127.0.0.1 as the only alert channel."""
    receiver = WebhookReceiver()
    settings.ALERT_WEBHOOK_URL = receiver.url
    settings.ALERT_WEBHOOK_TIMEOUT_SECONDS = 3
    settings.ALERT_COOLDOWN_SECONDS = 900
    settings.ADMINS = []
    settings.SENTRY_DSN = ""
    yield receiver
    receiver.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
