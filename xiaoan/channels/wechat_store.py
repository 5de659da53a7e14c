"""Database state of the WeChat channel, shared by every Rasa process (docs/domain.md §6).

Tables:

- ``wechat_processed_messages``: one row per incoming message or event (dedupe key), so that
  WeChat's retries of the same ``MsgId`` are answered without a second run, also when the
  retry reaches another process.
- ``wechat_users``: per citizen (openid) the customer-service message window (5 messages
  within 48 h of the citizen's last message) and the buttons last shown as numbered choices.
- ``wechat_undelivered_messages``: what could not be sent through the customer-service API,
  with the reason, for staff to follow up.
- ``wechat_subscription_events``: subscribe / unsubscribe (关注 / 取消关注) events.
- ``wechat_access_tokens``: the one access_token per Official Account, with its expiry and a
  refresh lease (see :class:`xiaoan.channels.wechat_api.AccessTokenHolder`).
- ``wechat_nonces``: every signed request accepted (a digest of its signature, timestamp and
  nonce) until its timestamp leaves the accepted window, so the same signed query string never
  works twice, in any process (security issue 12).

The functions below are small units of work, each in its own session
(:func:`xiaoan.db.session_scope`); the channel calls them from a worker thread.
"""

from __future__ import annotations

import datetime as dt
import hmac
from typing import Any, Optional

from sqlalchemy import JSON, Column, Integer, String, Text, UniqueConstraint, delete, select, update
from sqlalchemy.exc import IntegrityError

from xiaoan.db import Base, UTCDateTime, session_scope, utcnow

# Processing states of an incoming message (column `status`).
STATUS_PROCESSING = "processing"  # claimed; the assistant is running for it
STATUS_PASSIVE = "passive"  # answered in the HTTP response; `reply_text` holds the answer
STATUS_DEFERRED = "deferred"  # acknowledged with "success"; the answer goes through the API
STATUS_DONE = "done"  # finished (API delivery attempted, or nothing to answer)

CS_MESSAGE_LIMIT = 5  # customer-service messages per citizen message (WeChat's rule)
CS_WINDOW = dt.timedelta(hours=48)  # ... within this time of the citizen's message

# Reasons recorded with an undelivered message.
REASON_WINDOW = "window_closed"  # no citizen message within the last 48 h (or never)
REASON_BUDGET = "budget_exhausted"  # the 5 messages of the window are used up
REASON_NOT_CONFIGURED = "not_configured"  # XIAOAN_WECHAT_APPID / _SECRET unset
REASON_NETWORK = "network_error"  # WeChat's API unreachable after the retries


def api_error_reason(errcode: Any) -> str:
    """The reason recorded for a WeChat API error code, e.g. ``api_45015``."""
    return f"api_{errcode}"


class WeChatProcessedMessage(Base):
    """An incoming message or event, claimed once by its dedupe key."""

    __tablename__ = "wechat_processed_messages"

    id = Column(Integer, primary_key=True)
    dedupe_key = Column(String(160), nullable=False, unique=True)
    """``msg:<MsgId>`` for messages, ``evt:<FromUserName>:<CreateTime>`` for events."""
    openid = Column(String(64), nullable=False, index=True)
    msg_type = Column(String(32), nullable=False)
    status = Column(String(16), nullable=False, default=STATUS_PROCESSING)
    reply_text = Column(Text, nullable=True)
    """The passive reply, sent again when WeChat retries a message already answered."""
    created_at = Column(UTCDateTime, nullable=False, default=utcnow, index=True)
    updated_at = Column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)


class WeChatUser(Base):
    """Per-citizen state: the customer-service window and the last numbered choices."""

    __tablename__ = "wechat_users"

    openid = Column(String(64), primary_key=True)
    last_message_at = Column(UTCDateTime, nullable=True)
    """When the citizen last wrote (or subscribed): opens a 48-hour customer-service window."""
    cs_sent = Column(Integer, nullable=False, default=0)
    """Customer-service messages sent since `last_message_at` (at most 5)."""
    choices = Column(JSON, nullable=True)
    """Buttons of the last assistant turn, in the order numbered: ``[{"title", "payload"}]``."""
    updated_at = Column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)


class WeChatUndeliveredMessage(Base):
    """A text that could not be sent through the customer-service message API."""

    __tablename__ = "wechat_undelivered_messages"

    id = Column(Integer, primary_key=True)
    openid = Column(String(64), nullable=False, index=True)
    text = Column(Text, nullable=False)
    reason = Column(String(32), nullable=False)
    """One of the ``REASON_*`` constants or ``api_<errcode>`` (e.g. ``api_45015``)."""
    detail = Column(String(255), nullable=True)
    source = Column(String(16), nullable=False)
    """Who wanted to send it: ``assistant`` (a late answer), ``push`` (Rasa API), ``agent``."""
    created_at = Column(UTCDateTime, nullable=False, default=utcnow, index=True)


