"""Every database operation of the knowledge base.

The editing workflow (status of the working copy)::

    create/edit -> draft --submit--> review --publish (another maintainer)--> published
                                                        retire --> retired
    rollback to version N -> a new version copying N: published at once when N was a
                             published (already approved) version, else a draft

Editing a published entry leaves its published version answering citizens until the edit is
published. Every change writes a `KbEntryVersion` row (who, when, what, full snapshot), and
every change of what citizens see bumps the revision counter that search processes poll.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
from typing import Sequence

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xiaoan.db import record_from_row, session_scope, utcnow
from xiaoan.kb.models import KbEntry, KbEntryVersion, KbRevision, KbUnanswered, KbVote
from xiaoan.kb.schema import EntryData, today_shanghai
from xiaoan.privacy import mask_text

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 500
#: Longest 相似问法 the console accepts (a question, not a text; the schema allows more).
MAX_PHRASING_CHARS = 200


class KbError(Exception):
    """A refused knowledge-base operation; the message is Chinese and shown to the maintainer."""


class EntryNotFound(KbError):
    """No entry with that id."""


@dataclasses.dataclass
class EntryRecord:
    """An entry's working copy with its workflow state.

    Attributes:
        data: the working copy.
        version: number of its newest version.
        published_version: number of the version answering citizens, or None.
        position: order in its area file.
    """

    data: EntryData
    version: int
    published_version: int | None
    position: int | None

    @property
    def live(self) -> bool:
        """Whether some version of the entry answers citizens (ignoring dates)."""
        return self.published_version is not None

    @property
    def pending_changes(self) -> bool:
        """Published, but the working copy holds an unpublished edit."""
        return self.published_version is not None and self.published_version != self.version


@dataclasses.dataclass
class VersionRecord:
    """One row of an entry's history."""

    entry_id: str
    version: int
    action: str
    data: EntryData
    changed_by: str
    changed_at: dt.datetime
    note: str | None


@dataclasses.dataclass
class ImportReport:
    """What `KbRepository.import_entries` did (ids per outcome)."""

    created: list[str] = dataclasses.field(default_factory=list)
    updated: list[str] = dataclasses.field(default_factory=list)
    unchanged: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class VoteSummary:
    """Votes of one entry."""

    entry_id: str
    title: str | None
    helpful: int
    unhelpful: int
    last_vote_at: dt.datetime


@dataclasses.dataclass
class UnansweredRecord:
    """A question that got no answer."""

    id: int
    text: str
    conversation_id: str | None
    best_score: float | None
    best_entry_id: str | None
    created_at: dt.datetime


def _entry_data(row: KbEntry) -> EntryData:
    return record_from_row(EntryData, row, phrasings=list(row.phrasings or []), tags=list(row.tags or []))


def _record(row: KbEntry) -> EntryRecord:
    return EntryRecord(
        data=_entry_data(row), version=row.version, published_version=row.published_version, position=row.position
    )


def _apply(row: KbEntry, data: EntryData) -> None:
    row.area = data.area
    row.title = data.title
    row.phrasings = list(data.phrasings)
    row.answer = data.answer
    row.tags = list(data.tags)
    row.basis = data.basis
    row.agency = data.agency
    row.effective_from = data.effective_from
    row.expires_on = data.expires_on
    row.status = data.status
    row.updated_by = data.updated_by
    row.updated_at = data.updated_at


