"""The admin carries stockhold's name, and its "View site" link leads to the API docs."""

import re
from html.parser import HTMLParser

import pytest

pytestmark = pytest.mark.django_db


class _Page(HTMLParser):
    """The page's <title>, its header's text and its links as (text, href)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.title = self.header = ""
        self.links: list[tuple[str, str]] = []
        self._in: list[str] = []
        self._href: str | None = None
        self._text = ""
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "title" or (tag == "div" and attrs.get("id") == "site-name"):
            self._in.append("title" if tag == "title" else "header")
        if tag == "a":
            self._href, self._text = attrs.get("href"), ""

    def handle_endtag(self, tag):
        if tag in ("title", "div") and self._in:
            self._in.pop()
        if tag == "a" and self._href is not None:
            self.links.append((" ".join(self._text.split()), self._href))
            self._href = None

    def handle_data(self, data):
        if "title" in self._in:
            self.title += data
        if "header" in self._in:
            self.header += data
        if self._href is not None:
            self._text += data


def _page(response) -> _Page:
    assert response.status_code == 200
    return _Page(response.content.decode())


def test_the_login_page_names_stockhold(client):
    page = _page(client.get("/admin/login/"))

    assert page.title.split() == ["Log", "in", "|", "stockhold"]
    assert page.header.strip() == "stockhold"
    assert "Django" not in page.title + page.header


def test_the_index_names_stockhold_and_view_site_opens_the_api_docs(staff_client):
    page = _page(staff_client.get("/admin/"))

    assert re.sub(r"\s+", " ", page.title).strip() == "stockhold administration | stockhold"
    assert page.header.strip() == "stockhold"
    view_site = [href for text, href in page.links if text == "View site"]
    assert view_site == ["/api/docs/"]
    assert staff_client.get(view_site[0]).status_code == 200
