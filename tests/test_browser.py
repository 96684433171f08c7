"""Two users chat in a real headless Chromium: the example page, ws-routes.js, the local gateway,
the view and the sender, end to end (``manage.py rundemo``, what ``make demo`` runs).

Needs Debian's chromium + chromedriver and Selenium (``make browser-deps``); skipped, saying
which is missing, without them. Set ``WS_ROUTES_SCREENSHOTS=<dir>`` to keep the screenshots.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.demo_process import running_demo

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ROOM = "browser-test"
WAIT_SECONDS = 20

try:
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover - depends on the machine
    webdriver = None

if webdriver is None:
    MISSING = "Selenium is not installed: run `make browser-deps` (the [browser] extra)"
elif not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    MISSING = (
        f"{CHROMIUM} or {CHROMEDRIVER} is missing: run `make browser-deps` "
        "(apt-get install chromium chromium-driver)"
    )
else:
    MISSING = ""

if MISSING:
    pytestmark = pytest.mark.skip(reason=MISSING)
    if os.environ.get("WS_ROUTES_REQUIRE_BROWSER"):  # CI installs the browser: never skip there
        pytestmark = []

        def test_browser_is_installed() -> None:
            pytest.fail(MISSING)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Iterator[str]:
    """The demo on free ports with a throwaway database; yields the site's URL."""
    with running_demo(tmp_path_factory.mktemp("demo")) as demo:
        yield demo.url
    assert "Traceback" not in demo.output(), demo.output()[-5000:]


class Browser:
    """One headless Chromium with its own profile (its own cookies: its own user)."""

    def __init__(self, base_url: str, profile: Path) -> None:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in (
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1100,760",
            f"--user-data-dir={profile}",
        ):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
        self.base_url = base_url

    def wait(self, condition, message: str, timeout: float = WAIT_SECONDS):
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.05).until(
                lambda _: condition()
            )
        except TimeoutException:
            raise AssertionError(f"{message}; page:\n{self.text('body')}") from None

    def text(self, css: str) -> str:
        # A script, not find_element().text: the element may be replaced by a navigation.
        return self.driver.execute_script(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : ''", css
        )

    def log_in(self, username: str, password: str, room: str) -> None:
        self.driver.get(f"{self.base_url}/room/{room}/")  # → the login page, then back here
        self.driver.find_element(By.ID, "id_username").send_keys(username)
        self.driver.find_element(By.ID, "id_password").send_keys(password)
        self.driver.find_element(By.CSS_SELECTOR, "form.stacked button").click()
        self.wait(lambda: self.driver.current_url.endswith(f"/room/{room}/"), "no room page")
        self.wait(lambda: self.text("#status") == "connected", f"{username} never connected")

    def say(self, text: str) -> None:
        box = self.driver.find_element(By.ID, "text")
        box.clear()
        if text:
            # send_keys types character by character: set long texts at once.
            self.driver.execute_script("arguments[0].value = arguments[1]", box, text)
        self.driver.find_element(By.ID, "send").click()

    def texts(self, css: str) -> list[str]:
        # One script, so a list the page re-renders meanwhile cannot go stale under us.
        return self.driver.execute_script(
            "return Array.from(document.querySelectorAll(arguments[0]), e => e.textContent)", css
        )

    def messages(self) -> list[str]:
        return self.texts("#messages li")

    def online(self) -> list[str]:
        return self.texts("#online li")

    def error(self) -> str:
        return self.text("#error:not([hidden])")

    def console_errors(self) -> list[str]:
        return [e["message"] for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]

    def quit(self) -> None:
        self.driver.quit()


@pytest.fixture
def browsers(demo) -> Iterator[tuple[Browser, Browser]]:
    with tempfile.TemporaryDirectory(prefix="ws-routes-chromium-") as profiles:
        opened: list[Browser] = []
        try:
            for name in ("one", "two"):
                opened.append(Browser(demo, Path(profiles) / name))
            yield opened[0], opened[1]
        finally:
            for browser in opened:
                browser.quit()


