"""Staff in a real browser: the admin's home, the dashboard with its charts and refresh,
"Run release now", the product list and releasing a cart. Keeps the screenshots in docs/."""

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from reservations.models import Reservation
from reservations.services import cart_create, hold_set
from tests.browser.seed import seed_day

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _log_in(page, base, settings):
    # runserver checks passwords with the production hashers, not the suite's fast one.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    get_user_model().objects.create_superuser("operator", "", "operator-password")
    page.goto(f"{base}/admin/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", "operator-password")
    page.click("input[type=submit]")
    expect(page.locator("#monitoring-summary")).to_be_visible()


def test_staff_watch_the_dashboard_release_and_free_a_cart(page, live_server_url, settings):
    base = live_server_url
    seeded = seed_day()
    _log_in(page, base, settings)

    # The admin's home leads to the dashboard.
    expect(page.locator("#monitoring-summary")).to_contain_text("fresh")
    page.click("text=Open the dashboard")
    expect(page).to_have_url(f"{base}/admin/monitoring/dashboard/")

    # Charts drawn from the seeded day, every one of them on screen with data in it.
    charts = page.locator("svg.chart")
    expect(charts).to_have_count(9)
    for index in range(9):
        expect(charts.nth(index)).to_be_visible()
    assert page.locator("#chart-flow-hours rect[height]").count() > 20
    assert page.locator("#chart-runs rect[height]").count() > 20
    expect(page.locator("#chart-product-tee-blk-m")).to_be_visible()
    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS / "dashboard.png"), full_page=True)

    # The figures refresh in place: a new hold shows up without reloading the page.
    figure = page.locator("#tile-holds-figure")
    before = int(figure.inner_text())
    page.evaluate("window.__notReloaded = true")
    cart, _ = cart_create()
    hold_set(cart=cart, product=seeded["products"][-1], quantity=1)
    expect(figure).to_have_text(str(before + 1), timeout=25_000)
    assert page.evaluate("window.__notReloaded") is True

    # Run release now: the holds that expired minutes ago are released, and it says so.
    expired = Reservation.objects.filter(status="active", expires_at__lte=timezone.now()).count()
    assert expired > 0
    page.click("input[value='Run release now']")
    expect(page.locator("ul.messagelist li.success")).to_contain_text(
        f"Released {expired} expired holds"
    )
    expect(page.locator("#tile-expired-figure")).to_have_text("0")

    # The product list, with its stock figures and why a product is sold out.
    page.goto(f"{base}/admin/store/product/")
    expect(page.locator("#result_list")).to_contain_text("TEE-BLK-M")
    expect(page.locator("#result_list")).to_contain_text("Sold out: all units held")
    expect(page.locator("#result_list")).to_contain_text("Out of stock")
    page.screenshot(path=str(DOCS / "products.png"), full_page=True)

    # Every list staff read fits the window: no column cut off or scrolled out of view.
    for path in ("store/product", "reservations/reservation", "reservations/cart",
                 "reservations/order", "store/stockmovement"):
        page.goto(f"{base}/admin/{path}/")
        overflow = page.evaluate(
            "() => { const t = document.querySelector('#result_list');"
            " return t ? t.getBoundingClientRect().right - window.innerWidth : null; }"
        )
        assert overflow is not None and overflow <= 0, (path, overflow)

    # "Release the held stock" on one live cart.
    live = seeded["live_carts"][0]
    held = Reservation.objects.filter(cart=live, status="active").count()
    page.goto(f"{base}/admin/reservations/cart/")
    page.check(f"input[name=_selected_action][value='{live.pk}']")
    page.select_option("select[name=action]", "release_holds")
    page.click("button[name=index]")
    expect(page.locator("ul.messagelist li")).to_be_visible()
    assert held > 0
    assert not Reservation.objects.filter(cart=live, status="active").exists()
    assert Reservation.objects.filter(cart=live, status="released").count() == held
