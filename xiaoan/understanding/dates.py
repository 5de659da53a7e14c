"""Dates in what citizens type, relative to today ("上个月", "去年12月", "3号", "上周三", "两天前").

- :func:`find_dates` — every date in a text, in order
- :func:`parse_date` — the date of an answer ("什么时候买的?"): the first date named

Decisions (each one a reading of how people talk about what already happened):

- Complaints are about the past, so a date without a year or month that would lie in the future
  is moved back: "5月1日" said in March is last year's, "25号" said on the 10th is last month's,
  "周五" said on a Wednesday is last week's.
- A month without a day ("上个月", "去年12月", "2024年5月") gives its first day: the earliest
  the event can have happened, which is what deadlines are counted from.
- "半个月前" is 15 days ago; "N个月前" / "半年前" keep the day of the month (clamped).
- "N号" right after a road, building or room word (漕溪北路18号, 3号楼, 1号线) is an address
  or a line, never a day.
- Impossible dates (2月30日, 13月) are skipped, not guessed.
"""

from __future__ import annotations

import calendar
import datetime
import re
import unicodedata

_CN_SMALL = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
             "八": 8, "九": 9}
_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "末": 5,
             "1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5, "7": 6}

_NUM = r"(?:\d{1,2}|[一二两三四五六七八九十]{1,3})"
_YEAR4 = r"(?:\d{4}|[零〇一二三四五六七八九]{4})"
_DATE_RE = re.compile(
    # 2024-05-01, 2024/5/1, 2024.5.1
    rf"(?P<iso>(?P<iy>\d{{4}})[-/.](?P<im>\d{{1,2}})[-/.](?P<id>\d{{1,2}}))(?!\d)"
    # 2024年5月1日, 去年12月, 今年3月5日, 5月1号, 十二月
    rf"|(?P<md>(?:(?P<y>{_YEAR4})年|(?P<ry>去年|今年|前年))?(?P<m>{_NUM})月份?(?:(?P<d>{_NUM})[日号])?)"
    # 3号, 28日 (this month, or last month)
    rf"|(?P<day>(?P<dd>{_NUM})[日号])"
    # relative days
    r"|(?P<rel>大前天|前天|昨天|昨日|今天|今日|当天)"
    # months
    r"|(?P<relm>上上个?月|上个?月|这个月|本月|当月)"
    # weeks: 上周三, 上个星期五, 这周一, 周末, 上周
    r"|(?P<week>(?P<wp>上上个?|上个?|这个?|本)?(?:周|星期|礼拜)(?P<wd>[一二三四五六日天末1-7])?)"
    # N天前, 两个月前, 半个月前, 一周前, 半年前
    rf"|(?P<ago>(?P<n>{_NUM}|半)个?(?P<unit>天|日|周|星期|礼拜|月|年)(?:前|之前|以前))"
)
# What precedes or follows "N号" when it is an address, a line or a room, not a day.
_ADDRESS_BEFORE = re.compile(r"[路街弄巷道村区室栋幢楼门座里坊苑园巷号线]$")
_ADDRESS_AFTER = re.compile(r"[楼线门床房室铺店院口馆厅栋幢座位柜台车道]")


def _small_int(text: str) -> int | None:
    """1-99 in Arabic or Chinese digits ("12", "十二", "二十八", "廿" is not supported)."""
    if text.isdigit():
        return int(text)
    if "十" in text:
        head, _, tail = text.partition("十")
        if len(head) > 1 or len(tail) > 1:
            return None
        tens = _CN_SMALL.get(head, 1) if head else 1
        ones = _CN_SMALL.get(tail, 0) if tail else 0
        return tens * 10 + ones
    if len(text) == 1 and text in _CN_SMALL:
        return _CN_SMALL[text]
    return None


def _year4(text: str) -> int:
    return int(text) if text.isdigit() else int("".join(str(_CN_SMALL[ch]) for ch in text))


def _make(year: int, month: int | None, day: int | None) -> datetime.date | None:
    try:
        return datetime.date(year, month or 0, day or 0)
    except (TypeError, ValueError):
        return None


