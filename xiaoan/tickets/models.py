"""SQLAlchemy models of the tickets area: tickets, their status history, the forwarding outbox
and the per-day number sequence.

The ticket keeps the citizen's full phone number because the handling bureau must call back;
every listing and log line shows it masked (`xiaoan.privacy.mask_phone`). The complainant's
name, phone and address, and the outbox payload that carries them, are encrypted at rest
(`xiaoan.crypto`, key `XIAOAN_DATA_KEY`); `phone_hash` (a keyed hash) finds tickets by phone.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
)
from sqlalchemy.orm import relationship
from sqlalchemy.types import TypeDecorator

from xiaoan.crypto import EncryptedJSON, EncryptedText
from xiaoan.db import Base, UTCDateTime, utcnow

#: Ticket kinds (docs/interfaces.md §6).
KINDS = ("complaint", "report")

#: Ticket statuses in lifecycle order; each change is a `TicketStatusEvent`.
STATUSES = ("created", "forwarded", "accepted", "transferred", "in_progress", "mediated", "answered", "closed")
"""`transferred` (转办: the platform moved the ticket to another handling unit) and `mediated`
(调解: the handling unit held a mediation) are reported by the work-order platform
(`xiaoan.tickets.updates`); a mediated ticket is still open until it is answered or closed."""

#: Statuses after which the resolve_by deadline no longer applies (the answer was given).
DONE_STATUSES = ("answered", "closed")

#: Outbox row states.
OUTBOX_PENDING = "pending"
OUTBOX_DELIVERED = "delivered"
OUTBOX_FAILED = "failed"


class Money(TypeDecorator):
    """An amount in CNY with two decimals: NUMERIC(14, 2), stored as exact text on SQLite
    (which has no decimal type and would round through floating point)."""

    impl = Numeric(14, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(Numeric(14, 2))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = Decimal(value).quantize(Decimal("0.01"))
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return Decimal(str(value)).quantize(Decimal("0.01"))


class Ticket(Base):
    """A complaint (投诉) or report (举报) filed through the assistant (docs/interfaces.md §6)."""

    __tablename__ = "tickets"

    id = Column(Integer, primary_key=True)
    ticket_no = Column(String(20), nullable=False, unique=True,
                       doc="XA-YYMMDD-NNNN: Shanghai date of creation and the day's sequence number.")
    kind = Column(String(16), nullable=False, doc="complaint | report")
    intent = Column(String(64), nullable=False, doc="The NLU intent that started the form.")
    status = Column(String(16), nullable=False, default="created", doc="Latest status (see STATUSES).")
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    updated_at = Column(UTCDateTime, nullable=False, default=utcnow,
                        doc="Time of the latest status change.")
    channel = Column(String(32), nullable=False)
    conversation_id = Column(String(255), nullable=False)

    complainant_name = Column(EncryptedText("tickets.complainant_name"),
                              doc="None for anonymous reports. Encrypted at rest.")
    phone = Column(EncryptedText("tickets.phone"),
                   doc="Full normalized digits (for the call back); masked everywhere it is shown. Encrypted at rest.")
    phone_hash = Column(String(64), doc="Keyed HMAC-SHA256 of `phone` (xiaoan.crypto): finds tickets by phone.")
    complainant_address = Column(EncryptedText("tickets.complainant_address"), doc="Encrypted at rest.")
    personal_data_removed_at = Column(UTCDateTime, doc="When retention removed the complainant's data.")
    respondent_name = Column(String(255), nullable=False)
    respondent_address = Column(Text, doc="For an online seller: the address shown on the platform.")
    respondent_credit_code = Column(String(18), doc="统一社会信用代码, when the citizen knew it.")
    online_platform = Column(String(100), doc="Platform name when the respondent sells on one.")
    district = Column(String(32), doc="District code without 'dist-' used for routing, or None.")
    agency = Column(String(64), nullable=False, doc="docs/interfaces.md §4 agency code the ticket is routed to.")
    routing_rule = Column(String(64), doc="Id of the routing rule that decided the agency.")
    facts = Column(Text, nullable=False)
    claim = Column(Text)
    amount = Column(Money, doc="Amount in dispute (CNY), or None.")
    anonymous = Column(Boolean, nullable=False, default=False)
    privacy_notice_version = Column(String(32), nullable=False, doc="Version of the PIPL notice shown.")
    contact_by = Column(Date, nullable=False, doc="Contact the citizen by (working days, Shanghai).")
    resolve_by = Column(Date, nullable=False, doc="Answer by (working days, per kind).")
    idempotency_key = Column(String(255), nullable=False, unique=True,
                             doc="Caller's key: the same key never creates a second ticket.")
    external_id = Column(String(128), doc="The work-order platform's id, once forwarded.")
    forwarded_at = Column(UTCDateTime, doc="When the platform accepted the ticket.")

    history = relationship("TicketStatusEvent", back_populates="ticket", order_by="TicketStatusEvent.id",
                           cascade="all, delete-orphan")
    outbox = relationship("OutboxMessage", back_populates="ticket", cascade="all, delete-orphan")
    attachments = relationship("TicketAttachment", back_populates="ticket", order_by="TicketAttachment.id",
                               passive_deletes=True)

    def record_status(self, status: str, by: str, *, note: str | None = None, at=None,
                      set_current: bool = True) -> "TicketStatusEvent":
        """Append a status change to the history (and make it the current status).

        Args:
            status: One of STATUSES.
            by: Who made the change.
            note: Optional free text.
            at: When (default now, UTC).
            set_current: False records the event without changing `status` (e.g. a late
                "forwarded" after staff already accepted the ticket).
        """
        if status not in STATUSES:
            raise ValueError(f"unknown ticket status {status!r} (allowed: {', '.join(STATUSES)})")
        at = at or utcnow()
        event = TicketStatusEvent(status=status, by=by, note=note, at=at)
        self.history.append(event)
        if set_current:
            self.status = status
            self.updated_at = at
        return event

    __table_args__ = (
        Index("ix_tickets_created_at", "created_at"),
        Index("ix_tickets_conversation_id", "conversation_id"),
        Index("ix_tickets_status", "status"),
        Index("ix_tickets_phone_hash", "phone_hash"),
    )


class TicketStatusEvent(Base):
    """One status change of a ticket: what, when, by whom, and an optional note."""

    __tablename__ = "ticket_status_history"

    id = Column(Integer, primary_key=True)
    ticket_id = Column(Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, index=True)
    status = Column(String(16), nullable=False)
    at = Column(UTCDateTime, nullable=False, default=utcnow)
    by = Column(String(100), nullable=False, doc="Who made the change: 'xiaoan/<channel>', 'outbox', a staff name.")
    note = Column(Text)

    ticket = relationship("Ticket", back_populates="history")


class OutboxMessage(Base):
    """A ticket waiting to be (or already) forwarded to the external work-order platform.

    Written in the same transaction as the ticket (transactional outbox). `state` is pending
    (to be sent at `next_attempt_at`), delivered, or failed (rejected permanently by the
    platform; only an operator's replay sends it again). `locked_until`/`lock_token` form a
    short lease so that two deliverers do not send the same row at once.
    """

    __tablename__ = "ticket_outbox"

    id = Column(Integer, primary_key=True)
    ticket_id = Column(Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, index=True)
    payload = Column(EncryptedJSON("ticket_outbox.payload"), nullable=False,
                     doc="The JSON body POSTed (includes the full phone until delivered). Encrypted at rest.")
    idempotency_key = Column(String(64), nullable=False, unique=True, doc="Sent as the Idempotency-Key header.")
    state = Column(String(16), nullable=False, default=OUTBOX_PENDING)
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(UTCDateTime, nullable=False, default=utcnow)
    locked_until = Column(UTCDateTime)
    lock_token = Column(String(32))
    last_error = Column(Text, doc="Masked description of the last failure.")
    last_status_code = Column(Integer)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    delivered_at = Column(UTCDateTime)
    failed_at = Column(UTCDateTime)

    ticket = relationship("Ticket", back_populates="outbox")

    __table_args__ = (Index("ix_ticket_outbox_state_next", "state", "next_attempt_at"),)


class TicketSequence(Base):
    """The last ticket number used on one Shanghai day (row locked while a number is taken)."""

    __tablename__ = "ticket_sequences"

    day = Column(String(6), primary_key=True, doc="YYMMDD, Asia/Shanghai.")
    last_value = Column(Integer, nullable=False, default=0)


class TicketAttachment(Base):
    """A photo or PDF a citizen attached as evidence (issue 15; `xiaoan.tickets.attachments`).

    Uploaded while a complaint or report form runs, it belongs to the conversation
    (`ticket_id` None) until the form's ticket is created, which takes every pending attachment
    of its conversation in the same transaction. The content lives outside the web root under
    `storage_key`, a random name (`XIAOAN_ATTACHMENTS_DIR`); images are stored re-encoded,
    without EXIF.
    """

    __tablename__ = "ticket_attachments"

    id = Column(Integer, primary_key=True)
    public_id = Column(String(32), nullable=False, unique=True,
                       doc="Random id used in download URLs (never the row id or the storage name).")
    conversation_id = Column(String(255), nullable=False, doc="The conversation it was uploaded in.")
    channel = Column(String(32), nullable=False)
    ticket_id = Column(Integer, ForeignKey("tickets.id", ondelete="CASCADE"),
                       doc="None while the form runs; the ticket once it exists.")
    name = Column(String(255), nullable=False, doc="Display name: the citizen's file name, its extension the real type's.")
    content_type = Column(String(64), nullable=False, doc="Sniffed from the content, never from the name.")
    size = Column(Integer, nullable=False, doc="Bytes as stored (after re-encoding).")
    sha256 = Column(String(64), nullable=False, doc="Hex SHA-256 of the stored bytes.")
    storage_key = Column(String(64), nullable=False, unique=True, doc="Random file name under the attachments directory.")
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)

    ticket = relationship("Ticket", back_populates="attachments")

    __table_args__ = (
        Index("ix_ticket_attachments_conversation", "conversation_id", "ticket_id"),
        Index("ix_ticket_attachments_ticket_id", "ticket_id"),
    )
