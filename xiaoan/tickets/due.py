"""Due dates in working days on the Chinese holiday calendar.

Working days follow the State Council's holiday arrangement, including the weekend days that
become working days (调休). Two sources, in this order:

1. The project's own file ``xiaoan/resources/holidays.yml`` (re-read when it changes). A year
   marked ``complete: true`` is authoritative: Monday–Friday except its holidays, plus its
   adjusted working days. A year marked ``complete: false`` (the arrangement is not published
   yet) contributes its listed days and the days fixed by law; for any other day the
   installed ``chinesecalendar`` decides if it knows the year, else Monday–Friday.
2. ``chinesecalendar`` for the years the file does not list.

A year that neither source covers counts the days fixed by law (元旦, 清明, 劳动节, 国庆) and
weekends only, and a warning is logged once per year and process. `coverage_gaps` and
`coverage_warning` tell the maintainers, before it happens, that the coming weeks fall in
such a year; the staff console and ``xiaoan db upgrade`` show that warning.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import threading
from pathlib import Path
from typing import Any

import chinese_calendar

from xiaoan.datafiles import load_cached
from xiaoan.localtime import shanghai_date, utcnow  # noqa: F401 - shanghai_date re-exported for callers

logger = logging.getLogger(__name__)

HOLIDAYS_PATH = Path(__file__).resolve().parent.parent / "resources" / "holidays.yml"
"""The project's holiday arrangement file (tests point this elsewhere)."""

COVERAGE_DAYS = 60
"""How far ahead the maintainers are warned that the holiday arrangement is missing."""

COVERAGE_WARNING = ("节假日安排未覆盖未来{days}天：请在 xiaoan/resources/holidays.yml 中补充 {years} 年"
                    "国务院办公厅公布的安排，否则到期日可能算错。")
FILE_BROKEN_WARNING = "节假日安排文件有误，到期日暂不采用该文件，可能算错，请尽快修正：{error}"

# (month, day) of the public holidays the law fixes on the Gregorian calendar:
# 元旦 1 Jan, 劳动节 1–2 May, 国庆节 1–3 Oct (全国年节及纪念日放假办法, as amended in 2024).
_FIXED_BY_LAW = ((1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3))

_warned: set[tuple[str, Any]] = set()
_warned_lock = threading.Lock()


class HolidaysError(ValueError):
    """holidays.yml is missing, not YAML, or invalid (the message names the file)."""


@dataclasses.dataclass(frozen=True)
class HolidayYear:
    """One year of holidays.yml.

    Attributes:
        year: The calendar year.
        complete: True once the State Council's arrangement has been copied in full.
        holidays: Days off (weekend days of a holiday included).
        workdays: Saturdays and Sundays that are working days (调休).
        source: Where the dates come from, for the record.
    """

    year: int
    complete: bool
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]
    source: str = ""


@dataclasses.dataclass(frozen=True)
class HolidayCalendar:
    """The parsed holidays.yml: year -> `HolidayYear`."""

    years: dict[int, HolidayYear]


_EMPTY = HolidayCalendar(years={})


# --- holidays.yml ------------------------------------------------------------------------------

def _dates(value: Any, year: int, field: str, source: str) -> frozenset[dt.date]:
    """The dates of one list, whose items are dates or lists of dates (one festival a line)."""
    if value is None:
        return frozenset()
    if not isinstance(value, list):
        raise HolidaysError(f"{source}: {year}.{field} must be a list of dates")
    flat: list[Any] = []
    for item in value:
        flat.extend(item if isinstance(item, list) else [item])
    days = set()
    for item in flat:
        if isinstance(item, str):
            try:
                item = dt.date.fromisoformat(item.strip())
            except ValueError:
                raise HolidaysError(f"{source}: {year}.{field}: {item!r} is not a date (YYYY-MM-DD)") from None
        if isinstance(item, dt.datetime) or not isinstance(item, dt.date):
            raise HolidaysError(f"{source}: {year}.{field}: {item!r} is not a date (YYYY-MM-DD)")
        if item.year != year:
            raise HolidaysError(f"{source}: {year}.{field}: {item} is not in {year}")
        days.add(item)
    return frozenset(days)


