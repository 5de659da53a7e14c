"""Citizens' satisfaction ratings of the service (满意 / 基本满意 / 不满意)."""

from __future__ import annotations

import re
from typing import Optional

from sqlalchemy import Column, Integer, String
from sqlalchemy.orm import Session

from xiaoan.db import Base, UTCDateTime, session_scope, utcnow
from xiaoan.privacy import mask_text

SATISFIED, BASIC, DISSATISFIED = "satisfied", "basic", "dissatisfied"

_NEGATIVE = re.compile(r"不满意|很差|太差|差评|垃圾|没用|不好|失望|[一1两2]\s*[分星]")
_BASIC = re.compile(r"基本满意|一般|还行|凑合|马马虎虎|还可以|[三3]\s*[分星]")
_POSITIVE = re.compile(r"满意|很好|不错|好评|点赞|棒|赞|[四五45]\s*[分星]|谢谢")


class ServiceRating(Base):
    """One satisfaction rating given in a conversation."""

    __tablename__ = "service_ratings"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(128), nullable=False, index=True)
    channel = Column(String(32), nullable=True)
    level = Column(String(16), nullable=False, doc="satisfied | basic | dissatisfied")
    text = Column(String(500), nullable=True, doc="the citizen's words, phone numbers masked")
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)


def classify_rating(text: str) -> Optional[str]:
    """The rating level a citizen's words express, or None when they express none."""
    text = text or ""
    if _NEGATIVE.search(text):
        return DISSATISFIED
    if _BASIC.search(text):
        return BASIC
    if _POSITIVE.search(text):
        return SATISFIED
    return None


def record_rating(conversation_id: str, channel: Optional[str], text: str, session: Optional[Session] = None) -> str:
    """Store a rating; returns its level (unclassifiable words count as `basic`)."""
    level = classify_rating(text) or BASIC
    row = ServiceRating(conversation_id=conversation_id, channel=channel, level=level, text=mask_text(text)[:500])
    if session is not None:
        session.add(row)
    else:
        with session_scope() as s:
            s.add(row)
    return level
