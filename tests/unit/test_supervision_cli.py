"""`xiaoan alerts ...`: list --json [--since], the table, stats, check-rules and clear errors."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest
import yaml
from click.testing import CliRunner

from xiaoan.cli import cli
from xiaoan.config import Settings
from xiaoan.db import utcnow
from xiaoan.supervision.alerts import RULES_PATH
from xiaoan.tickets.routing import Router
from xiaoan.tickets.service import TicketDraft, TicketService

NAME, PHONE = "赵六", "13612345678"
ALERT_FIELDS = ["merchant", "display_name", "districts", "count", "total_amount", "first_at", "last_at",
                "ticket_nos", "rules", "severity", "signals"]


def file_ticket(db_url: str, days_ago: float, **overrides) -> str:
    fields = dict(
        kind="complaint", intent="complain_prepaid", channel="wechat", conversation_id="conv-cli",
        complainant_name=NAME, phone=PHONE, complainant_address="上海市闵行区七宝镇1号",
        respondent_name="美丽人生美容院", respondent_address="上海市闵行区七宝镇2号", district="minhang",
        facts="办了美容卡，店铺突然关门", claim="退还余额", amount=Decimal("3000"),
    )
    fields.update(overrides)
    at = utcnow() - dt.timedelta(days=days_ago)
    service = TicketService(Settings(database_url=db_url), clock=lambda: at,
                            router=Router(resolve_district=lambda text: None))
    return service.create(TicketDraft(**fields), uuid.uuid4().hex).ticket_no


def run(*args: str):
    return CliRunner().invoke(cli, ["alerts", *args], catch_exceptions=False)


@pytest.fixture()
def tickets(db_url, monkeypatch):
    monkeypatch.delenv("XIAOAN_TICKET_API_URL", raising=False)
    old = [file_ticket(db_url, d, respondent_name="阳光培训学校", intent="complain_general", facts="老师不来上课",
                       amount=Decimal("500")) for d in (40, 39, 38)]
    recent = [file_ticket(db_url, 2), file_ticket(db_url, 1, respondent_name="上海美丽人生 美容院", amount=None)]
    return old, recent


def test_list_json_prints_the_alerts_without_personal_data(tickets):
    old, recent = tickets
    result = run("list", "--json")
    assert result.exit_code == 0, result.output
    (alert,) = json.loads(result.output)
    assert list(alert) == ALERT_FIELDS
    assert alert["merchant"] == "美丽人生美容" and alert["display_name"] == "美丽人生美容院"
    assert alert["ticket_nos"] == recent and alert["count"] == 2 and alert["total_amount"] == 3000
    assert alert["severity"] == "high" and alert["rules"] == ["prepaid-or-vanishing-7d"]
    assert alert["signals"] == ["complain_prepaid", "关门"] and alert["districts"] == ["minhang"]
    assert alert["last_at"].endswith("+08:00")
    for secret in (NAME, PHONE, "5678", "七宝镇1号"):
        assert secret not in result.output


def test_list_since_examines_older_windows(tickets):
    old, recent = tickets
    since = (utcnow() - dt.timedelta(days=45)).date().isoformat()
    items = json.loads(run("list", "--json", "--since", since).output)
    assert [(a["merchant"], a["severity"], a["ticket_nos"]) for a in items] == [
        ("美丽人生美容", "high", recent), ("阳光培训", "medium", old)]


def test_list_table(tickets):
    result = run("list")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split() == ["风险", "商家", "件数", "金额(元)", "时间", "规则", "工单"]
    assert "高" in lines[2] and "美丽人生美容院" in lines[2] and tickets[1][0] in lines[2]


def test_list_without_alerts(db_url):
    assert run("list").output.strip() == "目前没有需要预警的商家。"
    assert json.loads(run("list", "--json").output) == []


def test_bad_since_is_refused_in_chinese(db_url):
    result = CliRunner().invoke(cli, ["alerts", "list", "--since", "上周"])
    assert result.exit_code == 2 and "不是 ISO-8601 日期或时间" in result.output


def test_a_broken_rules_file_is_reported_clearly(db_url, tmp_path):
    data = yaml.safe_load(RULES_PATH.read_text(encoding="utf-8"))
    data["rules"][0]["window_days"] = 0
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = CliRunner().invoke(cli, ["alerts", "list", "--rules", str(path)])
    assert result.exit_code == 1
    assert "预警规则文件有误" in result.output and "rules[0].window_days" in result.output
    check = CliRunner().invoke(cli, ["alerts", "check-rules", "--file", str(path)])
    assert check.exit_code == 1 and "rules[0].window_days" in check.output


def test_check_rules_accepts_the_packaged_file():
    result = run("check-rules")
    assert result.exit_code == 0 and result.output.strip() == "规则有效：2 条（启用 2 条）。"


def test_a_missing_schema_names_the_upgrade_command(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    result = CliRunner().invoke(cli, ["alerts", "list", "--json"])
    assert result.exit_code == 1 and "xiaoan db upgrade" in result.output


def test_stats_json_and_text(tickets):
    result = run("stats", "--window", "30d", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["window"]["key"] == "30d" and data["tickets_total"] == 2
    assert {r["label"]: r["count"] for r in data["by_intent"]}["预付卡纠纷"] == 2
    text = run("stats").output
    assert "近7天" in text and "工单共 2 件" in text and "预付卡纠纷" in text
    for secret in (NAME, PHONE):
        assert secret not in result.output + text
    bad = CliRunner().invoke(cli, ["alerts", "stats", "--window", "1y"])
    assert bad.exit_code == 2
