"""Working-day due dates on the project's holiday file and chinesecalendar, coverage warnings, due flags."""

from __future__ import annotations

import datetime as dt
import logging

import chinese_calendar
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


def test_year_nobody_covers_counts_statutory_holidays_and_weekends_and_warns_once(caplog):
    caplog.set_level(logging.WARNING, logger="xiaoan.tickets.due")
    # 2030 is neither in holidays.yml nor in chinesecalendar 1.11: 国庆 1-3 Oct is still off by law
    assert not is_workday(D(2030, 10, 1))                              # a Tuesday
    assert add_working_days(D(2030, 9, 30), 1) == D(2030, 10, 4)
    assert add_working_days(D(2030, 10, 4), 1) == D(2030, 10, 7)     # Friday -> Monday
    assert add_working_days(D(2030, 10, 4), 15) == D(2030, 10, 25)
    assert not is_workday(D(2030, 10, 5))
    assert not is_workday(D(2030, 5, 2)) and not is_workday(D(2030, 1, 1))
    assert is_workday(D(2030, 10, 8))
    warnings = [r for r in caplog.records if "2030" in r.getMessage()]
    assert len(warnings) == 1
    assert "statutory holidays and weekends only" in warnings[0].getMessage()


def test_statutory_holidays_include_qingming_by_its_solar_term():
    assert due.statutory_holidays(2030) == {D(2030, 1, 1), D(2030, 4, 5), D(2030, 5, 1), D(2030, 5, 2),
                                            D(2030, 10, 1), D(2030, 10, 2), D(2030, 10, 3)}
    assert D(2026, 4, 5) in due.statutory_holidays(2026)


def test_deadline_running_into_the_incomplete_year_2027(caplog):
    caplog.set_level(logging.WARNING, logger="xiaoan.tickets.due")
    # 2026-12-31 is a Thursday; 2027-01-01 (Friday) is 元旦, then a weekend.
    assert not is_workday(D(2027, 1, 1))
    assert add_working_days(D(2026, 12, 31), 1) == D(2027, 1, 4)
    assert add_working_days(D(2026, 12, 31), 5) == D(2027, 1, 8)
    assert not is_workday(D(2027, 4, 5))                                # 清明, a Monday
    assert not is_workday(D(2027, 10, 1)) and not is_workday(D(2027, 5, 1))
    warnings = [r.getMessage() for r in caplog.records if "2027" in r.getMessage()]
    assert len(warnings) == 1 and "not complete" in warnings[0]


def test_packaged_file_agrees_with_chinesecalendar_for_2025_and_2026():
    calendar = due.load_holidays()
    assert [y for y, e in sorted(calendar.years.items()) if e.complete] == [2025, 2026]
    assert calendar.years[2027].complete is False
    for year in (2025, 2026):
        assert calendar.years[year].holidays == {d for d in chinese_calendar.holidays if d.year == year}
        assert calendar.years[year].workdays == {d for d in chinese_calendar.workdays if d.year == year}
        day = D(year, 1, 1)
        while day.year == year:
            assert is_workday(day) == chinese_calendar.is_workday(day), day
            day += dt.timedelta(days=1)


# --- the project file overrides and extends chinesecalendar ---------------------------------

FAKE = """
years:
  2026:
    complete: true
    source: made up for a test
    holidays:
      - [2026-01-01, 2026-05-01, 2026-05-02, 2026-10-01, 2026-10-02, 2026-10-03]
      - 2026-11-27        # a made-up holiday (Friday)
    workdays: [2026-11-28]  # a made-up working Saturday
  2025:
    complete: false
    holidays: [2025-03-03]  # made up (Monday); the library fills in the rest of 2025
  2031:
    complete: false
    holidays: []
    workdays: ["2031-03-01"]  # a Saturday, quoted on purpose
"""


@pytest.fixture()
def fake_file(tmp_path, monkeypatch):
    def write(text: str = FAKE):
        path = tmp_path / "holidays.yml"
        path.write_text(text, encoding="utf-8")
        monkeypatch.setattr(due, "HOLIDAYS_PATH", path)
        return path
    return write


