"""The agents' inbox pages and JSON API (Flask test client, fake Rasa over real HTTP)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from xiaoan.config import Settings
from xiaoan.db import session_scope
from xiaoan.handoff.idle import IdleReturner
from xiaoan.handoff.presenters import transcript
from xiaoan.handoff.service import HandoffService, load_messages
from xiaoan.rasa_client import RasaClient
from xiaoan.tickets.models import Ticket
from xiaoan.web.app import create_app
from tests.console_app import (  # noqa: F401  (fixtures)
    PASSWORD, TOKEN, add_user, app, csrf, rasa, service, settings, sign_in,
)
from tests.fakes.rasa_server import FakeRasa

CONV = "web-5f1c0000000000000000000000000000"
OPENING = "健身房老板跑路了，卡里还有两千，我电话+86 138-1234-5678，身份证31010119900101123X"
MESSAGES = load_messages()


@pytest.fixture(autouse=True)
def fresh_ticket_service():
    from xiaoan.tickets.service import reset_ticket_service

    reset_ticket_service()
    yield
    reset_ticket_service()


def citizen_says(rasa: FakeRasa, text: str, intent: str, conversation_id: str = CONV,
                 timestamp: float | None = None) -> None:
    """A user event with its intent, as Rasa logs it (also while the conversation is paused)."""
    client = RasaClient(Settings(rasa_url=rasa.url), token=TOKEN)
    event = {"event": "user", "text": text, "input_channel": "rest",
             "parse_data": {"intent": {"name": intent, "confidence": 0.9}, "entities": []}}
    if timestamp is not None:
        event["timestamp"] = timestamp
    client.append_events(conversation_id, [event])


def queued(service: HandoffService, rasa: FakeRasa, reason: str = "requested") -> int:
    citizen_says(rasa, OPENING, "complain_prepaid")
    rasa.add_bot_message(CONV, "好的，请问您的姓名？")
    citizen_says(rasa, "转人工", "request_human")
    return service.enqueue(CONV, "web", reason, input_channel="rest", intent="complain_prepaid",
                           active_form="complaint_form",
                           slots={"complainant_name": "张三", "phone": "13812345678",
                                  "respondent_name": "某某健身", "amount": "2000"}).session_id


# --- access ---------------------------------------------------------------------------------------

def test_only_agents_supervisors_and_admins_get_in(app):
    add_user("maint", "maintainer")
    assert app.test_client().get("/console/inbox").status_code == 302
    assert app.test_client().get("/console/api/inbox/queue").status_code == 401
    assert sign_in(app, "maint").get("/console/inbox").status_code == 403
    add_user("boss", "supervisor")
    assert sign_in(app, "boss").get("/console/inbox").status_code == 200


# --- queue, take ----------------------------------------------------------------------------------

def test_queue_page_lists_waiting_conversations_and_counts_the_agent_online(app, service, rasa):
    session_id = queued(service, rasa, reason="urgent")
    add_user("wangfang", display_name="王芳")
    client = sign_in(app, "wangfang")
    page = client.get("/console/inbox")
    assert page.status_code == 200
    assert "紧急情况" in page.text and "网页" in page.text and f"/console/inbox/{session_id}/take" in page.text
    assert service.agents_online() == 1
    state = client.get("/console/api/inbox/queue").get_json()
    assert [(q["id"], q["position"], q["reason"], q["channel"]) for q in state["queue"]] == [
        (session_id, 1, "urgent", "web")]
    assert (state["agents_online"], state["mine"], state["callbacks_open"]) == (1, [], 0)


def test_take_needs_csrf_and_only_one_agent_gets_it(app, service, rasa):
    session_id = queued(service, rasa)
    add_user("wangfang", display_name="王芳")
    add_user("lisi", display_name="李四")
    first, second = sign_in(app, "wangfang"), sign_in(app, "lisi")
    assert first.post(f"/console/inbox/{session_id}/take").status_code == 400   # no CSRF token
    response = first.post(f"/console/inbox/{session_id}/take", data={"csrf_token": csrf(first)})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/console/inbox/{session_id}")
    response = second.post(f"/console/inbox/{session_id}/take", data={"csrf_token": csrf(second)},
                           follow_redirects=True)
    assert "该会话已被坐席王芳接待。" in response.text
    assert service.get(session_id).agent_name == "王芳"
    mine = first.get("/console/api/inbox/queue").get_json()["mine"]
    assert [m["id"] for m in mine] == [session_id]


# --- the conversation view ------------------------------------------------------------------------

def test_conversation_shows_transcript_intent_and_gathered_slots_masked(app, service, rasa):
    session_id = queued(service, rasa)
    add_user("wangfang", display_name="王芳")
    client = sign_in(app, "wangfang")
    client.post(f"/console/inbox/{session_id}/take", data={"csrf_token": csrf(client)})
    page = client.get(f"/console/inbox/{session_id}").text
    for text in ("健身房老板跑路了，卡里还有两千，我电话138****5678，身份证**************123X", "好的，请问您的姓名？",
                 "转人工", "预付卡纠纷（complain_prepaid）", "要求转人工（request_human）", "投诉表单", "张三", "某某健身",
                 "交还小安", "结束会话", "创建工单", MESSAGES["taken"].format(agent="王芳")):
        assert text in page, text
    assert page.count("138****5678") >= 2                # in the transcript and in the gathered slots
    # the full numbers never reach the page, in any spelling: the transcript holds them
    assert OPENING in "".join(e.get("text") or "" for e in rasa.events(CONV))
    for secret in ("13812345678", "138-1234-5678", "1234-5678", "31010119900101123X", "1990010"):
        assert secret not in page, secret
    assert 'id="reply-text"' in page and 'id="reveal-transcript"' in page
    # another agent neither acts nor looks: the conversation is not theirs
    add_user("lisi", display_name="李四")
    other = sign_in(app, "lisi").get(f"/console/inbox/{session_id}")
    assert other.status_code == 404 and "某某健身" not in other.text and "138****5678" not in other.text


def test_conversation_page_survives_rasa_being_down(app, service, rasa):
    session_id = queued(service, rasa)
    add_user("wangfang")
    client = sign_in(app, "wangfang")
    rasa.fail_status = 503
    page = client.get(f"/console/inbox/{session_id}")
    assert page.status_code == 200
    assert "暂时无法读取对话记录" in page.text and "某某健身" in page.text   # the snapshot still shows


def test_transcript_api_returns_new_messages_after_the_cursor(app, service, rasa):
    session_id = queued(service, rasa)
    add_user("wangfang", display_name="王芳")
    client = sign_in(app, "wangfang")
    client.post(f"/console/inbox/{session_id}/take", data={"csrf_token": csrf(client)})
    first = client.get(f"/console/api/inbox/{session_id}/transcript?after=0").get_json()
    assert [m["kind"] for m in first["messages"]] == ["user", "bot", "user", "system", "agent"]
    assert first["status"] == "active" and first["status_label"] == "接待中"
    citizen_says(rasa, "我的订单号是123456", "inform", timestamp=first["cursor"] + 1)   # said after the cursor
    update = client.get(f"/console/api/inbox/{session_id}/transcript?after={first['cursor']}").get_json()
    assert [(m["kind"], m["text"], m["intent"]) for m in update["messages"]] == [
        ("user", "我的订单号是123456", "提供信息（inform）")]
    assert update["latest_intent"] == "提供信息（inform）"        # the citizen's latest message, labelled
    assert update["cursor"] == first["cursor"] + 1
    assert client.get(f"/console/api/inbox/{session_id}/transcript?after=abc").status_code == 400
    assert client.get("/console/api/inbox/9999/transcript").status_code == 404


# --- replies, hand-back, close --------------------------------------------------------------------

def test_reply_reaches_the_tracker_with_the_agent_name(app, service, rasa):
    session_id = queued(service, rasa)
    add_user("wangfang", display_name="王芳")
    client = sign_in(app, "wangfang")
    client.post(f"/console/inbox/{session_id}/take", data={"csrf_token": csrf(client)})
    token = csrf(client, f"/console/inbox/{session_id}")
    url = f"/console/api/inbox/{session_id}/reply"
    assert client.post(url, json={"text": "您好"}).status_code == 400            # no CSRF header
    bad = client.post(url, json={"text": "  "}, headers={"X-CSRFToken": token})
    assert (bad.status_code, bad.get_json()["error"]) == (400, "请输入要发送的内容。")
    assert client.post(url, json={"nope": 1}, headers={"X-CSRFToken": token}).status_code == 400
    ok = client.post(url, json={"text": "您好，我是王芳，请问订单号？"}, headers={"X-CSRFToken": token})
    assert ok.status_code == 200 and ok.get_json()["message"]["agent"] == "王芳"
    last = rasa.events(CONV)[-1]
    assert (last["event"], last["text"], last["metadata"]) == ("bot", "您好，我是王芳，请问订单号？", {"agent": "王芳"})
    add_user("lisi")
    other = sign_in(app, "lisi")
    refused = other.post(url, json={"text": "我也来"}, headers={"X-CSRFToken": csrf(other)})
    assert refused.status_code == 404 and "不由您接待" in refused.get_json()["error"]
    assert [e["text"] for e in rasa.events(CONV) if e["event"] == "bot"][-1] == "您好，我是王芳，请问订单号？"
    rasa.fail_status = 503
    down = client.post(url, json={"text": "还在吗"}, headers={"X-CSRFToken": token})
    assert down.status_code == 503 and "稍后重试" in down.get_json()["error"]


def test_hand_back_and_close(app, service, rasa):
    session_id = queued(service, rasa)
    add_user("wangfang", display_name="王芳")
    client = sign_in(app, "wangfang")
    client.post(f"/console/inbox/{session_id}/take", data={"csrf_token": csrf(client)})
    page = client.post(f"/console/inbox/{session_id}/handback", data={"csrf_token": csrf(client)},
                       follow_redirects=True)
    assert "已交还小安。" in page.text
    assert [e["event"] for e in rasa.events(CONV)[-3:]] == ["resume", "bot", "action"]
    assert service.get(session_id).status == "returned"
    again = client.post(f"/console/inbox/{session_id}/close", data={"csrf_token": csrf(client)},
                        follow_redirects=True)
    assert "该会话已结束或已交还小安。" in again.text

    second = service.enqueue(CONV, "web", "requested").session_id
    client.post(f"/console/inbox/{second}/take", data={"csrf_token": csrf(client)})
    page = client.post(f"/console/inbox/{second}/close", data={"csrf_token": csrf(client)}, follow_redirects=True)
    assert "会话已结束。" in page.text and service.get(second).status == "closed"


def test_a_supervisor_may_hand_back_someone_elses_conversation(app, service, rasa):
    session_id = queued(service, rasa)
    add_user("wangfang", display_name="王芳")
    add_user("boss", "supervisor", "班长")
    agent = sign_in(app, "wangfang")
    agent.post(f"/console/inbox/{session_id}/take", data={"csrf_token": csrf(agent)})
    boss = sign_in(app, "boss")
    assert "其他坐席接待中" in boss.get("/console/inbox").text
    boss.post(f"/console/inbox/{session_id}/handback", data={"csrf_token": csrf(boss)})
    view = service.get(session_id)
    assert (view.status, view.ended_by) == ("returned", "班长")


# --- tickets --------------------------------------------------------------------------------------

def test_ticket_from_the_gathered_slots_after_the_agent_completes_them(app, service, rasa):
    session_id = queued(service, rasa)
    add_user("wangfang", display_name="王芳")
    client = sign_in(app, "wangfang")
    client.post(f"/console/inbox/{session_id}/take", data={"csrf_token": csrf(client)})
    url = f"/console/inbox/{session_id}/ticket"
    form = {"csrf_token": csrf(client, f"/console/inbox/{session_id}"), "kind": "complaint",
            "complainant_name": "张三", "phone": "", "complainant_address": "",
            "respondent_name": "某某健身", "respondent_address": "浦东新区张杨路100号",
            "facts": "健身房关门，老板联系不上，卡内余额两千元", "claim": "退还余额", "amount": "2000"}
    missing = client.post(url, data=form)
    assert missing.status_code == 400 and "请填写地址。" in missing.text
    assert "健身房关门，老板联系不上" in missing.text                 # what the agent typed is kept
    bad_phone = client.post(url, data={**form, "complainant_address": "浦东新区世纪大道1号", "phone": "12345"})
    assert bad_phone.status_code == 400 and "电话号码格式不对" in bad_phone.text
    done = client.post(url, data={**form, "complainant_address": "浦东新区世纪大道1号"}, follow_redirects=True)
    assert done.status_code == 200 and "工单已创建：XA-" in done.text
    with session_scope() as db:
        ticket = db.execute(select(Ticket)).scalar_one()
    assert (ticket.phone, ticket.complainant_name, ticket.conversation_id, ticket.intent, ticket.district) == (
        "13812345678", "张三", CONV, "complain_prepaid", "pudong")   # the gathered phone, left empty in the form
    view = service.get(session_id)
    assert view.ticket_no == ticket.ticket_no
    assert ticket.ticket_no in rasa.events(CONV)[-1]["text"]       # the citizen is told the number
    twice = client.post(url, data={**form, "complainant_address": "浦东新区世纪大道1号"}, follow_redirects=True)
    assert f"该会话已创建过工单：{ticket.ticket_no}" in twice.text


def test_no_ticket_from_a_conversation_you_do_not_hold(app, service, rasa):
    session_id = queued(service, rasa)
    add_user("wangfang")
    client = sign_in(app, "wangfang")
    response = client.post(f"/console/inbox/{session_id}/ticket", data={"csrf_token": csrf(client)},
                           follow_redirects=True)
    assert "请先接入该会话" in response.text


# --- callbacks ------------------------------------------------------------------------------------

def test_callbacks_masked_in_the_list_full_for_the_call_and_done_once(app, service):
    item = service.add_callback("web-x", "web", "13812345678", "今天下午", slots={"facts": "冰箱坏了"})
    add_user("wangfang", display_name="王芳")
    client = sign_in(app, "wangfang")
    listing = client.get("/console/inbox/callbacks").text
    assert "138****5678" in listing and "13812345678" not in listing and "今天下午" in listing
    detail = client.get(f"/console/inbox/callbacks/{item.id}").text
    assert "13812345678" in detail and "冰箱坏了" in detail
    done = client.post(f"/console/inbox/callbacks/{item.id}",
                       data={"csrf_token": csrf(client, f"/console/inbox/callbacks/{item.id}"), "note": "已联系"},
                       follow_redirects=True)
    assert "已标记为已回电。" in done.text
    assert service.get_callback(item.id).handled_by == "王芳"
    assert client.post(f"/console/inbox/callbacks/{item.id}", data={"note": "x"}).status_code == 400
    assert client.get("/console/inbox/callbacks/999").status_code == 404


# --- assets, helpers, the idle thread -------------------------------------------------------------

def test_script_and_stylesheet_are_files_of_this_site(app):
    client = app.test_client()
    js = client.get("/console/inbox/inbox.js")
    assert js.status_code == 200 and js.mimetype == "application/javascript"
    assert "startConversation" in js.text and "{%" not in js.text
    css = client.get("/console/inbox/inbox.css")
    assert css.status_code == 200 and css.mimetype == "text/css"


def test_transcript_marks_citizen_bot_agent_and_pauses():
    events = [
        {"event": "user", "text": "/request_human", "metadata": {"display_text": "转人工"}, "timestamp": 1.0,
         "parse_data": {"intent": {"name": "request_human"}}},
        {"event": "bot", "text": "好的", "data": {"buttons": [{"title": "继续排队", "payload": "/x"}]}, "timestamp": 2.0},
        {"event": "pause", "timestamp": 3.0},
        {"event": "bot", "text": "我是王芳", "metadata": {"agent": "王芳"}, "timestamp": 4.0},
        {"event": "action", "name": "action_listen", "timestamp": 5.0},
        {"event": "resume", "timestamp": 6.0},
    ]
    out = transcript(events)
    assert [(m["kind"], m["text"]) for m in out] == [
        ("user", "转人工"), ("bot", "好的"), ("system", "—— 小安暂停，由人工接待 ——"), ("agent", "我是王芳"),
        ("system", "—— 转回小安 ——")]
    assert out[1]["buttons"] == ["继续排队"] and out[3]["agent"] == "王芳"
    assert out[0]["intent"] == "要求转人工（request_human）"


def test_a_typed_reply_to_offered_buttons_shows_the_choice_it_picks():
    """The inbox reads typed choices with the resolver the web chat and WeChat use."""
    buttons = {"buttons": [{"title": "继续填写", "payload": "/resume_form"},
                           {"title": "不填了", "payload": "/cancel"}]}
    events = [
        {"event": "bot", "text": "刚才的投诉还没填完，要继续吗？", "data": buttons, "timestamp": 1.0},
        {"event": "user", "text": "第一个", "timestamp": 2.0, "parse_data": {"intent": {"name": "affirm"}}},
        {"event": "bot", "text": "好的，我们继续。", "timestamp": 3.0},
        {"event": "user", "text": "继续填写", "timestamp": 4.0},  # the title itself: nothing to add
        {"event": "user", "text": "今天天气不错", "timestamp": 5.0},  # no buttons offered since: no choice
    ]
    out = transcript(events)
    assert [m["choice"] for m in out if m["kind"] == "user"] == ["继续填写", None, None]
    assert all(m["choice"] is None for m in out if m["kind"] != "user")


def test_idle_returner_runs_rounds_and_survives_errors():
    calls = []
    ran = threading.Event()

    class FakeService:
        def return_idle(self):
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("database gone")
            ran.set()
            return [7]

    returner = IdleReturner(lambda: FakeService(), interval=0.02).start()
    try:
        assert ran.wait(5)
    finally:
        returner.stop()
    assert len(calls) >= 2


def test_the_idle_thread_starts_outside_testing_only(settings):
    testing_app = create_app(settings, testing=True)
    assert "workers" not in testing_app.extensions["xiaoan"]
    live_app = create_app(settings)
    returner = live_app.extensions["xiaoan"]["workers"].idle_returner
    try:
        assert returner._thread.is_alive()
    finally:
        returner.stop()
    assert not returner._thread.is_alive()


def test_transcript_marks_each_pause_and_resume_once():
    events = [
        {"event": "user", "text": "转人工", "timestamp": 1.0},
        {"event": "pause", "timestamp": 2.0},        # action_handoff
        {"event": "pause", "timestamp": 3.0},        # the take pauses again, in case Rasa unpaused
        {"event": "bot", "text": "您好，我是坐席王芳", "metadata": {"agent": "王芳"}, "timestamp": 4.0},
        {"event": "resume", "timestamp": 5.0},
        {"event": "resume", "timestamp": 6.0},
        {"event": "pause", "timestamp": 7.0},
    ]
    assert [(m["kind"], m["text"]) for m in transcript(events)] == [
        ("user", "转人工"),
        ("system", "—— 小安暂停，由人工接待 ——"),
        ("agent", "您好，我是坐席王芳"),
        ("system", "—— 转回小安 ——"),
        ("system", "—— 小安暂停，由人工接待 ——"),
    ]


def test_the_citizens_own_name_and_address_are_masked_inside_the_transcript(app, service, rasa):
    citizen_says(rasa, "我叫欧阳娜娜，住在浦东新区世纪大道100号，健身房老板跑路了", "complain_prepaid")
    session_id = service.enqueue(CONV, "web", "requested", input_channel="rest", intent="complain_prepaid",
                                 active_form="complaint_form",
                                 slots={"complainant_name": "欧阳娜娜", "complainant_address": "浦东新区世纪大道100号",
                                        "respondent_name": "某某健身"}).session_id
    add_user("wangfang", display_name="王芳")
    client = sign_in(app, "wangfang")
    client.post(f"/console/inbox/{session_id}/take", data={"csrf_token": csrf(client)})
    page = client.get(f"/console/inbox/{session_id}").text
    api = client.get(f"/console/api/inbox/{session_id}/transcript?after=0").get_json()
    said = [m["text"] for m in api["messages"] if m["kind"] == "user"]
    assert said and "健身房老板跑路了" in said[0]
    assert "欧阳娜娜" not in said[0] and "世纪大道100号" not in said[0]
    assert "我叫欧阳娜娜" not in page and "住在浦东新区世纪大道100号" not in page
