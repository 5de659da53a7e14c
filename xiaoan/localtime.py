"""Shanghai time: the one time zone and the date and time formats citizens and staff read.

Datetimes are stored timezone-aware in UTC (``xiaoan.db.UTCDateTime``) and shown in
Asia/Shanghai, which has had no daylight-saving time since 1991. Pure Python (no database, no
Rasa), so the action server, the web app and the CLI import it alike. ``xiaoan.db`` re-exports
:data:`SHANGHAI` and :func:`utcnow` for existing callers.
"""

from __future__ import annotations

import datetime as dt
from typing import Optional
from zoneinfo import ZoneInfo

#: The time zone citizens, agents and supervisors read dates and times in.
SHANGHAI = ZoneInfo("Asia/Shanghai")


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.timezone.utc)


def to_shanghai(moment: dt.datetime) -> dt.datetime:
    """`moment` in Shanghai time; a naive datetime is taken as UTC (as the database returns it)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(SHANGHAI)


def shanghai_date(moment: dt.datetime) -> dt.date:
    """The calendar date in Shanghai of a timezone-aware moment.

    Raises:
        ValueError: a naive datetime (its zone would be a guess).
    """
    if moment.tzinfo is None:
        raise ValueError("naive datetime given; use a timezone-aware one (xiaoan.db.utcnow())")
    return moment.astimezone(SHANGHAI).date()


def format_minutes(moment: Optional[dt.datetime]) -> str:
    """E.g. ``2026-11-26 14:03`` (Shanghai time); "" for None. Staff pages."""
    return to_shanghai(moment).strftime("%Y-%m-%d %H:%M") if moment else ""


def format_seconds(moment: Optional[dt.datetime]) -> str:
    """E.g. ``2026-11-26 14:03:09`` (Shanghai time); "" for None. Audit listings."""
    return to_shanghai(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def format_clock(moment: Optional[dt.datetime], now: Optional[dt.datetime] = None) -> str:
    """``HH:MM`` in Shanghai time, with ``MM-DD`` before it when not today; "" for None."""
    if moment is None:
        return ""
    local = to_shanghai(moment)
    today = to_shanghai(now or utcnow()).date()
    return local.strftime("%H:%M") if local.date() == today else local.strftime("%m-%d %H:%M")


def iso_seconds(moment: Optional[dt.datetime]) -> Optional[str]:
    """ISO-8601 in Shanghai time with its offset, e.g. ``2026-11-26T10:30:00+08:00``; None for None."""
    if moment is None:
        return None
    return to_shanghai(moment).isoformat(timespec="seconds")


def month_day(value: dt.date | dt.datetime) -> str:
    """A date as citizens read it, e.g. ``11月27日``; a datetime is first put in Shanghai time.

    The citizen-facing wording of the assistant's responses is ``utter_label_date``
    (domain.yml, forms section), which must say the same.
    """
    if isinstance(value, dt.datetime):
        value = to_shanghai(value).date()
    return f"{value.month}月{value.day}日"
