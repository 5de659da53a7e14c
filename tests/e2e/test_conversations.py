"""Whole conversations through the running Rasa server's REST channel (issues 2, 3, 4, 5):
the trained model, the action server, the project database and the resulting tickets."""

from __future__ import annotations

import json
import uuid

import pytest

pytestmark = pytest.mark.e2e

COMPLAINT_ANSWERS = {
    "complainant_name": "张伟",
    "phone": "13812345678",
    "complainant_address": "上海市徐汇区漕溪北路88号1201室",
    "respondent_name": "乐活健身",
    "respondent_address": "浦东新区张杨路500号",
    "facts": "今年三月办的年卡，上个月健身房突然关门了，老板也联系不上",
    "claim": "退还剩余的卡费",
    "amount": "两千元",
    "anonymous": "匿名",
    "confirmation": "确认",
}


def texts(messages: list[dict]) -> str:
    return "\n".join(m.get("text") or "" for m in messages)


def fill_form(stack, sender: str, answers: dict, max_turns: int = 20, asked: list | None = None) -> list[dict]:
    """Answer whatever the active form asks (read from the tracker) until it is done; the slots
    asked for are appended to `asked`."""
    replies: list[dict] = []
    for _ in range(max_turns):
        tracker = stack.tracker(sender)
        requested = tracker["slots"].get("requested_slot")
        if not tracker.get("active_loop", {}).get("name") or requested is None:
            return replies
        assert requested in answers, f"unexpected question for slot {requested}: {texts(replies)}"
        if asked is not None:
            asked.append(requested)
        replies = stack.say(sender, answers[requested])
    raise AssertionError(f"the form did not finish in {max_turns} turns; last replies: {texts(replies)}")


