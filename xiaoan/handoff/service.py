"""The handoff queue: conversations waiting for a human, agents taking and answering them,
hand-back to 小安, idle return and callback requests.

Usage::

    from xiaoan.handoff.service import get_handoff_service

    service = get_handoff_service()
    estimate = service.estimate("requested")               # before queueing: position, wait
    queued = service.enqueue("web-3f2a...", "web", "requested", slots={...})
    view = service.take(queued.session_id, agent_id=7, agent_name="王芳")   # AlreadyTaken if lost
    service.reply(view.id, 7, "王芳", "您好，我来帮您看看。")
    service.hand_back(view.id, 7, "王芳")

How the assistant stays silent: the action that queues a conversation returns Rasa's
`ConversationPaused`; Rasa then logs the citizen's messages but predicts nothing. Everything the
agent does reaches the conversation as events appended through the Rasa HTTP API
(`POST /conversations/{id}/tracker/events`): the agent's replies as `bot` events (metadata
`{"agent": name}`), hand-back/close/idle return as `resume` + a `bot` message + `action_listen`.
Appending events never runs a prediction (rasa/server.py `append_events`), so nothing is said
until the citizen writes again; the trailing `action_listen` makes that next message look like
any other turn to the policies (otherwise its state would have `prev_action: action_handoff`
and no rule would match).

Delivery to the citizen's channel is a `Notifier`. By default everything goes through the Rasa
HTTP API: the REST web chat page polls the tracker; for WeChat (and socket.io) the events are
appended with `output_channel=<the channel>` so that Rasa hands the bot messages to that
channel, which sends them as WeChat customer-service messages. `WeChatNotifier` sends them from
this process instead (`xiaoan.channels.wechat_api.send_customer_service_text`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
from pathlib import Path
from typing import Any, Callable, Optional, Protocol

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from xiaoan import labels, texts
from xiaoan import services
from xiaoan.config import Settings
from xiaoan.db import record_from_row, session_scope
from xiaoan.handoff.models import (
    ACTIVE,
    CALLBACK_DONE,
    CALLBACK_OPEN,
    CLOSED,
    OPEN_STATUSES,
    REASONS,
    RETURNED,
    WAITING,
    AgentMessage,
    AgentPresence,
    CallbackRequest,
    HandoffSession,
)
from xiaoan.localtime import month_day, utcnow
from xiaoan.privacy import identity_masker, mask_phone
from xiaoan.rasa_client import RasaClient, RasaError

logger = logging.getLogger(__name__)

#: The citizen-facing notices (responses of domain.yml, handoff section; see `load_messages`).
NOTICES = {key: f"utter_handoff_notice_{key}"
           for key in ("taken", "handed_back", "closed", "idle_returned", "ticket_created")}

DEFAULT_IDLE_MINUTES = 30
ONLINE_WINDOW = dt.timedelta(minutes=2)
"""An agent is online when their inbox sent a heartbeat within this window."""
LONG_WAIT_MINUTES = 10
"""A wait above this is "long": the citizen is offered a callback instead."""
DEFAULT_HANDLE_MINUTES = 6.0
"""Assumed minutes an agent spends on one conversation until there is enough history."""
HANDLE_SAMPLE = 20
MIN_HANDLE_SAMPLES = 3
MAX_REPLY_CHARS = 1000
MAX_PREFERRED_TIME_CHARS = 100
MAX_CALLBACK_NOTE_CHARS = 2000
URGENT_PRIORITY, NORMAL_PRIORITY = 0, 1
IDLE_AGENT = "idle"


# --- errors (messages are Chinese: the inbox shows them to agents as they are) ------------------

class HandoffError(Exception):
    """An inbox operation cannot be done; `str(exc)` is a Chinese message for the agent."""


class SessionNotFound(HandoffError):
    """No such handoff session."""

    def __init__(self) -> None:
        super().__init__(labels.message("handoff.session_not_found"))


class AlreadyTaken(HandoffError):
    """Another agent took the conversation first."""

    def __init__(self, by: Optional[str] = None) -> None:
        super().__init__(labels.message("handoff.taken_by", by=by) if by else labels.message("handoff.taken"))
        self.by = by


class NotHolder(HandoffError):
    """The conversation is held by someone else (or by nobody)."""

    def __init__(self) -> None:
        super().__init__(labels.message("handoff.not_holder"))


class SessionEnded(HandoffError):
    """The conversation is no longer with a human."""

    def __init__(self) -> None:
        super().__init__(labels.message("handoff.session_ended"))


class InvalidInput(HandoffError, ValueError):
    """Bad input from an agent or citizen (the message says what to fix).

    Attributes:
        field: the offending field (e.g. "phone"), or None.
    """

    def __init__(self, message: str, field: Optional[str] = None) -> None:
        super().__init__(message)
        self.field = field


class DeliveryFailed(HandoffError):
    """The message or state change could not be passed to Rasa (nothing was changed)."""

    def __init__(self, message: Optional[str] = None) -> None:
        super().__init__(message or labels.message("handoff.rasa_unavailable"))


# --- views (plain data: safe outside a database session) -------------------------------------

@dataclasses.dataclass(frozen=True)
class QueueEstimate:
    """Where a conversation stands (or would stand) in the queue.

    Attributes:
        position: 1 = next to be taken.
        wait_minutes: rough wait; None when no agent is online.
        agents_online: agents with the inbox open in the last 2 minutes.
    """

    position: int
    wait_minutes: Optional[int]
    agents_online: int

    @property
    def should_offer_callback(self) -> bool:
        """No agent online, or a wait over LONG_WAIT_MINUTES."""
        return self.wait_minutes is None or self.wait_minutes > LONG_WAIT_MINUTES


@dataclasses.dataclass(frozen=True)
class QueuedHandoff(QueueEstimate):
    """A conversation in the queue.

    Attributes:
        session_id: the handoff session.
        created: False when the conversation was already waiting (or held) and nothing new was made.
        status: waiting or active.
    """

    session_id: int = 0
    created: bool = True
    status: str = WAITING


@dataclasses.dataclass(frozen=True)
class SessionView:
    """A handoff session as the inbox and the CLI show it."""

    id: int
    conversation_id: str
    channel: str
    input_channel: Optional[str]
    reason: str
    status: str
    priority: int
    intent: Optional[str]
    active_form: Optional[str]
    slots: dict
    waiting_since: dt.datetime
    agent_id: Optional[int]
    agent_name: Optional[str]
    taken_at: Optional[dt.datetime]
    last_agent_activity_at: Optional[dt.datetime]
    ended_at: Optional[dt.datetime]
    ended_by: Optional[str]
    ticket_no: Optional[str]

    @classmethod
    def of(cls, row: HandoffSession) -> "SessionView":
        return record_from_row(cls, row)

    def text_masker(self) -> Callable[[str], str]:
        """`text -> masked text` for this conversation's transcript in listings and logs: the
        citizen's own name and address (known from the slots snapshot) and every phone, ID and
        bank card number (`xiaoan.privacy.identity_masker`)."""
        return identity_masker(self.slots)

    def contract_json(self) -> dict:
        """The docs/interfaces.md §6 fields of `xiaoan handoff list --json`."""
        return {
            "conversation_id": self.conversation_id,
            "channel": self.channel,
            "reason": self.reason,
            "status": self.status,
            "waiting_since": self.waiting_since.isoformat(),
        }


@dataclasses.dataclass(frozen=True)
class CallbackView:
    """A callback request; `phone` is the full number (for the agent who calls), mask it in lists."""

    id: int
    conversation_id: str
    channel: str
    phone: str
    preferred_time: str
    reason: str
    slots: dict
    status: str
    created_at: dt.datetime
    handled_by: Optional[str]
    handled_at: Optional[dt.datetime]
    note: Optional[str]

    @classmethod
    def of(cls, row: CallbackRequest) -> "CallbackView":
        return record_from_row(cls, row)

    @property
    def phone_masked(self) -> str:
        """E.g. 138****5678."""
        return mask_phone(self.phone) or ""

    def listing_json(self) -> dict:
        """JSON of `xiaoan handoff callbacks --json` (phone masked)."""
        return {
            "id": self.id,
            "conversation_id": self.conversation_id,
            "channel": self.channel,
            "phone_masked": self.phone_masked,
            "preferred_time": self.preferred_time,
            "reason": self.reason,
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "handled_by": self.handled_by,
            "handled_at": self.handled_at.isoformat() if self.handled_at else None,
        }


@dataclasses.dataclass(frozen=True)
class AgentMessageView:
    """One message an agent sent (audit row)."""

    id: int
    session_id: int
    agent_name: str
    text: str
    sent_at: dt.datetime
    delivered: bool
    error: Optional[str]


# --- delivery to the citizen ------------------------------------------------------------------

class Notifier(Protocol):
    """Passes events to a conversation and delivers its bot messages to the citizen's channel."""

    def deliver(self, conversation_id: str, events: list[dict]) -> None:
        """Append `events` to the conversation (and deliver the bot texts).

        Raises:
            RasaError: the events could not be appended; nothing changed.
            ChannelDeliveryError: the events were appended, but the channel did not deliver.
        """