def parse_holidays(data: Any, source: str) -> HolidayCalendar:
    """Validate the document of holidays.yml.

    Raises:
        HolidaysError: naming `source`, when a year, a date or a flag is invalid, a date is
            both a holiday and a working day, an adjusted working day is not a weekend day,
            or a complete year lacks a holiday fixed by law.
    """
    if not isinstance(data, dict) or not isinstance(data.get("years"), dict):
        raise HolidaysError(f"{source}: expected a mapping with `years:`")
    years: dict[int, HolidayYear] = {}
    for key, entry in data["years"].items():
        if isinstance(key, bool) or not isinstance(key, int) or not 1949 < key < 2200:
            raise HolidaysError(f"{source}: {key!r} is not a year")
        if not isinstance(entry, dict):
            raise HolidaysError(f"{source}: {key} must be a mapping with complete, holidays, workdays")
        unknown = set(entry) - {"complete", "source", "holidays", "workdays"}
        if unknown:
            raise HolidaysError(f"{source}: {key}: unknown keys {sorted(unknown)}")
        complete = entry.get("complete")
        if not isinstance(complete, bool):
            raise HolidaysError(f"{source}: {key}.complete must be true or false")
        holidays = _dates(entry.get("holidays"), key, "holidays", source)
        workdays = _dates(entry.get("workdays"), key, "workdays", source)
        both = sorted(holidays & workdays)
        if both:
            raise HolidaysError(f"{source}: {key}: {both[0]} is both a holiday and a working day")
        weekday = sorted(d for d in workdays if d.weekday() < 5)
        if weekday:
            raise HolidaysError(f"{source}: {key}.workdays: {weekday[0]} is not a Saturday or Sunday")
        if complete:
            missing = sorted(_fixed_by_law(key) - holidays)
            if missing:
                raise HolidaysError(f"{source}: {key}.holidays: {missing[0]} is a public holiday by law")
        years[key] = HolidayYear(year=key, complete=complete, holidays=holidays, workdays=workdays,
                                 source=str(entry.get("source") or ""))
    return HolidayCalendar(years=years)


def load_holidays(path: str | Path | None = None) -> HolidayCalendar:
    """Load and validate holidays.yml; cached until the file changes on disk.

    Args:
        path: The YAML file (default: `HOLIDAYS_PATH`).

    Raises:
        HolidaysError: when the file is missing, not YAML, or invalid.
    """
    path = path or HOLIDAYS_PATH
    try:
        return load_cached(path, parse_holidays, HolidaysError, what="the holiday arrangement")
    except HolidaysError:
        raise
    except ValueError as exc:  # PyYAML raises a bare ValueError for an impossible date (2027-13-01)
        raise HolidaysError(f"{path}: not a date: {exc}") from exc


def _calendar() -> HolidayCalendar:
    """holidays.yml, or an empty calendar (logged once per error) when the file is broken.

    A broken file must not stop tickets from being filed: chinesecalendar decides meanwhile.
    """
    try:
        return load_holidays()
    except HolidaysError as exc:
        if _first_time("broken", str(exc)):
            logger.error("holiday arrangement file ignored: %s", exc)
        return _EMPTY


# --- working days ------------------------------------------------------------------------------

def _fixed_by_law(year: int) -> frozenset[dt.date]:
    """The Gregorian-fixed public holidays of `year` (元旦, 劳动节, 国庆节)."""
    return frozenset(dt.date(year, month, day) for month, day in _FIXED_BY_LAW)


@functools.lru_cache(maxsize=64)
def statutory_holidays(year: int) -> frozenset[dt.date]:
    """The holidays of `year` the law fixes without an arrangement, lunar festivals excepted.

    元旦, 劳动节 and 国庆节 by date, and 清明 on the day of its solar term (computed by
    chinesecalendar). 春节, 端午 and 中秋 follow the lunar calendar and are not included.
    """
    days = set(_fixed_by_law(year))
    try:
        terms = chinese_calendar.get_solar_terms(dt.date(year, 4, 1), dt.date(year, 4, 10))
    except Exception:  # noqa: BLE001 - outside the library's range: 清明 unknown
        terms = []
    days.update(day for day, name in terms if name == "清明")
    return frozenset(days)


