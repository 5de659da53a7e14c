"""大字模式 on the chat page (remembered per browser, >= 20 px, bigger buttons, numbered choices that
can be typed) and an axe-core check (vendored in tests/browser/vendor/) of the chat page and the
console: no serious or critical violation."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.conftest import PHONE
from tests.supervision_seed import seed
from xiaoan.db import session_scope
from xiaoan.supervision.report import last_full_week
from xiaoan.web.accounts import create_user

pytestmark = pytest.mark.browser
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
PASSWORD = "a11y-password-1"
BAD_IMPACTS = ("serious", "critical")


def axe_violations(page) -> list[str]:
    """Serious and critical axe violations of the page as readable lines (WCAG 2.1 A/AA rules)."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
    }""")
    return [f"{v['impact']} {v['id']}: {v['help']} {v['nodes']}" for v in result if v["impact"] in BAD_IMPACTS]


def chromium_button_names(page) -> set[str]:
    cdp = page.context.new_cdp_session(page)
    try:
        nodes = cdp.send("Accessibility.getFullAXTree")["nodes"]
    finally:
        cdp.detach()
    return {n.get("name", {}).get("value", "").strip() for n in nodes if n.get("role", {}).get("value") == "button"}


def font_px(page, selector: str) -> float:
    return page.eval_on_selector(selector, "el => parseFloat(getComputedStyle(el).fontSize)")


def test_large_text_mode_is_remembered_and_numbers_the_choices(open_context, live_server, artifacts):
    from playwright.sync_api import expect

    page = open_context(**PHONE)
    page.goto(live_server.url + "/")
    toggle = page.locator("#large-text")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    assert font_px(page, ".intro-text") < 20
    assert axe_violations(page) == []

    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    expect(toggle).to_have_text("标准字")
    page.locator("#input").fill("你好")
    page.locator("#send").click()
    options = page.locator(".options .option")
    expect(options).to_have_count(2)
    for selector in (".intro-text", ".bubble-text", ".option", "#input", ".privacy", ".large-hint"):
        if page.locator(selector).count() and page.locator(selector).first.is_visible():
            assert font_px(page, selector) >= 20, selector
    assert options.first.bounding_box()["height"] >= 48
    assert page.locator("h1").bounding_box()["width"] > 250           # the title is not squeezed by the buttons
    assert page.locator("#send").bounding_box()["height"] >= 48
    # the numbers are drawn before each title, and Chromium's own accessibility tree (what a
    # screen reader hears) has them in the buttons' names
    expect(options).to_have_text(["咨询问题", "我要投诉"])          # the titles themselves are unchanged
    assert {"1. 咨询问题", "2. 我要投诉"} <= chromium_button_names(page)
    expect(page.locator(".large-hint")).to_be_visible()
    # the numbers can be typed: "2" goes to Rasa as typed, where the channel maps it to the 2nd button
    page.locator("#input").fill("2")
    page.locator("#send").click()
    expect(page.locator(".msg-bot .bubble-text").last).to_have_text("收到：2")
    sent = [c["json"]["message"] for c in live_server.rasa.calls if c["path"] == "/webhooks/rest/webhook"]
    assert sent[-1] == "2"
    assert axe_violations(page) == []
    page.screenshot(path=str(artifacts / "chat-large-text.png"))
    page.reload()                                            # the restored transcript is numbered too
    expect(page.locator(".options .option")).to_have_count(2)
    assert {"1. 咨询问题", "2. 我要投诉"} <= chromium_button_names(page)

    # a new browser session with the same profile: still large
    page.context.close()
    page = open_context(**PHONE)
    page.goto(live_server.url + "/")
    expect(page.locator("#large-text")).to_have_attribute("aria-pressed", "true")
    assert font_px(page, ".intro-text") >= 20
    page.locator("#large-text").click()
    expect(page.locator("#large-text")).to_have_attribute("aria-pressed", "false")
    page.reload()
    expect(page.locator("#large-text")).to_have_attribute("aria-pressed", "false")
    assert font_px(page, ".intro-text") < 20


def test_console_pages_have_no_serious_accessibility_violations(open_context, live_server, db_url):
    seed(db_url, last_full_week())
    with session_scope(db_url) as db:
        create_user(db, "root", PASSWORD, "admin", "管理员")
    page = open_context(viewport={"width": 1280, "height": 900})
    page.goto(live_server.url + "/console/login")
    assert axe_violations(page) == [], "login"
    page.locator("#username").fill("root")
    page.locator("#password").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(live_server.url + "/console")
    found = {}
    for path in ("/console", "/console/stats", "/console/stats?trend=week", "/console/stats/report",
                 "/console/kb", "/console/inbox"):
        page.goto(live_server.url + path)
        page.wait_for_load_state("networkidle")
        found[path] = axe_violations(page)
    assert found == {path: [] for path in found}
