"""Retention of citizens' personal data (docs/domain.md §7: keep it only as long as the duty needs it).

`xiaoan retention run` (and the outbox worker, once a day) deletes or de-identifies:

| what | when | how | variable (days) | default |
| --- | --- | --- | --- | --- |
| Rasa tracker events (every message) | the conversation's last event is older than the period | the conversation's events are deleted | `XIAOAN_RETENTION_TRACKER_DAYS` | 180 |
| handoff sessions and agents' messages | ended (closed / returned) longer ago | deleted | `XIAOAN_RETENTION_HANDOFF_DAYS` | 180 |
| callback requests (phone numbers) | done longer ago | deleted | `XIAOAN_RETENTION_HANDOFF_DAYS` | 180 |
| unanswered knowledge-base questions | asked longer ago | deleted | `XIAOAN_RETENTION_UNANSWERED_DAYS` | 365 |
| closed tickets' personal data | closed (last status change) longer ago | name, phone, address and phone hash set to NULL, `personal_data_removed_at` set; delivered outbox rows deleted, others stripped of personal fields; its status notices (`ticket_notifications`) deleted; the ticket itself (facts, agency, dates) stays for statistics | `XIAOAN_RETENTION_CLOSED_TICKET_DAYS` | 730 |
| evidence attachments not on a ticket (abandoned form) | uploaded longer ago | rows and files deleted | `XIAOAN_RETENTION_TRACKER_DAYS` | 180 |
| evidence attachments of closed tickets | closed (last status change) longer ago | rows and files deleted | `XIAOAN_RETENTION_CLOSED_TICKET_DAYS` | 730 |

Open work (waiting or active handoffs, tickets not closed) is never touched. Every job is
idempotent and safe to run from several processes.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass
from typing import Any, Mapping

from sqlalchemy import create_engine, delete, inspect, select, text, update

from xiaoan import services
from xiaoan.config import Settings, positive_number
from xiaoan.db import session_scope, utcnow

logger = logging.getLogger(__name__)

#: (variable, default days) per job.
PERIODS = {
    "tracker_events": ("XIAOAN_RETENTION_TRACKER_DAYS", 180),
    "handoff": ("XIAOAN_RETENTION_HANDOFF_DAYS", 180),
    "unanswered_questions": ("XIAOAN_RETENTION_UNANSWERED_DAYS", 365),
    "closed_tickets": ("XIAOAN_RETENTION_CLOSED_TICKET_DAYS", 730),
}
PERSONAL_PAYLOAD_FIELDS = ("complainant_name", "phone", "phone_masked", "complainant_address")


class RetentionError(ValueError):
    """A retention period is not a positive whole number of days."""


@dataclass(frozen=True)
class RetentionPeriods:
    """The periods in days (see the module docstring)."""

    tracker_events: int = 180
    handoff: int = 180
    unanswered_questions: int = 365
    closed_tickets: int = 730

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "RetentionPeriods":
        env = os.environ if env is None else env
        values = {}
        for name, (variable, default) in PERIODS.items():
            values[name] = positive_number(variable, env.get(variable), default,
                                           what="a whole number of days", unit=" day", error=RetentionError)
        return cls(**values)


def _cutoff(now: dt.datetime, days: int) -> dt.datetime:
    return now - dt.timedelta(days=days)


def purge_tracker_events(tracker_url: str, cutoff: dt.datetime, *, dry_run: bool = False) -> int:
    """Delete the Rasa events of conversations whose last event is older than `cutoff`.

    Whole conversations only: deleting the start of a live conversation would corrupt it.

    Returns:
        The number of conversations deleted (or that would be).
    """
    url = tracker_url.replace("postgresql://", "postgresql+psycopg2://", 1) if tracker_url.startswith(
        "postgresql://") else tracker_url
    engine = create_engine(url, future=True)
    try:
        with engine.begin() as conn:
            if not inspect(conn).has_table("events"):
                return 0
            senders = [row[0] for row in conn.execute(
                text("SELECT sender_id FROM events GROUP BY sender_id HAVING MAX(timestamp) < :cutoff"),
                {"cutoff": cutoff.timestamp()})]
            if not dry_run:
                for start in range(0, len(senders), 500):
                    chunk = senders[start:start + 500]
                    params = {f"s{i}": s for i, s in enumerate(chunk)}
                    placeholders = ", ".join(f":s{i}" for i in range(len(chunk)))
                    conn.execute(text(f"DELETE FROM events WHERE sender_id IN ({placeholders}) "
                                      "AND timestamp < :cutoff"), {**params, "cutoff": cutoff.timestamp()})
            return len(senders)
    finally:
        engine.dispose()


def purge_handoff(database_url: str, cutoff: dt.datetime, *, dry_run: bool = False) -> dict[str, int]:
    """Delete ended handoff sessions (with their agents' messages) and done callbacks before `cutoff`."""
    from xiaoan.handoff.models import (
        CALLBACK_DONE,
        CLOSED,
        RETURNED,
        AgentMessage,
        CallbackRequest,
        HandoffSession,
    )

    with session_scope(database_url) as session:
        ids = list(session.execute(select(HandoffSession.id).where(
            HandoffSession.status.in_((CLOSED, RETURNED)), HandoffSession.ended_at.is_not(None),
            HandoffSession.ended_at < cutoff)).scalars())
        callbacks = list(session.execute(select(CallbackRequest.id).where(
            CallbackRequest.status == CALLBACK_DONE, CallbackRequest.handled_at.is_not(None),
            CallbackRequest.handled_at < cutoff)).scalars())
        if not dry_run:
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                session.execute(delete(AgentMessage).where(AgentMessage.session_id.in_(chunk))
                                .execution_options(synchronize_session=False))
                session.execute(delete(HandoffSession).where(HandoffSession.id.in_(chunk))
                                .execution_options(synchronize_session=False))
            for start in range(0, len(callbacks), 500):
                session.execute(delete(CallbackRequest).where(CallbackRequest.id.in_(callbacks[start:start + 500]))
                                .execution_options(synchronize_session=False))
    return {"handoff_sessions": len(ids), "callbacks": len(callbacks)}


def purge_unanswered(database_url: str, cutoff: dt.datetime, *, dry_run: bool = False) -> int:
    """Delete unanswered knowledge-base questions asked before `cutoff`."""
    from xiaoan.kb.models import KbUnanswered

    with session_scope(database_url) as session:
        ids = list(session.execute(select(KbUnanswered.id).where(KbUnanswered.created_at < cutoff)).scalars())
        if not dry_run and ids:
            for start in range(0, len(ids), 500):
                session.execute(delete(KbUnanswered).where(KbUnanswered.id.in_(ids[start:start + 500]))
                                .execution_options(synchronize_session=False))
    return len(ids)


def anonymise_closed_tickets(database_url: str, cutoff: dt.datetime, *, now: dt.datetime,
                             dry_run: bool = False) -> int:
    """Remove the complainant's data from tickets closed before `cutoff` (see the module docstring)."""
    from xiaoan.tickets.models import OUTBOX_DELIVERED, OutboxMessage, Ticket

    with session_scope(database_url) as session:
        ids = list(session.execute(select(Ticket.id).where(
            Ticket.status == "closed", Ticket.updated_at < cutoff,
            Ticket.personal_data_removed_at.is_(None))).scalars())
        if dry_run or not ids:
            return len(ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            session.execute(update(Ticket).where(Ticket.id.in_(chunk)).values(
                complainant_name=None, phone=None, complainant_address=None, phone_hash=None,
                personal_data_removed_at=now).execution_options(synchronize_session=False))
            session.execute(delete(OutboxMessage).where(OutboxMessage.ticket_id.in_(chunk),
                                                        OutboxMessage.state == OUTBOX_DELIVERED)
                            .execution_options(synchronize_session=False))
            # the status notices carry the phone or openid (xiaoan.notify): none is needed any more
            from xiaoan.notify.models import TicketNotification

            session.execute(delete(TicketNotification).where(TicketNotification.ticket_id.in_(chunk))
                            .execution_options(synchronize_session=False))
            for message in session.execute(select(OutboxMessage).where(OutboxMessage.ticket_id.in_(chunk))).scalars():
                message.payload = {k: (None if k in PERSONAL_PAYLOAD_FIELDS else v) for k, v in message.payload.items()}
    return len(ids)


def run_all(settings: Settings | None = None, *, periods: RetentionPeriods | None = None,
            tracker_url: str | None = None, now: dt.datetime | None = None, dry_run: bool = False) -> dict[str, Any]:
    """Run every retention job once.

    Args:
        settings: The project database (default from the environment).
        periods: Days per job (default `RetentionPeriods.from_env()`).
        tracker_url: Rasa's tracker store (default `xiaoan.rasa_stores.tracker_store_url()`).
        now: The current time (tests).
        dry_run: Count only.

    Returns:
        {"dry_run", "periods_days", "counts": {job: rows}}.
    """
    settings = settings or services.settings()
    periods = periods or RetentionPeriods.from_env()
    now = now or utcnow()
    if tracker_url is None:
        tracker_url = settings.tracker_store_url or _default_tracker_url()
    counts: dict[str, int] = {}
    counts["tracker_conversations"] = purge_tracker_events(tracker_url, _cutoff(now, periods.tracker_events),
                                                           dry_run=dry_run)
    counts.update(purge_handoff(settings.database_url, _cutoff(now, periods.handoff), dry_run=dry_run))
    counts["unanswered_questions"] = purge_unanswered(settings.database_url,
                                                      _cutoff(now, periods.unanswered_questions), dry_run=dry_run)
    counts["closed_tickets_anonymised"] = anonymise_closed_tickets(
        settings.database_url, _cutoff(now, periods.closed_tickets), now=now, dry_run=dry_run)
    from xiaoan.tickets.attachments import purge as purge_attachments  # evidence (issue 15)

    counts.update(purge_attachments(settings, pending_before=_cutoff(now, periods.tracker_events),
                                    closed_before=_cutoff(now, periods.closed_tickets), dry_run=dry_run))
    logger.info("retention %s: %s", "dry run" if dry_run else "run",
                ", ".join(f"{k}={v}" for k, v in counts.items()))
    return {"dry_run": dry_run, "periods_days": periods.__dict__.copy(), "counts": counts}


def _default_tracker_url() -> str:
    from xiaoan.config import VAR_DIR

    return f"sqlite:///{VAR_DIR / 'rasa_tracker.db'}"
