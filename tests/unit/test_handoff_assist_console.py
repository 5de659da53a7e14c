"""Agent assist, the routes (xiaoan.handoff.assist_console): the assist API of a conversation, the
canned replies (常用语) supervisors maintain, the ticket form prefilled from the summary. Flask test
client, fake Rasa over real HTTP (the fixtures of test_handoff_inbox)."""

from __future__ import annotations

import html.parser
import json

import pytest
from sqlalchemy import func, select

from xiaoan.db import session_scope
from xiaoan.handoff import assist_console, canned
from xiaoan.handoff.canned import CannedInputError, CannedReply
from xiaoan.kb.loader import read_dir
from xiaoan.kb.service import StaticSearchService
from xiaoan.tickets.models import Ticket
from tests.unit.test_handoff_inbox import (  # noqa: F401 - fixtures
    CONV,
    add_user,
    app,
    citizen_says,
    csrf,
    fresh_ticket_service,
    queued,
    rasa,
    service,
    settings,
    sign_in,
)

CANNED_URL = "/console/inbox/canned"


@pytest.fixture(scope="module")
def kb():
    return StaticSearchService(read_dir().entries, encoder=None)


@pytest.fixture(autouse=True)
def lexical_kb(kb, monkeypatch):
    """The real knowledge base, lexical search only (the app's own service would load the encoder)."""
    monkeypatch.setattr(assist_console, "_search_service", lambda: kb)


def add_canned(topic: str, title: str, text: str) -> int:
    with session_scope() as db:
        return canned.create_reply(db, topic=topic, title=title, text=text, by="李主管").id


def taken(app, service, rasa, username: str = "wangfang"):
    session_id = queued(service, rasa)
    add_user(username, display_name="王芳")
    client = sign_in(app, username)
    client.post(f"/console/inbox/{session_id}/take", data={"csrf_token": csrf(client)})
    return session_id, client


# --- the assist API ---------------------------------------------------------------------------------

def test_assist_gives_the_summary_suggestions_and_canned_replies_masked(app, service, rasa):
    add_canned("开场与安抚", "问候", "您好，我是人工客服，请问有什么可以帮您？")
    add_canned("预付卡", "建议保留凭证", "请保留好会员卡、付款记录和合同。")
    retired = add_canned("预付卡", "旧说法", "已经不用的话术")
    with session_scope() as db:
        canned.set_active(db, retired, False, by="李主管")
    session_id, client = taken(app, service, rasa)
    data = client.get(f"/console/api/inbox/{session_id}/assist").get_json()
    assert data["changed"] is True and data["cursor"] > 0
    rows = {r["key"]: r for r in data["summary"]}
    assert rows["topic"]["value"] == "预付卡纠纷"
    assert rows["merchant"]["value"] == "某某健身" and rows["merchant"]["source"] == "小安已收集"
    assert rows["amount"]["value"] == "2,000 元"
    assert rows["mood"]["value"] == "平稳"
    # the latest question is the opening (转人工 is none); its numbers are masked
    assert data["question"].startswith("健身房老板跑路了") and "138****5678" in data["question"]
    assert [s["id"] for s in data["suggestions"]][0] == "consumer.business-closed"
    assert len(data["suggestions"]) <= 3 and all(0 < s["score"] <= 1 and s["answer"] for s in data["suggestions"])
    assert [(g["topic"], [r["title"] for r in g["replies"]]) for g in data["canned"]] == [
        ("开场与安抚", ["问候"]), ("预付卡", ["建议保留凭证"])]          # the retired one is not offered
    assert data["labels"]["insert"] == "插入回复框"
    raw = json.dumps(data, ensure_ascii=False)
    for secret in ("13812345678", "138-1234-5678", "31010119900101123X"):
        assert secret not in raw