class WeChatSubscriptionEvent(Base):
    """A subscribe (关注) or unsubscribe (取消关注) of the Official Account."""

    __tablename__ = "wechat_subscription_events"
    __table_args__ = (UniqueConstraint("openid", "event", "event_time", name="uq_wechat_subscription_event"),)

    id = Column(Integer, primary_key=True)
    openid = Column(String(64), nullable=False, index=True)
    event = Column(String(16), nullable=False)
    event_time = Column(UTCDateTime, nullable=False)
    """WeChat's CreateTime of the event."""
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)


class WeChatAccessToken(Base):
    """The Official Account's access_token, shared by every process."""

    __tablename__ = "wechat_access_tokens"

    appid = Column(String(64), primary_key=True)
    access_token = Column(String(512), nullable=True)
    expires_at = Column(UTCDateTime, nullable=True)
    refreshing_until = Column(UTCDateTime, nullable=True)
    """Lease of the process refreshing the token; others wait for it (compare-and-swap)."""
    version = Column(Integer, nullable=False, default=0)
    updated_at = Column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)


class WeChatNonce(Base):
    """A signed request already accepted: its (signature, timestamp, nonce) cannot be used again."""

    __tablename__ = "wechat_nonces"

    nonce_key = Column(String(64), primary_key=True)
    """SHA-256 (hex) of ``signature|timestamp|nonce`` as WeChat sent them."""
    body_sha256 = Column(String(64), nullable=False)
    """SHA-256 (hex) of the body (and msg_signature): tells WeChat's own retry from a replay."""
    expires_at = Column(UTCDateTime, nullable=False, index=True)
    """The request's timestamp plus the accepted window: after it the timestamp check refuses it anyway."""
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)


# ---------------------------------------------------------------- nonces (replay protection)

NONCE_NEW = "new"  # first use: go on
NONCE_REPEAT = "repeat"  # the same request again, byte for byte (WeChat retrying): never runs anything
NONCE_REPLAY = "replay"  # the same signed query string with another body: refused


def claim_nonce(
    url: Optional[str], nonce_key: str, body_sha256: str, expires_at: dt.datetime, now: Optional[dt.datetime] = None
) -> str:
    """Record a signed request; :data:`NONCE_NEW` the first time, else whether it is a repeat or a replay.

    The primary key makes this safe across processes: exactly one insert succeeds. A record
    found already expired (not yet pruned) still counts: the same query string never works twice.
    """
    for _attempt in range(2):
        try:
            with session_scope(url) as session:
                session.add(
                    WeChatNonce(nonce_key=nonce_key, body_sha256=body_sha256, expires_at=expires_at, created_at=now or utcnow())
                )
            return NONCE_NEW
        except IntegrityError:
            with session_scope(url) as session:
                seen = session.execute(
                    select(WeChatNonce.body_sha256).where(WeChatNonce.nonce_key == nonce_key)
                ).scalar_one_or_none()
            if seen is not None:
                return NONCE_REPEAT if hmac.compare_digest(seen, body_sha256) else NONCE_REPLAY
            # pruned between the insert and the look-up: try the insert once more
    return NONCE_REPLAY  # pragma: no cover - only when a prune races twice


def prune_nonces(url: Optional[str], now: Optional[dt.datetime] = None) -> int:
    """Delete nonce records whose timestamp is out of the window anyway; the count deleted."""
    with session_scope(url) as session:
        result = session.execute(delete(WeChatNonce).where(WeChatNonce.expires_at < (now or utcnow())))
        return result.rowcount or 0


# ---------------------------------------------------------------- processed messages


def claim_message(url: Optional[str], dedupe_key: str, openid: str, msg_type: str) -> bool:
    """Claim an incoming message for processing; False when it was already claimed.

    The unique key makes this safe across processes: exactly one insert succeeds.
    """
    try:
        with session_scope(url) as session:
            session.add(
                WeChatProcessedMessage(
                    dedupe_key=dedupe_key, openid=openid, msg_type=msg_type, status=STATUS_PROCESSING
                )
            )
    except IntegrityError:
        return False
    return True


def message_state(url: Optional[str], dedupe_key: str) -> Optional[tuple[str, Optional[str]]]:
    """``(status, reply_text)`` of a claimed message, or None when unknown."""
    with session_scope(url) as session:
        row = session.execute(
            select(WeChatProcessedMessage.status, WeChatProcessedMessage.reply_text).where(
                WeChatProcessedMessage.dedupe_key == dedupe_key
            )
        ).first()
    return (row.status, row.reply_text) if row else None


