"""Dates relative to today."""

from __future__ import annotations

import datetime

import pytest

from xiaoan.understanding.dates import find_dates, parse_date

TODAY = datetime.date(2026, 3, 18)  # a Wednesday
D = datetime.date


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("上个月", D(2026, 2, 1)),
        ("上月", D(2026, 2, 1)),
        ("上上个月", D(2026, 1, 1)),
        ("这个月", D(2026, 3, 1)),
        ("去年12月", D(2025, 12, 1)),
        ("去年十二月份", D(2025, 12, 1)),
        ("今年3月5日", D(2026, 3, 5)),
        ("前年8月", D(2024, 8, 1)),
        ("3号", D(2026, 3, 3)),
        ("3日", D(2026, 3, 3)),
        ("25号", D(2026, 2, 25)),  # in the future this month: last month's
        ("三十一号", D(2026, 1, 31)),  # no 31 February: the latest month that has one
        ("2024年5月1日", D(2024, 5, 1)),
        ("二〇二四年五月一日", D(2024, 5, 1)),
        ("2024-05-01", D(2024, 5, 1)),
        ("2024/5/1", D(2024, 5, 1)),
        ("2024.05.01", D(2024, 5, 1)),
        ("5月1号", D(2025, 5, 1)),  # not yet this year: last year's
        ("3月1号", D(2026, 3, 1)),
        ("十二月二十八号", D(2025, 12, 28)),
        ("昨天", D(2026, 3, 17)),
        ("前天", D(2026, 3, 16)),
        ("大前天", D(2026, 3, 15)),
        ("今天", D(2026, 3, 18)),
        ("上周三", D(2026, 3, 11)),
        ("上个星期五", D(2026, 3, 13)),
        ("上礼拜天", D(2026, 3, 15)),
        ("这周一", D(2026, 3, 16)),
        ("周五", D(2026, 3, 13)),  # said on a Wednesday: last week's
        ("半个月前", D(2026, 3, 3)),
        ("两天前", D(2026, 3, 16)),
        ("3天前", D(2026, 3, 15)),
        ("一周前", D(2026, 3, 11)),
        ("两个月前", D(2026, 1, 18)),
        ("半年前", D(2025, 9, 18)),
        ("大概是上个月吧", D(2026, 2, 1)),
        ("２０２４年５月１日", D(2024, 5, 1)),
    ],
)
def test_parse_date(text, expected):
    assert parse_date(text, TODAY) == expected


@pytest.mark.parametrize(
    "text",
    ["", None, "不记得了", "漕溪北路18号", "3号楼", "地铁1号线", "2月30日", "13月", "周", "2000元",
     "好久以前", "88号"],
)
def test_parse_date_none(text):
    assert parse_date(text, TODAY) is None


def test_find_dates_in_a_letter_in_order():
    text = "去年12月在漕溪北路18号的健身房办了卡，上周三去的时候已经关门了，3号打电话也没人接"
    assert find_dates(text, TODAY) == [D(2025, 12, 1), D(2026, 3, 11), D(2026, 3, 3)]


def test_month_arithmetic_clamps_the_day():
    assert parse_date("一个月前", D(2026, 3, 31)) == D(2026, 2, 28)