def _months_back(day: datetime.date, months: int) -> datetime.date:
    """The same day `months` months earlier, clamped to the month's length (3月31日 -> 2月28日)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    return datetime.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _resolve(m: re.Match, text: str, today: datetime.date) -> datetime.date | None:
    if m.group("iso"):
        return _make(int(m.group("iy")), int(m.group("im")), int(m.group("id")))
    if m.group("md"):
        month, day = _small_int(m.group("m")), _small_int(m.group("d")) if m.group("d") else 1
        if month is None or day is None:
            return None
        if m.group("y"):
            return _make(_year4(m.group("y")), month, day)
        relative = {"去年": -1, "今年": 0, "前年": -2}.get(m.group("ry") or "")
        if relative is not None:
            return _make(today.year + relative, month, day)
        found = _make(today.year, month, day)
        if found and found > today:  # complaints are about the past
            found = _make(today.year - 1, month, day)
        return found
    if m.group("day"):
        before = text[:m.start()]
        after = text[m.end():m.end() + 1]
        if _ADDRESS_BEFORE.search(before) or re.search(r"\d$", before) or _ADDRESS_AFTER.match(after):
            return None
        day = _small_int(m.group("dd"))
        if day is None:
            return None
        # The latest such day not after today: this month, else the month before that has it
        # ("31号" said on 18 March is 31 January).
        for back in range(3):
            month = _months_back(today.replace(day=1), back)
            found = _make(month.year, month.month, day)
            if found is not None and found <= today:
                return found
        return None
    if m.group("rel"):
        back = {"大前天": 3, "前天": 2, "昨天": 1, "昨日": 1}.get(m.group("rel"), 0)
        return today - datetime.timedelta(days=back)
    if m.group("relm"):
        word = m.group("relm")
        back = 2 if word.startswith("上上") else 1 if word.startswith("上") else 0
        return _months_back(today.replace(day=1), back)
    if m.group("week"):
        prefix = m.group("wp") or ""
        weeks_back = 2 if prefix.startswith("上上") else 1 if prefix.startswith("上") else 0
        weekday = _WEEKDAYS.get(m.group("wd") or "")
        if not prefix and weekday is None:
            return None  # "周" alone is no date
        monday = today - datetime.timedelta(days=today.weekday(), weeks=weeks_back)
        found = monday + datetime.timedelta(days=weekday or 0)
        if not prefix and found > today:  # "周五" said on a Wednesday: last week's
            found -= datetime.timedelta(weeks=1)
        return found
    if m.group("ago"):
        unit = m.group("unit")
        half = m.group("n") == "半"
        n = 0 if half else _small_int(m.group("n"))
        if n is None:
            return None
        if unit in ("天", "日"):
            return None if half else today - datetime.timedelta(days=n)
        if unit in ("周", "星期", "礼拜"):
            return today - datetime.timedelta(days=3 if half else 7 * n)
        if unit == "月":
            return today - datetime.timedelta(days=15) if half else _months_back(today, n)
        return _months_back(today, 6 if half else 12 * n)
    return None


def find_dates(text: str | None, today: datetime.date) -> list[datetime.date]:
    """Every date named in a text, in order, resolved against `today`.

    Args:
        text: An answer, a sentence or a letter ("去年12月办的卡，上周三去店里已经关门了").
        today: The date the citizen wrote on.

    Returns:
        The dates (possibly empty); see the module docstring for the readings.
    """
    if not text:
        return []
    plain = unicodedata.normalize("NFKC", str(text))
    found = []
    for m in _DATE_RE.finditer(plain):
        date = _resolve(m, plain, today)
        if date is not None:
            found.append(date)
    return found


def parse_date(text: str | None, today: datetime.date) -> datetime.date | None:
    """The date of an answer: the first date it names, or None.

    Args:
        text: e.g. "上个月", "去年12月", "3号", "2024-05-01", "大概半个月前吧".
        today: The date the citizen wrote on.

    Returns:
        The date, or None.
    """
    dates = find_dates(text, today)
    return dates[0] if dates else None
