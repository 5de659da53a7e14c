"""/console/stats trend charts in a real Chromium, from a seeded database (tests/supervision_seed.py),
with a screenshot; and the weekly report's HTML download from the console."""

from __future__ import annotations

import pytest

from tests.browser.conftest import CHROMIUM_ARGS
from tests.supervision_seed import SECRET_NAME, SECRET_PHONE, seed
from xiaoan.db import session_scope
from xiaoan.localtime import shanghai_date, utcnow
from xiaoan.supervision.report import last_full_week, week_code
from xiaoan.web.accounts import create_user

pytestmark = pytest.mark.browser
PASSWORD = "supervisor-pass-1"


def chart_series(page, name: str) -> dict[str, list]:
    """The series ECharts actually holds for the chart `name` (label -> values)."""
    return page.evaluate(
        """(name) => {
             const node = document.querySelector(`.sv-chart[data-chart="${name}"]`);
             const option = echarts.getInstanceByDom(node).getOption();
             return Object.fromEntries(option.series.map(s => [s.name, s.data]));
           }""", name)


@pytest.fixture()
def desk(playwright, chromium_executable):
    browser = playwright.chromium.launch(executable_path=chromium_executable, headless=True, args=CHROMIUM_ARGS)
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1280, "height": 900},
                                  accept_downloads=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda msg: page.console_errors.append(msg.text) if msg.type == "error" else None)
    yield page
    context.close()
    browser.close()


def test_stats_page_draws_daily_and_weekly_charts_from_the_database(desk, live_server, db_url, artifacts):
    from playwright.sync_api import expect

    monday = last_full_week()
    seed(db_url, monday)
    with session_scope(db_url) as db:
        create_user(db, "sue", PASSWORD, "supervisor", "督导员")
    page = desk
    page.goto(live_server.url + "/console/stats")
    page.locator("#username").fill("sue")
    page.locator("#password").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(live_server.url + "/console/stats")

    charts = page.locator(".sv-chart[data-rendered='1']")
    expect(charts).to_have_count(5)
    expect(page.locator(".sv-chart canvas")).to_have_count(5)
    kinds = chart_series(page, "by_kind")
    assert list(kinds)[:4] == ["退款纠纷", "预付卡纠纷", "其他消费投诉", "举报"]
    assert sum(kinds["预付卡纠纷"]) == 3 and sum(kinds["举报"]) == 1
    days = page.evaluate("JSON.parse(document.getElementById('sv-trend-data').textContent).buckets")
    assert len(days) == 30 and days[-1] == shanghai_date(utcnow()).strftime("%m-%d")
    signals = chart_series(page, "signals")
    assert sum(signals["预付卡纠纷"]) == 3 and sum(signals["“跑路/关门”迹象"]) == 2
    districts = chart_series(page, "by_district")
    assert sum(districts["浦东新区"]) == 3
    rates = chart_series(page, "rates")
    assert list(rates) == ["自助办结率", "转人工率", "按时办结率", "满意率"]
    assert 75.0 in rates["满意率"] and 50.0 in rates["满意率"]
    # the canvas really has ink: some pixels are neither transparent nor white
    inked = page.evaluate("""() => [...document.querySelectorAll('.sv-chart canvas')].map(c => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 0; i < d.length; i += 4) { if (d[i + 3] > 0 && (d[i] < 200 || d[i + 2] < 200)) n++; }
        return n; })""")
    assert all(n > 500 for n in inked), inked
    page.screenshot(path=str(artifacts / "stats-charts-daily.png"), full_page=True)
    page.locator("section[aria-labelledby='sv-trends-title']").screenshot(path=str(artifacts / "stats-trends.png"))

    page.get_by_role("link", name="按周（近12周）").click()
    page.wait_for_url("**trend=week")
    expect(page.locator(".sv-chart[data-rendered='1']")).to_have_count(5)
    weekly = chart_series(page, "by_kind")
    assert weekly["预付卡纠纷"][-2] == 3 or weekly["预付卡纠纷"][-1] == 3   # the seeded week: last or this
    assert page.evaluate("JSON.parse(document.getElementById('sv-trend-data').textContent).buckets.length") == 12
    page.screenshot(path=str(artifacts / "stats-charts-weekly.png"), full_page=True)

    # the weekly report, downloaded as HTML from the console
    page.get_by_role("link", name="周报《投诉举报动态》").click()
    with page.expect_download() as info:
        page.get_by_role("button", name="下载 HTML").click()
    download = info.value
    assert download.suggested_filename == f"report-{week_code(monday)}.html"
    html = open(download.path(), encoding="utf-8").read()
    assert "投诉举报动态" in html and "乐活健身" in html
    assert SECRET_NAME not in html and SECRET_PHONE not in html
    assert page.console_errors == []
