"""`/` and `/api/v1/` say where the docs, the schema and the API are, instead of a 404."""

import pytest

pytestmark = pytest.mark.django_db

_BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
_LINKS = {
    "docs": "/api/docs/",
    "redoc": "/api/redoc/",
    "schema": "/api/schema/",
    "products": "/api/v1/products/",
    "carts": "/api/v1/carts/",
    "health": "/api/v1/health/",
}


def test_api_index_links_every_entry_point(client, settings):
    response = client.get("/api/v1/")
    assert (response.status_code, response["Content-Type"]) == (200, "application/json")
    body = response.json()
    assert body["name"] == settings.SPECTACULAR_SETTINGS["TITLE"]
    assert body["links"] == {key: "http://testserver" + path for key, path in _LINKS.items()}


@pytest.mark.parametrize("key", sorted(set(_LINKS) - {"carts"}))
def test_every_link_of_the_index_answers(client, key):
    path = client.get("/api/v1/").json()["links"][key].removeprefix("http://testserver")
    assert client.get(path).status_code in (200, 503)  # health: 503 until a release has run


def test_index_carts_link_creates_a_cart(client):
    path = client.get("/api/v1/").json()["links"]["carts"].removeprefix("http://testserver")
    assert client.post(path).status_code == 201


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_api_index_is_read_only(client, method):
    response = getattr(client, method)("/api/v1/")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "image/png"])
def test_site_root_answers_json_unless_html_is_preferred(client, accept):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    response = client.get("/", **headers)
    assert (response.status_code, response["Content-Type"]) == (200, "application/json")
    assert response.json() == client.get("/api/v1/").json()
    assert "Accept" in response["Vary"]


def test_site_root_is_a_page_of_links_for_a_browser(client):
    response = client.get("/", HTTP_ACCEPT=_BROWSER)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "Accept" in response["Vary"]
    html = response.content.decode()
    for path in _LINKS.values():
        assert f'href="http://testserver{path}"' in html
    assert 'href="/admin/"' in html


@pytest.mark.parametrize("path", ["/api/", "/api/v1", "/api/v2/"])
def test_other_paths_under_the_api_stay_json_404s(client, path):
    response = client.get(path)
    assert (response.status_code, response["Content-Type"]) == (404, "application/json")
    assert response.json()["code"] == "not_found"
