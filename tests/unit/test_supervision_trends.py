"""Supervisors' trends (xiaoan.supervision.trends) per day and per ISO week on the known data set
of tests/supervision_seed.py."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.supervision_seed import SH, seed
from xiaoan.db import session_scope
from xiaoan.supervision import trends as trends_module

MONDAY = dt.date(2026, 11, 30)                                  # ISO week 2026-W49
NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=SH)                # the Monday after


@pytest.fixture()
def seeded(db_url):
    return seed(db_url, MONDAY)


def series(items, label):
    return next(s.values for s in items if s.label == label)


def test_weekly_buckets_count_kinds_districts_and_signals(db_url, seeded):
    with session_scope(db_url) as s:
        t = trends_module.trends(s, "week", periods=3, now=NOW, last_day=dt.date(2026, 12, 6))
    assert t.starts == [dt.date(2026, 11, 16), dt.date(2026, 11, 23), MONDAY]
    assert t.buckets[-1] == "第49周\n11-30起"
    assert t.totals == [0, 2, 5]
    assert series(t.by_kind, "预付卡纠纷") == [0, 0, 3]
    assert series(t.by_kind, "退款纠纷") == [0, 1, 1]
    assert series(t.by_kind, "举报") == [0, 0, 1]
    assert [s.label for s in t.by_kind][:4] == ["退款纠纷", "预付卡纠纷", "其他消费投诉", "举报"]
    assert series(t.by_district, "浦东新区") == [0, 0, 3]
    assert series(t.by_district, "徐汇区") == [0, 1, 1]
    assert t.by_district[0].label == "浦东新区"                 # busiest first
    assert series(t.signals, trends_module.PREPAID_LABEL) == [0, 0, 3]
    assert series(t.signals, trends_module.VANISHING_LABEL) == [0, 0, 2]   # 跑路, 关门
    assert sum(sum(s.values) for s in t.by_agency) == 7


def test_weekly_rates(db_url, seeded):
    with session_scope(db_url) as s:
        t = trends_module.trends(s, "week", periods=2, now=NOW, last_day=dt.date(2026, 12, 6))
    rates = {s.key: s.values for s in t.rates}
    assert rates["handoff"][1] == pytest.approx(2 / 12)
    assert rates["self_service"][1] == pytest.approx(5 / 12)
    assert rates["on_time"] == [pytest.approx(0.5), pytest.approx(1.0)]
    assert rates["satisfaction"] == [pytest.approx(0.5), pytest.approx(0.75)]
    assert t.ratings_total == 6


def test_daily_buckets_are_shanghai_days_and_empty_days_have_no_rate(db_url, seeded):
    with session_scope(db_url) as s:
        t = trends_module.trends(s, "day", periods=7, now=NOW, last_day=dt.date(2026, 12, 6))
    assert t.buckets == ["11-30", "12-01", "12-02", "12-03", "12-04", "12-05", "12-06"]
    assert t.totals == [0, 2, 2, 1, 0, 0, 0]
    rates = {s.key: s.values for s in t.rates}
    assert rates["handoff"][0] is None and rates["satisfaction"][0] is None
    chart = trends_module.chart_json(t)
    assert chart["buckets"] == t.buckets
    assert [s["name"] for s in chart["rates"]] == ["自助办结率", "转人工率", "按时办结率", "满意率"]
    assert chart["rates"][3]["data"][2] == 75.0                 # percent, for the chart


def test_no_satisfaction_line_without_ratings(db_url):
    with session_scope(db_url) as s:
        t = trends_module.trends(s, "day", periods=3, now=NOW)
    assert t.ratings_total == 0 and t.totals == [0, 0, 0]
    assert [s["name"] for s in trends_module.chart_json(t)["rates"]] == ["自助办结率", "转人工率", "按时办结率"]


def test_bad_granularity_is_refused_in_chinese(db_url):
    with session_scope(db_url) as s, pytest.raises(trends_module.TrendsError, match="趋势粒度"):
        trends_module.trends(s, "month")


def test_days_split_at_shanghai_midnight(db_url):
    from tests.supervision_seed import _ticket

    _ticket(db_url, dt.datetime(2026, 11, 30, 23, 59, 59, tzinfo=SH), "late-night")
    _ticket(db_url, dt.datetime(2026, 12, 1, 0, 0, 0, tzinfo=SH), "midnight")      # 2026-11-30 16:00 UTC
    _ticket(db_url, dt.datetime(2026, 11, 29, 23, 0, 0, tzinfo=SH), "before")       # outside the buckets
    with session_scope(db_url) as s:
        t = trends_module.trends(s, "day", periods=2, now=NOW, last_day=dt.date(2026, 12, 1))
    assert t.buckets == ["11-30", "12-01"] and t.totals == [1, 1]
