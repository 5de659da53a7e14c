"""A citizen in the chat page and an agent in the inbox, in two real headless Chromiums:
handoff, messages both ways without reloading, numbers masked until the agent reveals them
(logged), hand-back to 小安.

The fake Rasa of tests/browser/conftest.py keeps the trackers; its `reply` is replaced by a small
stand-in for the assistant: "转人工" queues the conversation as action_handoff does (the handoff
service, a `pause` event, the queue message), and while the tracker is paused it says nothing.
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import CHROMIUM_ARGS
from sqlalchemy import select

from xiaoan.config import Settings
from xiaoan.db import session_scope
from xiaoan.handoff.service import HandoffService, load_messages
from xiaoan.privacy_audit import PersonalDataView
from xiaoan.rasa_client import RasaClient
from xiaoan.web.accounts import create_user

pytestmark = pytest.mark.browser

PASSWORD = "agent-password-1"
QUEUED = "好的，正在为您转接人工客服。您目前排在第1位，预计等待约1分钟。"
OPENING = "健身房老板跑路了，我电话13812345678，我要转人工"
OPENING_MASKED = "健身房老板跑路了，我电话138****5678，我要转人工"


def paused(events: list[dict]) -> bool:
    state = False
    for event in events:
        if event.get("event") == "pause":
            state = True
        elif event.get("event") in ("resume", "restart", "session_started"):
            state = False
    return state


def assistant(rasa, service: HandoffService):
    """A stand-in for the Rasa server's dialogue: hand off on 转人工, silent while paused."""

    def reply(sender_id: str, text: str, metadata: dict) -> list[dict]:
        if paused(rasa.events(sender_id)):
            return []  # Rasa logs the message for the agent and predicts nothing
        if "转人工" in text:
            service.enqueue(sender_id, "web", "requested", input_channel="rest", intent="complain_prepaid",
                            slots={"respondent_name": "某某健身", "phone": "13812345678"})
            service.rasa.append_events(sender_id, [{"event": "pause"}])
            return [{"text": QUEUED}]
        if "你好" in text:
            return [{"text": "您好，我是小安，请问有什么可以帮您？"}]
        return [{"text": f"收到：{text}"}]

    return reply


def agent_desk(live_server, db_url) -> HandoffService:
    """The hand-off service of the live server, its fake Rasa answering as `assistant`, and the agent 王芳
    (wangfang, PASSWORD) signed up."""
    rasa = live_server.rasa
    settings = Settings(database_url=db_url, rasa_url=rasa.url)
    service = HandoffService(settings, rasa=RasaClient(settings, token=rasa.token))
    rasa.reply = assistant(rasa, service)
    with session_scope(db_url) as db:
        create_user(db, "wangfang", PASSWORD, "agent", "王芳")
    return service


