"""Probes of issue 12, item 5: staff-facing personal data.

- the inbox masks phone, ID card and bank card numbers in the transcript and the gathered slots;
- one conversation's numbers are revealed on demand (POST + CSRF), only by the agent holding it or
  a supervisor, for a limited time, and every reveal is in the audit log before anything is shown;
- an agent opens a conversation only when it waits in the queue or is theirs (404 otherwise,
  indistinguishable from a session that does not exist); supervisors open all;
- the audit log (callback views, `xiaoan tickets show`) and its listing for supervisors only.

Unit level: the Flask test client, a real SQLite database, the fake Rasa over real HTTP. The last
probe runs against the real stack (tests/e2e/conftest.py) when a trained model is there.
"""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from xiaoan.cli import cli
from xiaoan.config import Settings
from xiaoan.db import session_scope
from xiaoan.handoff import inbox
from xiaoan.handoff.service import HandoffService
from xiaoan.privacy_audit import PersonalDataView, record_view
from xiaoan.rasa_client import RasaClient
from tests.console_app import (  # noqa: F401  (fixtures)
    PASSWORD, TOKEN, add_user, app, csrf, rasa, service, settings, sign_in,
)
from tests.fakes.rasa_server import FakeRasa

CONV = "web-pdata000000000000000000000000001"
OTHER_CONV = "web-pdata000000000000000000000000002"

PHONE = "13812345678"
ID_NUMBER = "31010119900101123X"
CARD = "6222021234567894"  # Luhn-valid
CITIZEN_SAYS = f"我电话+86 138-1234-5678，身份证{ID_NUMBER}，卡号6222 0212 3456 7894，座机021-6123 4567"
AGENT_SAYS = "请确认号码１３８１２３４５６７８是否正确"
BOT_SAYS = f"请核对：电话{PHONE}"
#: Every spelling of the secrets above that must never reach a masked page.
SECRETS = (PHONE, "138-1234-5678", "138 1234 5678", "１３８１２３４５６７８", ID_NUMBER, "19900101", CARD,
           "6222 0212 3456 7894", "6123 4567", "61234567")


def handed_off(service: HandoffService, rasa: FakeRasa, conversation_id: str = CONV) -> int:
    """A conversation whose transcript and slots hold a phone, an ID and a bank card number."""
    client = RasaClient(Settings(rasa_url=rasa.url), token=TOKEN)
    client.append_events(conversation_id, [{"event": "user", "text": CITIZEN_SAYS, "input_channel": "rest",
                                            "parse_data": {"intent": {"name": "complain_prepaid"}}}])
    rasa.add_bot_message(conversation_id, BOT_SAYS)
    client.append_events(conversation_id, [{"event": "bot", "text": AGENT_SAYS, "metadata": {"agent": "前一位坐席"}}])
    return service.enqueue(conversation_id, "web", "requested", input_channel="rest", intent="complain_prepaid",
                           slots={"complainant_name": "张三", "phone": PHONE, "respondent_name": "某某健身",
                                  "facts": f"用卡号{CARD}付的款，身份证{ID_NUMBER}"}).session_id


def taken_by(app, service, rasa, username: str = "wangfang", conversation_id: str = CONV):
    """`username` (an agent) signed in and holding a fresh handed-off conversation."""
    session_id = handed_off(service, rasa, conversation_id)
    add_user(username)
    client = sign_in(app, username)
    assert client.post(f"/console/inbox/{session_id}/take", data={"csrf_token": csrf(client)}).status_code == 302
    return client, session_id


def audit_rows() -> list[tuple]:
    with session_scope() as db:
        return [(r.actor, r.actor_role, r.action, r.subject, r.source)
                for r in db.execute(select(PersonalDataView).order_by(PersonalDataView.id)).scalars()]


def assert_masked(body: str) -> None:
    for secret in SECRETS:
        assert secret not in body, secret


# --- masked by default ------------------------------------------------------------------------------

