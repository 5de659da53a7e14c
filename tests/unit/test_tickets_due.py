"""Working-day due dates on the Chinese holiday calendar (chinesecalendar), and due flags."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from xiaoan.tickets import due
from xiaoan.tickets.due import add_working_days, due_flag, is_workday, shanghai_date

D = dt.date


@pytest.fixture(autouse=True)
def _fresh_warnings():
    due.reset_warnings()
    yield
    due.reset_warnings()


@pytest.mark.parametrize("start, days, expected", [
    # National Day Golden Week 2026: 10-01..10-07 off, Saturday 10-10 is a working day.
    (D(2026, 9, 30), 1, D(2026, 10, 8)),
    (D(2026, 9, 30), 5, D(2026, 10, 13)),    # 8, 9, 10 (Sat, 调休), 12, 13
    (D(2026, 9, 30), 15, D(2026, 10, 27)),
    (D(2026, 10, 3), 1, D(2026, 10, 8)),     # filed on a holiday
    # Mid-Autumn 2026: 09-25..09-27 off
    (D(2026, 9, 24), 1, D(2026, 9, 28)),
    # Spring Festival 2026: 02-15..02-23 off, Saturdays 02-14 and 02-28 are working days
    (D(2026, 2, 13), 1, D(2026, 2, 14)),
    (D(2026, 2, 13), 5, D(2026, 2, 27)),     # 14 (Sat), 24, 25, 26, 27
    (D(2026, 2, 14), 1, D(2026, 2, 24)),
    (D(2026, 2, 27), 1, D(2026, 2, 28)),     # Saturday working day
    # an ordinary week
    (D(2026, 11, 26), 1, D(2026, 11, 27)),
    (D(2026, 11, 27), 1, D(2026, 11, 30)),   # Friday -> Monday
    (D(2026, 11, 26), 0, D(2026, 11, 26)),
])
def test_add_working_days_follows_the_holiday_calendar(start, days, expected):
    assert add_working_days(start, days) == expected


def test_holidays_and_adjusted_weekends_are_classified():
    assert not is_workday(D(2026, 10, 5))      # Monday in Golden Week
    assert is_workday(D(2026, 10, 10))         # Saturday made a working day
    assert not is_workday(D(2026, 2, 17))      # 春节
    assert is_workday(D(2026, 2, 28))


def test_year_not_covered_falls_back_to_weekends_and_warns_once(caplog):
    caplog.set_level(logging.WARNING, logger="xiaoan.tickets.due")
    # 2030 is beyond chinesecalendar 1.11's data: Monday-Friday only
    assert add_working_days(D(2030, 9, 30), 1) == D(2030, 10, 1)     # a Tuesday, really a holiday
    assert add_working_days(D(2030, 10, 4), 1) == D(2030, 10, 7)     # Friday -> Monday
    assert add_working_days(D(2030, 10, 4), 15) == D(2030, 10, 25)
    assert not is_workday(D(2030, 10, 5))
    warnings = [r for r in caplog.records if "2030" in r.getMessage()]
    assert len(warnings) == 1
    assert "counting weekends only" in warnings[0].getMessage()


def test_deadline_running_into_an_uncovered_year(caplog):
    caplog.set_level(logging.WARNING, logger="xiaoan.tickets.due")
    # 2026-12-31 is a Thursday; 2027 is not covered, so 2027-01-01 (Friday) counts as working.
    assert add_working_days(D(2026, 12, 31), 1) == D(2027, 1, 1)
    assert add_working_days(D(2026, 12, 31), 5) == D(2027, 1, 7)
    assert sum("2027" in r.getMessage() for r in caplog.records) == 1


def test_negative_days_are_refused():
    with pytest.raises(ValueError):
        add_working_days(D(2026, 11, 26), -1)


def test_shanghai_date_of_a_utc_moment():
    assert shanghai_date(dt.datetime(2026, 11, 25, 16, 30, tzinfo=dt.timezone.utc)) == D(2026, 11, 26)
    assert shanghai_date(dt.datetime(2026, 11, 25, 15, 59, tzinfo=dt.timezone.utc)) == D(2026, 11, 25)
    with pytest.raises(ValueError):
        shanghai_date(dt.datetime(2026, 11, 25, 16, 30))


@pytest.mark.parametrize("resolve_by, status, today, expected", [
    (D(2026, 12, 3), "created", D(2026, 12, 4), "overdue"),
    (D(2026, 12, 3), "in_progress", D(2026, 12, 10), "overdue"),
    (D(2026, 12, 3), "accepted", D(2026, 12, 3), "near_due"),        # due today
    (D(2026, 12, 3), "forwarded", D(2026, 12, 2), "near_due"),       # one working day left
    (D(2026, 12, 7), "created", D(2026, 12, 4), "near_due"),         # Friday -> Monday: one working day
    (D(2026, 12, 3), "created", D(2026, 12, 1), None),              # two working days left
    (D(2026, 10, 8), "created", D(2026, 9, 30), "near_due"),         # across Golden Week: next working day
    (D(2026, 12, 3), "closed", D(2026, 12, 10), None),
    (D(2026, 12, 3), "answered", D(2026, 12, 10), None),
])
def test_due_flag(resolve_by, status, today, expected):
    assert due_flag(resolve_by, status, today) == expected
