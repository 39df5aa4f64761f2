"""A real browser against a live runserver: Debian's Chromium driven by Playwright.

The browser is the system's (/usr/bin/chromium), so Playwright downloads none. When it is
missing, the test session installs it with apt-get if it may; if it cannot, the browser tests
are skipped with the reason, and only they.
"""

import os
import shutil
import subprocess
import sys

import pytest

from tests.celery_processes import process_env
from tests.servers import runserver

# Playwright's sync API keeps an event loop running in this thread, and Django refuses
# database calls wherever a loop runs. The tests seed and check the database from this
# thread while the browser waits, never concurrently with it.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
WIDTH, HEIGHT = 1366, 900


def _chromium_install() -> str | None:
    """Install Debian's `chromium` package; return why it could not be, or None."""
    if not shutil.which("apt-get"):
        return "apt-get is not available"
    if os.geteuid() != 0:
        return "installing it needs root"
    for argv in (["apt-get", "install", "-y", "-q", "chromium"],
                 ["apt-get", "update", "-q"],
                 ["apt-get", "install", "-y", "-q", "chromium"]):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=900)  # noqa: S603
        if argv[1] == "install" and done.returncode == 0:
            return None
    return f"apt-get install chromium failed: {done.stderr.strip()[-300:]}"


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not os.path.exists(CHROMIUM):
        reason = _chromium_install()
        if reason or not os.path.exists(CHROMIUM):
            pytest.skip(f"browser tests need {CHROMIUM} (Debian's chromium): {reason}")
    return CHROMIUM


@pytest.fixture(scope="session")
def playwright_api():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        # Listed in the dev extra; a venv made before it was added lacks it.
        subprocess.run(  # noqa: S603
            [sys.executable, "-m", "pip", "install", "-q", "playwright>=1.49,<2"], check=True
        )
        from playwright.sync_api import sync_playwright
    with sync_playwright() as api:
        yield api


@pytest.fixture(scope="session")
def browser(playwright_api, chromium_path):
    browser = playwright_api.chromium.launch(executable_path=chromium_path, headless=True)
    yield browser
    browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def live_server_url(django_db_setup, tmp_path):
    """runserver on the test database, DEBUG off, as staff would open it."""
    env = process_env(ALLOWED_HOSTS="127.0.0.1,localhost")
    with runserver(env, tmp_path / "web.log") as (_, base):
        yield base
