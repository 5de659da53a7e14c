"""The satisfaction question after closure and the whole path end to end (issue 15, part 2):
status posted by the (signed) platform → WeChat message / SMS / web notice → the citizen answers
in the same channel → one answer per ticket → the figure on /console/stats and in the weekly report."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import threading

import pytest
from sqlalchemy import func, select, update
from werkzeug.serving import make_server

from tests.fakes.sms_gateway import TOKEN as SMS_TOKEN
from tests.fakes.sms_gateway import FakeSmsGateway
from tests.fakes.ticket_platform import FakePlatform
from tests.fakes.wechat_server import APPID, SECRET, TOKEN, FakeWeChatServer, StubAgent, WeChatPusher, running_channel, text_xml
from tests.notify_support import OPENID, PHONE, PLATFORM_SECRET, make_ticket, settings
from xiaoan import texts
from xiaoan.channels import wechat_store
from xiaoan.channels.wechat import WeChatInput
from xiaoan.channels.wechat_api import WeChatApiClient
from xiaoan.config import Settings
from xiaoan.db import session_scope
from xiaoan.notify import surveys
from xiaoan.notify.delivery import NotificationDeliverer
from xiaoan.notify.models import SURVEY_ANSWERED, SURVEY_REASON, TicketNotification, TicketSurvey
from xiaoan.ratings import ServiceRating
from xiaoan.tickets.models import Ticket
from xiaoan.tickets.updates import apply_status_update
from xiaoan.web.accounts import create_user
from xiaoan.web.app import create_app

WEB_CONV = "web-" + "e" * 32


@contextlib.contextmanager
def served(app):
    """The web app on a free loopback port (a real HTTP server); its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
PASSWORD = "supervisor-password-1234"


def ticket_id(db_url, number) -> int:
    with session_scope(db_url) as session:
        return session.execute(select(Ticket.id).where(Ticket.ticket_no == number)).scalar_one()


def survey(db_url, number) -> TicketSurvey:
    with session_scope(db_url) as session:
        row = session.execute(select(TicketSurvey).where(TicketSurvey.ticket_id == ticket_id(db_url, number))).scalar_one()
        session.expunge(row)
        return row


def ratings(db_url) -> list[tuple[str, str, str]]:
    with session_scope(db_url) as session:
        return [(r.channel, r.level, r.text) for r in session.execute(select(ServiceRating).order_by(ServiceRating.id)).scalars()]


def closed_ticket(db_url, *, sms: bool = False, **kwargs) -> str:
    number = make_ticket(db_url, **kwargs)
    s = settings(db_url, sms_url="http://sms.invalid/send") if sms else settings(db_url)
    apply_status_update(number, "closed", source="platform", event_id=f"close-{number}", settings=s)
    delivered(db_url)
    return number


def delivered(db_url) -> None:
    """The worker sent every WeChat and SMS notice (the question reached the citizen)."""
    with session_scope(db_url) as session:
        session.execute(update(TicketNotification).where(TicketNotification.channel != "web")
                        .values(state="delivered"))


@pytest.mark.parametrize("text, level", [
    ("1", "satisfied"), ("１", "satisfied"), ("满意！", "satisfied"), ("2", "basic"), ("基本满意", "basic"),
    (" 3。", "dissatisfied"), ("不满意", "dissatisfied"), ("不满意，钱还没退", None), ("12", None), ("你好", None),
])
def test_only_a_whole_short_reply_is_an_answer(text, level):
    assert surveys.parse_answer(text) == level


def test_wechat_answer_then_reason_then_already(db_url):
    number = closed_ticket(db_url, channel="wechat", conversation_id=OPENID)
    s = settings(db_url)
    assert surveys.reply_from_channel("wechat", OPENID, "我还有个问题", settings=s) is None  # the assistant answers
    assert surveys.reply_from_channel("wechat", OPENID, "3", settings=s) == texts.text("utter_satisfaction_ask_reason")
    assert survey(db_url, number).state == SURVEY_REASON
    reply = surveys.reply_from_channel("wechat", OPENID, "承办人员一直没联系我，电话13900001111", settings=s)
    assert reply == texts.text("utter_satisfaction_thanks_reason")
    row = survey(db_url, number)
    assert (row.state, row.level, row.answered_via) == (SURVEY_ANSWERED, "dissatisfied", "wechat")
    assert "13900001111" not in row.reason and "139****1111" in row.reason
    assert ratings(db_url) == [("wechat", "dissatisfied", row.reason)]
    # answered: later messages go to the assistant; a second answer through the API is "already"
    assert surveys.reply_from_channel("wechat", OPENID, "1", settings=s) is None
    again = surveys.answer_survey(ticket_id(db_url, number), "satisfied", via="web", settings=s)
    assert again.outcome == surveys.ALREADY and len(ratings(db_url)) == 1