class ChannelDeliveryError(Exception):
    """The tracker has the message, but the citizen's channel did not deliver it."""


class RasaNotifier:
    """Web chat: append the events; Rasa delivers bot messages through `output_channel` if set.

    The REST chat page polls the tracker (`/api/chat/updates`), so it needs no output channel;
    a socket.io conversation gets the message pushed by Rasa (`output_channel="socketio"`).
    """

    def __init__(self, rasa: RasaClient, output_channel: Optional[str] = None) -> None:
        self.rasa = rasa
        self.output_channel = output_channel

    def deliver(self, conversation_id: str, events: list[dict]) -> None:
        self.rasa.append_events(conversation_id, events, output_channel=self.output_channel)


class WeChatNotifier:
    """WeChat without Rasa's output channel: append the events (the transcript), then send each bot
    text as a customer-service message from this process.

    Not the default (see `HandoffService.default_notifier`): use it, through
    `HandoffService(notifier_for=...)`, where the Rasa server cannot push to WeChat itself. Unlike
    the default it tells the agent when WeChat refused a message (e.g. after 48 hours)::

        from xiaoan.channels.wechat_api import send_customer_service_text
        WeChatNotifier(rasa, send_customer_service_text)

    Args:
        rasa: the Rasa client.
        send_text: `(openid, text) -> bool`, True when delivered
            (`xiaoan.channels.wechat_api.send_customer_service_text`).
        openid_of: the openid of a conversation (WeChat conversations are keyed by openid).
    """

    def __init__(self, rasa: RasaClient, send_text: Callable[[str, str], Any],
                 openid_of: Callable[[str], str] = lambda conversation_id: conversation_id) -> None:
        self.rasa = rasa
        self.send_text = send_text
        self.openid_of = openid_of

    def deliver(self, conversation_id: str, events: list[dict]) -> None:
        self.rasa.append_events(conversation_id, events)
        failed = 0
        for event in events:
            if event.get("event") == "bot" and event.get("text"):
                try:
                    ok = self.send_text(self.openid_of(conversation_id), event["text"])
                except Exception:  # noqa: BLE001 - any channel failure is reported the same way
                    logger.exception("WeChat customer-service message failed")
                    ok = False
                failed += 0 if ok is not False else 1
        if failed:
            raise ChannelDeliveryError(f"{failed} WeChat message(s) not delivered")


