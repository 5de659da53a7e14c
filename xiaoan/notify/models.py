"""Tables of the notifications area (migration 0009_status).

- ``ticket_status_updates``: every status change the work-order platform (or staff at the
  command line) reported, once per event key, so that a repeated report changes nothing;
- ``ticket_notifications``: the durable queue of what a citizen must be told, one row per
  (status event, channel, kind); the worker (`xiaoan.notify.delivery`) sends due rows with
  retries; web rows wait until the citizen's browser shows them;
- ``ticket_surveys``: the satisfaction question of a closed ticket and its one answer;
- ``web_visitors``: which chat conversations one browser had (a long-lived random cookie), so a
  notice reaches the citizen on their next visit even after the conversation cookie is gone.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, String, Text

from xiaoan.crypto import EncryptedText
from xiaoan.db import Base, UTCDateTime, utcnow

# Notification kinds.
KIND_STATUS = "status"
KIND_SURVEY = "survey"

# Channels a notification goes through.
CHANNEL_WECHAT = "wechat"
CHANNEL_WEB = "web"
CHANNEL_SMS = "sms"

# Notification states.
PENDING = "pending"      # to be sent at next_attempt_at (web: to be shown on the next visit)
DELIVERED = "delivered"  # sent (web: shown)
FAILED = "failed"        # given up (the reason is in last_error); a fall-back may have been queued

# Survey states.
SURVEY_ASKED = "asked"
SURVEY_REASON = "awaiting_reason"  # 不满意 given; the next words are the reason
SURVEY_ANSWERED = "answered"


class TicketStatusUpdate(Base):
    """One reported status change of a ticket, kept once per event key (idempotency)."""

    __tablename__ = "ticket_status_updates"

    id = Column(Integer, primary_key=True)
    event_key = Column(String(160), nullable=False, unique=True,
                       doc="'platform:<event_id>' or 'cli:<uuid>': a repeated key changes nothing.")
    body_sha256 = Column(String(64), nullable=False, doc="Digest of the report: the same key with other content is refused.")
    ticket_id = Column(Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, index=True)
    status = Column(String(16), nullable=False)
    source = Column(String(16), nullable=False, doc="platform | cli")
    applied = Column(Integer, nullable=False, default=1,
                     doc="1 when it became the ticket's status; 0 when it arrived after closure (history only).")
    at = Column(UTCDateTime, nullable=False, doc="When the change happened (the platform's time).")
    received_at = Column(UTCDateTime, nullable=False, default=utcnow)


class TicketNotification(Base):
    """Something a citizen must be told about a ticket, through one channel (a queue row)."""

    __tablename__ = "ticket_notifications"

    id = Column(Integer, primary_key=True)
    dedupe_key = Column(String(200), nullable=False, unique=True, doc="'<update id>:<channel>:<kind>'.")
    ticket_id = Column(Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, index=True)
    kind = Column(String(16), nullable=False, doc="status | survey")
    channel = Column(String(16), nullable=False, doc="wechat | web | sms")
    recipient = Column(EncryptedText("ticket_notifications.recipient"), nullable=False,
                       doc="openid, web conversation id or phone number. Encrypted at rest.")
    conversation_id = Column(String(255), doc="Web rows: the chat conversation (a random id, found without decrypting).")
    params = Column(JSON, nullable=False, doc="Text variables: ticket_no, status, status_label, agency_name (no personal data).")
    state = Column(String(16), nullable=False, default=PENDING)
    via = Column(String(16), doc="How it went out: cs (customer-service message), subscribe, sms, web.")
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(UTCDateTime, nullable=False, default=utcnow)
    locked_until = Column(UTCDateTime, doc="Lease of the worker sending it.")
    last_error = Column(Text, doc="Masked description of the last failure.")
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    delivered_at = Column(UTCDateTime)

    __table_args__ = (Index("ix_ticket_notifications_due", "state", "channel", "next_attempt_at"),
                      Index("ix_ticket_notifications_conversation", "conversation_id"))


class TicketSurvey(Base):
    """The satisfaction question of a closed ticket and its single answer."""

    __tablename__ = "ticket_surveys"

    id = Column(Integer, primary_key=True)
    ticket_id = Column(Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, unique=True)
    state = Column(String(16), nullable=False, default=SURVEY_ASKED)
    asked_at = Column(UTCDateTime, nullable=False, default=utcnow)
    level = Column(String(16), doc="satisfied | basic | dissatisfied (xiaoan.ratings), once answered.")
    reason = Column(String(500), doc="Why 不满意, phone numbers masked.")
    answered_via = Column(String(16), doc="wechat | web | sms")
    answered_at = Column(UTCDateTime)
    rating_id = Column(Integer, ForeignKey("service_ratings.id", ondelete="SET NULL"),
                       doc="The ServiceRating row that carries the answer into the supervisors' figures.")


class WebVisitor(Base):
    """A chat conversation seen from one browser (cookie ``xiaoan_visitor``, random)."""

    __tablename__ = "web_visitors"

    visitor_id = Column(String(64), primary_key=True)
    conversation_id = Column(String(255), primary_key=True)
    seen_at = Column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (Index("ix_web_visitors_conversation", "conversation_id"),)