def test_page_and_polling_api_mask_every_number_in_transcript_and_slots(app, service, rasa):
    client, session_id = taken_by(app, service, rasa)
    page = client.get(f"/console/inbox/{session_id}")
    assert page.status_code == 200
    assert_masked(page.text)
    assert ("我电话138****5678，身份证**************123X，卡号************7894，座机021****4567" in page.text)
    assert "请核对：电话138****5678" in page.text and "请确认号码138****5678是否正确" in page.text
    assert "用卡号************7894付的款" in page.text          # a free-text slot
    api = client.get(f"/console/api/inbox/{session_id}/transcript?after=0")
    assert api.status_code == 200
    assert_masked(api.get_data(as_text=True))
    assert audit_rows() == []                                  # nothing was seen, nothing logged


def test_queue_json_does_not_carry_the_conversation_id(app, service, rasa):
    handed_off(service, rasa)
    add_user("wangfang")
    state = sign_in(app, "wangfang").get("/console/api/inbox/queue")
    assert state.status_code == 200 and CONV not in state.get_data(as_text=True)


def test_the_ticket_form_is_prefilled_masked_and_an_unchanged_field_keeps_the_citizens_text(app, service, rasa):
    from xiaoan.tickets.models import Ticket
    from xiaoan.tickets.service import reset_ticket_service

    reset_ticket_service()
    try:
        client, session_id = taken_by(app, service, rasa)
        page = client.get(f"/console/inbox/{session_id}").text
        masked_facts = "用卡号************7894付的款，身份证**************123X"
        assert f"{masked_facts}</textarea>" in page
        form = {"csrf_token": csrf(client, f"/console/inbox/{session_id}"), "kind": "complaint",
                "complainant_name": "张三", "phone": "", "complainant_address": "浦东新区世纪大道1号",
                "respondent_name": "某某健身", "respondent_address": "浦东新区张杨路100号",
                "facts": masked_facts, "claim": "退卡里的钱", "amount": ""}
        done = client.post(f"/console/inbox/{session_id}/ticket", data=form, follow_redirects=True)
        assert done.status_code == 200 and "工单已创建：XA-" in done.text
        assert_masked(done.text)
        with session_scope() as db:
            ticket = db.execute(select(Ticket)).scalar_one()
            assert (ticket.facts, ticket.phone) == (f"用卡号{CARD}付的款，身份证{ID_NUMBER}", PHONE)
    finally:
        reset_ticket_service()


# --- access by assignment ---------------------------------------------------------------------------

def test_another_agent_gets_404_on_every_route_of_a_conversation_they_do_not_hold(app, service, rasa):
    holder, session_id = taken_by(app, service, rasa)
    add_user("lisi")
    other = sign_in(app, "lisi")
    token = csrf(other)
    probes = [
        other.get(f"/console/inbox/{session_id}"),
        other.get(f"/console/api/inbox/{session_id}/transcript?after=0"),
        other.post(f"/console/api/inbox/{session_id}/reply", json={"text": "我来"}, headers={"X-CSRFToken": token}),
        other.post(f"/console/inbox/{session_id}/handback", data={"csrf_token": token}),
        other.post(f"/console/inbox/{session_id}/close", data={"csrf_token": token}),
        other.post(f"/console/inbox/{session_id}/ticket", data={"csrf_token": token}),
        other.post(f"/console/inbox/{session_id}/reveal", data={"csrf_token": token, "part": "transcript"}),
    ]
    for response in probes:
        assert response.status_code == 404, response.request.path
        assert_masked(response.get_data(as_text=True))
        assert "某某健身" not in response.get_data(as_text=True)
    view = service.get(session_id)
    assert (view.status, view.agent_name) == ("active", "wangfang")
    assert audit_rows() == []


def test_a_foreign_session_looks_exactly_like_a_missing_one(app, service, rasa):
    _, session_id = taken_by(app, service, rasa)
    add_user("lisi")
    other = sign_in(app, "lisi")
    foreign, missing = other.get(f"/console/inbox/{session_id}"), other.get("/console/inbox/98765")
    assert (foreign.status_code, missing.status_code) == (404, 404)
    assert foreign.get_data() == missing.get_data()
    api_foreign = other.get(f"/console/api/inbox/{session_id}/transcript")
    api_missing = other.get("/console/api/inbox/98765/transcript")
    assert (api_foreign.status_code, api_foreign.get_json()) == (api_missing.status_code, api_missing.get_json())


