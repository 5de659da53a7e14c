"""The weekly report 《投诉举报动态》 (xiaoan.supervision.report) without a browser: weeks, figures and
week-over-week changes on the known data set (tests/supervision_seed.py), the HTML, the CLI
(--no-pdf) and the console's downloads and refusals. The PDF itself: tests/browser/test_weekly_report_pdf.py."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from click.testing import CliRunner

from tests.supervision_seed import SECRET_NAME, SECRET_PHONE, SH, UNANSWERED_PHONE, seed
from xiaoan.cli import cli
from xiaoan.config import Settings
from xiaoan.db import session_scope
from xiaoan.supervision import report as report_module
from xiaoan.web.app import create_app
from xiaoan.web.accounts import create_user

MONDAY = dt.date(2026, 11, 30)
NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=SH)
PASSWORD = "correct-horse-42"


@pytest.mark.parametrize("text, monday", [("2026-W49", MONDAY), ("2026w49", MONDAY), (" 2026-W01 ", dt.date(2025, 12, 29)),
                                          ("2026-W53", dt.date(2026, 12, 28))])
def test_parse_week(text, monday):
    assert report_module.parse_week(text) == monday
    assert report_module.week_code(monday) == text.strip().upper().replace("W", "-W").replace("--", "-")


@pytest.mark.parametrize("text, message", [("2026-12-01", "周次格式"), ("", "周次格式"), ("2025-W53", "没有第 53 周")])
def test_bad_weeks_are_refused_in_chinese(text, message):
    with pytest.raises(report_module.BadWeek, match=message):
        report_module.parse_week(text)


def test_last_full_week_is_the_week_before_this_one():
    assert report_module.last_full_week(NOW) == MONDAY                                    # Monday → last week
    assert report_module.last_full_week(dt.datetime(2026, 12, 6, 23, 0, tzinfo=SH)) == dt.date(2026, 11, 23)
    assert report_module.recent_weeks(3, NOW) == [MONDAY, dt.date(2026, 11, 23), dt.date(2026, 11, 16)]


def test_change_texts():
    assert report_module.Change("x", 5, 2).change_text == "+3（+150.0%）"
    assert report_module.Change("x", 1, 0).change_text == "+1（上周为 0）"
    assert report_module.Change("x", 2, 2).change_text == "持平"
    assert report_module.Change("x", 0.75, 0.5, rate=True).change_text == "+25.0 个百分点"
    assert report_module.Change("x", None, 0.5, rate=True).change_text == "—"
    assert report_module.Change("x", 5, 2).tone == "worse"
    assert report_module.Change("x", 0.75, 0.5, rate=True, higher_is_better=True).tone == "better"


def test_weekly_figures_and_week_over_week_changes(db_url):
    seed(db_url, MONDAY)
    with session_scope(db_url) as s:
        data = report_module.build_weekly(s, MONDAY, now=NOW)
    figures = {c.label: c for c in data.key_figures}
    assert (figures["工单总数"].current, figures["工单总数"].previous) == (5, 2)
    assert (figures["其中投诉"].current, figures["其中举报"].current) == (4, 1)
    assert figures["预付卡纠纷"].current == 3 and figures["提到“跑路/关门”等迹象"].current == 2
    assert figures["转人工率"].current_text == "16.7%" and figures["自助办结率"].current_text == "41.7%"
    assert figures["按时办结率"].current_text == "100.0%" and figures["按时办结率"].previous_text == "50.0%"
    assert figures["满意率"].change_text == "+25.0 个百分点"
    kinds = {c.label: (c.current, c.previous) for c in data.by_kind}
    assert kinds == {"退款纠纷": (1, 1), "预付卡纠纷": (3, 0), "其他消费投诉": (0, 1), "举报": (1, 0)}
    districts = {c.label: (c.current, c.previous) for c in data.by_district}
    assert districts == {"浦东新区": (3, 0), "徐汇区": (1, 1), "静安区": (1, 0), "杨浦区": (0, 1)}
    assert [a.merchant for a in data.alerts] == ["乐活健身"]
    assert [c.merchant for c in data.prepaid_cases] == ["乐活健身房", "上海乐活健身有限公司", "美美美容院"]
    assert [(q.text, q.count) for q in data.unanswered][0] == ("健身卡能转让给别人吗", 3)
    assert data.title == "投诉举报动态（2026年第49周）" and data.period == "2026年11月30日至12月6日"


def test_a_week_that_has_not_started_is_refused(db_url):
    with session_scope(db_url) as s, pytest.raises(report_module.BadWeek, match="还没有开始"):
        report_module.build_weekly(s, dt.date(2026, 12, 14), now=NOW)


def test_html_is_self_contained_and_free_of_personal_data(db_url):
    seed(db_url, MONDAY)
    with session_scope(db_url) as s:
        html = report_module.render_html(report_module.build_weekly(s, MONDAY, now=NOW))
    assert "<script src" not in html and "<link" not in html                    # nothing fetched
    assert "echarts" in html and 'id="rp-weekly"' in html and "xiaoanChartsReady" in html
    assert html.count("</script>") == 4                                          # 2 data blocks + 2 scripts
    for secret in (SECRET_NAME, SECRET_PHONE, UNANSWERED_PHONE, "天山路"):
        assert secret not in html
    assert "138****5678" in html


def test_cli_without_pdf_and_with_a_bad_week(db_url, tmp_path):
    seed(db_url, MONDAY)
    runner = CliRunner()
    result = runner.invoke(cli, ["report", "weekly", "--week", "2026-W49", "--out", str(tmp_path), "--no-pdf"])
    assert result.exit_code == 0, result.output
    assert "投诉举报动态（2026年第49周）" in result.output and "工单 5 件" in result.output
    assert (tmp_path / "report.html").exists() and not (tmp_path / "report.pdf").exists()
    bad = runner.invoke(cli, ["report", "weekly", "--week", "49", "--out", str(tmp_path / "x")])
    assert bad.exit_code != 0 and "周次格式" in bad.output and "Traceback" not in bad.output
    assert not (tmp_path / "x").exists()


def test_cli_without_chromium_keeps_the_html_and_says_why(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("XIAOAN_CHROMIUM", str(tmp_path / "no-chromium"))
    result = CliRunner().invoke(cli, ["report", "weekly", "--out", str(tmp_path / "out")])
    assert result.exit_code != 0 and "找不到 Chromium" in result.output
    assert (tmp_path / "out" / "report.html").exists()
    assert list((tmp_path / "out").iterdir()) == [tmp_path / "out" / "report.html"]   # no half-written PDF


@pytest.fixture()
def client_for(db_url):
    with session_scope(db_url) as db:
        create_user(db, "sue", PASSWORD, "supervisor", "督导员")
        create_user(db, "carl", PASSWORD, "agent", "坐席丙")
    app = create_app(Settings(database_url=db_url, rasa_url="http://127.0.0.1:9",
                              web_secret_key="report-tests-0123456789abcdefXYZ"), testing=True)

    def signed_in(username: str):
        client = app.test_client()
        token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/console/login").text).group(1)
        assert client.post("/console/login", data={"username": username, "password": PASSWORD,
                                                   "csrf_token": token}).status_code == 302
        return client

    return signed_in


def test_console_report_page_and_html_download(db_url, client_for):
    monday = report_module.last_full_week()
    seed(db_url, monday)
    client = client_for("sue")
    page = client.get("/console/stats/report")
    assert page.status_code == 200 and "周报《投诉举报动态》" in page.text
    assert f"week={report_module.week_code(monday)}" in page.text
    assert 'href="/console/stats/report"' in client.get("/console/stats").text
    response = client.get("/console/stats/report/weekly.html")                  # default: last week
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert f'filename="report-{report_module.week_code(monday)}.html"' in response.headers["Content-Disposition"]
    assert "乐活健身" in response.text and SECRET_PHONE not in response.text


@pytest.mark.parametrize("query, message", [("week=abc", "周次格式"), ("week=2099-W01", "还没有开始")])
def test_console_bad_week_is_a_clear_400(client_for, query, message):
    response = client_for("sue").get(f"/console/stats/report/weekly.pdf?{query}")
    assert response.status_code == 400 and message in response.text


def test_console_pdf_without_chromium_is_explained(client_for, monkeypatch, tmp_path):
    monkeypatch.setenv("XIAOAN_CHROMIUM", str(tmp_path / "no-chromium"))
    response = client_for("sue").get("/console/stats/report/weekly.pdf")
    assert response.status_code == 503
    assert "暂时无法生成 PDF" in response.text and "下载 HTML 版" in response.text


def test_agents_cannot_download_reports(client_for):
    client = client_for("carl")
    assert client.get("/console/stats/report").status_code == 403
    assert client.get("/console/stats/report/weekly.html").status_code == 403
    assert client_for("sue").get("/console/stats/report/weekly.doc").status_code == 404