class KbRepository:
    """Knowledge-base storage at one database URL (default ``DATABASE_URL``)."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url

    # --- reading -------------------------------------------------------------------------

    def count_entries(self) -> int:
        """Number of entries in any status."""
        with session_scope(self.url) as s:
            return s.execute(select(func.count()).select_from(KbEntry)).scalar_one()

    def get(self, entry_id: str) -> EntryRecord:
        """One entry.

        Raises:
            EntryNotFound: no such id.
        """
        with session_scope(self.url) as s:
            return _record(self._row(s, entry_id))

    def list_entries(
        self, *, text: str | None = None, area: str | None = None, status: str | None = None
    ) -> list[EntryRecord]:
        """Entries ordered by area, file position and id.

        Args:
            text: substring of id, title, phrasings, tags or answer (case-insensitive).
            area: only this area.
            status: only this status; ``expired`` selects entries whose expiry date has passed.
        """
        stmt = select(KbEntry)
        if area:
            stmt = stmt.where(KbEntry.area == area)
        if status == "expired":
            stmt = stmt.where(KbEntry.expires_on < today_shanghai())
        elif status:
            stmt = stmt.where(KbEntry.status == status)
        stmt = stmt.order_by(KbEntry.area, case((KbEntry.position.is_(None), 1), else_=0), KbEntry.position, KbEntry.id)
        with session_scope(self.url) as s:
            records = [_record(r) for r in s.execute(stmt).scalars()]
        if text:
            needle = text.strip().lower()
            records = [r for r in records if needle in _haystack(r.data)]
        return records

    def export_entries(self) -> list[EntryData]:
        """Working copies of all entries, in file order (for `xiaoan kb export`)."""
        return [r.data for r in self.list_entries()]

    def published_entries(self) -> list[EntryData]:
        """The versions that answer citizens (published, not retired), whatever their dates.

        Each is the snapshot of the entry's published version, so an unpublished edit of a
        published entry is not included.
        """
        stmt = (
            select(KbEntryVersion.snapshot)
            .join(
                KbEntry,
                and_(KbEntry.id == KbEntryVersion.entry_id, KbEntry.published_version == KbEntryVersion.version),
            )
            .where(KbEntry.status != "retired")
            .order_by(KbEntry.area, KbEntry.position, KbEntry.id)
        )
        with session_scope(self.url) as s:
            return [EntryData.from_snapshot(snap) for snap in s.execute(stmt).scalars()]

    def history(self, entry_id: str) -> list[VersionRecord]:
        """Every version of an entry, newest first."""
        stmt = (
            select(KbEntryVersion)
            .where(KbEntryVersion.entry_id == entry_id)
            .order_by(KbEntryVersion.version.desc())
        )
        with session_scope(self.url) as s:
            self._row(s, entry_id)
            return [
                record_from_row(VersionRecord, v, data=EntryData.from_snapshot(v.snapshot))
                for v in s.execute(stmt).scalars()
            ]

    def version(self, entry_id: str, version: int) -> VersionRecord:
        """One version of an entry.

        Raises:
            EntryNotFound: no such entry or version.
        """
        for record in self.history(entry_id):
            if record.version == version:
                return record
        raise EntryNotFound(f"条目“{entry_id}”没有第 {version} 版")

    def revision(self) -> int:
        """The revision counter (0 before the first change)."""
        with session_scope(self.url) as s:
            return s.execute(select(KbRevision.revision).where(KbRevision.id == 1)).scalar_one_or_none() or 0

    # --- editing workflow ----------------------------------------------------------------

    def create(self, data: EntryData, by: str) -> EntryRecord:
        """Create an entry as a draft.

        Raises:
            KbError: the id exists already.
        """
        data = dataclasses.replace(data, status="draft", updated_by=by, updated_at=utcnow())
        with session_scope(self.url) as s:
            if s.get(KbEntry, data.id) is not None:
                raise KbError(f"编号“{data.id}”已存在，请换一个编号或编辑已有条目")
            position = s.execute(select(func.max(KbEntry.position)).where(KbEntry.area == data.area)).scalar()
            row = KbEntry(id=data.id, version=0, position=(position or 0) + 1)
            _apply(row, data)
            s.add(row)
            self._new_version(s, row, "create", by)
            return _record(row)

    def update(self, entry_id: str, data: EntryData, by: str, *, expected_version: int | None = None) -> EntryRecord:
        """Save an edit of the working copy; the entry becomes a draft again.

        A published version stays live until the edit is published.

        Args:
            entry_id: the entry edited (its id cannot change).
            data: the new content.
            by: the maintainer.
            expected_version: the version the maintainer started from; refused when the
                entry changed meanwhile, so nobody overwrites another's edit unseen.

        Raises:
            EntryNotFound: no such entry.
            KbError: the id differs or the entry changed meanwhile.
        """
        if data.id != entry_id:
            raise KbError("条目编号不能修改；如需新编号，请新建条目并下线旧条目")
        with session_scope(self.url) as s:
            row = self._row(s, entry_id, lock=True)
            self._check_version(row, expected_version)
            _apply(row, dataclasses.replace(data, status="draft", updated_by=by, updated_at=utcnow()))
            self._new_version(s, row, "edit", by)
            return _record(row)

    def submit(self, entry_id: str, by: str, *, expected_version: int | None = None) -> EntryRecord:
        """Send a draft for review.

        Raises:
            KbError: the entry is not a draft.
        """
        with session_scope(self.url) as s:
            row = self._row(s, entry_id, lock=True)
            self._check_version(row, expected_version)
            if row.status != "draft":
                raise KbError("只有草稿可以提交审核")
            row.status = "review"
            self._new_version(s, row, "submit", by)
            return _record(row)

    def publish(self, entry_id: str, by: str, *, expected_version: int | None = None) -> EntryRecord:
        """Approve and publish an entry in review; it answers citizens within seconds.

        Raises:
            KbError: not in review, or the approver is the entry's last editor.
        """
        with session_scope(self.url) as s:
            row = self._row(s, entry_id, lock=True)
            self._check_version(row, expected_version)
            if row.status != "review":
                raise KbError("只有待审核的条目可以发布，请先提交审核")
            if row.updated_by == by:
                raise KbError("发布需要另一位维护员审核：最后修改人不能发布自己的修改")
            row.status = "published"
            version = self._new_version(s, row, "publish", by)
            row.published_version = version
            self._bump(s)
            return _record(row)

    def retire(self, entry_id: str, by: str, *, expected_version: int | None = None) -> EntryRecord:
        """Take an entry offline; it is no longer answered.

        Raises:
            KbError: already retired.
        """
        with session_scope(self.url) as s:
            row = self._row(s, entry_id, lock=True)
            self._check_version(row, expected_version)
            if row.status == "retired":
                raise KbError("该条目已经下线")
            row.status = "retired"
            row.published_version = None
            self._new_version(s, row, "retire", by)
            self._bump(s)
            return _record(row)

    def rollback(self, entry_id: str, to_version: int, by: str) -> EntryRecord:
        """Restore an earlier version as a new version.

        When the restored version had been published (approved by a second maintainer), it
        answers citizens at once; otherwise the restored content is a draft.

        Raises:
            EntryNotFound: no such entry or version.
        """
        with session_scope(self.url) as s:
            row = self._row(s, entry_id, lock=True)
            old = s.execute(
                select(KbEntryVersion).where(KbEntryVersion.entry_id == entry_id, KbEntryVersion.version == to_version)
            ).scalar_one_or_none()
            if old is None:
                raise EntryNotFound(f"条目“{entry_id}”没有第 {to_version} 版")
            data = EntryData.from_snapshot(old.snapshot)
            was_published = data.status == "published"
            _apply(
                row,
                dataclasses.replace(
                    data, status="published" if was_published else "draft", updated_by=by, updated_at=utcnow()
                ),
            )
            version = self._new_version(s, row, "rollback", by, note=f"回滚到第 {to_version} 版")
            if was_published:
                row.published_version = version
            self._bump(s)
            return _record(row)

    def add_phrasing(
        self, entry_id: str, phrasing: str, by: str, *, expected_version: int | None = None
    ) -> EntryRecord:
        """Append one alternative question (相似问法) to an entry in one step.

        A phrasing adds a way in to an answer without changing what citizens read, so on an
        entry that is published with no pending edit it goes live at once: the new version is
        the published one and the revision counter is bumped, so every search process reloads
        within seconds (no retraining). On any other entry (draft, in review, published with an
        unpublished edit, retired) it is added to the working copy, which becomes a draft like
        any edit and goes live when published.

        Args:
            entry_id: the entry.
            phrasing: the question as a citizen asked it (stripped here).
            by: the maintainer.
            expected_version: the version the maintainer saw; refused when the entry changed.

        Returns:
            The entry after the change (``published_version == version`` when it is live).

        Raises:
            EntryNotFound: no such entry.
            KbError: empty, too long, already a question of this or another entry, or the
                entry changed meanwhile (Chinese message for the maintainer).
        """
        text = " ".join((phrasing or "").split())
        if not text:
            raise KbError("相似问法不能为空")
        if len(text) > MAX_PHRASING_CHARS:
            raise KbError(f"相似问法太长（{len(text)} 字，最多 {MAX_PHRASING_CHARS} 字），请只写市民的问题")
        key = _phrasing_key(text)
        with session_scope(self.url) as s:
            row = self._row(s, entry_id, lock=True)
            self._check_version(row, expected_version)
            if key in {_phrasing_key(q) for q in [row.title, *(row.phrasings or [])]}:
                raise KbError(f"“{text}”已经是这个条目的问法了，不用重复添加")
            for other in s.execute(select(KbEntry).where(KbEntry.id != entry_id)).scalars():
                if key in {_phrasing_key(q) for q in [other.title, *(other.phrasings or [])]}:
                    raise KbError(f"“{text}”已经是条目“{other.id}”的问法，同一个问法不能指向两个条目")
            go_live = row.status == "published" and row.published_version == row.version
            data = _entry_data(row)
            _apply(
                row,
                dataclasses.replace(
                    data,
                    phrasings=[*data.phrasings, text],
                    status="published" if go_live else "draft",
                    updated_by=by,
                    updated_at=utcnow(),
                ),
            )
            version = self._new_version(s, row, "add_phrasing", by, note=text[:200])
            if go_live:
                row.published_version = version
                self._bump(s)
            return _record(row)

    def mark_reviewed(self, entry_id: str, by: str, *, expected_version: int | None = None) -> EntryRecord:
        """Record that a maintainer checked an entry (已复核): who and when, nothing else changes.

        The record is a version with action ``review`` whose snapshot equals the working copy;
        the content editor (``updated_by``/``updated_at``) stays. On an entry published with no
        pending edit the new version becomes the published one (its content is the same, so
        nothing citizens see changes and no search process reloads).

        Raises:
            EntryNotFound: no such entry.
            KbError: retired, or the entry changed meanwhile.
        """
        with session_scope(self.url) as s:
            row = self._row(s, entry_id, lock=True)
            self._check_version(row, expected_version)
            if row.status == "retired":
                raise KbError("已下线的条目不用复核")
            live = row.status == "published" and row.published_version == row.version
            version = self._new_version(s, row, "review", by)
            if live:
                row.published_version = version
            return _record(row)

    def last_reviews(self) -> dict[str, tuple[dt.datetime, str, str]]:
        """Entry id -> (time, who, action) of its newest ``review`` or ``publish`` version."""
        newest = (
            select(KbEntryVersion.entry_id, func.max(KbEntryVersion.version).label("version"))
            .where(KbEntryVersion.action.in_(("review", "publish")))
            .group_by(KbEntryVersion.entry_id)
            .subquery()
        )
        stmt = select(KbEntryVersion.entry_id, KbEntryVersion.changed_at, KbEntryVersion.changed_by,
                      KbEntryVersion.action).join(
            newest, and_(newest.c.entry_id == KbEntryVersion.entry_id, newest.c.version == KbEntryVersion.version)
        )
        with session_scope(self.url) as s:
            return {e: (at, by, action) for e, at, by, action in s.execute(stmt).all()}

    def add_phrasings(
        self, entry_id: str, phrasings: Sequence[str], by: str, *, expected_version: int | None = None
    ) -> tuple[EntryRecord, list[str], list[str]]:
        """Append several 相似问法 (e.g. a group of citizens' questions) to an entry as one version.

        The rule of `add_phrasing` applies: live at once on an entry published with no pending
        edit (no retraining), else added to the working copy, which becomes a draft. Questions
        that are empty, too long, repeated, or already a question of this or another entry are
        skipped and returned with the reason.

        Returns:
            ``(record, added, skipped)``: skipped items are Chinese "“问题”：原因" strings.

        Raises:
            EntryNotFound: no such entry.
            KbError: nothing to add, or the entry changed meanwhile.
        """
        added: list[str] = []
        skipped: list[str] = []
        with session_scope(self.url) as s:
            row = self._row(s, entry_id, lock=True)
            self._check_version(row, expected_version)
            own = {_phrasing_key(q) for q in [row.title, *(row.phrasings or [])]}
            others: dict[str, str] = {}
            for other in s.execute(select(KbEntry).where(KbEntry.id != entry_id)).scalars():
                for q in [other.title, *(other.phrasings or [])]:
                    others.setdefault(_phrasing_key(q), other.id)
            for phrasing in phrasings:
                text = " ".join((phrasing or "").split())
                key = _phrasing_key(text)
                if not key:
                    continue
                if len(text) > MAX_PHRASING_CHARS:
                    skipped.append(f"“{text[:20]}…”：太长（最多 {MAX_PHRASING_CHARS} 字）")
                elif key in own:
                    skipped.append(f"“{text}”：已经是这个条目的问法")
                elif key in others:
                    skipped.append(f"“{text}”：已经是条目“{others[key]}”的问法")
                else:
                    own.add(key)
                    added.append(text)
            if not added:
                raise KbError("没有可以添加的问法：" + ("；".join(skipped) if skipped else "请至少选择一个问题"))
            go_live = row.status == "published" and row.published_version == row.version
            data = _entry_data(row)
            _apply(row, dataclasses.replace(
                data, phrasings=[*data.phrasings, *added], status="published" if go_live else "draft",
                updated_by=by, updated_at=utcnow(),
            ))
            version = self._new_version(s, row, "add_phrasing", by, note="、".join(added)[:200])
            if go_live:
                row.published_version = version
                self._bump(s)
            return _record(row), added, skipped

    def import_entries(self, entries: Sequence[EntryData], by: str) -> ImportReport:
        """Create or update entries from YAML in one transaction (all or nothing).

        Entries keep the status, editor and time written in the file; an entry whose content
        and status did not change gets no new version. Entries missing from the files stay.
        """
        report = ImportReport()
        positions: dict[str, int] = {}
        with session_scope(self.url) as s:
            for data in entries:
                positions[data.area] = positions.get(data.area, 0) + 1
                row = s.get(KbEntry, data.id)
                if row is None:
                    row = KbEntry(id=data.id, version=0)
                    s.add(row)
                    report.created.append(data.id)
                else:
                    old = _entry_data(row)
                    if old.content() == data.content():
                        row.position = positions[data.area]
                        report.unchanged.append(data.id)
                        continue
                    report.updated.append(data.id)
                _apply(row, data)
                row.position = positions[data.area]
                version = self._new_version(s, row, "import", by)
                if data.status == "published":
                    row.published_version = version
                elif data.status == "retired":
                    row.published_version = None
            if report.created or report.updated:
                self._bump(s)
        return report

    # --- votes and unanswered questions --------------------------------------------------

    def record_vote(
        self, entry_id: str, conversation_id: str | None, helpful: bool, question: str | None = None
    ) -> None:
        """Record a citizen's answer to 这个回答有帮助吗？ and the question answered (phone numbers masked)."""
        text = mask_text(" ".join((question or "").split()))[:MAX_QUESTION_CHARS] or None
        with session_scope(self.url) as s:
            s.add(KbVote(entry_id=entry_id, conversation_id=conversation_id, helpful=bool(helpful), question=text))

    def loop_questions(self, limit: int = 2000):
        """The newest unanswered questions and down-voted questions, for grouping
        (`xiaoan.kb.clusters.Question`, newest first, at most `limit` of each kind)."""
        from xiaoan.kb.clusters import DOWNVOTED, UNANSWERED, Question

        unanswered = select(KbUnanswered.text, KbUnanswered.best_entry_id, KbUnanswered.created_at).order_by(
            KbUnanswered.created_at.desc(), KbUnanswered.id.desc()).limit(limit)
        downvoted = (
            select(KbVote.question, KbVote.entry_id, KbVote.created_at)
            .where(KbVote.helpful.is_(False), KbVote.question.is_not(None))
            .order_by(KbVote.created_at.desc(), KbVote.id.desc())
            .limit(limit)
        )
        with session_scope(self.url) as s:
            rows = [Question(t, UNANSWERED, e, at) for t, e, at in s.execute(unanswered).all()]
            rows += [Question(t, DOWNVOTED, e, at) for t, e, at in s.execute(downvoted).all()]
        return sorted(rows, key=lambda q: q.created_at, reverse=True)

    def known_questions(self) -> list[str]:
        """Titles and 相似问法 of every entry that is not retired."""
        stmt = select(KbEntry.title, KbEntry.phrasings).where(KbEntry.status != "retired")
        with session_scope(self.url) as s:
            return [q for title, phrasings in s.execute(stmt).all() for q in [title, *(phrasings or [])]]

    def record_unanswered(
        self,
        text: str,
        conversation_id: str | None,
        best_score: float | None,
        best_entry_id: str | None = None,
    ) -> None:
        """Record a question without an answer (phone numbers masked)."""
        masked = mask_text((text or "").strip())[:MAX_QUESTION_CHARS]
        with session_scope(self.url) as s:
            s.add(
                KbUnanswered(
                    text=masked,
                    conversation_id=conversation_id,
                    best_score=None if best_score is None else float(best_score),
                    best_entry_id=best_entry_id,
                )
            )

    def unanswered(self, limit: int = 200) -> list[UnansweredRecord]:
        """The newest unanswered questions."""
        stmt = select(KbUnanswered).order_by(KbUnanswered.created_at.desc(), KbUnanswered.id.desc()).limit(limit)
        with session_scope(self.url) as s:
            return [record_from_row(UnansweredRecord, r) for r in s.execute(stmt).scalars()]

    def vote_summaries(self, *, only_downvoted: bool = False) -> list[VoteSummary]:
        """Votes per entry, most down-votes first."""
        unhelpful = func.sum(case((KbVote.helpful.is_(False), 1), else_=0))
        helpful = func.sum(case((KbVote.helpful.is_(True), 1), else_=0))
        stmt = (
            select(KbVote.entry_id, KbEntry.title, helpful, unhelpful, func.max(KbVote.created_at))
            .outerjoin(KbEntry, KbEntry.id == KbVote.entry_id)
            .group_by(KbVote.entry_id, KbEntry.title)
            .order_by(unhelpful.desc(), KbVote.entry_id)
        )
        if only_downvoted:
            stmt = stmt.having(unhelpful > 0)
        with session_scope(self.url) as s:
            rows = s.execute(stmt).all()
        return [
            VoteSummary(entry_id=e, title=t, helpful=int(h or 0), unhelpful=int(u or 0), last_vote_at=last)
            for e, t, h, u, last in rows
        ]

    # --- internals -------------------------------------------------------------------------

    @staticmethod
    def _row(s: Session, entry_id: str, *, lock: bool = False) -> KbEntry:
        stmt = select(KbEntry).where(KbEntry.id == entry_id)
        if lock:
            stmt = stmt.with_for_update()
        row = s.execute(stmt).scalar_one_or_none()
        if row is None:
            raise EntryNotFound(f"没有编号为“{entry_id}”的条目")
        return row

    @staticmethod
    def _check_version(row: KbEntry, expected_version: int | None) -> None:
        if expected_version is not None and row.version != expected_version:
            raise KbError(
                f"该条目已被他人修改（现在是第 {row.version} 版，您打开的是第 {expected_version} 版），"
                "请刷新页面后再操作"
            )

    @staticmethod
    def _new_version(s: Session, row: KbEntry, action: str, by: str, note: str | None = None) -> int:
        row.version = (row.version or 0) + 1
        s.flush()
        s.add(
            KbEntryVersion(
                entry_id=row.id,
                version=row.version,
                action=action,
                snapshot=_entry_data(row).to_snapshot(),
                changed_by=by,
                changed_at=utcnow(),
                note=note,
            )
        )
        log.info("kb entry %s v%s %s by %s", row.id, row.version, action, by)
        return row.version

    @staticmethod
    def _bump(s: Session) -> None:
        result = s.execute(
            update(KbRevision).where(KbRevision.id == 1).values(revision=KbRevision.revision + 1, changed_at=utcnow())
        )
        if result.rowcount == 0:
            try:
                with s.begin_nested():
                    s.add(KbRevision(id=1, revision=1, changed_at=utcnow()))
            except IntegrityError:  # another process created the row first
                s.execute(
                    update(KbRevision)
                    .where(KbRevision.id == 1)
                    .values(revision=KbRevision.revision + 1, changed_at=utcnow())
                )


def _phrasing_key(text: str) -> str:
    """A question reduced for duplicate checks: no spaces or end punctuation, lower case."""
    return re.sub(r"[\s？?！!。.，,~～]+", "", text or "").lower()


def _haystack(data: EntryData) -> str:
    return "\n".join([data.id, data.title, *data.phrasings, *data.tags, data.answer]).lower()


def bump_revision(url: str | None = None) -> None:
    """Bump the revision counter (e.g. after changing the synonym table), making searches reload."""
    with session_scope(url) as s:
        KbRepository._bump(s)

