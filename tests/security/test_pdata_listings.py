"""Issue 12, items 3 and 5 (rest of it): personal data in ticket listings and in free text.

- `xiaoan tickets list [--json]` masks the complainant's name, address and the numbers, names and
  addresses inside the facts and claim by default; `--reveal` prints them in clear only after one
  audit row per ticket is committed (no row, no output);
- the supervisors' ticket page (`/console/stats/tickets/<no>`) shows the complainant only after
  显示投诉人信息 (POST + CSRF), audited first (503 and nothing shown when the row cannot be written);
- the citizen's own name and address, known from the ticket or the hand-off, are masked inside
  free text (`xiaoan.privacy.mask_known`, `identity_masker`, `SessionView.text_masker`).

Real SQLite database (Flask test client, click runner)."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from xiaoan.cli import cli
from xiaoan.config import Settings
from xiaoan.db import session_scope
from xiaoan.handoff.service import HandoffService
from xiaoan.privacy import address_variants, identity_masker, mask_address, mask_known
from xiaoan.privacy_audit import TICKET_LIST_REVEAL, TICKET_PAGE_REVEAL, PersonalDataView
from xiaoan.tickets.service import TicketDraft, TicketService
from xiaoan.web.app import create_app
from xiaoan.web.accounts import create_user

NAME, PHONE, ADDRESS = "欧阳春梅", "13812345678", "上海市杨浦区国权路525号3楼"
ID_NUMBER = "31010119900101123X"
FACTS = (f"我叫{NAME}，住在杨浦区国权路525号3楼，手机{PHONE[:3]} {PHONE[3:7]} {PHONE[7:]}，"
         f"身份证{ID_NUMBER}。在某某健身办的卡，老板跑路了。")
CLAIM = f"请联系{NAME}，或寄到国权路５２５号"
#: Every spelling of the complainant's data that a masked listing must not carry.
SECRETS = (NAME, "春梅", "国权路525号", "国权路５２５号", PHONE, f"{PHONE[:3]} {PHONE[3:7]} {PHONE[7:]}", ID_NUMBER)
PASSWORD = "listing-password-1"


def file_ticket(db_url: str, key: str = "k1") -> str:
    draft = TicketDraft(kind="complaint", intent="complain_prepaid", channel="web", conversation_id=f"conv-{key}",
                        complainant_name=NAME, phone=PHONE, complainant_address=ADDRESS,
                        respondent_name="某某健身", respondent_address="上海市杨浦区五角场1号", district="yangpu",
                        facts=FACTS, claim=CLAIM, amount=Decimal("2000"))
    return TicketService(Settings(database_url=db_url)).create(draft, key).ticket_no


def audit_rows() -> list[tuple]:
    with session_scope() as db:
        return [(r.action, r.subject, r.source, r.actor_role)
                for r in db.execute(select(PersonalDataView).order_by(PersonalDataView.id)).scalars()]


def run(*args):
    return CliRunner().invoke(cli, ["tickets", *args], catch_exceptions=False)


# -- the masker for known names and addresses ----------------------------------------------------------

def test_mask_known_masks_the_citizens_own_name_and_address_in_their_spellings():
    masked = mask_known(FACTS, [NAME], [ADDRESS])
    assert masked.startswith("我叫欧***，住在杨浦区****，手机138****5678，身份证**************123X。")
    assert "某某健身" in masked and "老板跑路了" in masked  # the rest is untouched
    # full-width digits, the address without city or district, just the street and number
    assert mask_known("寄到国权路５２５号就行", [], [ADDRESS]) == "寄到****就行"
    assert mask_known("上海市杨浦区国权路525号3楼", [], [ADDRESS]) == "上海市杨浦区****"
    # the road alone is not the citizen's address (nor is a one-character name searched for)
    assert mask_known("国权路上有很多店", ["张"], [ADDRESS]) == "国权路上有很多店"
    assert mask_known(None, [NAME], [ADDRESS]) is None


def test_address_variants_and_mask_address():
    assert address_variants(ADDRESS) == ["上海市杨浦区国权路525号3楼", "杨浦区国权路525号3楼", "国权路525号3楼", "国权路525号"]
    assert mask_address("浦东新区张杨路500号") == "浦东新区****"
    assert mask_address("张杨路500号") == "****"
    assert address_variants("") == [] and address_variants(None) == []


def test_identity_masker_of_a_handoff_uses_its_slots(db_url):
    service = HandoffService(Settings(database_url=db_url), notifier_for=lambda view: None)
    queued = service.enqueue("web-known", "web", "requested", slots={"complainant_name": NAME,
                                                                     "complainant_address": ADDRESS})
    masker = service.get(queued.session_id).text_masker()
    line = masker(FACTS)
    for secret in SECRETS:
        assert secret not in line, secret
    assert identity_masker({})("我叫欧阳春梅") == "我叫欧阳春梅"  # nothing known: only numbers are masked


# -- xiaoan tickets list ---------------------------------------------------------------------------------

def test_tickets_list_masks_by_default_and_writes_no_audit_row(db_url):
    number = file_ticket(db_url)
    for args in (("list", "--json"), ("list",)):
        result = run(*args)
        assert result.exit_code == 0, result.output
        for secret in SECRETS + (ADDRESS,):
            assert secret not in result.output, (args, secret)
    item = json.loads(run("list", "--json").output)[0]
    assert item["ticket_no"] == number
    assert item["complainant_name"] == "欧***" and item["complainant_address"] == "上海市杨浦区****"
    assert item["phone_masked"] == "138****5678" and "某某健身" in item["facts"]
    assert audit_rows() == []


def test_tickets_list_reveal_prints_in_clear_after_one_audit_row_per_ticket(db_url):
    numbers = [file_ticket(db_url, "k1"), file_ticket(db_url, "k2")]
    result = run("list", "--json", "--reveal")
    assert result.exit_code == 0, result.output
    items = json.loads(result.output)
    assert [i["complainant_name"] for i in items] == [NAME, NAME]
    assert items[0]["complainant_address"] == ADDRESS and items[0]["facts"] == FACTS
    assert items[0]["phone_masked"] == "138****5678"  # the listing never carries the full phone field
    assert audit_rows() == [(TICKET_LIST_REVEAL, f"ticket:{n}", "cli", None) for n in numbers]
    assert NAME in run("list", "--reveal").output


def test_tickets_list_reveal_prints_nothing_when_the_audit_row_cannot_be_written(db_url):
    file_ticket(db_url)
    with session_scope() as db:
        db.execute(text("DROP TABLE personal_data_views"))
    result = CliRunner().invoke(cli, ["tickets", "list", "--json", "--reveal"])
    assert result.exit_code != 0
    assert NAME not in result.output and ADDRESS not in result.output
    assert "Traceback" not in result.output


# -- the supervisors' ticket page ------------------------------------------------------------------------

@pytest.fixture()
def app(db_url):
    return create_app(Settings(database_url=db_url, rasa_url="http://127.0.0.1:9",
                               web_secret_key="listing-tests-0123456789abcdefghijkl"), testing=True)


def signed_in(app, username: str, role: str):
    with session_scope() as db:
        create_user(db, username, PASSWORD, role, username)
    client = app.test_client()
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', client.get("/console/login").text).group(1)
    assert client.post("/console/login", data={"username": username, "password": PASSWORD,
                                                "csrf_token": token}).status_code == 302
    return client


def page_token(client, path: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)


def test_supervisor_ticket_page_is_masked_until_reveal_and_the_reveal_is_audited_first(app, db_url):
    number = file_ticket(db_url)
    client = signed_in(app, "zhuguan", "supervisor")
    path = f"/console/stats/tickets/{number}"
    page = client.get(path)
    assert page.status_code == 200 and "显示投诉人信息" in page.text
    for secret in SECRETS:
        assert secret not in page.text, secret
    assert audit_rows() == []

    assert client.post(f"{path}/reveal").status_code == 400  # no CSRF token: nothing shown, nothing logged
    assert audit_rows() == []

    revealed = client.post(f"{path}/reveal", data={"csrf_token": page_token(client, path)})
    assert revealed.status_code == 200
    assert NAME in revealed.text and PHONE in revealed.text and ADDRESS in revealed.text
    assert "已记入个人信息查看记录" in revealed.text
    assert revealed.headers["Cache-Control"] == "no-store"
    assert audit_rows() == [(TICKET_PAGE_REVEAL, f"ticket:{number}", "console", "supervisor")]
    # not kept: the page is masked again on the next load
    assert NAME not in client.get(path).text
    # the supervisors' audit listing names the action in Chinese
    assert "统计页显示工单的投诉人信息" in client.get("/console/inbox/audit").text


def test_ticket_page_reveal_is_for_supervisors_only_and_unknown_tickets_are_404(app, db_url):
    number = file_ticket(db_url)
    supervisor = signed_in(app, "zhuguan", "supervisor")
    token = page_token(supervisor, f"/console/stats/tickets/{number}")
    agent = signed_in(app, "zuoxi", "agent")
    agent_token = re.search(r'<meta name="csrf-token" content="([^"]+)"', agent.get("/console/inbox").text).group(1)
    refused = agent.post(f"/console/stats/tickets/{number}/reveal", data={"csrf_token": agent_token})
    assert refused.status_code == 403 and NAME not in refused.text
    missing = supervisor.post("/console/stats/tickets/XA-261126-9999/reveal", data={"csrf_token": token})
    assert missing.status_code == 404
    assert audit_rows() == []


def test_ticket_page_reveal_shows_nothing_when_the_audit_row_cannot_be_written(app, db_url, monkeypatch):
    number = file_ticket(db_url)
    client = signed_in(app, "zhuguan", "supervisor")
    path = f"/console/stats/tickets/{number}"
    token = page_token(client, path)
    import xiaoan.privacy_audit as audit

    def broken(*args, **kwargs):
        raise RuntimeError("audit table unavailable")

    monkeypatch.setattr(audit, "record_view", broken)
    refused = client.post(f"{path}/reveal", data={"csrf_token": token})
    assert refused.status_code == 503
    assert "未显示投诉人信息" in refused.text
    for secret in SECRETS:
        assert secret not in refused.text