def transition_message(
    url: Optional[str], dedupe_key: str, from_status: str, to_status: str, reply_text: Optional[str] = None
) -> bool:
    """Move a message from one status to another (compare-and-swap); False if it was not in `from_status`."""
    values: dict[str, Any] = {"status": to_status, "updated_at": utcnow()}
    if reply_text is not None:
        values["reply_text"] = reply_text
    with session_scope(url) as session:
        result = session.execute(
            update(WeChatProcessedMessage)
            .where(WeChatProcessedMessage.dedupe_key == dedupe_key, WeChatProcessedMessage.status == from_status)
            .values(**values)
        )
        return result.rowcount == 1


def prune_processed_messages(url: Optional[str], older_than: dt.timedelta) -> int:
    """Delete dedupe records older than `older_than` (WeChat retries within seconds); the count deleted."""
    with session_scope(url) as session:
        result = session.execute(
            delete(WeChatProcessedMessage).where(WeChatProcessedMessage.created_at < utcnow() - older_than)
        )
        return result.rowcount or 0


# ---------------------------------------------------------------- users: window and choices


def _ensure_user(session, openid: str) -> None:
    if session.get(WeChatUser, openid) is None:
        session.add(WeChatUser(openid=openid, cs_sent=0))
        session.flush()


def _with_user(url: Optional[str], openid: str, work) -> Any:
    """Run `work(session)` after making sure the user's row exists (concurrent inserts tolerated)."""
    for attempt in range(2):
        try:
            with session_scope(url) as session:
                _ensure_user(session, openid)
                return work(session)
        except IntegrityError:
            if attempt:
                raise
    return None  # pragma: no cover - the loop either returns or raises


def record_citizen_message(url: Optional[str], openid: str, at: Optional[dt.datetime] = None) -> None:
    """The citizen wrote: a new 48-hour window with 5 customer-service messages opens."""
    at = at or utcnow()

    def work(session):
        session.execute(
            update(WeChatUser).where(WeChatUser.openid == openid).values(last_message_at=at, cs_sent=0, updated_at=at)
        )

    _with_user(url, openid, work)


def reserve_cs_slot(url: Optional[str], openid: str, now: Optional[dt.datetime] = None) -> Optional[str]:
    """Take one customer-service message from the citizen's window.

    Returns:
        None when a message may be sent, else the reason it may not
        (:data:`REASON_WINDOW` or :data:`REASON_BUDGET`).
    """
    now = now or utcnow()
    with session_scope(url) as session:
        result = session.execute(
            update(WeChatUser)
            .where(
                WeChatUser.openid == openid,
                WeChatUser.last_message_at >= now - CS_WINDOW,
                WeChatUser.cs_sent < CS_MESSAGE_LIMIT,
            )
            .values(cs_sent=WeChatUser.cs_sent + 1, updated_at=now)
        )
        if result.rowcount == 1:
            return None
        user = session.get(WeChatUser, openid)
    if user is None or user.last_message_at is None or user.last_message_at < now - CS_WINDOW:
        return REASON_WINDOW
    return REASON_BUDGET


def release_cs_slot(url: Optional[str], openid: str) -> None:
    """Give back a slot taken by :func:`reserve_cs_slot` for a message WeChat did not accept."""
    with session_scope(url) as session:
        session.execute(
            update(WeChatUser).where(WeChatUser.openid == openid, WeChatUser.cs_sent > 0).values(cs_sent=WeChatUser.cs_sent - 1)
        )


def cs_sent_count(url: Optional[str], openid: str) -> int:
    """Customer-service messages sent in the citizen's current window."""
    with session_scope(url) as session:
        user = session.get(WeChatUser, openid)
        return user.cs_sent if user else 0


def save_choices(url: Optional[str], openid: str, choices: Optional[list[dict[str, str]]]) -> None:
    """Remember the numbered choices just shown (None or [] forgets them)."""

    def work(session):
        session.execute(update(WeChatUser).where(WeChatUser.openid == openid).values(choices=choices or None))

    _with_user(url, openid, work)


def load_choices(url: Optional[str], openid: str) -> list[dict[str, str]]:
    """The numbered choices last shown to the citizen, in order."""
    with session_scope(url) as session:
        user = session.get(WeChatUser, openid)
        return list(user.choices or []) if user else []


# ---------------------------------------------------------------- undelivered and subscriptions


def record_undelivered(
    url: Optional[str], openid: str, text: str, reason: str, source: str, detail: Optional[str] = None
) -> None:
    """Keep a text that could not be sent, with the reason."""
    with session_scope(url) as session:
        session.add(
            WeChatUndeliveredMessage(
                openid=openid, text=text, reason=reason[:32], source=source[:16], detail=(detail or None) and detail[:255]
            )
        )


def record_subscription_event(url: Optional[str], openid: str, event: str, event_time: dt.datetime) -> bool:
    """Record a subscribe / unsubscribe; False when the same event was already recorded."""
    try:
        with session_scope(url) as session:
            session.add(WeChatSubscriptionEvent(openid=openid, event=event, event_time=event_time))
    except IntegrityError:
        return False
    return True