def screenshot(browser: Browser, name: str, tmp_path: Path) -> Path:
    folder = Path(os.environ.get("WS_ROUTES_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    assert browser.driver.save_screenshot(str(path))
    assert path.stat().st_size > 5000  # a rendered page, not an empty image
    return path


def test_two_users_see_each_others_messages_and_invalid_messages_show_the_error(browsers, tmp_path):
    demo, demo2 = browsers
    demo.log_in("demo", "demo", ROOM)
    demo2.log_in("demo2", "demo2", ROOM)

    # Presence: demo hears demo2 join and both see both online.
    demo.wait(lambda: "demo2 joined" in demo.messages(), "demo never saw demo2 join")
    for browser in (demo, demo2):
        browser.wait(lambda b=browser: b.online() == ["demo", "demo2"], "wrong online list")

    # A message from one reaches the other (and the sender), through gateway and sender.
    demo.say("hello from demo")
    demo2.wait(lambda: "demo hello from demo" in demo2.messages(), "demo2 never got it")
    demo.wait(lambda: "demo hello from demo" in demo.messages(), "demo never saw its own")
    demo2.say("hi demo, this is demo2 🙂")
    demo.wait(lambda: "demo2 hi demo, this is demo2 🙂" in demo.messages(), "demo never got it")

    # Invalid messages: the server's invalid_message error is shown; nobody receives them.
    demo2.say("")
    demo2.wait(lambda: "invalid_message" in demo2.error(), "no error for an empty message")
    assert "$.text" in demo2.error()
    screenshot(demo2, "chat-error", tmp_path)
    demo2.say("x" * 501)
    demo2.wait(lambda: "$.text: 'xxxxxxxx" in demo2.error(), "no error for a 501-character text")
    assert demo2.error().startswith("invalid_message: ")
    # A valid message clears the error.
    demo2.say("<img src=x onerror=\"document.title='pwned'\">")
    demo2.wait(lambda: demo2.error() == "", "the error stayed after a valid message")
    expected = "demo2 <img src=x onerror=\"document.title='pwned'\">"
    demo.wait(lambda: expected in demo.messages(), "demo never got the HTML-looking text")
    assert demo.driver.find_elements(By.CSS_SELECTOR, "#messages img") == []
    assert demo.driver.title != "pwned"
    assert not any("x" * 501 in m for m in demo.messages() + demo2.messages())

    demo_shot = screenshot(demo, "chat-demo", tmp_path)
    screenshot(demo2, "chat-demo2", tmp_path)
    print(f"screenshots: {demo_shot.parent}")

    # Leaving: demo2's page goes away, demo hears it and the online list shrinks.
    demo2.driver.get(f"{demo2.base_url}/")
    demo.wait(lambda: "demo2 left" in demo.messages(), "demo never saw demo2 leave")
    demo.wait(lambda: demo.online() == ["demo"], "demo2 still listed online")

    for browser in (demo, demo2):
        assert browser.console_errors() == []


def test_a_logged_out_visitor_is_sent_to_the_login_page(demo, tmp_path):
    with tempfile.TemporaryDirectory(prefix="ws-routes-chromium-") as profile:
        browser = Browser(demo, Path(profile))
        try:
            browser.driver.get(f"{demo}/room/{ROOM}/")
            assert "/accounts/login/" in browser.driver.current_url
            browser.driver.find_element(By.ID, "id_username").send_keys("demo")
            browser.driver.find_element(By.ID, "id_password").send_keys("wrong")
            browser.driver.find_element(By.CSS_SELECTOR, "form.stacked button").click()
            browser.wait(lambda: "Wrong username" in browser.text("body"), "no login error")
        finally:
            browser.quit()


def test_a_dropped_socket_resumes_and_misses_nothing(browsers):
    """Issue 12: one user's socket drops, messages are sent meanwhile, it reconnects: each
    arrives once, in order. A reload shows the kept history; one socket follows two rooms."""
    room = "resume-test"
    demo, demo2 = browsers
    demo.log_in("demo", "demo", room)
    demo2.log_in("demo2", "demo2", room)
    demo.wait(lambda: "demo2 joined" in demo.messages(), "demo never saw demo2 join")
    demo.say("before the drop")
    demo2.wait(lambda: "demo before the drop" in demo2.messages(), "demo2 never got it")

    # Drop demo2's socket and keep it down (the next attempt would be a minute away).
    demo2.driver.execute_script(
        "const ws = window.chatClient; ws.options.minDelay = 60000;"
        " ws.options.random = () => 0.99; ws.socket.close(4000, 'test drop');"
    )
    demo2.wait(lambda: demo2.text("#status").startswith("reconnecting"), "never dropped")
    demo.wait(lambda: "demo2 left" in demo.messages(), "the drop was never noticed")
    sent = [f"missed {n}" for n in range(1, 6)]
    for text in sent:
        demo.say(text)
        demo.wait(lambda t=text: f"demo {t}" in demo.messages(), f"{text} not sent")
    assert not any("missed" in line for line in demo2.messages())

    demo2.driver.execute_script("window.chatClient.close(); window.chatClient.connect();")
    demo2.wait(lambda: demo2.text("#status") == "connected", "demo2 never reconnected")
    expected = ["demo before the drop"] + [f"demo {t}" for t in sent]
    demo2.wait(
        lambda: [m for m in demo2.messages() if m.startswith("demo ")] == expected,
        "demo2 did not get every missed message once, in order",
    )
    demo.say("after the resume")
    demo2.wait(lambda: "demo after the resume" in demo2.messages(), "no live message after")
    chat = [m for m in demo2.messages() if m.startswith("demo ")]
    assert chat == expected + ["demo after the resume"]

    # A reload shows the kept messages (history=100).
    demo2.driver.refresh()
    demo2.wait(lambda: demo2.text("#status") == "connected", "no reconnect after the reload")
    demo2.wait(
        lambda: (
            [m for m in demo2.messages() if m.startswith("demo ")]
            == expected + ["demo after the resume"]
        ),
        "the reload did not show the history",
    )

    # The same socket follows a second room.
    demo2.driver.find_element(By.ID, "follow").send_keys("second-room")
    demo2.driver.find_element(By.ID, "follow-button").click()
    demo2.wait(lambda: "#second-room" in demo2.texts("#following li"), "not following")
    demo.driver.get(f"{demo.base_url}/room/second-room/")
    demo.wait(lambda: demo.text("#status") == "connected", "demo never entered the second room")
    demo.say("in the other room")
    demo2.wait(
        lambda: "#second-room demo in the other room" in demo2.messages(),
        "the second room's message never came",
    )
    for browser in (demo, demo2):
        assert browser.console_errors() == []


class Admin(Browser):
    """The demo's staff user in the Django admin (contrib_admin)."""

    def log_in_admin(self) -> None:
        self.driver.get(f"{self.base_url}/admin/login/?next=/admin/")
        self.driver.find_element(By.ID, "id_username").send_keys("admin")
        self.driver.find_element(By.ID, "id_password").send_keys("admin")
        self.driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        self.wait(lambda: "Site administration" in self.text("body"), "no admin index")

    def run_action(self, changelist: str, action: str) -> None:
        """Select every row of ``changelist`` and run ``action`` (the admin's action bar)."""
        from selenium.webdriver.support.ui import Select

        self.driver.get(f"{self.base_url}{changelist}")
        boxes = self.driver.find_elements(By.CSS_SELECTOR, "input[name=_selected_action]")
        assert boxes, f"nothing listed at {changelist}: {self.text('body')}"
        for box in boxes:
            box.click()
        Select(self.driver.find_element(By.NAME, "action")).select_by_value(action)
        self.driver.find_element(By.CSS_SELECTOR, "button[name=index]").click()

    def messages_shown(self) -> str:
        return self.text("ul.messagelist")


def test_the_admin_syncs_sends_to_a_session_and_disconnects_it(demo, tmp_path):
    with tempfile.TemporaryDirectory(prefix="ws-routes-chromium-") as profiles:
        chat = Browser(demo, Path(profiles) / "chat")
        admin = Admin(demo, Path(profiles) / "admin")
        try:
            chat.log_in("demo", "demo", "admin-room")
            admin.log_in_admin()

            # The gateway rundemo synced, with an extra route added in the admin: the preview
            # shows the plan, applying it deploys.
            admin.driver.get(f"{demo}/admin/ws_routes/apigateway/")
            admin.wait(lambda: "chat demo" in admin.text("#result_list"), "no demo gateway")
            admin.driver.find_element(By.LINK_TEXT, "chat demo").click()
            admin.wait(lambda: admin.driver.find_elements(By.CSS_SELECTOR, ".add-row a"), "no +")
            admin.driver.find_element(By.CSS_SELECTOR, ".add-row a").click()
            admin.driver.find_element(By.ID, "id_routes-0-route_key").send_keys("admin.added")
            admin.driver.find_element(By.NAME, "_save").click()
            admin.wait(lambda: "was changed successfully" in admin.messages_shown(), "not saved")
            admin.run_action("/admin/ws_routes/apigateway/", "sync_routes")
            admin.wait(lambda: "+ route admin.added" in admin.text("pre.ws-routes-plan"), "no plan")
            screenshot(admin, "admin-sync-preview", tmp_path)
            admin.driver.find_element(By.CSS_SELECTOR, "button[name=confirm]").click()
            admin.wait(lambda: "applied" in admin.messages_shown(), "the sync was not applied")

            # The live session: a message from the admin appears on the chat page.
            sessions = "/admin/ws_routes/websocketsession/?connected__exact=1"
            admin.driver.get(f"{demo}{sessions}")
            admin.wait(lambda: "admin-room" in admin.text("#result_list"), "no live session")
            assert "demo" in admin.text("#result_list")
            admin.run_action(sessions, "send_message")
            admin.wait(lambda: admin.driver.find_elements(By.ID, "id_message"), "no message form")
            admin.driver.find_element(By.ID, "id_message").send_keys(
                '{"type": "chat.message", "from": "admin", "text": "hello from the admin"}'
            )
            admin.driver.find_element(By.NAME, "send").click()
            admin.wait(lambda: "1 delivered" in admin.messages_shown(), "not delivered")
            chat.wait(
                lambda: "admin hello from the admin" in chat.messages(), "the page never got it"
            )

            # Disconnect: the page shows its socket closed, then reconnects by itself.
            chat.driver.execute_script(
                "window.__statuses = [];"
                "new MutationObserver(() => window.__statuses.push("
                "document.getElementById('status').textContent))"
                ".observe(document.getElementById('status'), {childList: true});"
            )
            admin.run_action(sessions, "disconnect")
            admin.wait(lambda: "1 session(s) disconnected" in admin.messages_shown(), "no close")
            chat.wait(
                lambda: any(
                    s.startswith("reconnecting")
                    for s in chat.driver.execute_script("return window.__statuses")
                ),
                "the page never showed the closed socket",
            )
            chat.wait(lambda: chat.text("#status") == "connected", "the page never reconnected")
            assert chat.console_errors() == []
        finally:
            chat.quit()
            admin.quit()