def test_file_overrides_chinesecalendar(fake_file):
    fake_file()
    assert chinese_calendar.is_workday(D(2026, 11, 27))
    assert not is_workday(D(2026, 11, 27))                      # made-up holiday
    assert is_workday(D(2026, 11, 28))                          # made-up working Saturday
    assert add_working_days(D(2026, 11, 26), 1) == D(2026, 11, 28)
    assert add_working_days(D(2026, 11, 26), 2) == D(2026, 11, 30)
    # a complete year is authoritative: the library's Golden Week is not in this file
    assert is_workday(D(2026, 10, 5))
    assert not is_workday(D(2026, 10, 1))
    assert is_workday(D(2026, 2, 17)) and not is_workday(D(2026, 2, 28))


def test_incomplete_year_listed_days_then_library(fake_file):
    fake_file()
    assert not is_workday(D(2025, 3, 3))                        # listed
    assert not is_workday(D(2025, 10, 6))                       # the library knows 2025
    assert is_workday(D(2025, 10, 11))                          # library's 调休 Saturday
    assert is_workday(D(2025, 3, 4))


def test_adjusted_working_days_count_in_an_incomplete_year(fake_file, caplog):
    caplog.set_level(logging.WARNING, logger="xiaoan.tickets.due")
    fake_file()
    assert is_workday(D(2031, 3, 1))                            # listed working Saturday
    assert not is_workday(D(2031, 3, 2))                        # Sunday
    assert add_working_days(D(2031, 2, 28), 1) == D(2031, 3, 1)
    assert not is_workday(D(2031, 10, 2))                       # statutory, not listed
    assert sum("2031" in r.getMessage() for r in caplog.records) == 1


def test_file_changes_are_picked_up(fake_file):
    path = fake_file()
    assert not is_workday(D(2026, 11, 27))
    path.write_text(FAKE.replace("      - 2026-11-27        # a made-up holiday (Friday)\n", ""), encoding="utf-8")
    assert is_workday(D(2026, 11, 27))


@pytest.mark.parametrize("text, message", [
    ("years:\n  2026:\n    complete: true\n    holidays: [2026-01-01]\n", "2026-05-01 is a public holiday by law"),
    ("years:\n  2027:\n    complete: false\n    workdays: [2027-03-03]\n", "2027-03-03 is not a Saturday or Sunday"),
    ("years:\n  2027:\n    complete: false\n    holidays: [2028-01-01]\n", "2028-01-01 is not in 2027"),
    ("years:\n  2027:\n    complete: false\n    holidays: [2027-03-06]\n    workdays: [2027-03-06]\n",
     "2027-03-06 is both a holiday and a working day"),
    ("years:\n  2027:\n    complete: yes please\n", "2027.complete must be true or false"),
    ("years:\n  2027:\n    complete: false\n    holidays: [2027-13-01]\n", "not a date"),
    ("years:\n  2027:\n    complete: false\n    holidays: [\"2027-02-30\"]\n", "2027-02-30.*is not a date"),
    ("years:\n  2027:\n    complete: false\n    holyday: []\n", "unknown keys"),
    ("- 2027-01-01\n", "expected a mapping"),
])
def test_invalid_files_are_refused(fake_file, text, message):
    path = fake_file(text)
    with pytest.raises(due.HolidaysError, match=message) as info:
        due.load_holidays()
    assert str(info.value).startswith(str(path))


def test_broken_file_falls_back_to_the_library_and_is_reported(fake_file, caplog):
    caplog.set_level(logging.WARNING, logger="xiaoan.tickets.due")
    fake_file("years: [unclosed\n")
    assert not is_workday(D(2026, 10, 5))                       # chinesecalendar
    assert add_working_days(D(2026, 9, 30), 1) == D(2026, 10, 8)
    assert sum(r.levelno == logging.ERROR for r in caplog.records) == 1
    warning = due.coverage_warning(D(2026, 6, 1))
    assert warning is not None and "节假日安排文件有误" in warning


