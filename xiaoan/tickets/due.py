"""Due dates in working days on the Chinese holiday calendar (`chinesecalendar`).

Working days follow the State Council's holiday arrangement, including the weekend days
that become working days (调休). For a year the installed `chinesecalendar` does not cover
yet, weekends only are skipped and a warning is logged once per year and process: upgrade
the library when the new arrangement is published.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

import chinese_calendar

from xiaoan.db import SHANGHAI

logger = logging.getLogger(__name__)


_warned_years: set[int] = set()
_warned_lock = threading.Lock()


def shanghai_date(moment: dt.datetime) -> dt.date:
    """The calendar date in Shanghai of a timezone-aware moment."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime given; use a timezone-aware one (xiaoan.db.utcnow())")
    return moment.astimezone(SHANGHAI).date()


def is_workday(day: dt.date) -> bool:
    """Whether `day` is a working day in mainland China.

    Falls back to Monday–Friday for a year the calendar does not cover (warned once).
    """
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        with _warned_lock:
            first = day.year not in _warned_years
            _warned_years.add(day.year)
        if first:
            logger.warning(
                "chinesecalendar %s has no holiday data for %d: counting weekends only; "
                "upgrade chinesecalendar once the year's arrangement is published",
                getattr(chinese_calendar, "__version__", "?"), day.year,
            )
        return day.weekday() < 5


def add_working_days(start: dt.date, days: int) -> dt.date:
    """The `days`-th working day after `start` (`start` itself never counts).

    A ticket filed on a holiday or a weekend has its first working day on the next working day.

    Args:
        start: The day the clock starts (the filing date).
        days: How many working days, at least 0 (0 returns `start`).
    """
    if days < 0:
        raise ValueError("days must be >= 0")
    current = start
    remaining = days
    while remaining:
        current += dt.timedelta(days=1)
        if is_workday(current):
            remaining -= 1
    return current


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
    """Forget which years were warned about (tests)."""
    with _warned_lock:
        _warned_years.clear()
