"""The satisfaction question after closure (满意 / 基本满意 / 不满意 + a reason) and its one answer.

A survey row is created when the platform reports a ticket closed (`xiaoan.tickets.updates`).
Answers arrive from three places, and the first one counts (a compare-and-swap on the survey's
state: the same or another answer later is "already answered", never a second rating):

- WeChat: the channel asks :func:`reply_from_channel` before the assistant sees a message; a
  reply "1"/"2"/"3" or the level's words answers the open survey of that openid, and after
  不满意 the next message (within REASON_WINDOW) is the reason;
- SMS: the gateway posts the citizen's reply to ``/api/sms/replies`` (`xiaoan.notify.web`), read
  the same way by phone number;
- the chat page: the notice's buttons post the level and the optional reason in one go.

Every answer is also a `xiaoan.ratings.ServiceRating` row (with the ticket's conversation and
channel), so the supervisors' satisfaction figures (/console/stats, trends, the weekly report)
count ticket callbacks with the conversation ratings.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import unicodedata
from dataclasses import dataclass
from typing import Callable, Optional

from sqlalchemy import select, update

from xiaoan import services, texts
from xiaoan.config import Settings
from xiaoan.crypto import phone_lookup_hash
from xiaoan.db import session_scope
from xiaoan.localtime import utcnow
from xiaoan.notify.models import (
    CHANNEL_SMS,
    CHANNEL_WECHAT,
    DELIVERED,
    KIND_SURVEY,
    SURVEY_ANSWERED,
    SURVEY_ASKED,
    SURVEY_REASON,
    TicketNotification,
    TicketSurvey,
)
from xiaoan.privacy import mask_text
from xiaoan.ratings import BASIC, DISSATISFIED, SATISFIED, ServiceRating
from xiaoan.tickets.models import Ticket
from xiaoan.understanding.phones import normalize_phone

logger = logging.getLogger(__name__)

LEVELS = (SATISFIED, BASIC, DISSATISFIED)
#: A survey is answered through WeChat or SMS for this long after it was asked.
ANSWER_WINDOW = dt.timedelta(days=7)
#: After 不满意, the citizen's next message within this time is taken as the reason.
REASON_WINDOW = dt.timedelta(minutes=30)
MAX_REASON = 500

_ANSWERS = {
    "1": SATISFIED, "满意": SATISFIED, "非常满意": SATISFIED, "很满意": SATISFIED,
    "2": BASIC, "基本满意": BASIC, "一般": BASIC, "还行": BASIC, "还可以": BASIC,
    "3": DISSATISFIED, "不满意": DISSATISFIED, "很不满意": DISSATISFIED, "非常不满意": DISSATISFIED,
}
_NOISE = re.compile(r"[\s。.!！,，、~～:：;；\"'“”‘’（）()]+")

RECORDED, ALREADY, NOT_PENDING = "recorded", "already", "not_pending"


def parse_answer(text: str) -> Optional[str]:
    """The level a short reply names (``1``/``满意``, ``2``/``基本满意``, ``3``/``不满意``), else None.

    Only a whole reply counts: "不满意，东西还没退" is not a bare answer (the assistant reads it).
    """
    cleaned = _NOISE.sub("", unicodedata.normalize("NFKC", text or ""))
    return _ANSWERS.get(cleaned)


@dataclass(frozen=True)
class AnswerResult:
    """What an answer did: ``recorded``, ``already`` (answered before) or ``not_pending``."""

    outcome: str
    ticket_no: str
    level: Optional[str] = None
    needs_reason: bool = False


def _clean_reason(reason: Optional[str]) -> Optional[str]:
    if reason is None:
        return None
    if not isinstance(reason, str):
        raise ValueError("reason must be text")
    reason = " ".join(reason.split())
    if len(reason) > MAX_REASON:
        raise ValueError(f"reason is longer than {MAX_REASON} characters")
    return mask_text(reason) or None


def answer_survey(ticket_id: int, level: str, *, via: str, reason: Optional[str] = None,
                  ask_reason: bool = False, settings: Settings | None = None,
                  clock: Callable[[], dt.datetime] = utcnow) -> AnswerResult:
    """Record the one answer of a ticket's survey.

    Args:
        ticket_id: The ticket's row id.
        level: satisfied | basic | dissatisfied.
        via: wechat | web | sms.
        reason: Why 不满意 (ignored for other levels); masked before it is stored.
        ask_reason: With 不满意 and no reason: wait for the reason in the next message.

    Raises:
        ValueError: unknown level, a reason that is not text or too long.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}")
    reason = _clean_reason(reason) if level == DISSATISFIED else None
    settings = settings or services.settings()
    now = clock()
    waiting = level == DISSATISFIED and reason is None and ask_reason
    with session_scope(settings.database_url) as session:
        survey = session.execute(select(TicketSurvey).where(TicketSurvey.ticket_id == ticket_id)).scalar_one_or_none()
        ticket = session.get(Ticket, ticket_id)
        if survey is None or ticket is None:
            return AnswerResult(NOT_PENDING, ticket.ticket_no if ticket else "")
        taken = session.execute(
            update(TicketSurvey).where(TicketSurvey.id == survey.id, TicketSurvey.state == SURVEY_ASKED)
            .values(state=SURVEY_REASON if waiting else SURVEY_ANSWERED, level=level, reason=reason,
                    answered_via=via, answered_at=now).execution_options(synchronize_session=False)).rowcount == 1
        if not taken:
            return AnswerResult(ALREADY, ticket.ticket_no, survey.level)
        rating = ServiceRating(conversation_id=ticket.conversation_id, channel=ticket.channel, level=level,
                               text=reason or texts.text(f"utter_satisfaction_choice_{level}"), created_at=now)
        session.add(rating)
        session.flush()
        session.execute(update(TicketSurvey).where(TicketSurvey.id == survey.id).values(rating_id=rating.id)
                        .execution_options(synchronize_session=False))
        ticket_no = ticket.ticket_no
    logger.info("satisfaction of %s: %s (via %s)", ticket_no, level, via)
    return AnswerResult(RECORDED, ticket_no, level, needs_reason=waiting)


