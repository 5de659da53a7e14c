"""Which entries need a maintainer's review (需复核), and why.

An entry (any status but retired) needs review when

- its basis is missing (``missing``), names no instrument (``unparsed``) or one that is not in
  the register ``resources/laws.yml`` (``unknown``);
- it cites an instrument that has been repealed (``repealed``);
- it cites one whose text changed (an amendment took effect) after the entry was last reviewed
  and after the entry's own effective date (``amended``): an entry written for the amended text
  says so with its ``effective_from``;
- nobody has reviewed it for `MAX_AGE_DAYS` days (``stale``).

"Last reviewed" is the latest of: the last edit of its content (``updated_at``), the last
publication (a second maintainer approved it) and the last "已复核" record (a version with
action ``review``, `xiaoan.kb.repository.KbRepository.mark_reviewed`, which changes nothing
else). Recording a review clears ``amended`` and ``stale``; the others need an edit of the basis
(or of the register).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Iterable, Sequence

from xiaoan.db import SHANGHAI
from xiaoan.kb.legal import Register, basis_problems, parse_basis
from xiaoan.kb.schema import EntryData, today_shanghai

MAX_AGE_DAYS = 365

#: reason code -> Chinese label, in the order the console lists them
REASONS: dict[str, str] = {
    "repealed": "依据已废止",
    "amended": "依据已修改",
    "unknown": "依据不在法规库",
    "unparsed": "依据未写法规名称",
    "missing": "缺少依据",
    "stale": "超过一年未复核",
}


@dataclasses.dataclass(frozen=True)
class Reason:
    """Why an entry needs review: a `REASONS` code and a Chinese sentence."""

    code: str
    message: str


@dataclasses.dataclass(frozen=True)
class LastReview:
    """When and by whom an entry was last reviewed (see the module docstring)."""

    at: dt.datetime
    by: str
    how: str  # edit | publish | review


@dataclasses.dataclass(frozen=True)
class ReviewItem:
    """One entry that needs review.

    Attributes:
        entry: the entry (working copy).
        version: its newest version number (for the "已复核" form).
        reasons: why, most urgent first.
        last_review: when and by whom it was last reviewed.
    """

    entry: EntryData
    version: int
    reasons: tuple[Reason, ...]
    last_review: LastReview

    @property
    def codes(self) -> tuple[str, ...]:
        """The reason codes."""
        return tuple(r.code for r in self.reasons)

    def to_json(self) -> dict:
        """The item as the JSON of ``xiaoan kb check-basis --json``."""
        return {
            "id": self.entry.id,
            "title": self.entry.title,
            "status": self.entry.status,
            "basis": self.entry.basis,
            "effective_from": self.entry.effective_from.isoformat() if self.entry.effective_from else None,
            "reasons": [{"code": r.code, "message": r.message} for r in self.reasons],
            "last_reviewed_at": self.last_review.at.astimezone(dt.timezone.utc).isoformat(),
            "last_reviewed_by": self.last_review.by,
        }


def last_review(entry: EntryData, recorded: tuple[dt.datetime, str, str] | None) -> LastReview:
    """The later of the entry's last content edit and a recorded review or publication."""
    edit = LastReview(entry.updated_at, entry.updated_by, "edit")
    if recorded is None:
        return edit
    at, by, how = recorded
    return LastReview(at, by, how) if at > entry.updated_at else edit


def reasons_for(
    entry: EntryData, review: LastReview, register: Register, *, today: dt.date, max_age_days: int = MAX_AGE_DAYS
) -> list[Reason]:
    """Why one entry needs review (empty: it does not)."""
    reasons = [Reason(p.code, p.message) for p in basis_problems(entry.basis, register)]
    reviewed_on = review.at.astimezone(SHANGHAI).date()
    seen: set[str] = set()
    for citation in parse_basis(entry.basis, register):
        instrument = citation.instrument
        if instrument is None or instrument.repealed or instrument.id in seen:
            continue
        seen.add(instrument.id)
        changed = instrument.last_changed
        if changed is None or changed <= reviewed_on:
            continue
        if entry.effective_from is not None and changed <= entry.effective_from:
            continue  # the entry was written for this version
        when = "施行" if changed <= today else "将施行"
        reasons.append(Reason(
            "amended",
            f"《{instrument.title}》的修改于 {changed.isoformat()} {when}，晚于本条目最近一次复核（{reviewed_on.isoformat()}）",
        ))
    age = (today - reviewed_on).days
    if age > max_age_days:
        reasons.append(Reason("stale", f"已经 {age} 天没有人复核（最近一次：{reviewed_on.isoformat()}，{review.by}）"))
    order = list(REASONS)
    return sorted(reasons, key=lambda r: order.index(r.code))


def review_items(
    entries: Iterable[tuple[EntryData, int]],
    recorded: dict[str, tuple[dt.datetime, str, str]],
    register: Register,
    *,
    today: dt.date | None = None,
    max_age_days: int = MAX_AGE_DAYS,
    codes: Sequence[str] | None = None,
) -> list[ReviewItem]:
    """The entries that need review, most urgent first (then by id).

    Args:
        entries: (working copy, newest version) of each entry; retired ones are skipped.
        recorded: entry id -> (time, who, ``review`` | ``publish``) of its last recorded review.
        register: the legal register.
        today: the day (default: today in Shanghai).
        max_age_days: after how many days without a review an entry is ``stale``.
        codes: only entries with one of these reasons.
    """
    today = today or today_shanghai()
    order = list(REASONS)
    items: list[ReviewItem] = []
    for entry, version in entries:
        if entry.status == "retired":
            continue
        review = last_review(entry, recorded.get(entry.id))
        reasons = reasons_for(entry, review, register, today=today, max_age_days=max_age_days)
        if not reasons or (codes and not any(r.code in codes for r in reasons)):
            continue
        items.append(ReviewItem(entry=entry, version=version, reasons=tuple(reasons), last_review=review))
    items.sort(key=lambda item: (order.index(item.reasons[0].code), item.entry.id))
    return items
