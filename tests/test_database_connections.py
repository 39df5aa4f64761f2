"""Kept database connections: whether a request starts with a health check is a setting
(DB_CONN_HEALTH_CHECKS, off by default), and a connection that died is replaced either way."""

import json
import time

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection, connections
from django.test import RequestFactory

from tests.celery_processes import manage, process_env

PATH = "/api/v1/products/"


def _get(path: str) -> tuple[int, dict, dict]:
    """GET `path` through the WSGI handler, as gunicorn calls it: the request's signals
    check the thread's kept connection before the request and close it after, if unusable."""
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"], answer["headers"] = int(status.split()[0]), dict(headers)

    response = WSGIHandler()(RequestFactory().get(path).environ, start_response)
    try:
        body = b"".join(response)
    finally:
        response.close()
    return answer["status"], answer["headers"], json.loads(body)


def _server_side_killed() -> None:
    """End the server side of this thread's kept connection, as a database restart does."""
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid])
                if cursor.fetchone() is None:
                    return
                time.sleep(0.01)
        raise AssertionError(f"backend {pid} is still there")
    finally:
        other.close()


@pytest.fixture
def health_checks(monkeypatch):
    """Turn the kept connection's health checks on or off; they are read at connect time."""

    def turn(on: bool) -> None:
        monkeypatch.setitem(connection.settings_dict, "CONN_HEALTH_CHECKS", on)
        connection.close()
        connection.ensure_connection()

    yield turn
    connection.close()


@pytest.mark.django_db(transaction=True)
def test_without_health_checks_a_dead_connection_fails_one_request_with_a_retryable_503(
    health_checks,
):
    health_checks(False)
    assert _get(PATH)[0] == 200
    _server_side_killed()

    status, headers, body = _get(PATH)
    assert (status, body["code"], headers["Retry-After"]) == (503, "unavailable", "5")
    # The request that found it dead dropped it; the next one connects anew.
    assert _get(PATH)[0] == 200


@pytest.mark.django_db(transaction=True)
def test_with_health_checks_a_dead_connection_is_replaced_before_the_request(health_checks):
    health_checks(True)
    assert _get(PATH)[0] == 200
    _server_side_killed()

    assert _get(PATH)[0] == 200


@pytest.mark.slow
@pytest.mark.django_db
def test_health_checks_are_off_unless_db_conn_health_checks_turns_them_on():
    code = (
        "from django.conf import settings; "
        "print(settings.DATABASES['default']['CONN_HEALTH_CHECKS'])"
    )
    shown = {}
    for value in (None, "0", "1"):
        env = process_env(DB_CONN_HEALTH_CHECKS=value or "")
        if value is None:
            del env["DB_CONN_HEALTH_CHECKS"]
        result = manage("shell", "-c", code, env=env)
        assert result.returncode == 0, result.stderr
        shown[value] = result.stdout.split()[-1]
    assert shown == {None: "False", "0": "False", "1": "True"}
