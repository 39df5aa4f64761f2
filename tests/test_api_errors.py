"""The error codes the OpenAPI schema lists are every code an error answer can carry."""

import reservations.errors  # noqa: F401 - registers the holds' and checkout's domain errors
import store.errors  # noqa: F401 - registers the catalogue's domain errors
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
    assert codes - set(ERROR_CODES) == set()


def test_every_code_of_the_exception_handler_is_listed():
    handler_codes = {*_DRF_CODES.values(), RequestTooLarge.default_code, "unavailable"}
    assert handler_codes - set(ERROR_CODES) == set()
    assert len(ERROR_CODES) == len(set(ERROR_CODES))