def test_assist_refreshes_only_when_the_citizen_said_more(app, service, rasa):
    session_id, client = taken(app, service, rasa)
    first = client.get(f"/console/api/inbox/{session_id}/assist").get_json()
    same = client.get(f"/console/api/inbox/{session_id}/assist?after={first['cursor']}").get_json()
    assert same == {"changed": False, "cursor": first["cursor"]}
    citizen_says(rasa, "另外网上买的衣服七天无理由退货运费谁出？", "ask_consumer_rights", timestamp=first["cursor"] + 5)
    update = client.get(f"/console/api/inbox/{session_id}/assist?after={first['cursor']}").get_json()
    assert update["changed"] is True and update["cursor"] == first["cursor"] + 5
    assert update["question"] == "另外网上买的衣服七天无理由退货运费谁出？"
    assert update["suggestions"][0]["id"] == "consumer.seven-day-return"
    assert {r["key"]: r["value"] for r in update["summary"]}["topic"] == "咨询消费维权"


def test_assist_shows_anger_and_urgency(app, service, rasa):
    session_id, client = taken(app, service, rasa)
    citizen_says(rasa, "你们到底管不管，什么破系统", "request_human")
    rows = {r["key"]: r for r in client.get(f"/console/api/inbox/{session_id}/assist").get_json()["summary"]}
    assert rows["mood"]["level"] == "angry" and "什么破系统" in rows["mood"]["value"]
    citizen_says(rasa, "店里电梯困人了，快来人", "inform")
    rows = {r["key"]: r for r in client.get(f"/console/api/inbox/{session_id}/assist").get_json()["summary"]}
    assert rows["mood"]["level"] == "urgent"


def test_assist_is_the_inboxs_to_give(app, service, rasa):
    session_id, _ = taken(app, service, rasa)
    url = f"/console/api/inbox/{session_id}/assist"
    assert app.test_client().get(url).status_code == 401
    add_user("maint", "maintainer")
    assert sign_in(app, "maint").get(url).status_code == 403
    add_user("lisi", display_name="李四")
    other = sign_in(app, "lisi").get(url)
    assert other.status_code == 404 and "某某健身" not in other.text      # not this agent's conversation
    add_user("boss", "supervisor")
    boss = sign_in(app, "boss")
    assert boss.get(url).status_code == 200
    assert boss.get(url + "?after=abc").status_code == 400 and boss.get(url + "?after=-1").status_code == 400
    assert boss.get("/console/api/inbox/9999/assist").status_code == 404
    rasa.fail_status = 503
    down = boss.get(url)
    assert down.status_code == 503 and "暂时无法读取对话记录" in down.get_json()["error"]


def test_a_broken_search_still_gives_the_summary(app, service, rasa, monkeypatch):
    def broken():
        raise RuntimeError("index unavailable")

    monkeypatch.setattr(assist_console, "_search_service", broken)
    session_id, client = taken(app, service, rasa)
    data = client.get(f"/console/api/inbox/{session_id}/assist").get_json()
    assert data["suggestions"] == [] and data["search_error"] == "知识库暂时无法检索，请稍后再试。"
    assert {r["key"] for r in data["summary"]} >= {"merchant", "amount"}


def test_the_conversation_page_carries_the_assist_panel(app, service, rasa):
    session_id, client = taken(app, service, rasa)
    page = client.get(f"/console/inbox/{session_id}").text
    assert 'id="assist"' in page and f'/console/api/inbox/{session_id}/assist' in page
    assert "/console/inbox/assist.js" in page and "/console/inbox/assist.css" in page
    script = client.get("/console/inbox/assist.js")
    assert script.status_code == 200 and script.mimetype == "application/javascript"
    assert "reply-text" in script.text and "innerHTML" not in script.text
    assert client.get("/console/inbox/assist.css").mimetype == "text/css"


# --- canned replies: the supervisors' page ----------------------------------------------------------

def form_token(client, path: str = CANNED_URL) -> str:
    return csrf(client, path)


def count_canned() -> int:
    with session_scope() as db:
        return db.execute(select(func.count()).select_from(CannedReply)).scalar_one()


