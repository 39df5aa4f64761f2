"""Where to start: `/` and `/api/v1/` link to the docs, the schema and the API's entry points."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_safe
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

# (key in `links`, URL name, what a person finds there)
_LINKS = (
    ("docs", "docs", "API docs: Swagger UI, to read and try every call"),
    ("redoc", "redoc", "API reference: ReDoc"),
    ("schema", "schema", "OpenAPI schema (YAML; ?format=json for JSON)"),
    ("products", "product-list", "Products on sale, with availability"),
    ("carts", "cart-create", "Carts: POST here to create one"),
    ("health", "health", "Health report"),
)


class IndexLinksOutput(serializers.Serializer):
    docs = serializers.URLField(help_text="Swagger UI: read and try every operation.")
    redoc = serializers.URLField(help_text="ReDoc: the same docs as one page.")
    schema = serializers.URLField(help_text="This OpenAPI schema (`?format=json` for JSON).")
    products = serializers.URLField(help_text="`products_list`.")
    carts = serializers.URLField(help_text="`cart_create` (POST).")
    health = serializers.URLField(help_text="`health_get`.")


class IndexOutput(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.CharField()
    links = IndexLinksOutput()


def _index(request: HttpRequest) -> dict:
    return {
        "name": settings.SPECTACULAR_SETTINGS["TITLE"],
        "version": settings.SPECTACULAR_SETTINGS["VERSION"],
        "links": {key: request.build_absolute_uri(reverse(name)) for key, name, _ in _LINKS},
    }


class ApiIndexApi(APIView):
    @extend_schema(
        responses={200: IndexOutput},
        operation_id="index_get",
        tags=["Index"],
        summary="Where to start",
        description=(
            "Links to the docs (Swagger UI and ReDoc), this schema and the API's entry "
            "points, as absolute URLs of this server. Needs no token; never throttled."
        ),
    )
    def get(self, request):
        return Response(_index(request))


@require_safe
def site_index(request: HttpRequest) -> HttpResponse:
    """Answer `/` with the links of `/api/v1/`: a small page for a browser, else JSON."""
    index = _index(request)
    if request.get_preferred_type(["application/json", "text/html"]) == "text/html":
        links = [(index["links"][key], text) for key, _, text in _LINKS]
        response = render(request, "index.html", {"name": index["name"], "links": links})
    else:
        # Compact, like the API's own answers.
        response = JsonResponse(index, json_dumps_params={"separators": (",", ":")})
    patch_vary_headers(response, ["Accept"])
    return response
