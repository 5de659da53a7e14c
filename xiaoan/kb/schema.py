"""The knowledge-base entry schema and its validation.

One place decides what a valid entry is, with error messages in Chinese, so that the YAML
import (`xiaoan kb import`) and the maintainers' console report the same problems the same way.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import re
from typing import Any

from xiaoan.db import SHANGHAI, utcnow


#: Areas (one YAML file each) and their Chinese names for the console.
AREAS: dict[str, str] = {
    "biz": "企业登记",
    "consumer": "消费维权",
    "process": "投诉举报流程",
    "reg": "市场监管事项",
    "redirect": "转其他部门",
}

STATUSES: dict[str, str] = {
    "draft": "草稿",
    "review": "待审核",
    "published": "已发布",
    "retired": "已下线",
}

ID_RE = re.compile(r"^[a-z]+\.[a-z0-9]+(?:-[a-z0-9]+)*$")
RECOMMENDED_PHRASINGS = 8
MAX_TEXT = 4000

FIELDS = (
    "id",
    "title",
    "phrasings",
    "answer",
    "tags",
    "basis",
    "agency",
    "effective_from",
    "expires_on",
    "status",
    "updated_by",
    "updated_at",
)
_OPTIONAL_FIELDS = {"tags", "basis", "agency", "effective_from", "expires_on", "updated_by", "updated_at", "area"}


def today_shanghai(now: dt.datetime | None = None) -> dt.date:
    """Today's date in Shanghai (entries expire by the local calendar)."""
    return (now or utcnow()).astimezone(SHANGHAI).date()


@dataclasses.dataclass
class EntryData:
    """A validated entry, independent of the database.

    Attributes:
        id: ``area.slug``.
        area: the part of the id before the dot.
        title: the question as citizens ask it.
        phrasings: alternative questions.
        answer: the Chinese answer, plain and short first, details after.
        tags: keywords.
        basis: legal or official basis, or None.
        agency: docs/interfaces.md §4 code, ``dist`` or an outside body's name, or None.
        effective_from: first day the entry may be answered, or None.
        expires_on: last day the entry may be answered, or None.
        status: draft | review | published | retired.
        updated_by: last editor.
        updated_at: time of the last edit (timezone-aware).
    """

    id: str
    area: str
    title: str
    phrasings: list[str]
    answer: str
    tags: list[str] = dataclasses.field(default_factory=list)
    basis: str | None = None
    agency: str | None = None
    effective_from: dt.date | None = None
    expires_on: dt.date | None = None
    status: str = "draft"
    updated_by: str = "unknown"
    updated_at: dt.datetime = dataclasses.field(default_factory=utcnow)

    def is_answerable(self, today: dt.date | None = None) -> bool:
        """Whether citizens may be answered with this entry today (published and in force)."""
        return self.status == "published" and in_force(self.effective_from, self.expires_on, today)

    def is_expired(self, today: dt.date | None = None) -> bool:
        """Whether the expiry date has passed."""
        return self.expires_on is not None and (today or today_shanghai()) > self.expires_on

    def content(self) -> dict[str, Any]:
        """The fields that matter for equality of content (everything but who/when)."""
        snap = self.to_snapshot()
        snap.pop("updated_by")
        snap.pop("updated_at")
        return snap

    def to_snapshot(self) -> dict[str, Any]:
        """A JSON-serialisable dict of every field (dates as ISO text)."""
        return {
            "id": self.id,
            "area": self.area,
            "title": self.title,
            "phrasings": list(self.phrasings),
            "answer": self.answer,
            "tags": list(self.tags),
            "basis": self.basis,
            "agency": self.agency,
            "effective_from": self.effective_from.isoformat() if self.effective_from else None,
            "expires_on": self.expires_on.isoformat() if self.expires_on else None,
            "status": self.status,
            "updated_by": self.updated_by,
            "updated_at": self.updated_at.astimezone(dt.timezone.utc).isoformat(),
        }

    @classmethod
    def from_snapshot(cls, snap: dict[str, Any]) -> "EntryData":
        """The inverse of `to_snapshot`."""
        return cls(
            id=snap["id"],
            area=snap["area"],
            title=snap["title"],
            phrasings=list(snap["phrasings"]),
            answer=snap["answer"],
            tags=list(snap.get("tags") or []),
            basis=snap.get("basis"),
            agency=snap.get("agency"),
            effective_from=_iso_date(snap.get("effective_from")),
            expires_on=_iso_date(snap.get("expires_on")),
            status=snap["status"],
            updated_by=snap["updated_by"],
            updated_at=dt.datetime.fromisoformat(snap["updated_at"]),
        )

    def to_yaml(self) -> dict[str, Any]:
        """The entry as written to a ``knowledge_base/*.yml`` file (field order of the schema)."""
        updated_at: dt.date | dt.datetime = self.updated_at.astimezone(dt.timezone.utc)
        if updated_at.time() == dt.time(0, 0):
            updated_at = updated_at.date()  # content files carry plain dates
        return {
            "id": self.id,
            "title": self.title,
            "phrasings": list(self.phrasings),
            "answer": self.answer,
            "tags": list(self.tags),
            "basis": self.basis,
            "agency": self.agency,
            "effective_from": self.effective_from,
            "expires_on": self.expires_on,
            "status": self.status,
            "updated_by": self.updated_by,
            "updated_at": updated_at,
        }


