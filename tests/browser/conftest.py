"""Browser tests: Debian's Chromium driven by Playwright, against the web app served in a thread
and a fake Rasa server. Mark tests with `@pytest.mark.browser`.

Chromium comes from Debian (`apt-get install chromium`), never from Playwright's own download:
without /usr/bin/chromium the tests are skipped with a reason, except in CI (env CI set), where
they fail.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from xiaoan.config import Settings
from xiaoan.web.app import create_app
from tests.fakes.rasa_server import FakeRasa

CHROMIUM = Path(os.environ.get("XIAOAN_CHROMIUM", "/usr/bin/chromium"))
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
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
ARTIFACTS = Path(__file__).parent / "artifacts"
RASA_TOKEN = "browser-test-token"


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """Path of Debian's Chromium; skip (fail in CI) when it is not installed."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} not found: install Debian's Chromium with `apt-get install -y chromium`"
        if os.environ.get("CI"):
            pytest.fail(f"CI must not skip: {reason}")
        pytest.skip(reason)
    return str(CHROMIUM)


@pytest.fixture(scope="module")
def playwright(chromium_executable):
    # Module scope: Playwright's sync API keeps an event loop running in this thread while it is
    # open, which would break every later test that calls asyncio.run().
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture()
def browser_context(playwright, chromium_executable, tmp_path):
    """A phone-sized Chromium context with a fresh profile (user-data-dir) per test."""
    context = playwright.chromium.launch_persistent_context(
        user_data_dir=str(tmp_path / "chromium-profile"),
        executable_path=chromium_executable,
        headless=True,
        args=CHROMIUM_ARGS,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        **PHONE,
    )
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture()
def open_context(playwright, chromium_executable, tmp_path):
    """Opens a page in a persistent Chromium profile (localStorage survives a restart), closed after
    the test: `open_context(**options)` (viewport, PHONE, ...). The CSP is bypassed only so that axe
    (test_accessibility.axe_violations) can be injected."""
    contexts = []

    def start(**options):
        context = playwright.chromium.launch_persistent_context(
            user_data_dir=str(tmp_path / "profile"), executable_path=chromium_executable, headless=True,
            args=CHROMIUM_ARGS, locale="zh-CN", timezone_id="Asia/Shanghai", bypass_csp=True, **options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.pages[0] if context.pages else context.new_page()

    yield start
    for context in contexts:
        context.close()


@pytest.fixture()
def page(browser_context):
    """A page that records console errors in `page.console_errors`."""
    page = browser_context.pages[0] if browser_context.pages else browser_context.new_page()
    page.console_errors = []
    page.on("console", lambda msg: page.console_errors.append(msg.text) if msg.type == "error" else None)
    return page


@pytest.fixture()
def artifacts() -> Path:
    """Folder for screenshots (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@dataclass
class LiveServer:
    url: str
    rasa: FakeRasa


@pytest.fixture()
def live_server(db_url, monkeypatch):
    """The web app on a free loopback port, talking to a fake Rasa (`live_server.rasa`)."""
    monkeypatch.setenv("XIAOAN_RASA_TOKEN", RASA_TOKEN)
    rasa = FakeRasa(token=RASA_TOKEN).start()
    app = create_app(Settings(database_url=db_url, rasa_url=rasa.url,
                              web_secret_key="browser-tests-0123456789abcdefghijkl"), testing=True)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield LiveServer(url=f"http://127.0.0.1:{server.server_port}", rasa=rasa)
    server.shutdown()
    thread.join(timeout=5)
    server.server_close()
    rasa.stop()
