"""Agent assist in a real headless Chromium: a citizen in the chat page hands off; the agent sees the
live summary, inserts a knowledge-base suggestion and a canned reply into the reply box with one
click each (nothing is sent until 发送), and the panel follows the citizen's next question without
a reload. A supervisor maintains the canned replies on their page. Screenshots in
tests/browser/artifacts/ (inbox-assist.png, inbox-canned.png).

The fake Rasa and its stand-in assistant are those of tests/browser/test_inbox.py; the knowledge
base is the real one (knowledge_base/), searched lexically.
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import CHROMIUM_ARGS
from tests.browser.test_accessibility import axe_violations
from tests.browser.test_inbox import PASSWORD, QUEUED, agent_desk

from xiaoan.config import Settings
from xiaoan.db import session_scope
from xiaoan.handoff import assist_console, canned
from xiaoan.handoff.service import HandoffService
from xiaoan.kb.loader import read_dir
from xiaoan.kb.service import StaticSearchService
from xiaoan.rasa_client import RasaClient
from xiaoan.web.accounts import create_user

pytestmark = pytest.mark.browser

OPENING = "健身房老板跑路了，卡里还有两千块，我电话13812345678，我要转人工"
CANNED_TEXT = "请您保留好会员卡、付款记录和合同，我们会尽快为您登记。"
FOLLOW_UP = "另外想问一下，网上买的衣服七天无理由退货运费谁出？"


@pytest.fixture()
def lexical_kb(monkeypatch):
    kb = StaticSearchService(read_dir().entries, encoder=None)
    monkeypatch.setattr(assist_console, "_search_service", lambda: kb)
    return kb


def sign_in(page, url: str, username: str) -> None:
    page.goto(url)
    page.locator("#username").fill(username)
    page.locator("#password").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()


def test_agent_inserts_a_suggestion_and_a_canned_reply_then_sends(page, live_server, playwright, chromium_executable,
                                                                 db_url, artifacts, lexical_kb):
    from playwright.sync_api import expect

    rasa = live_server.rasa
    agent_desk(live_server, db_url)
    with session_scope(db_url) as db:
        canned.create_reply(db, topic="预付卡", title="保留凭证", text=CANNED_TEXT, by="李主管")
        canned.create_reply(db, topic="开场与安抚", title="问候", text="您好，我是人工客服王芳。", by="李主管")

    page.goto(live_server.url + "/")
    page.locator("#input").fill(OPENING)
    page.locator("#send").click()
    expect(page.locator(".msg-bot .bubble-text").last).to_have_text(QUEUED)
    (conversation_id,) = rasa.trackers

    browser = playwright.chromium.launch(executable_path=chromium_executable, headless=True, args=CHROMIUM_ARGS)
    try:
        context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1280, "height": 1000})
        context.set_default_timeout(10_000)
        agent = context.new_page()
        console_errors: list[str] = []
        agent.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
        sign_in(agent, live_server.url + "/console/inbox", "wangfang")
        agent.locator("#queue-body .queue-row").first.get_by_role("button", name="接入").click()
        expect(agent.locator("#session-status")).to_have_text("接待中")

        # the summary: topic, merchant as gathered, the amount read from the message; numbers masked
        panel = agent.locator("#assist")
        expect(panel).to_have_attribute("data-ready", "true")
        summary = agent.locator("#assist-summary")
        expect(summary.locator('[data-field="topic"]')).to_have_text("预付卡纠纷")
        expect(summary.locator('[data-field="merchant"]')).to_contain_text("某某健身")
        expect(summary.locator('[data-field="amount"]')).to_contain_text("2,000 元")
        expect(summary.locator('[data-field="latest_question"]')).to_contain_text("138****5678")
        assert "13812345678" not in agent.content()

        # a suggestion goes into the reply box with one click, and is not sent
        suggestions = agent.locator("#assist-suggestions .assist-item")
        expect(suggestions.first).to_have_attribute("data-entry-id", "consumer.business-closed")
        assert 1 <= suggestions.count() <= 3
        answer = suggestions.first.locator(".assist-answer").inner_text()
        events_before = len(rasa.events(conversation_id))
        suggestions.first.get_by_role("button", name="插入回复框").click()
        reply = agent.locator("#reply-text")
        expect(reply).to_have_value(answer)
        expect(reply).to_be_focused()
        assert len(rasa.events(conversation_id)) == events_before          # nothing sent

        # a canned reply is inserted where the cursor is, after the agent's own words
        reply.fill("您好。")
        agent.locator("#assist-canned").get_by_role("button", name="保留凭证").click()
        expect(reply).to_have_value("您好。" + CANNED_TEXT)
        assert len(rasa.events(conversation_id)) == events_before

        # the citizen asks something else: the panel follows without a reload
        page.locator("#input").fill(FOLLOW_UP)
        page.locator("#send").click()
        expect(agent.locator("#assist-question")).to_have_text(FOLLOW_UP, timeout=8000)
        expect(suggestions.first).to_have_attribute("data-entry-id", "consumer.seven-day-return")
        expect(summary.locator('[data-field="latest_question"]')).to_contain_text("七天无理由退货")
        expect(reply).to_have_value("您好。" + CANNED_TEXT)                 # the draft survives the refresh
        agent.screenshot(path=str(artifacts / "inbox-assist.png"), full_page=True)
        panel.screenshot(path=str(artifacts / "inbox-assist-panel.png"))   # README: docs/img/inbox-assist-panel.png

        # the agent sends the edited reply; the citizen gets it
        agent.locator("#reply-send").click()
        expect(reply).to_have_value("")
        expect(page.locator(".msg-agent .bubble-text").last).to_have_text("您好。" + CANNED_TEXT, timeout=8000)
        assert not [e for e in console_errors if "Content Security Policy" in e]
        context.close()
    finally:
        browser.close()


def test_supervisor_maintains_canned_replies_on_an_accessible_page(live_server, open_context, db_url, artifacts):
    from playwright.sync_api import expect

    with session_scope(db_url) as db:
        create_user(db, "boss", PASSWORD, "supervisor", "李主管")
    boss = open_context(viewport={"width": 1280, "height": 900})
    sign_in(boss, live_server.url + "/console/inbox", "boss")
    boss.locator("#canned-link").click()
    expect(boss.get_by_role("heading", name="常用语", exact=True)).to_be_visible()

    boss.locator("#title").fill("问候")
    boss.locator("#text").fill("您好，我是人工客服。")
    boss.locator("#canned-add").click()
    expect(boss.locator("#canned-error")).to_have_text("请填写主题。")
    expect(boss.locator("#title")).to_have_value("问候")              # kept
    boss.locator("#topic").fill("开场与安抚")
    boss.locator("#canned-add").click()
    expect(boss.get_by_role("status").first).to_have_text("已添加常用语“问候”。")
    item = boss.locator(".canned-admin-item").first
    expect(item).to_contain_text("您好，我是人工客服。")

    item.get_by_role("link", name="编辑").click()
    boss.locator("#text").fill("您好，我是人工客服，请问有什么可以帮您？")
    boss.locator("#canned-save").click()
    expect(boss.get_by_role("status").first).to_have_text("已保存常用语“问候”。")
    boss.locator(".canned-admin-item").first.get_by_role("button", name="停用").click()
    expect(boss.locator(".canned-admin-item.retired")).to_have_count(1)
    expect(boss.locator(".canned-admin-item").first).to_contain_text("已停用")
    boss.screenshot(path=str(artifacts / "inbox-canned.png"), full_page=True)
    assert axe_violations(boss) == []
    with session_scope(db_url) as db:
        (reply,) = canned.list_replies(db, include_retired=True)
    assert (reply.text, reply.active, reply.updated_by) == ("您好，我是人工客服，请问有什么可以帮您？", False, "李主管")


def test_the_conversation_page_with_the_assist_panel_is_accessible(live_server, open_context, db_url, lexical_kb):
    from playwright.sync_api import expect

    rasa = live_server.rasa
    settings = Settings(database_url=db_url, rasa_url=rasa.url)
    service = HandoffService(settings, rasa=RasaClient(settings, token=rasa.token))
    client = RasaClient(settings, token=rasa.token)
    client.append_events("web-a11y", [{"event": "user", "text": "你们到底管不管，健身房老板跑路了，卡里还有两千块",
                                       "parse_data": {"intent": {"name": "complain_prepaid", "confidence": 0.9}}}])
    session_id = service.enqueue("web-a11y", "web", "angry", input_channel="rest", intent="complain_prepaid",
                                 slots={"respondent_name": "某某健身"}).session_id
    with session_scope(db_url) as db:
        create_user(db, "boss", PASSWORD, "supervisor", "李主管")
        canned.create_reply(db, topic="开场与安抚", title="问候", text="您好，我是人工客服。", by="李主管")
    boss = open_context(viewport={"width": 1280, "height": 900})
    sign_in(boss, live_server.url + f"/console/inbox/{session_id}", "boss")
    boss.locator("#take").click()
    expect(boss.locator("#assist")).to_have_attribute("data-ready", "true")
    expect(boss.locator('#assist-summary [data-field="mood"]')).to_contain_text("情绪激动")
    assert axe_violations(boss) == []