def test_enumerating_ids_yields_only_the_queue_and_ones_own(app, service, rasa):
    _, held = taken_by(app, service, rasa)                     # wangfang holds the first
    waiting = service.enqueue(OTHER_CONV, "web", "requested").session_id
    add_user("lisi")
    other = sign_in(app, "lisi")
    opened = [i for i in range(1, 20) if other.get(f"/console/inbox/{i}").status_code == 200]
    assert opened == [waiting] and held not in opened


def test_the_holder_keeps_their_ended_conversation_others_do_not_and_supervisors_see_all(app, service, rasa):
    holder, session_id = taken_by(app, service, rasa)
    holder.post(f"/console/inbox/{session_id}/handback", data={"csrf_token": csrf(holder)})
    assert service.get(session_id).status == "returned"
    page = holder.get(f"/console/inbox/{session_id}")
    assert page.status_code == 200 and "已交还小安" in page.text
    assert_masked(page.text)
    assert 'id="reveal-transcript"' not in page.text           # no more reveals once it is over
    add_user("lisi")
    assert sign_in(app, "lisi").get(f"/console/inbox/{session_id}").status_code == 404
    add_user("boss", "supervisor")
    boss_page = sign_in(app, "boss").get(f"/console/inbox/{session_id}")
    assert boss_page.status_code == 200
    assert_masked(boss_page.text)                              # supervisors see masked data too, by default


# --- reveal on demand, logged -----------------------------------------------------------------------

def test_reveal_needs_post_csrf_and_a_known_part(app, service, rasa):
    client, session_id = taken_by(app, service, rasa)
    url = f"/console/inbox/{session_id}/reveal"
    assert client.get(url).status_code == 405
    assert client.post(url, data={"part": "transcript"}).status_code == 400       # no CSRF token
    bad = client.post(url, data={"part": "everything", "csrf_token": csrf(client)})
    assert bad.status_code == 400 and "请求格式有误" in bad.text
    assert audit_rows() == []
    assert_masked(client.get(f"/console/inbox/{session_id}").text)


def test_the_holder_reveals_the_transcript_it_is_logged_first_and_only_that_part_opens(app, service, rasa):
    client, session_id = taken_by(app, service, rasa)
    user_id = None
    with session_scope() as db:
        user_id = db.execute(text("SELECT id FROM staff_users WHERE username = 'wangfang'")).scalar_one()
    done = client.post(f"/console/inbox/{session_id}/reveal",
                       data={"part": "transcript", "csrf_token": csrf(client)}, follow_redirects=True)
    assert done.status_code == 200 and "此操作已记录" in done.text
    assert CITIZEN_SAYS in done.text and BOT_SAYS in done.text and AGENT_SAYS in done.text
    assert 'id="revealed-transcript"' in done.text and 'id="reveal-slots"' in done.text
    assert "用卡号************7894付的款" in done.text            # the slots panel stays masked
    api = client.get(f"/console/api/inbox/{session_id}/transcript?after=0").get_json()
    assert CITIZEN_SAYS in [m["text"] for m in api["messages"]]
    assert audit_rows() == [("wangfang", "agent", "transcript_reveal", f"handoff:{session_id}", "console")]
    with session_scope() as db:
        row = db.execute(select(PersonalDataView)).scalar_one()
        assert row.actor_id == user_id and row.remote_addr == "127.0.0.1"
    # the slots panel is its own reveal, logged on its own
    client.post(f"/console/inbox/{session_id}/reveal", data={"part": "slots", "csrf_token": csrf(client)})
    page = client.get(f"/console/inbox/{session_id}").text
    assert f'data-slot="phone">{PHONE}<' in page and f"用卡号{CARD}付的款" in page
    assert [r[2] for r in audit_rows()] == ["transcript_reveal", "slots_reveal"]


