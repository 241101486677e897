"""Browser tests: Playwright driving Debian's Chromium (/usr/bin/chromium) against pytest-django's
live_server. Playwright never downloads a browser here: scripts/test.sh installs the `chromium`
package (as root, with apt-get) when it is missing. Without it (non-root machine) the tests skip
with the reason; in CI they run.

Screenshots go to test-artifacts/screenshots/ (gitignored); a few are copied to docs/screenshots/
for the README (by hand, or by test_object_pages.py itself when PITBOSS_PUBLISH_SCREENSHOTS=1).
"""

import io
import os
import uuid
from pathlib import Path

import pytest
from django.core.management import call_command

CHROMIUM = os.environ.get("PITBOSS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
DEMO_PASSWORD = "pitboss-demo"


def _missing_browser() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package `playwright` is not installed (pip install -e '.[dev]')"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return (
            f"Debian's Chromium is missing at {CHROMIUM}: `make test` installs it as root "
            "(apt-get install chromium); on this machine run `sudo apt-get install chromium`"
        )
    return None


@pytest.fixture(scope="module")
def playwright_driver():
    reason = _missing_browser()
    if reason:
        if os.environ.get("CI") and os.geteuid() == 0:
            # CI runs as root: scripts/test.sh installs Chromium, so a missing one is a failure.
            pytest.fail(f"browser tests cannot run in CI: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
    # around the browser (seeding, asserting outcomes) are plain synchronous calls, which
    # Django refuses while a loop is running unless told otherwise. Only while the driver runs.
    saved = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    driver = sync_playwright().start()
    try:
        yield driver
    finally:
        driver.stop()
        if saved is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = saved


@pytest.fixture(scope="module")
def chromium(playwright_driver):
    """One Chromium process for a module's tests; each test gets its own context below."""
    browser = playwright_driver.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=30_000
    )
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def browser_context(chromium):
    """A fresh browser context per test (its own cookies, cache and storage, like a new
    profile): nothing is carried over from another test."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15_000)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(browser_context):
    return browser_context.pages[0] if browser_context.pages else browser_context.new_page()


@pytest.fixture
def demo(transactional_db, live_server, settings):
    """The demo staff (one per role), providers and a few funded players; live metrics under a
    key prefix of this test's own (earlier tests' calls on this worker's Redis are not this
    test's: a provider id reused by the flush would inherit their error rates)."""
    from monitoring import capture

    settings.MONITORING_REDIS_PREFIX = f"pitboss:test:{uuid.uuid4().hex[:12]}"
    capture.reset()
    call_command("seed_demo", players=4, stdout=io.StringIO())
    yield live_server
    capture.reset()


class Admin:
    """The admin as a person uses it: log in, open pages, run a list action with its
    confirmation page, take screenshots."""

    def __init__(self, page, base_url: str):
        self.page = page
        self.base_url = base_url

    def open(self, path: str):
        self.page.goto(self.base_url + path)
        return self.page

    def login(self, username: str, password: str = DEMO_PASSWORD):
        self.page.context.clear_cookies()
        self.open("/admin/login/?next=/admin/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", password)
        self.page.click("input[type=submit]")
        self.page.wait_for_selector("#pitboss-home")
        return self.page

    def follow(self, selector: str):
        """Click a link and wait for the page it leads to."""
        with self.page.expect_navigation():
            self.page.click(selector)
        return self.page

    def run_action(self, changelist: str, pks, action: str):
        """Select rows on a changelist, choose the action and press Go; returns on the
        confirmation page."""
        self.open(changelist)
        for pk in pks:
            self.page.check(f"input[name=_selected_action][value='{pk}']")
        self.page.select_option("select[name=action]", action)
        self.page.click("button[name=index]")
        self.page.wait_for_selector("input[name=apply]", state="attached")
        return self.page

    def confirm(self):
        self.page.click("input[type=submit][value=Confirm]")
        self.page.wait_for_selector("ul.messagelist")
        return self.page.inner_text("ul.messagelist")

    def screenshot(self, name: str):
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)


@pytest.fixture
def admin_ui(page, demo):
    return Admin(page, demo.url)
