"""`xiaoan tickets ...` (docs/interfaces.md §6): JSON fields exactly, masking, errors, outbox commands."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from click.testing import CliRunner

from xiaoan.cli import cli
from xiaoan.config import Settings
from xiaoan.db import utcnow
from tests.fakes.ticket_platform import FakePlatform, unused_url
from xiaoan.tickets.routing import RULES_PATH
from xiaoan.tickets.service import TicketDraft, TicketService
from xiaoan.tickets.views import CONTRACT_FIELDS

PHONE = "13812345678"
NAME = "张三丰"


def draft(**overrides) -> TicketDraft:
    fields = dict(
        kind="complaint", intent="complain_general", channel="web", conversation_id="conv-cli",
        complainant_name=NAME, phone=PHONE, complainant_address="上海市杨浦区国权路1号",
        respondent_name="某某电器商店", respondent_address="上海市杨浦区五角场1号", district="yangpu",
        facts="冰箱用了一周就坏了，商家不管", claim="更换新冰箱", amount=Decimal("3999"),
    )
    fields.update(overrides)
    return TicketDraft(**fields)


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(cli, ["tickets", *args], env=env, catch_exceptions=False)


@pytest.fixture()
def tickets(db_url, monkeypatch):
    """Two tickets: an old overdue complaint and a fresh anonymous report."""
    monkeypatch.delenv("XIAOAN_TICKET_API_URL", raising=False)
    old = lambda: utcnow() - dt.timedelta(days=40)  # noqa: E731
    first = TicketService(Settings(database_url=db_url), clock=old).create(draft(), "k1")
    second = TicketService(Settings(database_url=db_url)).create(
        draft(kind="report", intent="report_violation", anonymous=True, complainant_name=None, phone=None,
              complainant_address=None, claim=None, amount=None, district=None, facts="无证经营"), "k2")
    return first.ticket_no, second.ticket_no


def test_list_json_has_exactly_the_contract_fields(tickets):
    result = run("list", "--json")
    assert result.exit_code == 0, result.output
    items = json.loads(result.output)
    assert [i["ticket_no"] for i in items] == list(tickets)
    for item in items:
        assert list(item) == list(CONTRACT_FIELDS)
    complaint, report = items
    assert complaint["phone_masked"] == "138****5678" and complaint["complainant_name"] == "张**"  # masked by default
    assert complaint["complainant_address"] == "上海市杨浦区****"
    assert complaint["amount"] == 3999 and complaint["district"] == "yangpu" and complaint["agency"] == "dist-yangpu"
    assert dt.date.fromisoformat(complaint["contact_by"]) < dt.date.fromisoformat(complaint["resolve_by"])
    assert dt.datetime.fromisoformat(complaint["created_at"]).tzinfo is not None
    assert report["complainant_name"] is None and report["phone_masked"] is None
    assert report["amount"] is None and report["district"] is None and report["agency"] == "city-samr"
    assert report["kind"] == "report" and report["status"] == "created"
    assert PHONE not in result.output


def test_list_since(tickets):
    since = (utcnow() - dt.timedelta(days=1)).isoformat()
    items = json.loads(run("list", "--json", "--since", since).output)
    assert [i["ticket_no"] for i in items] == [tickets[1]]
    day = (utcnow() - dt.timedelta(days=41)).date().isoformat()
    assert len(json.loads(run("list", "--json", "--since", day).output)) == 2
    z = (utcnow() - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(json.loads(run("list", "--json", "--since", z).output)) == 1


def test_list_since_rejects_non_iso(tickets):
    result = run("list", "--json", "--since", "上周")
    assert result.exit_code == 2
    assert "不是 ISO-8601" in result.output


def test_list_table_masks_names_and_flags_overdue(tickets):
    result = run("list")
    assert result.exit_code == 0
    assert "张**" in result.output and "138****5678" in result.output and "匿名" in result.output
    assert NAME not in result.output and PHONE not in result.output
    assert "已超期" in result.output and "杨浦区市场监督管理局" in result.output
    assert "已超期 1 件" in result.output


def test_show_json_is_the_contract_fields_plus_history(tickets):
    result = run("show", tickets[0].lower().replace("-", ""), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert list(data) == list(CONTRACT_FIELDS) + ["history"]
    assert data["ticket_no"] == tickets[0]
    assert [list(h) for h in data["history"]] == [["status", "at", "by", "note"]]
    assert data["history"][0]["status"] == "created" and data["history"][0]["by"] == "xiaoan/web"


def test_show_table(tickets):
    result = run("show", tickets[0])
    assert result.exit_code == 0
    assert "已超期" in result.output and "状态记录" in result.output and "张**" in result.output
    assert PHONE not in result.output and NAME not in result.output


def test_show_unknown_ticket_fails_clearly(tickets):
    result = run("show", "XA-990101-0001", "--json")
    assert result.exit_code == 1
    assert "找不到工单：XA-990101-0001" in result.output


def test_set_status_is_recorded(tickets):
    result = run("set-status", tickets[0], "answered", "--by", "王科员", "--note", "已答复消费者", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["status"] == "answered"
    assert data["history"][-1]["by"] == "王科员" and data["history"][-1]["note"] == "已答复消费者"
    assert "已超期" not in run("show", tickets[0]).output        # answered: deadline met
    assert run("set-status", tickets[0], "finished", "--by", "x").exit_code == 2
    assert run("set-status", tickets[0], "closed").exit_code == 2            # --by is required
    missing = run("set-status", "XA-990101-0001", "closed", "--by", "x")
    assert missing.exit_code == 1 and "找不到工单" in missing.output


def test_uninitialised_database_is_explained(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    result = run("list", "--json")
    assert result.exit_code == 1
    assert "xiaoan db upgrade" in result.output


def test_outbox_and_replay(db_url, monkeypatch):
    with FakePlatform() as fake:
        fake.fail_next(400)
        settings = Settings(database_url=db_url, ticket_api_url=fake.url)
        rejected = TicketService(settings).create(draft(), "k1")
        down = TicketService(Settings(database_url=db_url, ticket_api_url=unused_url())).create(draft(), "k2")
        monkeypatch.setenv("XIAOAN_TICKET_API_URL", fake.url)

        rows = json.loads(run("outbox", "--json").output)
        assert {(r["ticket_no"], r["state"]) for r in rows} == {(rejected.ticket_no, "failed"), (down.ticket_no, "pending")}
        failed = next(r for r in rows if r["state"] == "failed")
        assert failed["last_status_code"] == 400 and failed["attempts"] == 1 and failed["next_attempt_at"] is None
        assert "connection error" in next(r for r in rows if r["state"] == "pending")["last_error"]
        assert "failed" in run("outbox").output

        # replay sends pending rows now, not the rejected one
        result = run("replay", "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.output) == {"delivered": [down.ticket_no], "retrying": [], "failed": []}
        assert [r["ticket_no"] for r in json.loads(run("outbox", "--json").output)] == [rejected.ticket_no]

        fake.fail_next(422)
        result = run("replay", "--all-failed")
        assert result.exit_code == 1 and "被拒收 1 件" in result.output

        result = run("replay", "--all-failed", rejected.ticket_no.lower())
        assert result.exit_code == 0 and "已送达 1 件" in result.output
        assert json.loads(run("outbox", "--json").output) == []
        assert len(json.loads(run("outbox", "--json", "--all").output)) == 2
        assert len(fake.orders) == 2


def test_replay_without_platform_url_is_explained(db_url, monkeypatch):
    monkeypatch.delenv("XIAOAN_TICKET_API_URL", raising=False)
    result = run("replay")
    assert result.exit_code == 1 and "XIAOAN_TICKET_API_URL" in result.output
    assert json.loads(run("outbox", "--json").output) == []


def test_check_rules(tmp_path):
    result = run("check-rules")
    assert result.exit_code == 0 and "规则有效" in result.output
    bad = tmp_path / "rules.yml"
    bad.write_text(RULES_PATH.read_text(encoding="utf-8").replace("agency: city-ip", "agency: city-ipo"), encoding="utf-8")
    result = run("check-rules", "--file", str(bad))
    assert result.exit_code == 1
    assert "路由规则文件有误" in result.output and "city-ipo" in result.output