def test_a_reveal_covers_one_conversation_only(app, service, rasa):
    client, first = taken_by(app, service, rasa)
    second = handed_off(service, rasa, OTHER_CONV)
    client.post(f"/console/inbox/{second}/take", data={"csrf_token": csrf(client)})
    client.post(f"/console/inbox/{first}/reveal", data={"part": "transcript", "csrf_token": csrf(client)})
    assert CITIZEN_SAYS in client.get(f"/console/inbox/{first}").text
    assert_masked(client.get(f"/console/inbox/{second}").text)
    assert_masked(client.get(f"/console/api/inbox/{second}/transcript?after=0").get_data(as_text=True))


def test_an_agent_who_has_not_taken_it_cannot_reveal(app, service, rasa):
    session_id = handed_off(service, rasa)
    add_user("lisi")
    client = sign_in(app, "lisi")
    page = client.get(f"/console/inbox/{session_id}")
    assert page.status_code == 200 and 'id="reveal-transcript"' not in page.text   # may look (to take), masked
    refused = client.post(f"/console/inbox/{session_id}/reveal", data={"part": "transcript", "csrf_token": csrf(client)})
    assert refused.status_code == 403 and "请先接入该会话" in refused.text
    assert audit_rows() == []
    assert_masked(client.get(f"/console/inbox/{session_id}").text)


def test_a_supervisor_may_reveal_any_conversation_and_it_is_logged_with_the_role(app, service, rasa):
    _, session_id = taken_by(app, service, rasa)
    add_user("boss", "supervisor")
    boss = sign_in(app, "boss")
    boss.post(f"/console/inbox/{session_id}/reveal", data={"part": "transcript", "csrf_token": csrf(boss)})
    assert CITIZEN_SAYS in boss.get(f"/console/inbox/{session_id}").text
    assert audit_rows() == [("boss", "supervisor", "transcript_reveal", f"handoff:{session_id}", "console")]


def test_a_reveal_expires_ends_with_the_conversation_and_can_be_undone(app, service, rasa, monkeypatch):
    now = [1_000_000.0]
    monkeypatch.setattr(inbox, "_clock", lambda: now[0])
    client, session_id = taken_by(app, service, rasa)
    reveal = {"part": "transcript"}
    client.post(f"/console/inbox/{session_id}/reveal", data={**reveal, "csrf_token": csrf(client)})
    now[0] += inbox.REVEAL_SECONDS - 1
    assert CITIZEN_SAYS in client.get(f"/console/inbox/{session_id}").text
    now[0] += 2
    assert_masked(client.get(f"/console/inbox/{session_id}").text)           # expired
    # hidden again by the agent
    client.post(f"/console/inbox/{session_id}/reveal", data={**reveal, "csrf_token": csrf(client)})
    assert CITIZEN_SAYS in client.get(f"/console/inbox/{session_id}").text
    hidden = client.post(f"/console/inbox/{session_id}/conceal", data={"csrf_token": csrf(client)},
                         follow_redirects=True)
    assert "已重新隐藏" in hidden.text
    assert_masked(hidden.text)
    # ended with the conversation
    client.post(f"/console/inbox/{session_id}/reveal", data={**reveal, "csrf_token": csrf(client)})
    client.post(f"/console/inbox/{session_id}/handback", data={"csrf_token": csrf(client)})
    assert_masked(client.get(f"/console/inbox/{session_id}").text)
    assert [r[2] for r in audit_rows()] == ["transcript_reveal"] * 3


def test_a_reveal_does_not_pass_to_the_next_user_of_the_browser(app, service, rasa):
    client, session_id = taken_by(app, service, rasa)
    client.post(f"/console/inbox/{session_id}/reveal", data={"part": "transcript", "csrf_token": csrf(client)})
    client.post("/console/logout", data={"csrf_token": csrf(client)})
    add_user("boss", "supervisor")
    page = client.get("/console/login")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
    client.post("/console/login", data={"username": "boss", "password": PASSWORD, "csrf_token": token})
    page = client.get(f"/console/inbox/{session_id}")
    assert page.status_code == 200
    assert_masked(page.text)                                   # the same cookie, another person


