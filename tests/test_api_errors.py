"""The error codes the OpenAPI schema lists are every code an error answer can carry."""

import pytest

import backoffice.errors  # noqa: F401 - registers the back office's domain errors
import reservations.errors  # noqa: F401 - registers the holds' and checkout's domain errors
import store.errors  # noqa: F401 - registers the catalogue's domain errors
import webhooks.errors  # noqa: F401 - registers the webhooks' domain errors
from backoffice.auth import Unauthorized
from config.api_errors import _DRF_CODES
from config.parsers import RequestTooLarge
from core.errors import ERROR_CODES, DomainError


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_domain_error_code_is_listed():
    codes = {cls.code for cls in _subclasses(DomainError)}
    assert {"cart_not_found", "insufficient_stock", "idempotency_key_reused"} <= codes
    assert {"unknown_sku", "invalid_sku", "batch_too_large"} <= codes
    assert codes - set(ERROR_CODES) == set()


def test_every_code_of_the_exception_handler_is_listed():
    handler_codes = {
        *_DRF_CODES.values(), RequestTooLarge.default_code, Unauthorized.default_code, "unavailable"
    }
    assert handler_codes - set(ERROR_CODES) == set()
    assert len(ERROR_CODES) == len(set(ERROR_CODES))


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
@pytest.mark.parametrize("method", ["get", "post", "put", "delete"])
def test_a_missing_trailing_slash_under_the_api_is_a_json_404(client, settings, debug, method):
    """Never an HTML page and never a 301 that a client replays as GET without its body."""
    settings.DEBUG = debug
    response = client.generic(
        method.upper(), "/api/v1/carts", '{"quantity": 1}', content_type="application/json"
    )
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "not_found"


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
@pytest.mark.parametrize("path", ["/api/v2/carts/", "/api/v1/nothing/here/", "/api/"])
def test_unknown_paths_under_the_api_are_json_404s(client, settings, debug, path):
    settings.DEBUG = debug
    response = client.post(path, data="{}", content_type="application/json")
    assert (response.status_code, response["Content-Type"]) == (404, "application/json")
    assert response.json()["code"] == "not_found"