def in_force(effective_from: dt.date | None, expires_on: dt.date | None, today: dt.date | None = None) -> bool:
    """Whether a rule with these dates applies today."""
    today = today or today_shanghai()
    if effective_from is not None and today < effective_from:
        return False
    if expires_on is not None and today > expires_on:
        return False
    return True


def _iso_date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


class _Errors(list):
    def add(self, message: str) -> None:
        self.append(message)


def _text(raw: dict, key: str, label: str, errors: _Errors, *, required: bool) -> str | None:
    value = raw.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors.add(f"{label}不能为空")
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        errors.add(f"{label}应为文字")
        return None
    value = value.strip()
    if len(value) > MAX_TEXT:
        errors.add(f"{label}太长（{len(value)} 字，最多 {MAX_TEXT} 字）")
    return value


def _text_list(raw: dict, key: str, label: str, errors: _Errors) -> list[str]:
    value = raw.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        errors.add(f"{label}应为列表（每项一行，以“- ”开头）")
        return []
    if not isinstance(value, list):
        errors.add(f"{label}应为列表")
        return []
    items: list[str] = []
    for i, item in enumerate(value, start=1):
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            item = str(item)
        if not isinstance(item, str) or not item.strip():
            errors.add(f"{label}第 {i} 项为空或不是文字")
            continue
        items.append(item.strip())
    return items


def read_date(value: Any) -> dt.date | None:
    """A date as YAML gives it (a date, a datetime, ISO text) or None when empty.

    Raises:
        ValueError: anything else; the caller words the message for its own readers.
    """
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        return dt.date.fromisoformat(value.strip())
    raise ValueError(f"not a date: {value!r}")


def _date(raw: dict, key: str, label: str, errors: _Errors) -> dt.date | None:
    value = raw.get(key)
    try:
        return read_date(value)
    except ValueError:
        errors.add(f"{label}“{value}”格式不对，应为 YYYY-MM-DD，例如 2026-01-01")
        return None


def _datetime(raw: dict, key: str, errors: _Errors) -> dt.datetime | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            errors.add(f"修改时间“{value}”格式不对，应为 YYYY-MM-DD")
            return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.timezone.utc)
    errors.add(f"修改时间“{value}”格式不对，应为 YYYY-MM-DD")
    return None


