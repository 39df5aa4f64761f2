"""The JSON API skips the session, user and message middleware; the admin keeps all of it."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from tests.api import item_put
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


def _varies_on_cookie(response) -> bool:
    return "cookie" in response.get("Vary", "").lower()


def test_api_requests_get_no_session_user_or_messages_even_with_the_admins_cookies(
    staff_client,
):
    # A staff member's browser calling the API sends the admin's session and CSRF cookies.
    assert staff_client.get("/admin/").status_code == 200
    assert {"sessionid", "csrftoken"} <= set(staff_client.cookies)
    product = ProductFactory(on_hand=5)
    created = staff_client.post("/api/v1/carts/")
    cart = created.json()
    answers = [
        created,
        staff_client.get(f"/api/v1/carts/{cart['id']}/", HTTP_X_CART_TOKEN=cart["token"]),
        item_put(staff_client, cart["id"], product.pk, {"quantity": 1}, token=cart["token"]),
        staff_client.get("/api/v1/health/live/"),
        staff_client.get("/api/v1/no-such-route/"),
    ]
    assert [a.status_code for a in answers] == [201, 200, 200, 200, 404]
    for answer in answers:
        request = answer.wsgi_request
        assert not hasattr(request, "session") and not hasattr(request, "_messages")
        # No logged-in user: REST framework sets None when it finds no credentials.
        assert getattr(request, "user", None) is None
        assert answer.cookies == {}
        assert not _varies_on_cookie(answer)
        # What every response carries, the API's included.
        assert answer["X-Frame-Options"] == "DENY"
        assert answer["Content-Length"] == str(len(answer.content))


def test_the_admin_logs_in_through_its_form_and_keeps_sessions_csrf_and_messages():
    get_user_model().objects.create_superuser("staff", "", "pw")
    browser = Client(enforce_csrf_checks=True)

    login = browser.get("/admin/login/")
    assert all(hasattr(login.wsgi_request, name) for name in ("session", "user", "_messages"))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.content.decode())[1]
    form = {"username": "staff", "password": "pw", "next": "/admin/"}
    assert browser.post("/admin/login/", form).status_code == 403  # no CSRF token
    logged_in = browser.post("/admin/login/", {**form, "csrfmiddlewaretoken": token})
    assert (logged_in.status_code, logged_in["Location"]) == (302, "/admin/")
    assert "sessionid" in logged_in.cookies

    index = browser.get("/admin/")
    assert index.status_code == 200
    assert index.wsgi_request.user.username == "staff"
    assert _varies_on_cookie(index)

    page = browser.get("/admin/auth/group/add/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())[1]
    added = browser.post(
        "/admin/auth/group/add/", {"name": "buyers", "csrfmiddlewaretoken": token}, follow=True
    )
    assert Group.objects.filter(name="buyers").exists()
    assert "was added successfully" in added.content.decode()  # a message, kept in the session