def test_only_supervisors_maintain_canned_replies(app):
    add_user("wangfang")
    agent = sign_in(app, "wangfang")
    assert agent.get(CANNED_URL).status_code == 403
    assert agent.post(CANNED_URL, data={"csrf_token": form_token(agent, "/console/inbox"), "topic": "t",
                                        "title": "x", "text": "y"}).status_code == 403
    reply_id = add_canned("开场与安抚", "问候", "您好")
    assert agent.post(f"{CANNED_URL}/{reply_id}/retire",
                      data={"csrf_token": form_token(agent, "/console/inbox")}).status_code == 403
    assert agent.get(f"{CANNED_URL}/{reply_id}").status_code == 403
    assert app.test_client().get(CANNED_URL).status_code == 302       # signed out: to the sign-in page
    assert 'id="canned-link"' not in agent.get("/console/inbox").text
    add_user("admin1", "admin")
    assert sign_in(app, "admin1").get(CANNED_URL).status_code == 200
    add_user("boss", "supervisor")
    boss = sign_in(app, "boss")
    assert 'id="canned-link"' in boss.get("/console/inbox").text
    assert count_canned() == 1


def test_supervisor_adds_edits_retires_and_restores(app, service, rasa):
    add_user("boss", "supervisor", display_name="李主管")
    boss = sign_in(app, "boss")
    token = form_token(boss)
    done = boss.post(CANNED_URL, data={"csrf_token": token, "topic": " 预付卡 ", "title": "保留凭证",
                                       "text": "请保留好会员卡、付款记录。\n合同也请保留。"}, follow_redirects=True)
    assert done.status_code == 200 and "已添加常用语“保留凭证”。" in done.text
    with session_scope() as db:
        (reply,) = canned.list_replies(db)
    assert (reply.topic, reply.text, reply.updated_by) == ("预付卡", "请保留好会员卡、付款记录。\n合同也请保留。", "李主管")

    page = boss.get(f"{CANNED_URL}/{reply.id}")
    assert page.status_code == 200 and "保留凭证" in page.text
    saved = boss.post(f"{CANNED_URL}/{reply.id}", data={"csrf_token": token, "topic": "预付卡", "title": "提醒保留凭证",
                                                       "text": "请保留好会员卡和付款记录。"}, follow_redirects=True)
    assert "已保存常用语“提醒保留凭证”。" in saved.text

    # an agent's conversation offers it; retired, it is gone; restored, it is back
    session_id, agent = taken(app, service, rasa, "wangfang")
    offered = lambda: [r["title"] for g in agent.get(f"/console/api/inbox/{session_id}/assist").get_json()["canned"]  # noqa: E731
                       for r in g["replies"]]
    assert offered() == ["提醒保留凭证"]
    retired = boss.post(f"{CANNED_URL}/{reply.id}/retire", data={"csrf_token": token}, follow_redirects=True)
    assert "已停用常用语“提醒保留凭证”" in retired.text and "已停用" in retired.text
    assert offered() == []
    boss.post(f"{CANNED_URL}/{reply.id}/restore", data={"csrf_token": token})
    assert offered() == ["提醒保留凭证"]
    assert boss.post(f"{CANNED_URL}/999/retire", data={"csrf_token": token}).status_code == 404
    assert boss.get(f"{CANNED_URL}/999").status_code == 404


def test_bad_canned_input_gets_a_clear_message_and_stores_nothing(app):
    add_user("boss", "supervisor")
    boss = sign_in(app, "boss")
    token = form_token(boss)
    empty = boss.post(CANNED_URL, data={"csrf_token": token, "topic": "  ", "title": "问候", "text": "您好"})
    assert empty.status_code == 400 and "请填写主题。" in empty.text
    long = boss.post(CANNED_URL, data={"csrf_token": token, "topic": "开场", "title": "问候", "text": "好" * 1001})
    assert long.status_code == 400 and "内容过长，请控制在1000字以内。" in long.text
    assert 'value="开场"' in long.text                                      # what was typed is kept
    control = boss.post(CANNED_URL, data={"csrf_token": token, "topic": "开场", "title": "问\x07候", "text": "您好"})
    assert control.status_code == 400 and "标题含有无法识别的字符" in control.text
    nul = boss.post(CANNED_URL, data={"csrf_token": token, "topic": "开场", "title": "问\x00候", "text": "您好"})
    assert nul.status_code == 400                                           # refused by the app before the form
    no_csrf = boss.post(CANNED_URL, data={"topic": "开场", "title": "问候", "text": "您好"})
    assert no_csrf.status_code == 400
    assert count_canned() == 0
    boss.post(CANNED_URL, data={"csrf_token": token, "topic": "开场", "title": "问候", "text": "您好"})
    twice = boss.post(CANNED_URL, data={"csrf_token": token, "topic": "开场", "title": "问候", "text": "您好呀"})
    assert twice.status_code == 400 and "主题“开场”下已有标题为“问候”的常用语" in twice.text
    assert count_canned() == 1


