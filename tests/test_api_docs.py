"""The API docs: Swagger UI and ReDoc served from the project's own static files."""

import re

import pytest

# Every URL a page loads or links: scripts, styles, the icon.
_ASSET = re.compile(r'\b(?:src|href)="([^"]*)"')


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_docs_pages_load_nothing_from_another_host(client, path):
    """The docs work offline: no CDN, every asset answered by this server."""
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert not re.search(r"(?i)https?://", html), "a URL of another host in the page"

    assets = _ASSET.findall(html)
    assert any(asset.endswith(".js") for asset in assets)
    assert any(asset.endswith(".png") for asset in assets), "no favicon"
    for asset in assets:
        assert asset.startswith("/static/drf_spectacular_sidecar/"), asset
        answer = client.get(asset)
        assert answer.status_code == 200, asset
        assert b"".join(answer.streaming_content), f"{asset} is empty"


def test_docs_pages_read_the_served_schema(client):
    assert 'url: "/api/schema/"' in client.get("/api/docs/").content.decode()
    assert 'spec-url="/api/schema/"' in client.get("/api/redoc/").content.decode()
    assert client.get("/api/schema/").status_code == 200


# --- the schema reads like a guide --------------------------------------------------------

_AUTO = "auto-generated:"
_READABLE_ID = re.compile(r"^[a-z]+(_[a-z]+)*$")
_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def _operations(schema: dict) -> list[tuple[str, str, dict]]:
    return [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in _METHODS
    ]


@pytest.fixture
def schema(monkeypatch) -> dict:
    """The schema as served, with every operation id drf-spectacular made up itself marked."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.openapi import AutoSchema

    monkeypatch.setattr(AutoSchema, "get_operation_id", lambda self: _AUTO + self.path)
    return SchemaGenerator().get_schema(request=None, public=True)


def test_every_operation_has_a_readable_operation_id_of_its_own(schema):
    """Ids name the generated clients' functions: `cart_item_set`, never `api_v1_..._update`."""
    ids = [operation["operationId"] for _, _, operation in _operations(schema)]
    assert len(ids) == len(set(ids)), "an operation id used twice"
    for path, method, operation in _operations(schema):
        name = f"{method.upper()} {path}"
        assert not operation["operationId"].startswith(_AUTO), f"{name}: no operation_id"
        assert _READABLE_ID.match(operation["operationId"]), f"{name}: not snake_case"
        assert not operation["operationId"].startswith(("api_", "v1_")), name


def test_every_operation_is_described_for_an_integrator_and_tagged(schema):
    described_tags = {tag["name"] for tag in schema["tags"] if tag.get("description")}
    for path, method, operation in _operations(schema):
        name = f"{method.upper()} {path}"
        assert operation.get("summary", "").strip(), f"{name}: no summary"
        assert len(operation.get("description", "").strip()) >= 40, f"{name}: no description"
        assert operation.get("tags"), f"{name}: no tag"
        assert set(operation["tags"]) <= described_tags, f"{name}: a tag not in TAGS"
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                assert response["description"].strip(), f"{name} {status}: no description"
    assert "X-Cart-Token" in schema["info"]["description"]
    assert "Retry-After" in schema["info"]["description"]


def test_the_storefront_operations_are_named_as_documented(schema):
    ids = {(path, method): op["operationId"] for path, method, op in _operations(schema)}
    assert {
        ("/api/v1/products/", "get"): "products_list",
        ("/api/v1/products/{product_id}/", "get"): "product_get",
        ("/api/v1/carts/", "post"): "cart_create",
        ("/api/v1/carts/{cart_id}/", "get"): "cart_get",
        ("/api/v1/carts/{cart_id}/items/{product_id}/", "put"): "cart_item_set",
        ("/api/v1/carts/{cart_id}/items/{product_id}/", "delete"): "cart_item_remove",
        ("/api/v1/carts/{cart_id}/checkout/", "post"): "cart_checkout",
        ("/api/v1/health/", "get"): "health_get",
        ("/api/v1/health/live/", "get"): "health_live_get",
    }.items() <= ids.items()


def test_cart_operations_take_the_cart_token_as_a_security_scheme(schema):
    """Asked once in Swagger UI, sent by a generated client's authenticated client; open
    operations carry no `security`, so a client needs no credentials for them."""
    scheme = schema["components"]["securitySchemes"]["CartToken"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-Cart-Token")
    assert "security" not in schema, "a global security requirement"
    for path, method, operation in _operations(schema):
        headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        assert "X-Cart-Token" not in headers, f"{method} {path}: the token as a parameter too"
        if path.startswith("/api/v1/carts/{cart_id}/"):
            assert operation["security"] == [{"CartToken": []}], f"{method} {path}"
        elif not path.startswith("/api/v1/back-office/"):
            assert "security" not in operation, f"{method} {path}"


def test_an_authentication_class_keeps_its_own_scheme_beside_the_cart_token():
    """Operations behind an authentication class (the back office's Bearer key) get its
    scheme and requirement from its OpenApiAuthenticationExtension, next to CartToken."""
    from django.urls import path
    from drf_spectacular.extensions import OpenApiAuthenticationExtension
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.utils import extend_schema
    from rest_framework.authentication import BaseAuthentication
    from rest_framework.permissions import IsAuthenticated
    from rest_framework.views import APIView

    from reservations.api import CartDetailApi

    class KeyAuthentication(BaseAuthentication):
        pass

    class KeyScheme(OpenApiAuthenticationExtension):
        target_class = KeyAuthentication
        name = "TestKey"

        def get_security_definition(self, auto_schema):
            return {"type": "http", "scheme": "bearer"}

    class StaffApi(APIView):
        authentication_classes = [KeyAuthentication]
        permission_classes = [IsAuthenticated]

        @extend_schema(operation_id="staff_get", responses={204: None})
        def get(self, request):
            raise AssertionError("never called")

    schema = SchemaGenerator(
        patterns=[
            path("api/v1/staff/", StaffApi.as_view()),
            path("api/v1/carts/<str:cart_id>/", CartDetailApi.as_view()),
        ]
    ).get_schema(request=None, public=True)
    schemes = schema["components"]["securitySchemes"]
    assert schemes["TestKey"] == {"type": "http", "scheme": "bearer"}
    assert schemes["CartToken"]["name"] == "X-Cart-Token"
    assert schema["paths"]["/api/v1/staff/"]["get"]["security"] == [{"TestKey": []}]
    assert schema["paths"]["/api/v1/carts/{cart_id}/"]["get"]["security"] == [{"CartToken": []}]
