"""Knowledge-base tables.

An entry row is the *working copy* that maintainers edit. Every change to it also writes a
`KbEntryVersion` row holding a full snapshot, so the history is complete and a roll back is
simply a new version that copies an old snapshot. What citizens are answered with is the
snapshot named by `KbEntry.published_version`: an edit of a published entry stays invisible
until a second maintainer publishes it, while the earlier published text keeps answering.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)

from xiaoan.db import Base, UTCDateTime, utcnow

STATUSES = ("draft", "review", "published", "retired")


class KbEntry(Base):
    """One knowledge-base entry (working copy); see the module docstring."""

    __tablename__ = "kb_entries"

    id = Column(String(120), primary_key=True, comment="area.slug, e.g. consumer.seven-day-return")
    area = Column(String(32), nullable=False, index=True)
    title = Column(Text, nullable=False, comment="the question as citizens ask it")
    phrasings = Column(JSON, nullable=False, default=list, comment="alternative questions (list of str)")
    answer = Column(Text, nullable=False)
    tags = Column(JSON, nullable=False, default=list)
    basis = Column(Text, nullable=True, comment="legal or official basis, null when there is none")
    # The database comment keeps the wording of migration 0001 ("CONTRACT §4" = docs/interfaces.md §4).
    agency = Column(String(120), nullable=True, comment="CONTRACT §4 code, 'dist', or an outside body")
    effective_from = Column(Date, nullable=True)
    expires_on = Column(Date, nullable=True, comment="last day the entry is answered; after it the entry is expired")
    status = Column(String(16), nullable=False, default="draft", comment="draft | review | published | retired")
    updated_by = Column(String(120), nullable=False, comment="the last editor of the content")
    updated_at = Column(UTCDateTime, nullable=False, default=utcnow)
    version = Column(Integer, nullable=False, default=1, comment="number of the newest KbEntryVersion")
    published_version = Column(
        Integer, nullable=True, comment="version number that answers citizens; null = not answered"
    )
    position = Column(Integer, nullable=True, comment="order within its area file, kept for export")


class KbEntryVersion(Base):
    """One change of an entry: who, when, what, and the full snapshot after the change."""

    __tablename__ = "kb_entry_versions"
    __table_args__ = (UniqueConstraint("entry_id", "version", name="uq_kb_entry_versions_entry_version"),)

    id = Column(Integer, primary_key=True, autoincrement=True)
    entry_id = Column(String(120), ForeignKey("kb_entries.id", ondelete="CASCADE"), nullable=False, index=True)
    version = Column(Integer, nullable=False)
    action = Column(
        String(16),
        nullable=False,
        comment="create | edit | submit | publish | retire | rollback | import",
    )
    snapshot = Column(JSON, nullable=False, comment="every schema field after the change (dates as ISO text)")
    changed_by = Column(String(120), nullable=False)
    changed_at = Column(UTCDateTime, nullable=False, default=utcnow)
    note = Column(Text, nullable=True, comment="e.g. 'rolled back to version 3'")


class KbVote(Base):
    """A citizen's answer to 这个回答有帮助吗？ for one entry."""

    __tablename__ = "kb_votes"
    __table_args__ = (Index("ix_kb_votes_entry_helpful", "entry_id", "helpful"),)

    id = Column(Integer, primary_key=True, autoincrement=True)
    entry_id = Column(String(120), nullable=False, comment="no foreign key: votes outlive deleted entries")
    conversation_id = Column(String(200), nullable=True)
    helpful = Column(Boolean, nullable=False)
    question = Column(Text, nullable=True, comment="the question answered, personal data masked; null for old votes")
    created_at = Column(UTCDateTime, nullable=False, default=utcnow, index=True)


class KbUnanswered(Base):
    """A question the knowledge base could not answer; shown to maintainers as work to do."""

    __tablename__ = "kb_unanswered"

    id = Column(Integer, primary_key=True, autoincrement=True)
    text = Column(Text, nullable=False, comment="the question with phone numbers masked")
    conversation_id = Column(String(200), nullable=True)
    best_score = Column(Float, nullable=True, comment="confidence of the best candidate (0..1)")
    best_entry_id = Column(String(120), nullable=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow, index=True)


class KbRevision(Base):
    """A single row (id 1) whose counter is bumped whenever what citizens see may change.

    Every search process polls this one cheap row and rebuilds its in-memory index when the
    number differs from the one it was built from.
    """

    __tablename__ = "kb_revision"

    id = Column(Integer, primary_key=True)
    revision = Column(Integer, nullable=False, default=0)
    changed_at = Column(UTCDateTime, nullable=False, default=utcnow)