def test_citizen_and_agent_talk_both_ways_and_hand_back(page, live_server, playwright, chromium_executable,
                                                        db_url, artifacts):
    from playwright.sync_api import expect

    rasa = live_server.rasa
    service = agent_desk(live_server, db_url)
    texts = load_messages()

    # the citizen asks for a human
    page.goto(live_server.url + "/")
    page.locator("#input").fill(OPENING)
    page.locator("#send").click()
    citizen_bot = page.locator(".msg-bot .bubble-text")
    expect(citizen_bot.last).to_have_text(QUEUED)
    (conversation_id,) = rasa.trackers

    # the agent, in another browser, signs in and sees the conversation waiting
    browser = playwright.chromium.launch(executable_path=chromium_executable, headless=True, args=CHROMIUM_ARGS)
    try:
        context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai",
                                      viewport={"width": 1280, "height": 900})
        context.set_default_timeout(10_000)
        agent = context.new_page()
        console_errors: list[str] = []
        agent.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
        agent.goto(live_server.url + "/console/inbox")
        agent.locator("#username").fill("wangfang")
        agent.locator("#password").fill(PASSWORD)
        agent.get_by_role("button", name="登录").click()
        row = agent.locator("#queue-body .queue-row")
        expect(row).to_have_count(1)
        expect(row.first).to_contain_text("市民要求转人工")
        expect(row.first).to_contain_text("网页")
        agent.screenshot(path=str(artifacts / "inbox-queue.png"))

        # take it: the whole transcript, the gathered slots (phone masked), the reply box
        row.first.get_by_role("button", name="接入").click()
        expect(agent.locator("#session-status")).to_have_text("接待中")
        transcript = agent.locator("#transcript .tmsg-text")
        first_user = agent.locator("#transcript .tmsg-user .tmsg-text").first
        expect(first_user).to_have_text(OPENING_MASKED)
        expect(agent.locator("#transcript .tmsg-bot .tmsg-text").first).to_have_text(QUEUED)
        expect(agent.locator("#gathered")).to_contain_text("某某健身")
        expect(agent.locator("#gathered")).to_contain_text("138****5678")
        assert "13812345678" not in agent.content()      # the transcript holds it, the page does not

        # the agent reveals the transcript's numbers: shown in full, logged; then hidden again
        agent.locator("#reveal-transcript").click()
        expect(agent.locator("#revealed-transcript")).to_be_visible()
        expect(first_user).to_have_text(OPENING)
        expect(agent.locator("#gathered")).to_contain_text("138****5678")   # the slots panel is separate
        with session_scope(db_url) as db:
            logged = [(r.actor, r.action, r.source) for r in db.execute(select(PersonalDataView)).scalars()]
        assert logged == [("wangfang", "transcript_reveal", "console")]
        agent.locator("#conceal-transcript").click()
        expect(agent.locator("#reveal-transcript")).to_be_visible()
        expect(first_user).to_have_text(OPENING_MASKED)
        assert "13812345678" not in agent.content()

        # the citizen is told an agent joined, labelled as a person
        expect(page.locator(".msg-agent .bubble-text").last).to_have_text(
            texts["taken"].format(agent="王芳"), timeout=8000)
        expect(page.locator(".msg-agent .msg-name").last).to_have_text("人工坐席 · 王芳")

        # the citizen writes while the assistant is silent; the agent sees it without reloading
        page.locator("#input").fill("在吗？卡里还有两千块")
        page.locator("#send").click()
        expect(page.locator(".msg-user .bubble-text").last).to_have_text("在吗？卡里还有两千块")
        expect(transcript.last).to_have_text("在吗？卡里还有两千块", timeout=8000)
        assert not [e for e in rasa.events(conversation_id)
                    if e.get("event") == "bot" and "收到：在吗" in (e.get("text") or "")]

        # the agent replies; it reaches the citizen's page by polling, labelled with the agent
        agent.locator("#reply-text").fill("您好，我是王芳。请问健身房的名称和地址是？")
        agent.locator("#reply-send").click()
        expect(agent.locator("#reply-text")).to_have_value("")
        expect(transcript.last).to_have_text("您好，我是王芳。请问健身房的名称和地址是？")
        expect(page.locator(".msg-agent .bubble-text").last).to_have_text(
            "您好，我是王芳。请问健身房的名称和地址是？", timeout=8000)

        page.locator("#input").fill("浦东新区张杨路100号的某某健身")
        page.locator("#send").click()
        expect(transcript.last).to_have_text("浦东新区张杨路100号的某某健身", timeout=8000)
        agent.screenshot(path=str(artifacts / "inbox-conversation.png"))

        # an empty reply is refused in the page, nothing is sent
        calls_before = len(rasa.calls)
        agent.locator("#reply-text").fill("   ")
        agent.locator("#reply-send").click()
        expect(agent.locator("#reply-error")).to_have_text("请输入要发送的内容。")

        # hand back to 小安
        agent.get_by_role("button", name="交还小安").click()
        expect(agent.get_by_role("status").first).to_have_text("已交还小安。")
        expect(agent.locator("#queue-body .queue-row")).to_have_count(0)
        expect(citizen_bot.last).to_have_text(texts["handed_back"], timeout=8000)
        expect(page.locator(".msg-agent .bubble-text").last).not_to_have_text(texts["handed_back"])
        assert [e["event"] for e in rasa.events(conversation_id)[-3:]] == ["resume", "bot", "action"]
        assert not [c for c in rasa.calls[calls_before:] if c["path"].endswith("/tracker/events")
                    and c["json"] and c["json"][0].get("text") == ""]

        # the assistant answers again
        page.locator("#input").fill("你好")
        page.locator("#send").click()
        expect(citizen_bot.last).to_have_text("您好，我是小安，请问有什么可以帮您？")
        page.screenshot(path=str(artifacts / "chat-after-handback.png"))
        assert not [e for e in console_errors if "Content Security Policy" in e]
        assert not [e for e in page.console_errors if "Content Security Policy" in e]
        context.close()
    finally:
        browser.close()
    assert service.open_sessions() == []
