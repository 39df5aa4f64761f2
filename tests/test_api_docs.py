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