def parse_entry(
    raw: Any,
    *,
    area: str | None = None,
    default_updated_by: str = "unknown",
) -> tuple[EntryData | None, list[str], list[str]]:
    """Validate one raw entry (from YAML or a console form).

    Args:
        raw: the mapping as read.
        area: the area of the file it comes from; the id must start with it.
        default_updated_by: editor recorded when the entry names none.

    Returns:
        ``(entry, errors, warnings)``: the entry is None when there is any error. Errors and
        warnings are Chinese sentences without the entry id (the caller adds file and id).
    """
    errors = _Errors()
    warnings: list[str] = []
    if not isinstance(raw, dict):
        return None, ["条目应为“字段: 值”的映射"], []
    unknown = sorted(set(raw) - set(FIELDS) - _OPTIONAL_FIELDS)
    if unknown:
        errors.add(f"未知字段：{'、'.join(map(str, unknown))}（可用字段：{'、'.join(FIELDS)}）")

    entry_id = _text(raw, "id", "编号（id）", errors, required=True)
    entry_area = None
    if entry_id is not None:
        if not ID_RE.match(entry_id):
            errors.add(
                f"编号“{entry_id}”格式不对：应为“领域.英文短名”，只用小写字母、数字和连字符，"
                "例如 consumer.seven-day-return"
            )
        else:
            entry_area = entry_id.split(".", 1)[0]
            if entry_area not in AREAS:
                errors.add(f"编号“{entry_id}”的领域“{entry_area}”不存在，应为 {'、'.join(AREAS)} 之一")
            elif area is not None and entry_area != area:
                errors.add(f"编号“{entry_id}”的领域与所在文件的领域“{area}”不一致")
    declared_area = raw.get("area")
    if declared_area is not None and entry_area is not None and declared_area != entry_area:
        errors.add(f"领域“{declared_area}”与编号前缀“{entry_area}”不一致")

    title = _text(raw, "title", "标题（问题）", errors, required=True)
    answer = _text(raw, "answer", "回答", errors, required=True)
    phrasings = _text_list(raw, "phrasings", "其他问法", errors)
    tags = _text_list(raw, "tags", "标签", errors)
    basis = _text(raw, "basis", "依据", errors, required=False)
    agency = _text(raw, "agency", "负责机构", errors, required=False)
    effective_from = _date(raw, "effective_from", "生效日期", errors)
    expires_on = _date(raw, "expires_on", "失效日期", errors)
    if effective_from and expires_on and expires_on < effective_from:
        errors.add(f"失效日期（{expires_on.isoformat()}）不能早于生效日期（{effective_from.isoformat()}）")

    status = raw.get("status", "draft")
    if status not in STATUSES:
        errors.add(f"状态“{status}”无效，应为 {'、'.join(STATUSES)} 之一")
    updated_by = _text(raw, "updated_by", "修改人", errors, required=False) or default_updated_by
    updated_at = _datetime(raw, "updated_at", errors) or utcnow()

    if not errors:
        duplicates = sorted(p for p, n in collections.Counter(phrasings).items() if n > 1)
        if duplicates:
            warnings.append(f"其他问法有重复：{'、'.join(duplicates)}")
        if title in phrasings:
            warnings.append("其他问法里重复了标题")
        if status == "published" and len(phrasings) < RECOMMENDED_PHRASINGS:
            warnings.append(f"只有 {len(phrasings)} 个其他问法，建议至少 {RECOMMENDED_PHRASINGS} 个")
    if errors:
        return None, list(errors), warnings
    return (
        EntryData(
            id=entry_id,  # type: ignore[arg-type]
            area=entry_area,  # type: ignore[arg-type]
            title=title,  # type: ignore[arg-type]
            phrasings=phrasings,
            answer=answer,  # type: ignore[arg-type]
            tags=tags,
            basis=basis,
            agency=agency,
            effective_from=effective_from,
            expires_on=expires_on,
            status=status,
            updated_by=updated_by,
            updated_at=updated_at,
        ),
        [],
        warnings,
    )