def add_reason(survey_id: int, reason: str, *, settings: Settings | None = None) -> bool:
    """Attach the reason given after 不满意; False when the survey no longer waits for one."""
    reason = _clean_reason(reason)
    settings = settings or services.settings()
    with session_scope(settings.database_url) as session:
        survey = session.get(TicketSurvey, survey_id)
        if survey is None or survey.state != SURVEY_REASON or not reason:
            return False
        survey.state, survey.reason = SURVEY_ANSWERED, reason
        if survey.rating_id is not None:
            rating = session.get(ServiceRating, survey.rating_id)
            if rating is not None:
                rating.text = reason
    return True


def _open_survey(session, channel: str, key: str, now: dt.datetime) -> Optional[tuple[TicketSurvey, Ticket]]:
    """The latest open survey of a WeChat openid or SMS phone number whose question reached them
    through that channel (a "1" sent before the question arrived is an ordinary message)."""
    asked_here = (select(TicketNotification.id)
                  .where(TicketNotification.ticket_id == TicketSurvey.ticket_id, TicketNotification.kind == KIND_SURVEY,
                         TicketNotification.channel == channel, TicketNotification.state == DELIVERED)
                  .exists())
    query = select(TicketSurvey, Ticket).join(Ticket, Ticket.id == TicketSurvey.ticket_id).where(
        TicketSurvey.state.in_((SURVEY_ASKED, SURVEY_REASON)), TicketSurvey.asked_at >= now - ANSWER_WINDOW,
        asked_here)
    if channel == CHANNEL_WECHAT:
        query = query.where(Ticket.channel == CHANNEL_WECHAT, Ticket.conversation_id == key)
    elif channel == CHANNEL_SMS:
        digits = normalize_phone(key or "")
        if digits is None:
            return None
        query = query.where(Ticket.phone_hash == phone_lookup_hash(digits))
    else:
        return None
    row = session.execute(query.order_by(TicketSurvey.asked_at.desc(), TicketSurvey.id.desc()).limit(1)).first()
    return (row[0], row[1]) if row else None


def reply_from_channel(channel: str, key: str, text: str, *, settings: Settings | None = None,
                       clock: Callable[[], dt.datetime] = utcnow) -> Optional[str]:
    """Read a citizen's message as a survey answer; the reply to send, or None to let the assistant answer.

    Args:
        channel: ``wechat`` (key: openid) or ``sms`` (key: phone number).
        key: Who wrote.
        text: What they wrote.
    """
    settings = settings or services.settings()
    now = clock()
    with session_scope(settings.database_url) as session:
        found = _open_survey(session, channel, key, now)
        if found is None:
            return None
        survey, ticket = found
        survey_id, state, answered_at, ticket_id, ticket_no = (survey.id, survey.state, survey.answered_at,
                                                               ticket.id, ticket.ticket_no)
    if state == SURVEY_REASON:
        if answered_at is not None and now - answered_at > REASON_WINDOW:
            _close_reason(survey_id, settings)
            return None
        try:
            added = add_reason(survey_id, text[:MAX_REASON], settings=settings)
        except ValueError:
            return None
        return texts.text("utter_satisfaction_thanks_reason") if added else None
    level = parse_answer(text)
    if level is None:
        return None
    result = answer_survey(ticket_id, level, via=channel, ask_reason=True, settings=settings, clock=clock)
    if result.outcome == ALREADY:
        return texts.text("utter_satisfaction_already").format(ticket_no=ticket_no)
    if result.needs_reason:
        return texts.text("utter_satisfaction_ask_reason")
    return texts.text("utter_satisfaction_thanks").format(ticket_no=ticket_no)


def wechat_reply(database_url: str, openid: str, text: str) -> Optional[str]:
    """:func:`reply_from_channel` for the WeChat channel (called like its store functions, with the
    channel's database); never raises: on a failure the assistant answers instead."""
    try:
        return reply_from_channel(CHANNEL_WECHAT, openid, text, settings=Settings(database_url=database_url))
    except Exception:  # noqa: BLE001 - a survey problem must not cost the citizen their answer
        logger.exception("satisfaction answer check failed; the assistant answers instead")
        return None


def _close_reason(survey_id: int, settings: Settings) -> None:
    with session_scope(settings.database_url) as session:
        session.execute(update(TicketSurvey).where(TicketSurvey.id == survey_id, TicketSurvey.state == SURVEY_REASON)
                        .values(state=SURVEY_ANSWERED).execution_options(synchronize_session=False))


def survey_state(ticket_id: int, *, settings: Settings | None = None) -> Optional[str]:
    """The state of a ticket's survey (``asked`` …), or None when there is none."""
    settings = settings or services.settings()
    with session_scope(settings.database_url) as session:
        return session.execute(select(TicketSurvey.state).where(TicketSurvey.ticket_id == ticket_id)).scalar_one_or_none()


__all__ = ["ALREADY", "NOT_PENDING", "RECORDED", "AnswerResult", "add_reason", "answer_survey",
           "parse_answer", "reply_from_channel", "survey_state"]
