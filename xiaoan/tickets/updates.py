"""Status changes reported by the work-order platform (or staff), and the notices they cause.

Usage::

    result = apply_status_update("XA-261126-0042", "closed", source="platform", event_id="evt-981")
    result.duplicate   # True when this event id was applied before: nothing changes again

One transaction records the change in the ticket's history, keeps the event key (a repeated
report is answered as a duplicate; the same key with other content is a conflict), and queues
what the citizen must be told (`xiaoan.notify`): a status notice per channel, and after closure
the satisfaction question. Sending happens later in the notification worker, so the caller (the
platform's HTTP request) never waits for WeChat or the SMS gateway.

Platform statuses: ``accepted`` (受理), ``transferred`` (转办, optionally with the new ``agency``),
``mediated`` (调解), ``closed`` (办结); ``in_progress`` and ``answered`` are accepted too. A change
reported after the ticket was closed is kept in the history but neither reopens the ticket nor
notifies anyone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from xiaoan import services
from xiaoan.config import Settings
from xiaoan.db import session_scope
from xiaoan.localtime import utcnow
from xiaoan.notify import channels as notify_channels
from xiaoan.notify.models import (
    CHANNEL_WEB,
    KIND_STATUS,
    KIND_SURVEY,
    PENDING,
    TicketNotification,
    TicketStatusUpdate,
    TicketSurvey,
)
from xiaoan.tickets.models import Ticket
from xiaoan.tickets.numbering import normalize_ticket_no
from xiaoan.tickets.routing import Router
from xiaoan.tickets.service import TicketError, TicketNotFound, TicketValidationError

logger = logging.getLogger(__name__)

#: Status names the platform may send (English or Chinese) -> the ticket status.
PLATFORM_STATUSES = {
    "accepted": "accepted", "受理": "accepted", "已受理": "accepted",
    "transferred": "transferred", "转办": "transferred", "已转办": "transferred",
    "in_progress": "in_progress", "处理中": "in_progress",
    "mediated": "mediated", "调解": "mediated", "已调解": "mediated",
    "answered": "answered", "已答复": "answered",
    "closed": "closed", "办结": "closed", "已办结": "closed",
}
SOURCES = ("platform", "cli")
MAX_NOTE = 500
MAX_EVENT_ID = 128
#: A reported time further in the future than this is refused (clocks differ a little).
FUTURE_SLACK = dt.timedelta(minutes=10)


class StatusUpdateConflict(TicketError):
    """The event key was used before for a different report."""


@dataclass(frozen=True)
class UpdateResult:
    """What a status report did."""

    ticket_no: str
    status: str          # the reported status (normalized)
    current_status: str  # the ticket's status afterwards
    duplicate: bool      # the event key had been applied before: nothing changed
    applied: bool        # it became the ticket's status (False: after closure, history only)
    notifications: int   # notices queued by this report

    def as_dict(self) -> dict:
        return {"ticket_no": self.ticket_no, "status": self.status, "current_status": self.current_status,
                "duplicate": self.duplicate, "applied": self.applied, "notifications": self.notifications}


def normalize_status(value: object) -> str:
    """The ticket status of a reported status name.

    Raises:
        TicketValidationError: not a status the platform may report.
    """
    status = PLATFORM_STATUSES.get(str(value or "").strip().lower() if isinstance(value, str) else "")
    if status is None:
        raise TicketValidationError(
            f"unknown status {value!r} (allowed: accepted, transferred, in_progress, mediated, answered, closed)",
            "status")
    return status


def _digest(status: str, at: dt.datetime | None, note: str | None, agency: str | None) -> str:
    body = json.dumps({"status": status, "at": at.isoformat() if at else None, "note": note, "agency": agency},
                      sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def apply_status_update(ticket_no: str, status: str, *, source: str, event_id: str | None = None,
                        at: dt.datetime | None = None, note: str | None = None, agency: str | None = None,
                        by: str | None = None, notify: bool = True, settings: Settings | None = None,
                        router: Router | None = None,
                        clock: Callable[[], dt.datetime] = utcnow) -> UpdateResult:
    """Record a reported status change once per event id and queue the citizen's notices.

    Args:
        ticket_no: The ticket (any accepted spelling).
        status: A platform status name (`PLATFORM_STATUSES`).
        source: ``platform`` or ``cli``.
        event_id: The reporter's id of this change: the same id is applied once. None: a new event.
        at: When the change happened (aware; default now). At most 10 minutes in the future.
        note: Optional remark (kept in the history; never sent to the citizen).
        agency: For ``transferred``: the docs/interfaces.md §4 code of the new handling unit.
        by: Who made the change (history); default the source.
        notify: False records the change without telling the citizen.
        settings: Database and channel settings (default: the process's).
        router: Agency names (default: the packaged routing rules).
        clock: Current time.

    Raises:
        TicketNotFound: no such ticket.
        TicketValidationError: bad status, time, note, agency or event id (`.field` names it).
        StatusUpdateConflict: the event id was used for a different report.
    """
    settings = settings or services.settings()
    router = router or Router()
    if source not in SOURCES:
        raise TicketValidationError(f"unknown source {source!r}", "source")
    status = normalize_status(status)
    now = clock()
    if at is not None:
        if not isinstance(at, dt.datetime) or at.tzinfo is None:
            raise TicketValidationError("at must be an ISO-8601 time with a UTC offset", "at")
        if at > now + FUTURE_SLACK:
            raise TicketValidationError("at lies in the future", "at")
    if note is not None:
        if not isinstance(note, str):
            raise TicketValidationError("note must be text", "note")
        note = note.strip() or None
        if note and len(note) > MAX_NOTE:
            raise TicketValidationError(f"note is longer than {MAX_NOTE} characters", "note")
    if agency is not None:
        if not isinstance(agency, str) or agency not in router.rules.agencies:
            raise TicketValidationError(f"unknown agency code {agency!r}", "agency")
        if status != "transferred":
            raise TicketValidationError("agency is only given with the status transferred", "agency")
    if event_id is not None:
        if not isinstance(event_id, str) or not event_id.strip() or len(event_id) > MAX_EVENT_ID:
            raise TicketValidationError(f"event_id must be text of 1 to {MAX_EVENT_ID} characters", "event_id")
    number = normalize_ticket_no(ticket_no) if isinstance(ticket_no, str) else None
    if number is None:
        raise TicketNotFound(str(ticket_no))
    key = f"{source}:{event_id.strip() if event_id else uuid.uuid4().hex}"
    digest = _digest(status, at, note, agency)

    for attempt in (1, 2):
        try:
            with session_scope(settings.database_url) as session:
                seen = session.execute(select(TicketStatusUpdate).where(TicketStatusUpdate.event_key == key)
                                       ).scalar_one_or_none()
                if seen is not None:
                    return _duplicate(session, seen, digest, number)
                ticket = session.execute(select(Ticket).options(selectinload(Ticket.history))
                                         .where(Ticket.ticket_no == number)).scalar_one_or_none()
                if ticket is None:
                    raise TicketNotFound(ticket_no)
                applied = ticket.status != "closed"
                ticket.record_status(status, by or source, note=note, at=at or now, set_current=applied)
                if applied and agency:
                    ticket.agency = agency
                update = TicketStatusUpdate(event_key=key, body_sha256=digest, ticket_id=ticket.id, status=status,
                                            source=source, applied=1 if applied else 0, at=at or now, received_at=now)
                session.add(update)
                session.flush()
                queued = _queue(session, ticket, update, settings, router, now) if applied and notify else 0
                result = UpdateResult(number, status, ticket.status, False, applied, queued)
            break
        except IntegrityError:
            if attempt == 2:
                raise
            logger.info("status event %s for %s arrived twice at once; answering the first", key, number)
    logger.info("ticket %s: %s reported by %s (applied=%s, %d notices queued)", number, status, source,
                result.applied, result.notifications)
    return result


def _duplicate(session, seen: TicketStatusUpdate, digest: str, number: str) -> UpdateResult:
    ticket = session.get(Ticket, seen.ticket_id)
    if ticket is None or ticket.ticket_no != number or seen.body_sha256 != digest:
        raise StatusUpdateConflict(f"event {seen.event_key!r} was already used for a different report")
    return UpdateResult(number, seen.status, ticket.status, True, bool(seen.applied), 0)


def _queue(session, ticket: Ticket, update: TicketStatusUpdate, settings: Settings, router: Router,
           now: dt.datetime) -> int:
    """Add the notices of one applied change (and the survey after closure) to the transaction."""
    if update.status not in notify_channels.NOTIFIED_STATUSES:
        return 0
    targets = notify_channels.channels_for(ticket, settings)
    if not targets:
        return 0
    params = {"ticket_no": ticket.ticket_no, "status": update.status,
              "status_label": router.rules.status_label(update.status),
              "agency_name": router.rules.agency_name(ticket.agency)}
    kinds = [KIND_STATUS]
    if update.status == "closed":
        exists = session.execute(select(TicketSurvey.id).where(TicketSurvey.ticket_id == ticket.id)).first()
        if exists is None:
            session.add(TicketSurvey(ticket_id=ticket.id, asked_at=now))
            kinds.append(KIND_SURVEY)
    count = 0
    for kind in kinds:
        for channel, recipient in targets:
            session.add(TicketNotification(
                dedupe_key=f"{update.id}:{channel}:{kind}", ticket_id=ticket.id, kind=kind, channel=channel,
                recipient=recipient, conversation_id=recipient if channel == CHANNEL_WEB else None, params=params, state=PENDING, next_attempt_at=now, created_at=now))
            count += 1
    return count
