"""Canned replies (常用语) for the agents' inbox: supervisors add, edit, retire and restore them
(`/console/inbox/canned`, `xiaoan.handoff.assist_console`), agents insert an active one into the
reply box with one click. Grouped by a free topic ("开场与安抚", "预付卡", ...).

A retired reply is kept (its id may be in an agent's open page) but no longer offered. Input is
checked here, once, with Chinese messages naming the field (`CannedInputError`); nothing is stored
half. The messages are `xiaoan/resources/labels.yml` (messages.canned), the field names in them
its `assist.canned_fields`. Table `canned_replies`, migration `0010_canned`.

Usage::

    with session_scope() as db:
        reply = create_reply(db, topic="开场与安抚", title="问候", text="您好，我是人工客服……", by="李主管")
        groups = grouped(list_replies(db))           # [(topic, [CannedView, ...]), ...]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from sqlalchemy import Boolean, Column, Index, Integer, String, Text, select
from sqlalchemy.orm import Session

from xiaoan import labels
from xiaoan.db import Base, UTCDateTime, utcnow
from xiaoan.handoff.assist import load_assist_labels
from xiaoan.handoff.service import MAX_REPLY_CHARS

MAX_TOPIC_CHARS = 32
MAX_TITLE_CHARS = 64
MAX_TEXT_CHARS = MAX_REPLY_CHARS  # a canned reply is sent as one agent reply


_UNREADABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_SPACES = re.compile(r"[ \t\u3000]+")


class CannedReply(Base):
    """One canned reply a supervisor maintains."""

    __tablename__ = "canned_replies"
    __table_args__ = (Index("ix_canned_replies_active_topic", "active", "topic"),)

    id = Column(Integer, primary_key=True)
    topic = Column(String(MAX_TOPIC_CHARS), nullable=False, doc="The group it is listed under (free text).")
    title = Column(String(MAX_TITLE_CHARS), nullable=False, doc="Short name on the button; unique per topic among active ones.")
    text = Column(Text, nullable=False, doc="What is inserted into the reply box (the agent may edit before sending).")
    active = Column(Boolean, nullable=False, default=True, doc="False = retired: kept, no longer offered.")
    created_by = Column(String(64), nullable=False)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    updated_by = Column(String(64), nullable=False)
    updated_at = Column(UTCDateTime, nullable=False, default=utcnow)


class CannedError(Exception):
    """A canned-reply operation refused (the message is Chinese, for the supervisor)."""


class CannedNotFound(CannedError):
    """No canned reply with that id."""

    def __init__(self) -> None:
        super().__init__(labels.message("canned.not_found"))


class CannedInputError(CannedError):
    """Bad input (the message names the field).

    Attributes:
        field: "topic", "title" or "text".
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class CannedView:
    """A canned reply as the pages read it (detached from the session)."""

    id: int
    topic: str
    title: str
    text: str
    active: bool
    updated_by: str
    updated_at: object

    def as_json(self) -> dict:
        return {"id": self.id, "topic": self.topic, "title": self.title, "text": self.text}


def _view(row: CannedReply) -> CannedView:
    return CannedView(id=row.id, topic=row.topic, title=row.title, text=row.text, active=row.active,
                      updated_by=row.updated_by, updated_at=row.updated_at)


def _clean(field: str, value: Optional[str], limit: int, *, multiline: bool = False) -> str:
    label = load_assist_labels().canned_fields[field]
    value = (value or "").replace("\r\n", "\n").replace("\r", "\n")
    if _UNREADABLE.search(value):
        raise CannedInputError(field, labels.message("canned.unreadable", label=label))
    value = value.strip() if multiline else _SPACES.sub(" ", value.replace("\n", " ")).strip()
    if not value:
        raise CannedInputError(field, labels.message("canned.required", label=label))
    if len(value) > limit:
        raise CannedInputError(field, labels.message("canned.too_long", label=label, limit=limit))
    return value


def check_input(topic: Optional[str], title: Optional[str], text: Optional[str]) -> tuple[str, str, str]:
    """The cleaned (topic, title, text).

    Raises:
        CannedInputError: a field is empty, too long or holds control characters.
    """
    return (_clean("topic", topic, MAX_TOPIC_CHARS), _clean("title", title, MAX_TITLE_CHARS),
            _clean("text", text, MAX_TEXT_CHARS, multiline=True))


def _check_unique(db: Session, topic: str, title: str, except_id: Optional[int] = None) -> None:
    query = select(CannedReply.id).where(CannedReply.active.is_(True), CannedReply.topic == topic,
                                         CannedReply.title == title)
    if except_id is not None:
        query = query.where(CannedReply.id != except_id)
    if db.execute(query).first() is not None:
        raise CannedInputError("title", labels.message("canned.duplicate", topic=topic, title=title))


def list_replies(db: Session, *, include_retired: bool = False) -> list[CannedView]:
    """Canned replies by topic, then title (active ones only unless `include_retired`)."""
    query = select(CannedReply).order_by(CannedReply.topic, CannedReply.title, CannedReply.id)
    if not include_retired:
        query = query.where(CannedReply.active.is_(True))
    return [_view(row) for row in db.execute(query).scalars()]


def grouped(replies: list[CannedView]) -> list[tuple[str, list[CannedView]]]:
    """Replies grouped by topic, in the order given."""
    groups: dict[str, list[CannedView]] = {}
    for reply in replies:
        groups.setdefault(reply.topic, []).append(reply)
    return list(groups.items())


def get_reply(db: Session, reply_id: int) -> CannedView:
    """One canned reply.

    Raises:
        CannedNotFound: no such id.
    """
    row = db.get(CannedReply, reply_id)
    if row is None:
        raise CannedNotFound()
    return _view(row)


def create_reply(db: Session, *, topic: str, title: str, text: str, by: str) -> CannedView:
    """Add an active canned reply.

    Raises:
        CannedInputError: bad input, or the topic already has an active reply with that title.
    """
    topic, title, text = check_input(topic, title, text)
    _check_unique(db, topic, title)
    now = utcnow()
    row = CannedReply(topic=topic, title=title, text=text, active=True, created_by=by, created_at=now,
                      updated_by=by, updated_at=now)
    db.add(row)
    db.flush()
    return _view(row)


def update_reply(db: Session, reply_id: int, *, topic: str, title: str, text: str, by: str) -> CannedView:
    """Change a canned reply's topic, title and text.

    Raises:
        CannedNotFound: no such id.
        CannedInputError: bad input, or a title taken in the topic.
    """
    row = db.get(CannedReply, reply_id)
    if row is None:
        raise CannedNotFound()
    topic, title, text = check_input(topic, title, text)
    if row.active:
        _check_unique(db, topic, title, except_id=row.id)
    row.topic, row.title, row.text = topic, title, text
    row.updated_by, row.updated_at = by, utcnow()
    db.flush()
    return _view(row)


def set_active(db: Session, reply_id: int, active: bool, *, by: str) -> CannedView:
    """Retire (`active=False`) or restore a canned reply.

    Raises:
        CannedNotFound: no such id.
        CannedInputError: restoring a reply whose title another active one in its topic took meanwhile.
    """
    row = db.get(CannedReply, reply_id)
    if row is None:
        raise CannedNotFound()
    if active and not row.active:
        _check_unique(db, row.topic, row.title, except_id=row.id)
    row.active = active
    row.updated_by, row.updated_at = by, utcnow()
    db.flush()
    return _view(row)