# --- helpers ----------------------------------------------------------------------------------

def priority_of(reason: str) -> int:
    """Urgent conversations are served first."""
    return URGENT_PRIORITY if reason == "urgent" else NORMAL_PRIORITY


def load_messages(path: Optional[str | Path] = None) -> dict[str, str]:
    """The citizen-facing notices (`NOTICES`: the utter_handoff_notice_* responses of domain.yml).

    Raises:
        ValueError: the domain cannot be read or a notice is missing (`xiaoan.texts.TextsError`).
    """
    return {key: value.strip() for key, value in texts.load(NOTICES, path).items()}


def idle_minutes_from(settings: Any) -> int:
    """`XIAOAN_HANDOFF_IDLE_MINUTES` as read by `Settings` (field `handoff_idle_minutes`), default 30."""
    value = getattr(settings, "handoff_idle_minutes", None)
    try:
        minutes = int(value) if value is not None else DEFAULT_IDLE_MINUTES
    except (TypeError, ValueError):
        minutes = DEFAULT_IDLE_MINUTES
    return minutes if minutes > 0 else DEFAULT_IDLE_MINUTES


def _bot(text: str, **metadata: Any) -> dict:
    return {"event": "bot", "text": text, "metadata": metadata}


RESUME = {"event": "resume"}
PAUSE = {"event": "pause"}
LISTEN = {"event": "action", "name": "action_listen"}
END_FORM = [{"event": "active_loop", "name": None}, {"event": "slot", "name": "requested_slot", "value": None}]


