"""Content negotiation answers exactly what REST framework's default answers."""

import json

import pytest
from django.http import Http404
from drf_spectacular.renderers import OpenApiJsonRenderer, OpenApiYamlRenderer
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from config.negotiation import ContentNegotiation

ACCEPTS = [
    None, "*/*", "application/json", "application/*", "application/json; indent=4",
    "application/json;q=0.9", "text/html", "text/html, */*", "", " */*", "*/*, text/html",
    "application/vnd.oai.openapi+json", "application/yaml", "application/json, text/html",
]
QUERIES = ["", "format=json", "format=api", "format=xml", "format=", "limit=5", "x=1&format=json"]
RENDERER_SETS = [
    [JSONRenderer],
    [JSONRenderer, BrowsableAPIRenderer],
    [OpenApiJsonRenderer],
    [OpenApiYamlRenderer, OpenApiJsonRenderer],
]


def _answer(negotiation, accept, query, renderers, format_suffix):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(APIRequestFactory().get(f"/api/v1/products/?{query}", **headers))
    try:
        renderer, media_type = negotiation.select_renderer(
            request, [cls() for cls in renderers], format_suffix
        )
    except (NotAcceptable, Http404) as exc:
        return type(exc).__name__
    return type(renderer).__name__, media_type


@pytest.mark.parametrize("renderers", RENDERER_SETS, ids=lambda r: "+".join(c.__name__ for c in r))
@pytest.mark.parametrize("format_suffix", [None, "json"])
def test_every_accept_header_and_format_gets_what_the_default_gives(renderers, format_suffix):
    for accept in ACCEPTS:
        for query in QUERIES:
            ours = _answer(ContentNegotiation(), accept, query, renderers, format_suffix)
            default = _answer(DefaultContentNegotiation(), accept, query, renderers, format_suffix)
            assert ours == default, (accept, query)


@pytest.mark.django_db
def test_the_api_still_refuses_what_it_cannot_render_and_honours_indent(api):
    assert api.get("/api/v1/products/", HTTP_ACCEPT="text/html").status_code == 406
    assert api.get("/api/v1/products/?format=xml").status_code == 404
    indented = api.get("/api/v1/health/live/", HTTP_ACCEPT="application/json; indent=4")
    assert indented.content.decode() == json.dumps(indented.json(), indent=4)
    plain = api.get("/api/v1/health/live/", HTTP_ACCEPT="*/*")
    assert plain["Content-Type"] == "application/json"
    assert plain.content == json.dumps(plain.json(), separators=(",", ":")).encode()