def test_a_reply_before_the_question_reached_the_citizen_is_an_ordinary_message(db_url):
    number = make_ticket(db_url, channel="wechat", conversation_id=OPENID)
    apply_status_update(number, "closed", source="platform", event_id="c", settings=settings(db_url))
    assert surveys.reply_from_channel("wechat", OPENID, "1", settings=settings(db_url)) is None  # still queued
    delivered(db_url)
    assert surveys.reply_from_channel("wechat", OPENID, "1", settings=settings(db_url)) is not None


def test_the_reason_is_awaited_only_for_a_while(db_url):
    number = closed_ticket(db_url, channel="wechat", conversation_id=OPENID)
    s = settings(db_url)
    surveys.reply_from_channel("wechat", OPENID, "不满意", settings=s)
    later = lambda: dt.datetime.now(dt.timezone.utc) + surveys.REASON_WINDOW + dt.timedelta(minutes=1)  # noqa: E731
    assert surveys.reply_from_channel("wechat", OPENID, "网购七天无理由退货怎么算", settings=s, clock=later) is None
    assert survey(db_url, number).state == SURVEY_ANSWERED and survey(db_url, number).reason is None


def test_one_answer_per_ticket_also_when_two_arrive_at_once(database_url):
    db_url = database_url  # SQLite and PostgreSQL
    number = closed_ticket(db_url)
    tid = ticket_id(db_url, number)
    results = []
    barrier = threading.Barrier(4)

    def answer(level):
        barrier.wait()
        results.append(surveys.answer_survey(tid, level, via="web", settings=settings(db_url)).outcome)

    threads = [threading.Thread(target=answer, args=(lvl,)) for lvl in ("satisfied", "basic", "dissatisfied", "basic")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["already"] * 3 + ["recorded"]
    assert len(ratings(db_url)) == 1


def test_bad_answers_are_refused_and_store_nothing(db_url):
    number = closed_ticket(db_url)
    tid = ticket_id(db_url, number)
    with pytest.raises(ValueError):
        surveys.answer_survey(tid, "great", via="web", settings=settings(db_url))
    with pytest.raises(ValueError):
        surveys.answer_survey(tid, "dissatisfied", via="web", reason="长" * 501, settings=settings(db_url))
    assert ratings(db_url) == [] and survey(db_url, number).state == "asked"
    open_ticket = make_ticket(db_url, conversation_id="web-" + "f" * 32)
    result = surveys.answer_survey(ticket_id(db_url, open_ticket), "satisfied", via="web", settings=settings(db_url))
    assert result.outcome == surveys.NOT_PENDING


# ---------------------------------------------------------------- the chat page and the SMS gateway


@pytest.fixture()
def web(db_url):
    app = create_app(Settings(database_url=db_url, platform_secret=PLATFORM_SECRET, sms_token=SMS_TOKEN), testing=True)
    return app


def browser(app, conv: str | None = None):
    client = app.test_client()
    page = client.get("/")
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text).group(1)
    if conv:
        with client.session_transaction() as session:
            session["chat_conversation_id"] = conv
    return client, token


def test_the_chat_page_loads_the_notices_script(web):
    client, _ = browser(web)
    page = client.get("/").text
    assert "js/notices.js" in page and "css/notices.css" in page
    assert client.get("/static/js/notices.js").status_code == 200