def tickets(stack) -> list[dict]:
    result = stack.cli("tickets", "list", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_greeting_says_what_xiaoan_does(stack):
    replies = stack.say(f"e2e-{uuid.uuid4().hex}", "你好")
    assert "小安" in texts(replies)
    titles = [b["title"] for m in replies for b in m.get("buttons", [])]
    assert "我要投诉" in titles and "转人工" in titles


def test_question_is_answered_from_the_knowledge_base(stack):
    from xiaoan.kb.service import get_repository

    replies = stack.say(f"e2e-{uuid.uuid4().hex}", "个体户营业执照怎么办理")
    answer = texts(replies)
    # the entry's own answer, not a word the question already holds
    entry = get_repository(stack.env["DATABASE_URL"]).get("biz.individual-business").data
    first_line = next(line.strip() for line in entry.answer.splitlines() if line.strip())
    assert first_line in answer, answer
    assert "有帮助" in answer  # the feedback question follows an answer


def test_out_of_scope_names_where_to_go(stack):
    replies = stack.say(f"e2e-{uuid.uuid4().hex}", "公司拖欠我三个月工资不发怎么办")
    assert "12333" in texts(replies)


def test_complaint_becomes_a_routed_ticket_with_due_dates(stack):
    sender = f"e2e-{uuid.uuid4().hex}"
    before = {t["ticket_no"] for t in tickets(stack)}
    first = stack.say(sender, "浦东的乐活健身老板跑路了，我卡里还有两千块没用完")
    assert first, "the complaint got no answer"
    asked: list[str] = []
    final = fill_form(stack, sender, COMPLAINT_ANSWERS, asked=asked)
    created = [t for t in tickets(stack) if t["ticket_no"] not in before]
    assert len(created) == 1, texts(final)
    ticket = created[0]
    assert ticket["kind"] == "complaint"
    assert ticket["intent"] == "complain_prepaid"
    assert ticket["agency"] == "dist-pudong" and ticket["district"] == "pudong"
    assert ticket["phone_masked"] == "138****5678"
    assert ticket["amount"] == 2000
    assert ticket["conversation_id"] == sender
    assert ticket["contact_by"] <= ticket["resolve_by"]
    assert ticket["ticket_no"] in texts(final)
    # the merchant named in the first message was taken from it, not asked again
    assert "乐活健身" in (ticket["respondent_name"] or "")
    assert "respondent_name" not in asked and "phone" in asked, asked

    # the same citizen later asks for the status with the ticket number and the phone's last four digits
    status_sender = f"e2e-{uuid.uuid4().hex}"
    stack.say(status_sender, f"查一下工单{ticket['ticket_no']}的进度")
    replies = fill_form(stack, status_sender, {"ticket_no": ticket["ticket_no"], "phone_last4": "5678"})
    status = texts(replies)
    assert f"工单 {ticket['ticket_no']} 的进度" in status, status
    assert "当前状态：" in status and "处理单位：" in status


def test_anonymous_report_keeps_no_identity(stack):
    sender = f"e2e-{uuid.uuid4().hex}"
    before = {t["ticket_no"] for t in tickets(stack)}
    stack.say(sender, "举报静安区南京西路上一家小超市在卖过期的牛奶")
    answers = dict(COMPLAINT_ANSWERS, respondent_name="好又多便利店", respondent_address="静安区南京西路1000号",
                   facts="货架上的牛奶过期两个星期了还在卖")
    fill_form(stack, sender, answers)
    created = [t for t in tickets(stack) if t["ticket_no"] not in before]
    assert len(created) == 1
    report = created[0]
    assert report["kind"] == "report" and report["agency"] == "dist-jingan"
    assert report["complainant_name"] is None and report["phone_masked"] is None


def test_cancel_mid_form_creates_nothing(stack):
    sender = f"e2e-{uuid.uuid4().hex}"
    before = len(tickets(stack))
    stack.say(sender, "网上买的衣服商家不给退款")
    stack.say(sender, "张伟")
    replies = stack.say(sender, "算了不投诉了")  # answers are in the form: confirm first
    assert "要取消这次登记吗" in texts(replies), texts(replies)
    stack.say(sender, "确认取消")
    assert not (stack.tracker(sender).get("active_loop") or {}).get("name")
    assert len(tickets(stack)) == before


def test_request_human_pauses_the_assistant_and_queues(stack):
    sender = f"e2e-{uuid.uuid4().hex}"
    replies = stack.say(sender, "转人工")
    assert replies, "the handoff got no answer"
    # no agent is online in this test: the citizen may leave a callback request or keep waiting
    buttons = {b["title"]: b["payload"] for m in replies for b in m.get("buttons", [])}
    if not stack.tracker(sender)["paused"]:
        queue_payload = next(p for t, p in buttons.items() if "排队" in t)
        stack.say(sender, queue_payload)
    assert stack.tracker(sender)["paused"] is True
    result = stack.cli("handoff", "list", "--json")
    assert result.returncode == 0, result.stderr
    queue = json.loads(result.stdout)
    mine = [q for q in queue if q["conversation_id"] == sender]
    assert mine and mine[0]["status"] == "waiting" and mine[0]["reason"] == "requested"
    # while a human holds the conversation the assistant stays silent
    assert stack.say(sender, "你好？有人吗") == []


def test_an_agent_replies_and_hands_back_to_the_real_assistant(stack):
    """Handoff both ways through the real Rasa API: the agent's reply reaches the tracker, and after
    the hand-back 小安 answers again without replaying the backlog."""
    from xiaoan.config import Settings
    from xiaoan.handoff.service import HandoffService
    from xiaoan.rasa_client import RasaClient

    from xiaoan.db import session_scope
    from xiaoan.web.accounts import create_user

    with session_scope(stack.env["DATABASE_URL"]) as db:
        agent = create_user(db, f"agent-{uuid.uuid4().hex[:6]}", "agent-password-1", "agent", "王芳")
    agent_id = agent.id

    sender = f"e2e-{uuid.uuid4().hex}"
    replies = stack.say(sender, "我要找真人客服")
    if not stack.tracker(sender)["paused"]:
        payload = next(b["payload"] for m in replies for b in m.get("buttons", []) if "排队" in b["title"])
        stack.say(sender, payload)
    assert stack.tracker(sender)["paused"] is True
    stack.say(sender, "我的健身卡退不了")  # kept for the agent, no answer from 小安

    settings = Settings(database_url=stack.env["DATABASE_URL"], rasa_url=stack.rasa_url)
    service = HandoffService(settings, rasa=RasaClient(settings, token=stack.token))
    session = next(s for s in service.queue() if s.conversation_id == sender)
    service.take(session.id, agent_id, "王芳")
    service.reply(session.id, agent_id, "王芳", "您好，我是人工客服王芳，请说一下健身房的名称。")
    events = stack.tracker(sender)["events"]
    assert any(e["event"] == "bot" and "王芳" in (e.get("text") or "") for e in events)
    assert any(e["event"] == "user" and e.get("text") == "我的健身卡退不了" for e in events)

    service.hand_back(session.id, agent_id, "王芳")
    assert stack.tracker(sender)["paused"] is False
    after = stack.say(sender, "你好")
    assert "小安" in texts(after)