class HandoffService:
    """The queue and everything agents do with it (see the module docstring).

    Args:
        settings: database URL, Rasa URL, idle minutes (default `services.settings()`).
        rasa: the Rasa API client (default: one for `settings`).
        clock: the current time, timezone-aware (tests pass their own).
        idle_minutes: overrides `settings.handoff_idle_minutes` (default 30).
        notifier_for: `(SessionView) -> Notifier` (default: by channel, see `default_notifier`).
        messages: the citizen-facing texts (default: `load_messages()`).
    """

    def __init__(self, settings: Optional[Settings] = None, *, rasa: Optional[RasaClient] = None,
                 clock: Callable[[], dt.datetime] = utcnow, idle_minutes: Optional[int] = None,
                 notifier_for: Optional[Callable[[SessionView], Notifier]] = None,
                 messages: Optional[dict[str, str]] = None) -> None:
        self.settings = settings or services.settings()
        self._rasa = rasa
        self.clock = clock
        self.idle_minutes = idle_minutes or idle_minutes_from(self.settings)
        self._notifier_for = notifier_for
        self.messages = messages or load_messages()

    # -- plumbing --------------------------------------------------------------------------

    @property
    def rasa(self) -> RasaClient:
        """The Rasa client (created on first use)."""
        if self._rasa is None:
            self._rasa = RasaClient(self.settings)
        return self._rasa

    def _db(self):
        return session_scope(self.settings.database_url)

    def notifier(self, view: SessionView) -> Notifier:
        """How to reach this conversation's citizen."""
        if self._notifier_for is not None:
            return self._notifier_for(view)
        return self.default_notifier(view)

    def default_notifier(self, view: SessionView) -> Notifier:
        """Events appended through the Rasa HTTP API; Rasa delivers them to the citizen's channel.

        WeChat and socket.io conversations name their input channel as the output channel
        (`output_channel=wechat`, `execute_side_effects=true`): Rasa hands the bot messages to
        that channel's `get_output_channel()`, which for WeChat sends them as customer-service
        messages (xiaoan/channels/wechat.py, push mode). The REST web chat polls the tracker.
        """
        if view.channel == "wechat":
            return RasaNotifier(self.rasa, output_channel=view.input_channel or "wechat")
        if view.input_channel == "socketio":
            return RasaNotifier(self.rasa, output_channel="socketio")
        return RasaNotifier(self.rasa)

    # -- queue (called by the assistant's actions) -------------------------------------------

    def agents_online(self, now: Optional[dt.datetime] = None) -> int:
        """Agents whose inbox sent a heartbeat within the last 2 minutes."""
        now = now or self.clock()
        with self._db() as db:
            return db.execute(select(func.count()).select_from(AgentPresence)
                              .where(AgentPresence.last_seen_at >= now - ONLINE_WINDOW)).scalar_one()

    def heartbeat(self, agent_id: int, agent_name: str, now: Optional[dt.datetime] = None) -> None:
        """Record that an agent has the inbox open."""
        now = now or self.clock()
        for _ in range(2):
            with self._db() as db:
                done = db.execute(update(AgentPresence).where(AgentPresence.agent_id == agent_id)
                                  .values(last_seen_at=now, agent_name=agent_name)).rowcount
            if done:
                return
            try:
                with self._db() as db:
                    db.add(AgentPresence(agent_id=agent_id, agent_name=agent_name, last_seen_at=now))
                return
            except IntegrityError:  # another request of the same agent inserted it meanwhile
                continue

    def estimate(self, reason: str, now: Optional[dt.datetime] = None) -> QueueEstimate:
        """Position and wait a conversation would get if it joined the queue now."""
        now = now or self.clock()
        with self._db() as db:
            ahead = db.execute(select(func.count()).select_from(HandoffSession).where(
                HandoffSession.status == WAITING, HandoffSession.priority <= priority_of(reason))).scalar_one()
            return self._estimate(db, ahead + 1, now)

    def position(self, session_id: int, now: Optional[dt.datetime] = None) -> QueueEstimate:
        """Where a waiting session stands now (position 0 once an agent holds it)."""
        now = now or self.clock()
        with self._db() as db:
            row = db.get(HandoffSession, session_id)
            if row is None:
                raise SessionNotFound()
            if row.status != WAITING:
                return QueueEstimate(position=0, wait_minutes=0, agents_online=self._online(db, now))
            return self._estimate(db, self._ahead(db, row) + 1, now)

    def enqueue(self, conversation_id: str, channel: str, reason: str, *, input_channel: Optional[str] = None,
                intent: Optional[str] = None, active_form: Optional[str] = None,
                slots: Optional[dict] = None) -> QueuedHandoff:
        """Put a conversation in the queue (idempotent: an open session is returned as it is).

        Raises:
            InvalidInput: unknown reason or empty conversation id.
        """
        if reason not in REASONS:
            raise InvalidInput(f"unknown handoff reason {reason!r}")
        if not conversation_id:
            raise InvalidInput("conversation id is required")
        now = self.clock()
        created = True
        try:
            with self._db() as db:
                if self._open_row(db, conversation_id) is None:
                    db.add(HandoffSession(
                        conversation_id=conversation_id, channel=channel, input_channel=input_channel,
                        reason=reason, priority=priority_of(reason), status=WAITING, intent=intent,
                        active_form=active_form, slots=_json_safe(slots or {}), waiting_since=now))
                else:
                    created = False
        except IntegrityError:  # a concurrent call queued the same conversation
            created = False
        with self._db() as db:
            row = self._open_row(db, conversation_id)
            if row is None:  # ended between the two statements: queue afresh
                return self.enqueue(conversation_id, channel, reason, input_channel=input_channel,
                                    intent=intent, active_form=active_form, slots=slots)
            if row.status == WAITING:
                estimate = self._estimate(db, self._ahead(db, row) + 1, now)
            else:
                estimate = QueueEstimate(0, 0, self._online(db, now))
            logger.info("handoff %s: conversation queued (reason %s, created %s, position %d)",
                        row.id, reason, created, estimate.position)
            return QueuedHandoff(position=estimate.position, wait_minutes=estimate.wait_minutes,
                                 agents_online=estimate.agents_online, session_id=row.id, created=created,
                                 status=row.status)

    def open_session(self, conversation_id: str) -> Optional[SessionView]:
        """The conversation's waiting or active session, if any."""
        with self._db() as db:
            row = self._open_row(db, conversation_id)
            return SessionView.of(row) if row else None

    def _open_row(self, db, conversation_id: str) -> Optional[HandoffSession]:
        return db.execute(select(HandoffSession).where(
            HandoffSession.conversation_id == conversation_id,
            HandoffSession.status.in_(OPEN_STATUSES))).scalars().first()

    @staticmethod
    def _ahead(db, row: HandoffSession) -> int:
        return db.execute(select(func.count()).select_from(HandoffSession).where(
            HandoffSession.status == WAITING,
            or_(HandoffSession.priority < row.priority,
                and_(HandoffSession.priority == row.priority,
                     or_(HandoffSession.waiting_since < row.waiting_since,
                         and_(HandoffSession.waiting_since == row.waiting_since, HandoffSession.id < row.id)))),
        )).scalar_one()

    @staticmethod
    def _online_ids(db, now: dt.datetime) -> list[int]:
        return list(db.execute(select(AgentPresence.agent_id)
                               .where(AgentPresence.last_seen_at >= now - ONLINE_WINDOW)).scalars())

    def _online(self, db, now: dt.datetime) -> int:
        return len(self._online_ids(db, now))

    def _estimate(self, db, position: int, now: dt.datetime) -> QueueEstimate:
        """Rough wait: free agents take the first ones at once; the rest wait for handled conversations."""
        online = self._online_ids(db, now)
        if not online:
            return QueueEstimate(position=position, wait_minutes=None, agents_online=0)
        busy = db.execute(select(func.count(func.distinct(HandoffSession.agent_id))).where(
            HandoffSession.status == ACTIVE, HandoffSession.agent_id.in_(online))).scalar_one()
        free = max(len(online) - busy, 0)
        if position <= free:
            return QueueEstimate(position=position, wait_minutes=1, agents_online=len(online))
        handle = self._handle_minutes(db, now)
        wait = max(1, math.ceil((position - free) * handle / len(online)))
        return QueueEstimate(position=position, wait_minutes=wait, agents_online=len(online))

    @staticmethod
    def _handle_minutes(db, now: dt.datetime) -> float:
        """Mean minutes from take to end over recent sessions (default until there are a few)."""
        rows = db.execute(select(HandoffSession.taken_at, HandoffSession.ended_at).where(
            HandoffSession.status.in_((CLOSED, RETURNED)), HandoffSession.taken_at.is_not(None),
            HandoffSession.ended_at >= now - dt.timedelta(days=7), HandoffSession.ended_by != IDLE_AGENT,
        ).order_by(HandoffSession.ended_at.desc()).limit(HANDLE_SAMPLE)).all()
        if len(rows) < MIN_HANDLE_SAMPLES:
            return DEFAULT_HANDLE_MINUTES
        mean = sum((ended - taken).total_seconds() for taken, ended in rows) / len(rows) / 60
        return min(max(mean, 2.0), 30.0)

    # -- listings -------------------------------------------------------------------------

    def queue(self) -> list[SessionView]:
        """Waiting conversations, the next to be taken first (urgent first, then by waiting time)."""
        with self._db() as db:
            rows = db.execute(select(HandoffSession).where(HandoffSession.status == WAITING).order_by(
                HandoffSession.priority, HandoffSession.waiting_since, HandoffSession.id)).scalars().all()
            return [SessionView.of(r) for r in rows]

    def active(self, agent_id: Optional[int] = None) -> list[SessionView]:
        """Conversations held by agents (by one agent when `agent_id` is given), oldest first."""
        with self._db() as db:
            query = select(HandoffSession).where(HandoffSession.status == ACTIVE)
            if agent_id is not None:
                query = query.where(HandoffSession.agent_id == agent_id)
            rows = db.execute(query.order_by(HandoffSession.taken_at, HandoffSession.id)).scalars().all()
            return [SessionView.of(r) for r in rows]

    def open_sessions(self) -> list[SessionView]:
        """Waiting (in queue order) then active conversations: `xiaoan handoff list`."""
        return self.queue() + self.active()

    def _view_of(self, model: type, key: int, view: Any, missing: Callable[[], Exception]) -> Any:
        """`view.of(row)` of the `model` row with primary key `key`; `missing()` raised when there is none."""
        with self._db() as db:
            row = db.get(model, key)
            if row is None:
                raise missing()
            return view.of(row)

    def get(self, session_id: int) -> SessionView:
        """One session.

        Raises:
            SessionNotFound: no such session.
        """
        return self._view_of(HandoffSession, session_id, SessionView, SessionNotFound)

    def messages_of(self, session_id: int) -> list[AgentMessageView]:
        """The agents' messages of a session (audit), oldest first."""
        with self._db() as db:
            rows = db.execute(select(AgentMessage).where(AgentMessage.session_id == session_id)
                              .order_by(AgentMessage.id)).scalars().all()
            return [AgentMessageView(r.id, r.session_id, r.agent_name, r.text, r.sent_at, r.delivered, r.error)
                    for r in rows]

    # -- agents' operations ---------------------------------------------------------------

    def take(self, session_id: int, agent_id: int, agent_name: str) -> SessionView:
        """Take a waiting conversation; exactly one agent wins when several try at once.

        The citizen is told an agent joined; the conversation is paused again in case Rasa
        unpaused it meanwhile (an expired Rasa session resets the pause). If Rasa is down the
        take still stands and only the notice is lost (logged).

        Raises:
            AlreadyTaken: another agent was first.
            SessionEnded / SessionNotFound: nothing to take.
        """
        now = self.clock()
        with self._db() as db:
            won = db.execute(
                update(HandoffSession)
                .where(HandoffSession.id == session_id, HandoffSession.status == WAITING)
                .values(status=ACTIVE, agent_id=agent_id, agent_name=agent_name, taken_at=now,
                        last_agent_activity_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount == 1
        view = self.get(session_id)
        if not won:
            if view.status == ACTIVE:
                raise AlreadyTaken(view.agent_name)
            raise SessionEnded()
        logger.info("handoff %s: taken by agent %s", session_id, agent_id)
        try:
            self.notifier(view).deliver(view.conversation_id, [
                PAUSE, _bot(self.messages["taken"].format(agent=agent_name), agent=agent_name)])
        except (RasaError, ChannelDeliveryError) as exc:
            logger.warning("handoff %s: could not tell the citizen an agent joined: %s", session_id, exc)
        return view

    def reply(self, session_id: int, agent_id: int, agent_name: str, text: str, *,
              override: bool = False) -> AgentMessageView:
        """Send an agent's message to the citizen; every attempt is recorded (audit).

        Args:
            override: a supervisor answering a conversation someone else holds.

        Raises:
            InvalidInput: empty or too long.
            NotHolder / SessionEnded / SessionNotFound: not this agent's active conversation.
            DeliveryFailed: Rasa unreachable (recorded as undelivered; the agent may resend),
                or WeChat did not deliver (the transcript has it).
        """
        text = (text or "").strip()
        if not text:
            raise InvalidInput(labels.message("handoff.reply_empty"))
        if len(text) > MAX_REPLY_CHARS:
            raise InvalidInput(labels.message("handoff.reply_too_long", limit=MAX_REPLY_CHARS))
        view = self._held(session_id, agent_id, override)
        error = None
        try:
            self.notifier(view).deliver(view.conversation_id, [_bot(text, agent=agent_name)])
        except RasaError as exc:
            logger.warning("handoff %s: agent reply not delivered: %s", session_id, exc)
            error = "rasa_unavailable"
        except ChannelDeliveryError as exc:
            logger.warning("handoff %s: agent reply not delivered by the channel: %s", session_id, exc)
            error = "channel_undelivered"
        now = self.clock()
        with self._db() as db:
            row = AgentMessage(session_id=session_id, conversation_id=view.conversation_id, agent_id=agent_id,
                               agent_name=agent_name, text=text, sent_at=now, delivered=error is None, error=error)
            db.add(row)
            db.execute(update(HandoffSession).where(HandoffSession.id == session_id, HandoffSession.status == ACTIVE)
                       .values(last_agent_activity_at=now))
            db.flush()
            message = AgentMessageView(row.id, session_id, agent_name, text, now, error is None, error)
        if error == "rasa_unavailable":
            raise DeliveryFailed(labels.message("handoff.reply_not_sent"))
        if error == "channel_undelivered":
            raise DeliveryFailed(labels.message("handoff.reply_not_delivered"))
        return message

    def hand_back(self, session_id: int, agent_id: int, agent_name: str, *, override: bool = False) -> SessionView:
        """Hand the conversation back to 小安 (交还小安).

        Raises:
            NotHolder / SessionEnded / SessionNotFound: not this agent's active conversation.
            DeliveryFailed: Rasa unreachable; the conversation stays with the agent.
        """
        self._held(session_id, agent_id, override)
        return self._end(session_id, RETURNED, agent_name, "handed_back",
                         holder=None if override else agent_id)

    def close(self, session_id: int, agent_id: int, agent_name: str, *, override: bool = False) -> SessionView:
        """End the human conversation (结束会话): 小安 is available again, the open form is dropped.

        No `Restarted` event: the transcript and slots stay for the record.

        Raises:
            NotHolder / SessionEnded / SessionNotFound: not this agent's active conversation.
            DeliveryFailed: Rasa unreachable; the conversation stays with the agent.
        """
        self._held(session_id, agent_id, override)
        return self._end(session_id, CLOSED, agent_name, "closed", holder=None if override else agent_id)

    def return_idle(self, now: Optional[dt.datetime] = None) -> list[int]:
        """Give back to 小安 every active conversation its agent left idle too long.

        Returns:
            The ids of the sessions returned (those Rasa could not be told about stay active
            and are tried again next time).
        """
        now = now or self.clock()
        cutoff = now - dt.timedelta(minutes=self.idle_minutes)
        with self._db() as db:
            candidates = list(db.execute(select(HandoffSession.id).where(
                HandoffSession.status == ACTIVE, HandoffSession.last_agent_activity_at < cutoff)).scalars())
        returned = []
        for session_id in candidates:
            try:
                self._end(session_id, RETURNED, IDLE_AGENT, "idle_returned", idle_cutoff=cutoff, now=now)
            except (HandoffError, RasaError) as exc:
                logger.warning("handoff %s: idle return not done: %s", session_id, exc)
                continue
            returned.append(session_id)
        if returned:
            logger.info("returned %d idle conversation(s) to the assistant", len(returned))
        return returned

    def record_ticket(self, session_id: int, agent_id: int, receipt: Any, *, override: bool = False) -> SessionView:
        """Remember the ticket created from the conversation and tell the citizen its number.

        Args:
            receipt: the `TicketReceipt` from the tickets service.
        """
        view = self._held(session_id, agent_id, override)
        now = self.clock()
        with self._db() as db:
            db.execute(update(HandoffSession).where(HandoffSession.id == session_id)
                       .values(ticket_no=receipt.ticket_no, last_agent_activity_at=now))
        text = self.messages["ticket_created"].format(
            ticket_no=receipt.ticket_no, agency_name=receipt.agency_name,
            contact_by=month_day(receipt.contact_by))
        try:
            self.notifier(view).deliver(view.conversation_id, [_bot(text, agent=view.agent_name or "")])
        except (RasaError, ChannelDeliveryError) as exc:
            logger.warning("handoff %s: ticket notice not delivered: %s", session_id, exc)
        return self.get(session_id)

    def _held(self, session_id: int, agent_id: int, override: bool) -> SessionView:
        view = self.get(session_id)
        if view.status != ACTIVE:
            raise SessionEnded()
        if view.agent_id != agent_id and not override:
            raise NotHolder()
        return view

    def _end(self, session_id: int, status: str, ended_by: str, message_key: str, *,
             holder: Optional[int] = None, idle_cutoff: Optional[dt.datetime] = None,
             now: Optional[dt.datetime] = None) -> SessionView:
        """Claim the end in the database, tell Rasa, and undo the claim if Rasa cannot be told."""
        now = now or self.clock()
        conditions = [HandoffSession.id == session_id, HandoffSession.status == ACTIVE]
        if holder is not None:
            conditions.append(HandoffSession.agent_id == holder)
        if idle_cutoff is not None:
            conditions.append(HandoffSession.last_agent_activity_at < idle_cutoff)
        with self._db() as db:
            claimed = db.execute(update(HandoffSession).where(*conditions)
                                 .values(status=status, ended_at=now, ended_by=ended_by)
                                 .execution_options(synchronize_session=False)).rowcount == 1
        if not claimed:
            raise SessionEnded()
        view = self.get(session_id)
        events = [RESUME]
        if status == CLOSED or view.ticket_no:
            events += END_FORM  # the form's work is done (or abandoned): do not ask for its next slot
        events += [_bot(self.messages[message_key], handoff=status), LISTEN]
        try:
            self.notifier(view).deliver(view.conversation_id, events)
        except RasaError as exc:
            with self._db() as db:
                db.execute(update(HandoffSession).where(HandoffSession.id == session_id,
                                                        HandoffSession.status == status)
                           .values(status=ACTIVE, ended_at=None, ended_by=None))
            logger.warning("handoff %s: Rasa not told of the %s, kept active: %s", session_id, status, exc)
            raise DeliveryFailed() from exc
        except ChannelDeliveryError as exc:  # Rasa has it; only the WeChat copy is missing
            logger.warning("handoff %s: %s notice not delivered by the channel: %s", session_id, status, exc)
        logger.info("handoff %s: %s by %s", session_id, status, "idle timeout" if ended_by == IDLE_AGENT else "agent")
        return view

    # -- callbacks ------------------------------------------------------------------------

    def add_callback(self, conversation_id: str, channel: str, phone: str, preferred_time: str, *,
                     reason: str = "requested", slots: Optional[dict] = None) -> CallbackView:
        """Record a citizen's callback request.

        Raises:
            InvalidInput: the phone number or preferred time is not usable (Chinese message).
        """
        from xiaoan.tickets.validators import extract_phone

        normalized = extract_phone(phone or "")
        if not normalized:
            raise InvalidInput(labels.message("handoff.callback_bad_phone"), "phone")
        preferred_time = (preferred_time or "").strip()
        if not preferred_time:
            raise InvalidInput(labels.message("handoff.callback_no_time"), "preferred_time")
        if len(preferred_time) > MAX_PREFERRED_TIME_CHARS:
            raise InvalidInput(labels.message("handoff.callback_time_too_long", limit=MAX_PREFERRED_TIME_CHARS),
                               "preferred_time")
        if reason not in REASONS:
            reason = "requested"
        with self._db() as db:
            row = CallbackRequest(conversation_id=conversation_id, channel=channel, phone=normalized,
                                  preferred_time=preferred_time, reason=reason, slots=_json_safe(slots or {}),
                                  status=CALLBACK_OPEN, created_at=self.clock())
            db.add(row)
            db.flush()
            view = CallbackView.of(row)
        logger.info("callback %s requested (phone %s)", view.id, view.phone_masked)
        return view

    def callbacks(self, status: Optional[str] = CALLBACK_OPEN) -> list[CallbackView]:
        """Callback requests, oldest first (`status=None`: all, newest first)."""
        with self._db() as db:
            query = select(CallbackRequest)
            if status:
                query = query.where(CallbackRequest.status == status).order_by(CallbackRequest.created_at,
                                                                               CallbackRequest.id)
            else:
                query = query.order_by(CallbackRequest.created_at.desc(), CallbackRequest.id.desc())
            return [CallbackView.of(r) for r in db.execute(query).scalars()]

    def get_callback(self, callback_id: int) -> CallbackView:
        """One callback request.

        Raises:
            HandoffError: no such request.
        """
        return self._view_of(CallbackRequest, callback_id, CallbackView,
                             lambda: HandoffError(labels.message("handoff.callback_not_found")))

    def complete_callback(self, callback_id: int, agent_name: str, note: Optional[str] = None) -> CallbackView:
        """Mark a callback request done (once; a second agent is told who did it).

        Raises:
            HandoffError: no such request, or already done.
            InvalidInput: the note is too long.
        """
        note = (note or "").strip() or None
        if note and len(note) > MAX_CALLBACK_NOTE_CHARS:
            raise InvalidInput(labels.message("handoff.callback_note_too_long", limit=MAX_CALLBACK_NOTE_CHARS))
        now = self.clock()
        with self._db() as db:
            done = db.execute(update(CallbackRequest)
                              .where(CallbackRequest.id == callback_id, CallbackRequest.status == CALLBACK_OPEN)
                              .values(status=CALLBACK_DONE, handled_by=agent_name, handled_at=now, note=note)
                              .execution_options(synchronize_session=False)).rowcount == 1
        view = self.get_callback(callback_id)
        if not done:
            raise HandoffError(labels.message("handoff.callback_done_by", by=view.handled_by))
        return view


def _json_safe(value: Any) -> Any:
    """Slots as JSON-storable values (Decimal and dates as strings)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def get_handoff_service() -> HandoffService:
    """The process's HandoffService (`xiaoan.services`: built on first use from the process's settings)."""
    return services.service("handoff", HandoffService)


def reset_handoff_service() -> None:
    """Forget the cached service (tests that change the environment)."""
    services.reset("handoff")


def rotate_handoff_data(settings: Optional[Settings] = None, *, batch: int = 200) -> dict[str, int]:
    """Re-encrypt the hand-off sessions' slots and the callback requests' phone and slots with the
    primary data key (part of `xiaoan keys rotate`; each batch in its own small transaction).

    Returns:
        {"handoff_sessions": rows rewritten, "callbacks": rows rewritten,
         "remaining_old": values still under another key or in clear (0 when done)}.
    """
    from sqlalchemy import text as sql_text

    from xiaoan.crypto import is_encrypted, key_id_of, keyring

    settings = settings or services.settings()
    primary = keyring().primary.key_id
    counts = {"handoff_sessions": 0, "callbacks": 0}
    for model, name, columns in ((HandoffSession, "handoff_sessions", ("slots",)),
                                 (CallbackRequest, "callbacks", ("phone", "slots"))):
        last = 0
        while True:
            with session_scope(settings.database_url) as session:
                rows = session.execute(select(model).where(model.id > last).order_by(model.id)
                                       .limit(batch)).scalars().all()
                for row in rows:
                    last = row.id
                    session.execute(update(model).where(model.id == row.id)
                                    .values({c: getattr(row, c) for c in columns})
                                    .execution_options(synchronize_session=False))
                    counts[name] += 1
            if len(rows) < batch:
                break
    remaining = 0
    with session_scope(settings.database_url) as session:
        for table, column in (("handoff_sessions", "slots"), ("handoff_callbacks", "phone"),
                              ("handoff_callbacks", "slots")):
            for (stored,) in session.execute(sql_text(f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL")):
                if not is_encrypted(stored) or key_id_of(stored) != primary:
                    remaining += 1
    return {**counts, "remaining_old": remaining}