# --- coverage of the coming 60 days ----------------------------------------------------------

def test_coverage_gaps_report_the_incomplete_year():
    gaps = due.coverage_gaps(D(2026, 12, 4))
    assert gaps[0] == D(2027, 1, 1) and gaps[-1] == D(2027, 2, 2) and len(gaps) == 33
    assert due.coverage_gaps(D(2026, 12, 4), days=27) == []          # up to 2026-12-31
    assert due.coverage_gaps(D(2026, 12, 4), days=28) == [D(2027, 1, 1)]
    assert due.coverage_gaps(D(2026, 10, 1)) == []
    assert due.coverage_gaps(D(2024, 12, 1)) == []                   # 2025 in the file, 2024 in the library


def test_coverage_warning_names_the_year_and_the_file():
    warning = due.coverage_warning(D(2026, 12, 4))
    assert warning is not None
    assert "未来60天" in warning and "2027 年" in warning and "xiaoan/resources/holidays.yml" in warning
    assert due.coverage_warning(D(2026, 6, 1)) is None


def test_coverage_gaps_end_when_the_year_is_completed(fake_file):
    fake_file(FAKE + "  2027:\n    complete: true\n    holidays: [2027-01-01, 2027-05-01, 2027-05-02,"
                     " 2027-10-01, 2027-10-02, 2027-10-03]\n")
    assert due.coverage_gaps(D(2026, 12, 4)) == []
    assert due.coverage_warning(D(2026, 12, 4)) is None
    assert due.coverage_gaps(D(2031, 2, 1), days=3) == [D(2031, 2, 2), D(2031, 2, 3), D(2031, 2, 4)]


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


# --- where the maintainers see the warning ---------------------------------------------------

def _fix_today(monkeypatch, day: dt.date) -> None:
    """Make "now" noon of `day` in Shanghai for coverage_warning()."""
    noon = dt.datetime(day.year, day.month, day.day, 4, 0, tzinfo=dt.timezone.utc)
    monkeypatch.setattr(due, "utcnow", lambda: noon)


@pytest.fixture()
def console(db_url):
    from tests.unit.test_web_auth import add_user, sign_in
    from xiaoan.config import Settings
    from xiaoan.web.app import create_app

    app = create_app(Settings(database_url=db_url, rasa_url="http://127.0.0.1:9",
                              web_secret_key="s" * 16 + "0123456789abcdefXYZ"), testing=True)
    add_user("zhaomin", "maintainer", "赵敏")
    client = app.test_client()
    assert sign_in(client, "zhaomin").status_code == 302
    return client


BANNER = "节假日安排未覆盖未来60天：请在 xiaoan/resources/holidays.yml 中补充 2027 年国务院办公厅公布的安排"


def test_console_shows_the_banner_when_the_coming_days_are_not_covered(console, monkeypatch):
    _fix_today(monkeypatch, D(2026, 12, 4))
    page = console.get("/console")
    assert page.status_code == 200
    assert BANNER in page.text and 'role="alert"' in page.text


def test_console_has_no_banner_when_covered(console, monkeypatch):
    _fix_today(monkeypatch, D(2026, 6, 1))
    page = console.get("/console")
    assert page.status_code == 200 and "赵敏" in page.text
    assert "节假日安排" not in page.text


def test_db_upgrade_warns_the_operator(monkeypatch, tmp_path):
    from click.testing import CliRunner

    import xiaoan.db
    from xiaoan.cli import cli

    upgraded = []
    monkeypatch.setattr(xiaoan.db, "upgrade", upgraded.append)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    _fix_today(monkeypatch, D(2026, 12, 4))
    result = CliRunner().invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert len(upgraded) == 1
    assert "database schema is up to date" in result.stdout
    assert f"警告：{BANNER}" in result.stderr

    _fix_today(monkeypatch, D(2026, 6, 1))
    result = CliRunner().invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 0 and len(upgraded) == 2
    assert "节假日" not in result.output
