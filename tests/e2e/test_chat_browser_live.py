"""The citizen chat page's main flows in a real headless Chromium against the REAL, running
assistant (the trained model, the action server, the project database): a consultation answered
from the knowledge base, a complaint filed to a ticket number, a hand-off to a person and back.
Screenshots go to tests/browser/artifacts. (tests/browser/ runs the page against a fake Rasa.)
"""

from __future__ import annotations

import base64
import json
import re
import uuid
import zlib

import pytest

from tests.browser.conftest import ARTIFACTS
from tests.e2e.test_conversations import COMPLAINT_ANSWERS, tickets

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

TICKET_NO = re.compile(r"XA-\d{6}-\d{4}")
TURN_TIMEOUT = 90_000          # ms; a bound against a hang on a loaded machine, not a speed claim
# a phone number the assistant's own wording never shows (its phone question gives 13812345678 as
# the example), so that a full number on the page could only be the citizen's
ANSWERS = dict(COMPLAINT_ANSWERS, phone="13698765432")


@pytest.fixture(scope="module", autouse=True)
def warm_model(stack):
    """One turn before the browser: a freshly loaded model's first turn can outlast the web app's
    call to Rasa on a loaded machine, which would show the page's error alert instead."""
    stack.say(f"warm-{uuid.uuid4().hex}", "你好")


def bubbles(page):
    return page.locator(".msg-bot .bubble-text")


def send(page, text: str) -> str:
    """Type `text`, send it, wait for the assistant's answer; the new bot bubbles' text."""
    count = bubbles(page).count()
    page.locator("#input").fill(text)
    page.locator("#send").click()
    page.wait_for_function("n => document.querySelectorAll('.msg-bot .bubble-text').length > n"
                           " || document.querySelector('[role=alert]:not([hidden])')", arg=count, timeout=TURN_TIMEOUT)
    new = bubbles(page).all_inner_texts()[count:]
    assert new, f"no answer: {page.locator('[role=alert]').all_inner_texts()}"
    return "\n".join(new)


def conversation_of(page) -> str:
    """The conversation id the web app issued to this browser, read from its session cookie
    (Flask's cookie is signed, not encrypted)."""
    (value,) = [c["value"] for c in page.context.cookies() if c["name"] == "xiaoan_session"]
    compressed = value.startswith(".")
    payload = value.lstrip(".").split(".")[0]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return json.loads(zlib.decompress(raw) if compressed else raw)["chat_conversation_id"]


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_a_consultation_is_answered_from_the_knowledge_base(stack, page):
    from playwright.sync_api import expect

    from xiaoan.kb.service import get_repository

    page.goto(stack.web_url + "/")
    answer = send(page, "开个小店要办个体户营业执照，需要准备什么材料")
    entry = get_repository(stack.env["DATABASE_URL"]).get("biz.individual-business").data
    first_line = next(line.strip() for line in entry.answer.splitlines() if line.strip())
    assert first_line in answer, answer
    # the feedback question follows, with buttons that work
    expect(page.get_by_role("button", name=re.compile("有帮助")).last).to_be_visible()
    screenshot(page, "live-chat-consultation.png")
    assert page.console_errors == []


def test_a_complaint_is_filed_to_a_ticket_number(stack, page):
    page.goto(stack.web_url + "/")
    before = {t["ticket_no"] for t in tickets(stack)}
    last = send(page, "浦东的乐活健身老板跑路了，我卡里还有两千块没用完")
    conversation = conversation_of(page)
    asked: list[str] = []
    for _ in range(20):
        tracker = stack.tracker(conversation)
        requested = tracker["slots"].get("requested_slot")
        if not (tracker.get("active_loop") or {}).get("name") or requested is None:
            break
        assert requested in ANSWERS, f"unexpected question for {requested}: {last}"
        asked.append(requested)
        if requested == "confirmation":
            screenshot(page, "live-chat-complaint-summary.png")
        last = send(page, ANSWERS[requested])
    else:
        raise AssertionError(f"the form did not finish; last answer: {last}")
    assert asked and asked[-1] == "confirmation" and "respondent_name" not in asked, asked
    created = [t for t in tickets(stack) if t["ticket_no"] not in before]
    assert len(created) == 1, last
    ticket = created[0]
    assert (ticket["conversation_id"], ticket["channel"], ticket["agency"]) == (conversation, "web", "dist-pudong")
    assert TICKET_NO.fullmatch(ticket["ticket_no"]) and ticket["ticket_no"] in last
    # the receipt shows the phone masked (the read-back before the confirmation shows it in full,
    # for the citizen to check)
    assert ticket["phone_masked"] == "136****5432" and "136****5432" in last and "13698765432" not in last
    screenshot(page, "live-chat-complaint-ticket.png")
    assert page.console_errors == []


def test_a_hand_off_reaches_an_agent_and_the_agent_reply_shows_on_the_page(stack, page):
    from playwright.sync_api import expect

    from xiaoan.config import Settings
    from xiaoan.db import session_scope
    from xiaoan.handoff.service import HandoffService
    from xiaoan.rasa_client import RasaClient
    from xiaoan.web.accounts import create_user

    page.goto(stack.web_url + "/")
    send(page, "转人工")
    conversation = conversation_of(page)
    if not stack.tracker(conversation)["paused"]:
        # nobody is online: the citizen chooses to wait in the queue (or could leave a callback)
        count = bubbles(page).count()
        page.get_by_role("button", name=re.compile("排队")).last.click()
        page.wait_for_function("n => document.querySelectorAll('.msg-bot .bubble-text').length > n", arg=count,
                               timeout=TURN_TIMEOUT)
    assert stack.tracker(conversation)["paused"] is True
    queue = json.loads(stack.cli("handoff", "list", "--json").stdout)
    assert [(q["status"], q["reason"]) for q in queue if q["conversation_id"] == conversation] == [
        ("waiting", "requested")]
    screenshot(page, "live-chat-handoff-waiting.png")

    with session_scope(stack.env["DATABASE_URL"]) as db:
        agent_id = create_user(db, f"agent-{uuid.uuid4().hex[:6]}", "agent-password-1", "agent", "李娜").id
    settings = Settings(database_url=stack.env["DATABASE_URL"], rasa_url=stack.rasa_url)
    service = HandoffService(settings, rasa=RasaClient(settings, token=stack.token))
    session = next(s for s in service.queue() if s.conversation_id == conversation)
    service.take(session.id, agent_id, "李娜")
    service.reply(session.id, agent_id, "李娜", "您好，我是人工客服李娜，请说一下您遇到的问题。")
    # the page polls the conversation: the agent's words appear, labelled as a person
    expect(bubbles(page).last).to_have_text("您好，我是人工客服李娜，请说一下您遇到的问题。", timeout=TURN_TIMEOUT)
    expect(page.locator(".msg-agent .msg-name").last).to_have_text("人工坐席 · 李娜")
    screenshot(page, "live-chat-handoff-agent.png")

    service.hand_back(session.id, agent_id, "李娜")
    assert stack.tracker(conversation)["paused"] is False
    assert "小安" in send(page, "你好")                                   # the assistant answers again
    assert page.console_errors == []