def test_canned_service_rules(db_url):
    with session_scope() as db:
        first = canned.create_reply(db, topic="开场", title="问候", text="您好", by="李主管")
        other = canned.create_reply(db, topic="结束", title="问候", text="再见", by="李主管")   # same title, other topic
        with pytest.raises(CannedInputError) as exc:
            canned.update_reply(db, other.id, topic="开场", title="问候", text="再见", by="李主管")
        assert exc.value.field == "title"
        canned.set_active(db, first.id, False, by="李主管")
        canned.update_reply(db, other.id, topic="开场", title="问候", text="再见", by="李主管")   # free now
        with pytest.raises(CannedInputError):
            canned.set_active(db, first.id, True, by="李主管")        # its title was taken meanwhile
        assert [(r.topic, r.title, r.active) for r in canned.list_replies(db, include_retired=True)] == [
            ("开场", "问候", False), ("开场", "问候", True)]
        with pytest.raises(canned.CannedNotFound):
            canned.get_reply(db, 12345)
    assert canned.check_input(" 开场　与安抚 ", "问候\n语", "  第一行\r\n第二行  ") == ("开场 与安抚", "问候 语", "第一行\n第二行")


# --- the ticket form prefilled from the summary -----------------------------------------------------

class _FormValues(html.parser.HTMLParser):
    """The values of the ticket form's inputs and textareas, as a browser would submit them."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("name") and attrs.get("type") in ("text", "hidden", None):
            self.values.setdefault(attrs["name"], attrs.get("value") or "")
        elif tag == "textarea" and attrs.get("name"):
            self._textarea = attrs["name"]
            self.values[self._textarea] = ""
        elif tag == "option" and "selected" in attrs:
            self.values["kind"] = attrs.get("value")

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None


def ticket_form_values(page: str) -> dict[str, str]:
    start = page.index('class="ticket-form"')
    parser = _FormValues()
    parser.feed(page[start:page.index("</form>", start)])
    return {k: v.strip() for k, v in parser.values.items()}


def test_ticket_form_prefilled_from_the_conversation_and_submitted_as_corrected(app, service, rasa):
    opening = "我在长宁区天山路8号的“力美健身”办了卡，老板跑路了，卡里还有3600元没用完，我要求退还余额。我电话13912345678"
    citizen_says(rasa, opening, "complain_prepaid")
    citizen_says(rasa, "转人工", "request_human")
    session_id = service.enqueue(CONV, "web", "requested", input_channel="rest", intent="complain_prepaid",
                                 slots={"phone": "13912345678"}).session_id
    add_user("wangfang", display_name="王芳")
    client = sign_in(app, "wangfang")
    client.post(f"/console/inbox/{session_id}/take", data={"csrf_token": csrf(client)})
    page = client.get(f"/console/inbox/{session_id}").text
    values = ticket_form_values(page)
    assert values["respondent_name"] == "力美健身" and values["respondent_address"] == "长宁区天山路8号"
    assert values["amount"] == "3600" and values["claim"] == "退还余额"
    assert values["facts"].startswith("我在长宁区天山路8号") and "139****5678" in values["facts"]
    assert "13912345678" not in page                                     # the prefill is masked too
    # the agent completes the citizen's own details and corrects the amount
    values.update(complainant_name="赵敏", complainant_address="长宁区愚园路1号", amount="3500")
    done = client.post(f"/console/inbox/{session_id}/ticket", data=values, follow_redirects=True)
    assert done.status_code == 200 and "工单已创建：XA-" in done.text
    with session_scope() as db:
        ticket = db.execute(select(Ticket)).scalar_one()
    assert (ticket.respondent_name, ticket.respondent_address, ticket.claim, ticket.district, ticket.phone) == (
        "力美健身", "长宁区天山路8号", "退还余额", "changning", "13912345678")
    assert float(ticket.amount) == 3500                                  # the agent's correction
    assert "13912345678" in ticket.facts                                 # the masked prefill mapped back
    again = client.post(f"/console/inbox/{session_id}/ticket", data=values, follow_redirects=True)
    assert f"该会话已创建过工单：{ticket.ticket_no}" in again.text       # idempotent
    with session_scope() as db:
        assert db.execute(select(func.count()).select_from(Ticket)).scalar_one() == 1


# --- the migration ----------------------------------------------------------------------------------

def test_migration_0010_creates_the_table_the_model_describes_and_downgrades(tmp_path):
    """In process (tests/integration/test_migrations.py runs the installed `xiaoan` command)."""
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine, inspect

    import xiaoan.models  # noqa: F401
    from xiaoan.db import Base, alembic_config, dispose_engines, upgrade

    url = f"sqlite:///{tmp_path / 'migrated.db'}"
    upgrade(url)
    engine = create_engine(url, future=True)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
            assert MigrationContext.configure(conn).get_current_revision() == "0010_canned"
        assert not diff, diff
        command.downgrade(alembic_config(url), "0007_sec")
        with engine.connect() as conn:
            assert "canned_replies" not in inspect(conn).get_table_names()
    finally:
        engine.dispose()
        dispose_engines()


def test_a_stored_surrogate_does_not_break_the_assist(app, service, rasa):
    """A conversation stored before the input checks (a lone surrogate in a message) still summarises."""
    session_id, client = taken(app, service, rasa)
    real = app.extensions["xiaoan"]["rasa_client"]

    class SurrogateTracker:
        def __getattr__(self, name):
            return getattr(real, name)

        def get_tracker(self, conversation_id, *args, **kwargs):
            tracker = real.get_tracker(conversation_id, *args, **kwargs)
            tracker["events"] = list(tracker["events"]) + json.loads(
                '[{"event": "user", "timestamp": 9999999999.0, "text": "\\u6295\\u8bc9\\u5065\\u8eab\\u623f\\ud800",'
                ' "parse_data": {}}]')
            return tracker

    app.extensions["xiaoan"]["rasa_client"] = SurrogateTracker()
    response = client.get(f"/console/api/inbox/{session_id}/assist")
    assert response.status_code == 200
    assert response.get_json()["question"] == "投诉健身房\ufffd"


def test_a_district_named_only_in_the_conversation_routes_the_ticket(app, service, rasa):
    citizen_says(rasa, "浦东那家健身房老板跑路了，卡里还有两千块，我要求退钱", "complain_prepaid")
    session_id = service.enqueue(CONV, "web", "requested", input_channel="rest", intent="complain_prepaid",
                                 slots={"phone": "13912345678"}).session_id
    add_user("wangfang", display_name="王芳")
    client = sign_in(app, "wangfang")
    client.post(f"/console/inbox/{session_id}/take", data={"csrf_token": csrf(client)})
    values = ticket_form_values(client.get(f"/console/inbox/{session_id}").text)
    assert values["respondent_address"] == ""                          # no address was given
    values.update(complainant_name="赵敏", complainant_address="上海市某小区", respondent_name="某健身房")
    done = client.post(f"/console/inbox/{session_id}/ticket", data=values, follow_redirects=True)
    assert "工单已创建：XA-" in done.text, done.text[-600:]
    with session_scope() as db:
        ticket = db.execute(select(Ticket)).scalar_one()
    assert (ticket.district, ticket.agency) == ("pudong", "dist-pudong")