def _library_covers(year: int) -> bool:
    """Whether the installed chinesecalendar has the arrangement of `year`."""
    try:
        chinese_calendar.is_workday(dt.date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


def _first_time(kind: str, key: Any) -> bool:
    with _warned_lock:
        first = (kind, key) not in _warned
        _warned.add((kind, key))
    return first


def _is_workday(day: dt.date, calendar: HolidayCalendar) -> bool:
    entry = calendar.years.get(day.year)
    if entry is not None:
        if day in entry.workdays:
            return True
        if day in entry.holidays:
            return False
        if entry.complete:
            return day.weekday() < 5
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        pass
    if _first_time("year", day.year):
        if entry is not None:
            logger.warning(
                "holiday arrangement for %d is not complete in %s and chinesecalendar %s has no data "
                "for it: counting the listed and statutory holidays and weekends only; add the State "
                "Council's arrangement and set complete: true", day.year, HOLIDAYS_PATH.name,
                getattr(chinese_calendar, "__version__", "?"))
        else:
            logger.warning(
                "no holiday arrangement for %d in %s or chinesecalendar %s: counting the statutory "
                "holidays and weekends only; add the State Council's arrangement to %s",
                day.year, HOLIDAYS_PATH.name, getattr(chinese_calendar, "__version__", "?"), HOLIDAYS_PATH)
    return day.weekday() < 5 and day not in statutory_holidays(day.year)


def is_workday(day: dt.date) -> bool:
    """Whether `day` is a working day in mainland China.

    holidays.yml first, then chinesecalendar; for a year neither covers, Monday–Friday except
    the holidays fixed by law (warned once per year).
    """
    return _is_workday(day, _calendar())


def add_working_days(start: dt.date, days: int) -> dt.date:
    """The `days`-th working day after `start` (`start` itself never counts).

    A ticket filed on a holiday or a weekend has its first working day on the next working day.

    Args:
        start: The day the clock starts (the filing date).
        days: How many working days, at least 0 (0 returns `start`).
    """
    if days < 0:
        raise ValueError("days must be >= 0")
    calendar = _calendar()
    current = start
    remaining = days
    while remaining:
        current += dt.timedelta(days=1)
        if _is_workday(current, calendar):
            remaining -= 1
    return current


# --- coverage ----------------------------------------------------------------------------------

def coverage_gaps(today: dt.date, days: int = COVERAGE_DAYS) -> list[dt.date]:
    """The days among the `days` after `today` whose year has no published arrangement.

    A year is covered when holidays.yml marks it complete, or when the installed
    chinesecalendar has its data. The others count only the statutory holidays and weekends.

    Args:
        today: The Shanghai date to look ahead from (not itself included).
        days: How many days ahead.

    Returns:
        The uncovered days in order; empty when every one is covered.
    """
    calendar = _calendar()
    covered: dict[int, bool] = {}
    gaps = []
    for offset in range(1, days + 1):
        day = today + dt.timedelta(days=offset)
        if day.year not in covered:
            entry = calendar.years.get(day.year)
            covered[day.year] = (entry is not None and entry.complete) or _library_covers(day.year)
        if not covered[day.year]:
            gaps.append(day)
    return gaps


def coverage_warning(today: dt.date | None = None, days: int = COVERAGE_DAYS) -> str | None:
    """The maintainers' warning (Chinese) when the coming `days` days are not all covered.

    Also warns when holidays.yml cannot be used at all.

    Args:
        today: The Shanghai date to look ahead from (default: today in Shanghai).
        days: How many days ahead.

    Returns:
        The warning, or None when the arrangement covers the coming days.
    """
    try:
        load_holidays()
    except HolidaysError as exc:
        return FILE_BROKEN_WARNING.format(error=exc)
    gaps = coverage_gaps(today or shanghai_date(utcnow()), days)
    if not gaps:
        return None
    years = "、".join(str(year) for year in sorted({day.year for day in gaps}))
    return COVERAGE_WARNING.format(days=days, years=years)


# --- flags -------------------------------------------------------------------------------------

def due_flag(resolve_by: dt.date, status: str, today: dt.date, *, near_due_days: int = 1,
             done_statuses: tuple[str, ...] = ("answered", "closed")) -> str | None:
    """Flag a ticket by its answer deadline.

    Args:
        resolve_by: The answer deadline.
        status: The ticket's status; answered and closed tickets are never flagged.
        today: The Shanghai date to judge on.
        near_due_days: "near due" when the deadline is at most this many working days away.
        done_statuses: Statuses for which the deadline has been met.

    Returns:
        "overdue" when today is past `resolve_by`, "near_due" when `resolve_by` is today or
        within `near_due_days` working days, else None.
    """
    if status in done_statuses:
        return None
    if today > resolve_by:
        return "overdue"
    if resolve_by <= add_working_days(today, near_due_days):
        return "near_due"
    return None


def reset_warnings() -> None:
    """Forget which years and file errors were warned about (tests)."""
    with _warned_lock:
        _warned.clear()
