"""Admin dashboard: what staff see, who may see it, and the "Run release now" button."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import OperationalError
from django.utils import timezone

from monitoring.models import Alert
from reservations.models import ReleaseRun, Reservation
from reservations.services import checkout, hold_set
from reservations.services.release import release_run
from store.models import Inventory
from tests.factories import CartFactory, ProductFactory

pytestmark = pytest.mark.django_db

DASHBOARD = "/admin/monitoring/dashboard/"
RELEASE = "/admin/monitoring/dashboard/release/"


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(user)
    return client


@pytest.fixture
def past():
    """Long enough ago that holds made then are expired and past the backlog grace."""
    return timezone.now() - timedelta(hours=2)


def _expired_holds(*, product, quantities, past):
    for quantity in quantities:
        hold_set(cart=CartFactory(), product=product, quantity=quantity, now=past)


def _section(html: str, module_id: str) -> str:
    match = re.search(rf'<div class="module" id="{module_id}">(.*?)</div>', html, re.S)
    assert match, f"no #{module_id} on the page"
    return match.group(1)


def _alert(title: str, **fields) -> Alert:
    return Alert.objects.create(
        key=fields.pop("key", "release.stale"),
        title=title,
        created_at=fields.pop("created_at", timezone.now()),
        **fields,
    )


def test_staff_see_backlog_heartbeat_alerts_and_top_products(
    staff_client, past, settings, installed_long_ago
):
    settings.RESERVATION_BACKLOG_ALERT_THRESHOLD = 2
    busy = ProductFactory(on_hand=50)
    quiet = ProductFactory(on_hand=50)
    _expired_holds(product=quiet, quantities=[9, 9, 9], past=past)
    hold_set(cart=CartFactory(), product=busy, quantity=4)
    hold_set(cart=CartFactory(), product=busy, quantity=3)
    hold_set(cart=CartFactory(), product=quiet, quantity=1)
    ReleaseRun.objects.create(
        task_id="t1",
        started_at=past,
        finished_at=past,
        status=ReleaseRun.Status.FAILED,
        error="OperationalError: connection refused",
    )
    _alert("Release job has not succeeded for 600 s", severity=Alert.Severity.CRITICAL)

    response = staff_client.get(DASHBOARD)

    assert response.status_code == 200
    html = response.content.decode()
    assert "admin/css/base.css" in html  # the admin's look, from base_site.html
    backlog = _section(html, "backlog-module")
    assert '<span id="backlog-count">3</span>' in backlog
    assert re.search(r'<tr class="bad" id="backlog-row">', backlog)
    assert "over the alert threshold of 2" in backlog
    assert '<td class="num" id="active-holds">6</td>' in backlog
    assert '<span id="held-units">35</span>' in backlog
    heartbeat = _section(html, "heartbeat-module")
    assert "never" in heartbeat and "STALE" in heartbeat
    assert "OperationalError: connection refused" in heartbeat
    assert "OperationalError: connection refused" in _section(html, "runs-module")
    assert "Release job has not succeeded for 600 s" in _section(html, "alerts-module")
    # Ranked by units in live holds: `quiet` holds 28 units, but 27 of them expired.
    top = _section(html, "top-products-module")
    assert top.index(busy.sku) < top.index(quiet.sku)
    assert f'href="/admin/store/product/{busy.pk}/change/"' in top
    assert re.search(
        rf">{busy.sku}</a></td>\s*<td>{busy.name}</td>\s*"
        r'<td class="num">7</td>\s*<td class="num">2</td>\s*'
        r'<td class="num">50</td>\s*<td class="num">43</td>',
        top,
    )
    assert "/admin/reservations/releaserun/" in html
    assert "/admin/monitoring/alert/" in html


def test_a_backlog_under_the_threshold_and_a_fresh_heartbeat_are_not_flagged(
    staff_client, past, settings
):
    settings.RESERVATION_BACKLOG_ALERT_THRESHOLD = 5
    _expired_holds(product=ProductFactory(on_hand=10), quantities=[1, 1], past=past)
    now = timezone.now()
    ReleaseRun.objects.create(
        started_at=now, finished_at=now, status=ReleaseRun.Status.SUCCEEDED, released=4
    )

    html = staff_client.get(DASHBOARD).content.decode()

    backlog = _section(html, "backlog-module")
    assert '<span id="backlog-count">2</span>' in backlog
    assert 'class="bad"' not in backlog
    heartbeat = _section(html, "heartbeat-module")
    assert "STALE" not in heartbeat and "fresh" in heartbeat


@pytest.mark.parametrize("url", [DASHBOARD, RELEASE])
def test_anonymous_users_are_sent_to_the_admin_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(f"/admin/login/?next={url}")


def test_logged_in_users_who_are_not_staff_are_refused(client, past):
    product = ProductFactory(on_hand=10)
    _expired_holds(product=product, quantities=[2], past=past)
    client.force_login(get_user_model().objects.create_user("shopper", password="pw"))

    page = client.get(DASHBOARD)
    release = client.post(RELEASE)

    assert page.status_code == 302 and page["Location"].startswith("/admin/login/")
    assert release.status_code == 302 and release["Location"].startswith("/admin/login/")
    assert Reservation.objects.get().status == Reservation.Status.ACTIVE
    assert not ReleaseRun.objects.exists()


def test_run_release_now_releases_expired_holds_and_says_how_many(staff_client, past):
    product = ProductFactory(on_hand=20)
    _expired_holds(product=product, quantities=[2, 3], past=past)
    live = hold_set(cart=CartFactory(), product=product, quantity=4)

    response = staff_client.post(RELEASE, follow=True)

    assert response.redirect_chain == [(DASHBOARD, 302)]
    assert "Released 2 expired holds (5 units)." in response.content.decode()
    statuses = dict(Reservation.objects.values_list("quantity", "status"))
    assert statuses == {2: "expired", 3: "expired", 4: "active"}
    assert Reservation.objects.get(pk=live.id).status == Reservation.Status.ACTIVE
    assert Inventory.objects.get(pk=product.pk).reserved == 4
    run = ReleaseRun.objects.get()
    assert (run.task_id, run.status, run.released, run.units) == ("admin", "succeeded", 2, 5)


def test_get_on_the_release_url_releases_nothing(staff_client, past):
    _expired_holds(product=ProductFactory(on_hand=10), quantities=[2], past=past)

    response = staff_client.get(RELEASE)

    assert response.status_code == 405
    assert Reservation.objects.get().status == Reservation.Status.ACTIVE
    assert not ReleaseRun.objects.exists()


def test_the_release_button_needs_the_csrf_token(client, past):
    _expired_holds(product=ProductFactory(on_hand=10), quantities=[2], past=past)
    client.handler.enforce_csrf_checks = True
    client.force_login(get_user_model().objects.create_user("staff", is_staff=True))

    forged = client.post(RELEASE)
    page = client.get(DASHBOARD)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    assert forged.status_code == 403
    assert Reservation.objects.get().status == Reservation.Status.ACTIVE

    sent = client.post(RELEASE, {"csrfmiddlewaretoken": token.group(1)})
    assert sent.status_code == 302
    assert Reservation.objects.get().status == Reservation.Status.EXPIRED


def test_a_failing_release_shows_an_error_message_not_a_500(staff_client, past, monkeypatch):
    from reservations.services import release

    _expired_holds(product=ProductFactory(on_hand=10), quantities=[2], past=past)

    def database_gone(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(release, "expired_release", database_gone)

    response = staff_client.post(RELEASE, follow=True)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="error"' in html
    assert "Release failed: OperationalError: server closed the connection" in html
    assert Reservation.objects.get().status == Reservation.Status.ACTIVE
    assert ReleaseRun.objects.get().status == ReleaseRun.Status.FAILED


def test_the_monitoring_app_page_links_to_the_dashboard(staff_client):
    user = get_user_model().objects.get(username="staff")
    user.is_superuser = True
    user.save()

    response = staff_client.get("/admin/monitoring/")

    assert response.status_code == 200
    assert f'href="{DASHBOARD}"' in response.content.decode()


def _traffic(*, products, carts, past):
    """`carts` carts on each product: one live hold, one expired and released, one checked out."""
    for product in products:
        for _ in range(carts):
            hold_set(cart=CartFactory(), product=product, quantity=1)
            _expired_holds(product=product, quantities=[1], past=past)
            cart = CartFactory()
            hold_set(cart=cart, product=product, quantity=1)
            checkout(cart=cart)
    release_run(task_id="test")


# Every query the dashboard makes, whatever the number of holds: the session and the user,
# the backlog, the heartbeat, the tables, and nine for the charts. A stale heartbeat adds
# the two reads of its causes.
DASHBOARD_QUERIES = 23


@pytest.mark.parametrize("carts", [1, 25])
def test_the_dashboard_makes_the_same_queries_for_few_or_many_holds(
    staff_client, past, carts, django_assert_num_queries
):
    products = [ProductFactory(on_hand=1000) for _ in range(12)]
    _traffic(products=products, carts=carts, past=past)
    for index in range(12):
        ReleaseRun.objects.create(
            started_at=past + timedelta(minutes=index),
            finished_at=past + timedelta(minutes=index),
            status=ReleaseRun.Status.SUCCEEDED,
        )
        _alert(f"alert number {index}")

    with django_assert_num_queries(DASHBOARD_QUERIES):
        response = staff_client.get(DASHBOARD)

    assert response.status_code == 200
    html = response.content.decode()
    assert Reservation.objects.count() == 12 * 3 * carts
    assert _section(html, "top-products-module").count("/change/") == 10
    assert _section(html, "alerts-module").count("<tr>") == 11  # header and ten rows
    assert html.count('<svg class="chart"') == 5 + 4  # five charts, four products


def test_the_admin_home_page_shows_the_release_job_and_links_to_the_dashboard(
    staff_client, past, settings, installed_long_ago
):
    settings.RESERVATION_BACKLOG_ALERT_THRESHOLD = 1
    _expired_holds(product=ProductFactory(on_hand=10), quantities=[1, 1], past=past)

    html = staff_client.get("/admin/").content.decode()

    summary = _section(html, "monitoring-summary")
    assert f'href="{DASHBOARD}"' in summary
    assert "stale" in summary
    assert re.search(r'summary-bad">2</span>', summary)
    assert 'id="content-main"' in html  # the usual list of apps follows


def test_the_live_part_is_the_figures_without_the_page(staff_client, past):
    _expired_holds(product=ProductFactory(on_hand=10), quantities=[3], past=past)

    response = staff_client.get("/admin/monitoring/dashboard/live/")

    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    html = response.content.decode()
    assert '<div class="figure" id="tile-expired-figure">1</div>' in html
    assert "<svg" in html and "<html" not in html and "Run release now" not in html


def test_the_page_refreshes_its_figures_from_the_live_part(staff_client):
    html = staff_client.get(DASHBOARD).content.decode()

    assert 'data-url="/admin/monitoring/dashboard/live/"' in html
    assert 'data-refresh-seconds="15"' in html
    assert re.search(r'<script src="/static/monitoring/dashboard\.js[^"]*" defer>', html)


def test_anonymous_users_get_no_live_figures(client):
    response = client.get("/admin/monitoring/dashboard/live/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
