"""The webhooks portal in a real browser: headless Chromium driven by Selenium.

The browser and its driver are Debian's ``chromium`` and ``chromium-driver``
packages (``.ci/run`` installs them): Selenium is given the packaged
``chromedriver``, so Selenium Manager never downloads anything.  Without
them the tests skip, saying so.  The site is pytest-django's
``live_server`` (Django's ``StaticLiveServerTestCase`` server, which serves
the portal's CSS and JavaScript); test events go to the loopback receiver.

Screenshots of the main pages are saved in ``$THORN_TEST_ARTIFACTS``
(``.artifacts/`` in the repository by default, ignored by git).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.utils.html import escape

from thorn.django.models import DeliveryRecord, Subscriber
from thorn.django.ping import ping
from thorn.validators import block_cidr_network

from t.receiver import Answer, Receiver

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = next(
    filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None
)
CHROMEDRIVER = shutil.which("chromedriver") or (
    "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").is_file() else None
)
#: How long the browser waits for a page or an element, at most (seconds).
WAIT = 10.0

webdriver = pytest.importorskip(
    "selenium.webdriver", reason="selenium is not installed (pip install -r requirements/test.txt)"
)
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None,
        reason="the browser tests need Chromium and its driver: "
        "apt-get install chromium chromium-driver (.ci/run installs them)",
    ),
]

from selenium.common.exceptions import WebDriverException  # noqa: E402 (after the skip)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium, through the packaged chromedriver (never a downloaded one)."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--window-size=1280,1024",
        "--disable-gpu",
    ):
        options.add_argument(argument)
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(options=options, service=service)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


@pytest.fixture
def artifacts() -> Path:
    """Where screenshots go: $THORN_TEST_ARTIFACTS, else .artifacts/ in the repository."""
    path = Path(os.environ.get("THORN_TEST_ARTIFACTS") or ROOT / ".artifacts") / "portal"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def site(live_server: Any, browser: Any, settings: Any) -> Any:
    """The live site, 10.0.0.0/8 refused as an internal network, the browser logged out."""
    # The default validators refuse loopback too, where the receiver is.
    settings.THORN_RECIPIENT_VALIDATORS = [block_cidr_network("10.0.0.0/8")]
    browser.delete_all_cookies()
    return live_server


class Page:
    """The browser, with the few moves the tests make."""

    def __init__(self, driver: Any, base: str) -> None:
        self.driver = driver
        self.base = base

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)

    def wait(self, condition: Any) -> Any:
        return WebDriverWait(self.driver, WAIT).until(condition)

    def text(self) -> str:
        return str(self.driver.find_element(By.TAG_NAME, "body").text)

    def see(self, text: str) -> None:
        """Wait until the page shows ``text``.

        The page's text is read in one script call, so no element of a page
        that is being replaced is held; an error while a form's answer
        replaces the page (Chromium: "Node with given id does not belong to
        the document") is a reason to look again, not a failure.  Text that
        never appears still fails, after ``WAIT`` seconds.
        """
        read = "return document.body ? document.body.innerText : '';"
        WebDriverWait(self.driver, WAIT, ignored_exceptions=(WebDriverException,)).until(
            lambda driver: text in driver.execute_script(read)
        )

    def fill(self, label: str, value: str) -> None:
        """Type ``value`` into the field labelled ``label`` (found through its <label for>)."""
        element = self.driver.find_element(By.XPATH, f"//label[normalize-space()='{label}']")
        field = self.driver.find_element(By.ID, element.get_attribute("for"))
        field.clear()
        field.send_keys(value)

    def press(self, text: str, within: Any = None) -> None:
        """Click the button (or link) whose visible text is ``text``."""
        scope = within or self.driver
        xpath = f".//*[self::button or self::a][normalize-space()='{text}']"
        scope.find_element(By.XPATH, xpath).click()

    def log_in(self, username: str, password: str) -> None:
        self.fill("Username:", username)
        self.fill("Password:", password)
        self.press("Log in")

    def delivery(self, delivery_id: Any) -> Any:
        return self.driver.find_element(By.ID, f"delivery-{delivery_id}")

    def screenshot(self, directory: Path, name: str) -> None:
        """Save the page (its first 1400 pixels) as ``<name>.png``."""
        size = self.driver.get_window_size()
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        self.driver.set_window_size(size["width"], min(int(height), 1400))
        self.driver.execute_script("window.scrollTo(0, 0)")
        self.driver.save_screenshot(str(directory / f"{name}.png"))
        self.driver.set_window_size(size["width"], size["height"])


def test_a_user_manages_a_webhook_in_the_browser(
    site, browser, artifacts, django_user_model, receiver: Receiver
):
    """The issue's story: log in, subscribe (SSRF refused), test, fail, redeliver, rotate."""
    django_user_model.objects.create_user("alice", password="alice-password")
    page = Page(browser, site.url)

    # Log in: the portal sends an anonymous visitor to the site's login page.
    page.open("/webhooks/")
    page.wait(expected_conditions.url_contains("/accounts/login/"))
    page.log_in("alice", "alice-password")
    page.see("You have no webhooks yet.")

    # Subscribe an internal URL: refused with the API's message, on the URL field.
    page.press("New webhook", within=browser.find_element(By.ID, "content"))
    page.fill("Event", "article.created")
    page.fill("URL", "http://10.0.0.1/hook")
    page.press("Subscribe")
    page.see("This URL is refused:")
    errors = browser.find_element(By.ID, "id_url_errors")
    assert "10.0.0.1" in errors.text
    assert "alert" == errors.get_attribute("role")
    page.screenshot(artifacts, "create-refused")
    assert 0 == Subscriber.objects.count()

    # The receiver's URL is accepted.
    page.fill("URL", receiver.url("/hook"))
    page.press("Subscribe")
    page.see("Subscribed.")
    subscription = Subscriber.objects.get()

    # Send a test event: it arrives, signed, and its delivery is listed.
    page.press("Send test event")
    page.see("Test event delivered: 200")
    [received] = receiver.for_path("/hook")
    received.assert_signed_for(subscription)
    first = DeliveryRecord.objects.get()
    assert "200" in page.delivery(first.id).text

    # A delivery made meanwhile appears without a reload (portal.js refreshes the list).
    later = ping(subscription)
    page.wait(lambda driver: driver.find_elements(By.ID, f"delivery-{later.id}"))

    # The receiver fails: the failure is listed with its status code and answer.
    receiver.answer("/hook", Answer(status=503, body=b"<b>down for maintenance</b>"))
    page.press("Send test event")
    page.see("Test event failed:")
    failed = DeliveryRecord.objects.filter(state="failed").get()
    shown = page.delivery(failed.id)
    assert "failed" in shown.find_element(By.CSS_SELECTOR, ".thorn-state").text
    assert "503" in shown.find_element(By.CSS_SELECTOR, ".thorn-status-code").text
    # The answer is shown as text, not rendered: its tags are visible.
    assert "<b>down for maintenance</b>" in shown.find_element(By.CSS_SELECTOR, "pre").text

    # The receiver is back: Redeliver the failed delivery, which succeeds.
    receiver.answer("/hook", 200)
    page.press("Redeliver", within=page.delivery(failed.id))
    page.see("Redelivered.")
    shown = page.delivery(failed.id)
    assert "succeeded" == shown.find_element(By.CSS_SELECTOR, ".thorn-state").text
    codes = [cell.text for cell in shown.find_elements(By.CSS_SELECTOR, ".thorn-status-code")]
    assert ["503", "200"] == codes
    page.screenshot(artifacts, "subscription")

    # Rotate the secret: the new one is shown, with its copy button (portal.js).
    old = subscription.hmac_secret
    page.press("Show the secret")
    page.see(old)
    assert browser.find_element(By.CSS_SELECTOR, "button[data-copy=thorn-secret]").is_displayed()
    page.press("Rotate secret")
    page.see("The secret was rotated")
    subscription.refresh_from_db()
    assert old != subscription.hmac_secret
    assert subscription.hmac_secret == browser.find_element(By.ID, "thorn-secret").text
    page.see("The previous secret also signs deliveries until")
    page.screenshot(artifacts, "secret")

    page.open("/webhooks/")
    page.see("Last delivery")
    assert receiver.url("/hook") in page.text()
    page.screenshot(artifacts, "list")


def test_another_user_cannot_reach_the_subscription(site, browser, django_user_model, receiver):
    """Bob, logged in, gets a 404 for Alice's subscription, and never sees her secret."""
    alice = django_user_model.objects.create_user("alice")
    django_user_model.objects.create_user("bob", password="bob-password")
    theirs = Subscriber.objects.create(user=alice, event="article.created", url=receiver.url())
    page = Page(browser, site.url)

    page.open(f"/webhooks/{theirs.uuid}/?secret=show")
    page.log_in("bob", "bob-password")
    page.see("Not Found")

    assert escape(theirs.hmac_secret) not in browser.page_source
    page.open("/webhooks/")
    page.see("You have no webhooks yet.")