def test_no_audit_row_no_reveal(app, service, rasa, monkeypatch):
    client, session_id = taken_by(app, service, rasa)

    def broken(*args, **kwargs):
        raise RuntimeError("audit table gone")

    monkeypatch.setattr("xiaoan.privacy_audit.record_view", broken)
    refused = client.post(f"/console/inbox/{session_id}/reveal", data={"part": "transcript", "csrf_token": csrf(client)})
    assert refused.status_code == 503 and "未显示完整号码" in refused.text
    assert_masked(client.get(f"/console/inbox/{session_id}").text)


# --- the audit log ----------------------------------------------------------------------------------

def test_opening_a_callback_shows_the_number_to_call_and_is_logged(app, service):
    item = service.add_callback("web-cb", "web", PHONE, "今天下午")
    add_user("wangfang")
    client = sign_in(app, "wangfang")
    assert PHONE not in client.get("/console/inbox/callbacks").text
    assert audit_rows() == []
    assert PHONE in client.get(f"/console/inbox/callbacks/{item.id}").text
    assert audit_rows() == [("wangfang", "agent", "callback_view", f"callback:{item.id}", "console")]


def test_only_supervisors_read_the_audit_log_and_it_holds_no_personal_data(app, service, rasa):
    client, session_id = taken_by(app, service, rasa)
    client.post(f"/console/inbox/{session_id}/reveal", data={"part": "transcript", "csrf_token": csrf(client)})
    client.post(f"/console/inbox/{session_id}/reveal", data={"part": "slots", "csrf_token": csrf(client)})
    assert client.get("/console/inbox/audit").status_code == 403
    assert 'id="audit-link"' not in client.get("/console/inbox").text
    add_user("maint", "maintainer")
    assert sign_in(app, "maint").get("/console/inbox/audit").status_code == 403
    assert app.test_client().get("/console/inbox/audit").status_code == 302        # to the sign-in form
    add_user("boss", "supervisor")
    boss = sign_in(app, "boss")
    assert 'id="audit-link"' in boss.get("/console/inbox").text
    page = boss.get("/console/inbox/audit")
    assert page.status_code == 200
    assert page.text.count(f"handoff:{session_id}") == 2 and "显示对话记录中的完整号码" in page.text
    assert "显示已收集信息中的完整号码" in page.text and "wangfang" in page.text
    assert_masked(page.text)
    only_slots = boss.get("/console/inbox/audit?action=slots_reveal").text
    assert only_slots.count(f"handoff:{session_id}") == 1
    assert "暂无记录" in boss.get("/console/inbox/audit?actor=nobody").text
    assert boss.get("/console/inbox/audit?action=%00&actor=" + "x" * 500).status_code in (200, 400)  # odd: no 5xx


def test_tickets_show_on_the_command_line_is_logged_and_listed(db_url, monkeypatch):
    from decimal import Decimal

    from xiaoan.tickets.service import TicketDraft, TicketService

    monkeypatch.delenv("XIAOAN_TICKET_API_URL", raising=False)
    monkeypatch.setenv("SUDO_USER", "ops-zhang")
    receipt = TicketService(Settings(database_url=db_url)).create(TicketDraft(
        kind="complaint", intent="complain_general", channel="web", conversation_id="conv-audit",
        complainant_name="张三丰", phone=PHONE, complainant_address="上海市杨浦区国权路1号",
        respondent_name="某某电器商店", respondent_address="上海市杨浦区五角场1号", district="yangpu",
        facts="冰箱坏了", claim="换新", amount=Decimal("3999")), "k-audit")
    runner = CliRunner()
    shown = runner.invoke(cli, ["tickets", "show", receipt.ticket_no], catch_exceptions=False)
    assert shown.exit_code == 0 and receipt.ticket_no in shown.output
    assert runner.invoke(cli, ["tickets", "show", receipt.ticket_no, "--json"]).exit_code == 0
    assert audit_rows() == [("ops-zhang (sudo)", None, "ticket_show", f"ticket:{receipt.ticket_no}", "cli")] * 2
    assert runner.invoke(cli, ["tickets", "show", "XA-000000-0000"]).exit_code != 0
    assert len(audit_rows()) == 2                              # nothing shown, nothing logged
    listed = json.loads(runner.invoke(cli, ["audit", "list", "--json"], catch_exceptions=False).output)
    assert [(r["actor"], r["action"], r["subject"], r["source"]) for r in listed] == [
        ("ops-zhang (sudo)", "ticket_show", f"ticket:{receipt.ticket_no}", "cli")] * 2
    table = runner.invoke(cli, ["audit", "list", "--action", "ticket_show"], catch_exceptions=False).output
    assert "命令行查看工单" in table and PHONE not in table and "张三丰" not in table
    # without the audit table the ticket is not printed
    with session_scope() as db:
        db.execute(text("DROP TABLE personal_data_views"))
    refused = runner.invoke(cli, ["tickets", "show", receipt.ticket_no])
    assert refused.exit_code == 1 and "xiaoan db upgrade" in refused.output
    assert "国权路" not in refused.output and "冰箱坏了" not in refused.output