def test_web_notices_reach_the_next_visit_of_the_same_browser(web, db_url):
    client, token = browser(web, WEB_CONV)
    assert client.get("/api/notices").get_json() == {"notices": []}  # links this browser with the conversation
    visitor = client.get_cookie("xiaoan_visitor")
    assert visitor is not None and visitor.http_only
    number = make_ticket(db_url, conversation_id=WEB_CONV)
    apply_status_update(number, "accepted", source="platform", event_id="a", settings=settings(db_url))
    apply_status_update(number, "closed", source="platform", event_id="c", settings=settings(db_url))
    # the next visit: the conversation cookie is gone (new browser session), the visitor cookie is not
    with client.session_transaction() as session:
        session.clear()
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', client.get("/").text).group(1)
    notices = client.get("/api/notices").get_json()["notices"]
    assert [n["kind"] for n in notices] == ["status", "status", "survey"]
    assert number in notices[0]["text"] and "受理" in notices[0]["text"] and "办结" in notices[1]["text"]
    survey_notice = notices[2]
    assert [c["title"] for c in survey_notice["choices"]] == ["满意", "基本满意", "不满意"]
    # status notices are shown once; the question stays until answered
    assert [n["kind"] for n in client.get("/api/notices").get_json()["notices"]] == ["survey"]
    # another browser sees nothing
    stranger, stranger_token = browser(web)
    assert stranger.get("/api/notices").get_json() == {"notices": []}
    resp = stranger.post(f"/api/notices/{survey_notice['id']}/satisfaction", json={"level": "satisfied"},
                         headers={"X-CSRFToken": stranger_token})
    assert resp.status_code == 404 and ratings(db_url) == []
    # bad answers: a clear Chinese message, nothing stored
    bad = client.post(f"/api/notices/{survey_notice['id']}/satisfaction", json={"level": "great"},
                      headers={"X-CSRFToken": token})
    assert bad.status_code == 400 and bad.get_json()["error"] == texts.text("utter_satisfaction_bad_answer")
    assert client.post(f"/api/notices/{survey_notice['id']}/satisfaction", json={"level": "basic"}).status_code == 400  # no CSRF token
    ok = client.post(f"/api/notices/{survey_notice['id']}/satisfaction",
                     json={"level": "dissatisfied", "reason": "办理太慢"}, headers={"X-CSRFToken": token})
    assert ok.status_code == 200 and ok.get_json()["message"] == texts.text("utter_satisfaction_thanks_reason")
    again = client.post(f"/api/notices/{survey_notice['id']}/satisfaction", json={"level": "satisfied"},
                        headers={"X-CSRFToken": token})
    assert again.get_json()["already"] is True
    assert ratings(db_url) == [("web", "dissatisfied", "办理太慢")]
    assert client.get("/api/notices").get_json() == {"notices": []}


def test_sms_replies_answer_the_survey_of_that_phone(web, db_url):
    number = closed_ticket(db_url, channel="rest", conversation_id="script-1", sms=True)
    client = web.test_client()
    url = "/api/sms/replies"
    auth = {"Authorization": f"Bearer {SMS_TOKEN}"}
    assert client.post(url, json={"from": PHONE, "text": "1"}).status_code == 401
    assert client.post(url, json={"from": PHONE, "text": "1"}, headers={"Authorization": "Bearer nope"}).status_code == 401
    bad = client.post(url, json={"text": "1"}, headers=auth)
    assert bad.status_code == 400 and bad.get_json()["message"]
    assert client.post(url, json={"from": "13900000000", "text": "1"}, headers=auth).get_json() == {"reply": None}
    assert client.post(url, json={"from": PHONE, "text": "什么时候退钱"}, headers=auth).get_json() == {"reply": None}
    reply = client.post(url, json={"from": "+86 138-1234-5678", "text": "2"}, headers=auth).get_json()["reply"]
    assert reply == texts.text("utter_satisfaction_thanks").format(ticket_no=number)
    assert (survey(db_url, number).level, survey(db_url, number).answered_via) == ("basic", "sms")
    assert ratings(db_url) == [("rest", "basic", "基本满意")]


def test_the_sms_reply_door_is_off_without_a_token(db_url):
    client = create_app(Settings(database_url=db_url), testing=True).test_client()
    assert client.post("/api/sms/replies", json={"from": PHONE, "text": "1"}).status_code == 404


# ---------------------------------------------------------------- the WeChat channel


def test_the_wechat_channel_takes_the_answer_before_the_assistant(db_url, monkeypatch):
    closed_ticket(db_url, channel="wechat", conversation_id=OPENID)
    agent = StubAgent()
    with FakeWeChatServer() as fake:
        channel = WeChatInput(token=TOKEN, appid=APPID, secret=SECRET, api_url=fake.url, database_url=db_url,
                              reply_budget=2.0, poll_interval=0.05, push_delay=0.05)
        with running_channel(channel, agent, monkeypatch) as (url, _):
            pusher = WeChatPusher(url)
            first = pusher.post(text_xml(OPENID, "1", msg_id=9101))
            other = pusher.post(text_xml(OPENID, "你好", msg_id=9102))
    assert "评价" in first.content and first.content.startswith("感谢")
    assert [m.text for m in agent.received] == ["你好"]  # only the second message reached the assistant
    assert other.content == "小安收到：你好"
    assert ratings(db_url) == [("wechat", "satisfied", "满意")]


# ---------------------------------------------------------------- end to end


