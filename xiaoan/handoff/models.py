"""Tables of the human handoff: sessions in the queue, agents' messages, callbacks, presence.

A `HandoffSession` is one stay of a conversation with a human: it is `waiting` in the queue,
`active` while an agent holds it, and ends `returned` (handed back to 小安, by the agent or after
idling) or `closed` (the agent ended it). At most one session per conversation is open
(waiting or active) at a time; a partial unique index enforces it on SQLite and PostgreSQL.

The slots snapshots (which hold the citizen's name, phone and address) and the callback phone
number are encrypted at rest with the data key ring (`xiaoan.crypto`, migration `0007_sec`);
reads and writes through the models see plain values.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)

from xiaoan.crypto import EncryptedJSON, EncryptedText
from xiaoan.db import Base, UTCDateTime, utcnow
# staff_users is the target of the agent foreign keys: load it in processes that never import the web app
import xiaoan.web.auth_models  # noqa: E402,F401

#: Why a conversation went to a human.
REASONS = ("requested", "fallback", "form_failed", "angry", "urgent")
#: Lifecycle of a session.
WAITING, ACTIVE, CLOSED, RETURNED = "waiting", "active", "closed", "returned"
STATUSES = (WAITING, ACTIVE, CLOSED, RETURNED)
OPEN_STATUSES = (WAITING, ACTIVE)
#: Callback request states.
CALLBACK_OPEN, CALLBACK_DONE = "open", "done"

_OPEN_SQL = "status IN ('waiting', 'active')"


class HandoffSession(Base):
    """One conversation's stay with a human agent (see the module docstring)."""

    __tablename__ = "handoff_sessions"
    __table_args__ = (
        CheckConstraint("status IN ('waiting', 'active', 'closed', 'returned')", name="ck_handoff_sessions_status"),
        CheckConstraint("reason IN ('requested', 'fallback', 'form_failed', 'angry', 'urgent')",
                        name="ck_handoff_sessions_reason"),
        Index("uq_handoff_sessions_open_conversation", "conversation_id", unique=True,
              sqlite_where=text(_OPEN_SQL), postgresql_where=text(_OPEN_SQL)),
        Index("ix_handoff_sessions_queue", "status", "priority", "waiting_since"),
    )

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True, doc="Rasa sender id.")
    channel = Column(String(32), nullable=False, doc="web | wechat | the raw channel name for others.")
    input_channel = Column(String(64), doc="Rasa's input channel name (rest, socketio, wechat...), for delivery.")
    reason = Column(String(16), nullable=False, doc="One of REASONS.")
    priority = Column(Integer, nullable=False, default=1, doc="0 = urgent (served first), 1 = normal.")
    status = Column(String(16), nullable=False, default=WAITING)
    intent = Column(String(64), doc="The citizen's latest intent when the conversation was handed off.")
    active_form = Column(String(64), doc="The form that was active (e.g. complaint_form), or None.")
    slots = Column(EncryptedJSON("handoff_sessions.slots"), nullable=False, default=dict,
                   doc="Snapshot of the filled slots at handoff time (full phone: mask when shown). Encrypted at rest.")
    waiting_since = Column(UTCDateTime, nullable=False, default=utcnow)
    agent_id = Column(Integer, ForeignKey("staff_users.id", ondelete="SET NULL"), index=True)
    agent_name = Column(String(64), doc="Display name of the agent holding it (kept when the account goes).")
    taken_at = Column(UTCDateTime)
    last_agent_activity_at = Column(UTCDateTime, doc="Take, reply or ticket by the agent; drives idle return.")
    ended_at = Column(UTCDateTime)
    ended_by = Column(String(64), doc="The agent's display name, or 'idle' when returned automatically.")
    ticket_no = Column(String(20), doc="Ticket created from this conversation in the inbox.")

    def __repr__(self) -> str:
        return f"<HandoffSession {self.id} {self.conversation_id} {self.status}>"


class AgentMessage(Base):
    """Every message an agent sent to a citizen (audit), whether delivered or not."""

    __tablename__ = "handoff_agent_messages"

    id = Column(Integer, primary_key=True)
    session_id = Column(Integer, ForeignKey("handoff_sessions.id", ondelete="CASCADE"), nullable=False, index=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    agent_id = Column(Integer, ForeignKey("staff_users.id", ondelete="SET NULL"))
    agent_name = Column(String(64), nullable=False)
    text = Column(Text, nullable=False)
    sent_at = Column(UTCDateTime, nullable=False, default=utcnow)
    delivered = Column(Boolean, nullable=False, default=False, doc="Rasa (and WeChat) accepted it.")
    error = Column(String(255), doc="Why delivery failed (no personal data).")


class CallbackRequest(Base):
    """A citizen's request to be called back by an agent (left instead of waiting in the queue)."""

    __tablename__ = "handoff_callbacks"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'done')", name="ck_handoff_callbacks_status"),
        Index("ix_handoff_callbacks_status_created", "status", "created_at"),
    )

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    channel = Column(String(32), nullable=False)
    phone = Column(EncryptedText("handoff_callbacks.phone"), nullable=False,
                   doc="Normalized digits; masked in every listing and log. Encrypted at rest.")
    preferred_time = Column(String(100), nullable=False, doc="The citizen's words, e.g. 今天下午.")
    reason = Column(String(16), nullable=False, default="requested")
    slots = Column(EncryptedJSON("handoff_callbacks.slots"), nullable=False, default=dict,
                   doc="Snapshot of the gathered slots. Encrypted at rest.")
    status = Column(String(16), nullable=False, default=CALLBACK_OPEN)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    handled_by = Column(String(64), doc="Display name of the agent who called back.")
    handled_at = Column(UTCDateTime)
    note = Column(Text, doc="The agent's note on the outcome.")


class AgentPresence(Base):
    """When an agent last had the inbox open (heartbeat); online = seen in the last 2 minutes."""

    __tablename__ = "handoff_agent_presence"

    agent_id = Column(Integer, ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True)
    agent_name = Column(String(64), nullable=False)
    last_seen_at = Column(UTCDateTime, nullable=False, default=utcnow, index=True)