def test_record_view_refuses_what_it_does_not_know(db_url):
    with session_scope() as db:
        for bad in (dict(action="peek"), dict(source="email"), dict(actor=""), dict(subject="")):
            args = dict(actor="a", action="ticket_show", subject="ticket:x", source="cli") | bad
            with pytest.raises(ValueError):
                record_view(db, **args)


# --- against the real stack ---------------------------------------------------------------------------

import subprocess  # noqa: E402

from tests.e2e.conftest import BIN as E2E_BIN  # noqa: E402


@pytest.mark.e2e
def test_live_stack_agent_sees_a_real_conversation_masked_until_revealed(stack):
    """A citizen gives a +86 number with spaces and asks for a person; the agent's page masks it,
    another agent gets 404, the reveal shows it and `xiaoan audit list` has the row."""
    import requests

    sender = "pdata-live-0001"
    replies = stack.say(sender, "转人工")
    if not stack.tracker(sender)["paused"]:  # no agent online: the citizen chooses to keep waiting
        stack.say(sender, next(b["payload"] for m in replies for b in m.get("buttons", []) if "排队" in b["title"]))
    assert stack.tracker(sender)["paused"] is True
    stack.say(sender, "我的电话是+86 138 1234 5678")  # kept for the agent while 小安 is paused
    for name in ("liveagent", "liveother"):
        added = subprocess.run([str(E2E_BIN / "xiaoan"), "users", "add", name, "--role", "agent"],
                               env={**stack.env, "XIAOAN_NEW_USER_PASSWORD": PASSWORD}, cwd=stack.workdir,
                               capture_output=True, text=True, timeout=120)
        assert added.returncode == 0, added.stderr

    def signed_in(name: str) -> requests.Session:
        web = requests.Session()
        page = web.get(f"{stack.web_url}/console/login", timeout=30)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
        done = web.post(f"{stack.web_url}/console/login", data={"username": name, "password": PASSWORD,
                                                                 "csrf_token": token}, timeout=30)
        assert done.status_code == 200 and "/console" in done.url
        return web

    agent = signed_in("liveagent")
    queue = agent.get(f"{stack.web_url}/console/api/inbox/queue", timeout=30).json()["queue"]
    assert queue, queue
    session_id = max(entry["id"] for entry in queue)  # this test's: the stack is shared with other tests
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', agent.get(f"{stack.web_url}/console/inbox").text).group(1)
    agent.post(f"{stack.web_url}/console/inbox/{session_id}/take", data={"csrf_token": token}, timeout=30)
    page = agent.get(f"{stack.web_url}/console/inbox/{session_id}", timeout=30).text
    assert "我的电话是138****5678" in page and "138 1234 5678" not in page and PHONE not in page
    assert signed_in("liveother").get(f"{stack.web_url}/console/inbox/{session_id}", timeout=30).status_code == 404
    revealed = agent.post(f"{stack.web_url}/console/inbox/{session_id}/reveal",
                          data={"csrf_token": token, "part": "transcript"}, timeout=30)
    assert revealed.status_code == 200 and "我的电话是+86 138 1234 5678" in revealed.text
    listed = stack.cli("audit", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [(r["actor"], r["action"]) for r in json.loads(listed.stdout)
            if r["actor"].startswith("live")] == [("liveagent", "transcript_reveal")]
