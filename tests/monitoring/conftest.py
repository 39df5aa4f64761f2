"""Real receivers for alert channels: an HTTP webhook, an SMTP server, a Sentry transport."""

import email
import socketserver
import threading

import pytest
from sentry_sdk.transport import Transport

from devstack.servers import free_port


@pytest.fixture(autouse=True)
def alert_settings(settings):
    """Start every test with no outbound channel, whatever the environment says."""
    settings.ALERT_WEBHOOK_URL = ""
    settings.ALERT_WEBHOOK_TIMEOUT_SECONDS = 3
    settings.ALERT_COOLDOWN_SECONDS = 900
    settings.ADMINS = []
    settings.SENTRY_DSN = ""
    return settings


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: connecting is refused."""
    return free_port()


# --- SMTP -------------------------------------------------------------------------------


class SmtpServer:
    """A minimal SMTP server (RFC 5321 subset that smtplib speaks) recording messages.

    smtpd left the standard library in 3.12 and aiosmtpd is not a dependency.
    """

    def __init__(self) -> None:
        self.messages: list[dict] = []
        server = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")

            def handle(self):
                self.reply("220 localhost test SMTP")
                sender, recipients = None, []
                while line := self.rfile.readline():
                    command = line.decode().strip()
                    verb = command[:4].upper()
                    if verb in ("EHLO", "HELO"):
                        self.reply("250 localhost")
                    elif verb == "MAIL":
                        sender, recipients = command[10:].strip(" <>"), []
                        self.reply("250 OK")
                    elif verb == "RCPT":
                        recipients.append(command[8:].strip(" <>"))
                        self.reply("250 OK")
                    elif verb == "DATA":
                        self.reply("354 End data with <CR><LF>.<CR><LF>")
                        data = []
                        while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                            data.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                        server.messages.append(
                            {
                                "from": sender,
                                "to": recipients,
                                "message": email.message_from_bytes(b"".join(data)),
                            }
                        )
                        self.reply("250 OK queued")
                    elif verb in ("RSET", "NOOP"):
                        self.reply("250 OK")
                    elif verb == "QUIT":
                        self.reply("221 Bye")
                        return
                    else:
                        self.reply("502 Command not implemented")

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def smtp_server(settings):
    """An SMTP server on 127.0.0.1 that Django's SMTP backend sends to."""
    server = SmtpServer()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = server.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 2
    yield server
    server.close()


# --- Sentry -----------------------------------------------------------------------------


class CapturingTransport(Transport):
    """A Sentry transport that keeps envelopes instead of sending them."""

    def __init__(self, options=None) -> None:
        super().__init__(options)
        self.envelopes = []

    def capture_envelope(self, envelope) -> None:
        self.envelopes.append(envelope)

    @property
    def events(self) -> list[dict]:
        return [event for env in self.envelopes if (event := env.get_event()) is not None]


@pytest.fixture
def sentry_transport(settings, monkeypatch):
    """Sentry initialised through config.sentry with a capturing transport."""
    import sentry_sdk

    from config.sentry import sentry_init

    # A release named up front: otherwise Sentry asks `git` for one.
    monkeypatch.setenv("SENTRY_RELEASE", "test")
    transport = CapturingTransport()
    settings.SENTRY_DSN = "http://public@127.0.0.1:9/1"
    settings.SENTRY_ENVIRONMENT = "test"
    assert sentry_init(transport=transport)
    yield transport
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)