def test_end_to_end_platform_to_channels_to_answers_to_the_supervisors_figures(db_url, monkeypatch):
    with session_scope(db_url) as db:
        create_user(db, "sue", PASSWORD, "supervisor", "督导员")
    with FakeWeChatServer() as wechat, FakeSmsGateway() as sms:
        s = Settings(database_url=db_url, platform_secret=PLATFORM_SECRET, sms_url=sms.url, sms_token=SMS_TOKEN,
                     wechat_appid=APPID, wechat_secret=SECRET, wechat_api_url=wechat.url,
                     web_secret_key="status-e2e-tests-0123456789abcdefXYZ", rasa_url="http://127.0.0.1:9")
        app = create_app(s, testing=True)
        web_ticket = make_ticket(db_url, conversation_id=WEB_CONV)
        wechat_ticket = make_ticket(db_url, channel="wechat", conversation_id=OPENID)
        wechat_store.record_citizen_message(db_url, OPENID)  # the citizen wrote within 48 hours
        citizen, token = browser(app, WEB_CONV)
        citizen.get("/api/notices")
        # the fake work-order platform reports over HTTP to the running web app
        with served(app) as web_url, FakePlatform() as platform:
            for number in (web_ticket, wechat_ticket):
                for event, status in (("1", "accepted"), ("2", "closed")):
                    resp = platform.push_status(web_url, PLATFORM_SECRET, number, status, event_id=f"{number}-{event}")
                    assert resp.status_code == 200, resp.text
            again = platform.push_status(web_url, PLATFORM_SECRET, web_ticket, "closed", event_id=f"{web_ticket}-2")
            assert again.json()["duplicate"] is True
        # the endpoint only queued: nothing was sent while the platform waited
        assert wechat.messages == [] and sms.messages == []
        client = WeChatApiClient(wechat.url, APPID, SECRET, database_url=db_url, attempts=1, backoff=0)
        later = lambda: dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=5)  # noqa: E731
        counts = NotificationDeliverer(s, wechat=client, clock=later).deliver_pending()
        assert len(counts.sent) == 6 and counts.failed == []
        # WeChat: accepted, closed, the question, as customer-service messages
        assert [m.touser for m in wechat.messages] == [OPENID] * 3
        assert "回复数字" in wechat.messages[-1].content
        # SMS for the web citizen who left a phone number: accepted, closed, the question
        assert [m.to for m in sms.messages] == [PHONE] * 3 and web_ticket in sms.messages[0].text
        # the web notice on the next visit, answered there
        notices = citizen.get("/api/notices").get_json()["notices"]
        question = next(n for n in notices if n["kind"] == "survey")
        assert citizen.post(f"/api/notices/{question['id']}/satisfaction", json={"level": "satisfied"},
                            headers={"X-CSRFToken": token}).status_code == 200
        # the WeChat citizen answers 不满意 in WeChat, then the reason
        assert surveys.reply_from_channel("wechat", OPENID, "3", settings=s) == texts.text("utter_satisfaction_ask_reason")
        surveys.reply_from_channel("wechat", OPENID, "没人联系我", settings=s)
        # the SMS answer of the web citizen comes too late: the survey was answered on the page
        sms_reply = app.test_client().post("/api/sms/replies", json={"from": PHONE, "text": "3"},
                                           headers={"Authorization": f"Bearer {SMS_TOKEN}"}).get_json()
        assert sms_reply == {"reply": None}
        # the supervisors' figures
        supervisor = app.test_client()
        login_token = re.search(r'<meta name="csrf-token" content="([^"]+)"',
                                supervisor.get("/console/login").text).group(1)
        supervisor.post("/console/login", data={"username": "sue", "password": PASSWORD, "csrf_token": login_token})
        page = supervisor.get("/console/stats?window=today")
        assert page.status_code == 200
        assert re.search(r'<td class="sv-num" data-figure="ticket-callbacks">2</td>', page.text)
        assert "50.0%" in page.text or "50%" in page.text  # 1 of 2 satisfied
    from xiaoan.supervision import report, stats

    with session_scope(db_url) as session:
        figures = stats.rating_figures(session, stats.make_window("today"))
        monday = dt.date.today() - dt.timedelta(days=dt.date.today().weekday())
        weekly = report.build_weekly(session, monday)
    assert (figures.satisfied, figures.dissatisfied, figures.ticket_callbacks) == (1, 1, 2)
    assert weekly.ratings.ticket_callbacks == 2
    assert "其中工单办结回访" in report.render_html(weekly)
    with session_scope(db_url) as session:
        assert session.execute(select(func.count()).select_from(TicketSurvey)
                               .where(TicketSurvey.state == SURVEY_ANSWERED)).scalar_one() == 2
