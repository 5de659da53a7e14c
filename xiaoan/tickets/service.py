"""The tickets service called by the form actions (interface: docs/tickets-interface.md).

Usage::

    service = get_ticket_service()
    receipt = service.create(draft, idempotency_key=f"{conversation_id}:{form_started_ts}")
    view = service.status("xa2611260042", "5678")     # None unless both match

Creating a ticket validates the draft, routes it (routing_rules.yml), computes the due dates
in working days, takes the day's next number and stores the ticket with its first history
entry — and, when `XIAOAN_TICKET_API_URL` is set, its outbox row — in one transaction. The
same idempotency key always yields the same ticket, also when two calls race.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import os
import re
import time
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import selectinload

from xiaoan import ratelimit
from xiaoan import faults
from xiaoan import services
from xiaoan.config import Settings
from xiaoan.crypto import is_encrypted, key_id_of, keyring, phone_lookup_hash
from xiaoan.db import session_scope
from xiaoan.localtime import shanghai_date, utcnow
from xiaoan.tickets import attachments, outbox
from xiaoan.tickets.due import add_working_days, due_flag
from xiaoan.tickets.models import DONE_STATUSES, KINDS, STATUSES, OutboxMessage, Ticket
from xiaoan.tickets.numbering import allocate_ticket_no, normalize_ticket_no
from xiaoan.tickets.routing import Router
from xiaoan.tickets.views import history_json, platform_payload, ticket_json
from xiaoan.understanding.phones import normalize_phone

logger = logging.getLogger(__name__)

#: Failed status lookups allowed per ticket number before the number is answered "no match"
#: regardless (guessing the last four digits is 1 in 10,000): the limit `status_ticket_misses`
#: of xiaoan.ratelimit (default 5 per 15 minutes, XIAOAN_LIMIT_STATUS_TICKET_MISSES), counted
#: in Redis or the database, so every process and replica shares it and a restart keeps it.
CREATE_ATTEMPTS = 5


class TicketError(Exception):
    """Base class of the tickets service's errors."""


class TicketValidationError(TicketError, ValueError):
    """The draft or a request is not acceptable.

    Attributes:
        field: The offending field (for the caller to ask again), or None.
        missing: True when the field is required and was left empty.
    """

    def __init__(self, message: str, field: str | None = None, *, missing: bool = False) -> None:
        super().__init__(message)
        self.field = field
        self.missing = missing


class TicketNotFound(TicketError, LookupError):
    """No ticket has that number.

    Attributes:
        ticket_no: The number as given.
    """

    def __init__(self, ticket_no: str) -> None:
        super().__init__(f"no ticket {ticket_no!r}")
        self.ticket_no = ticket_no


@dataclass(frozen=True)
class TicketDraft:
    """What the complaint or report form collected (see docs/tickets-interface.md)."""

    kind: str                      # "complaint" | "report"
    intent: str                    # the NLU intent that started it
    channel: str                   # "web" | "wechat" | "rest" | ...
    conversation_id: str
    complainant_name: str | None   # None for anonymous reports
    phone: str | None              # normalized digits; None for anonymous reports
    complainant_address: str | None
    respondent_name: str
    respondent_address: str | None
    district: str | None           # code without "dist-" (from resolve_district), or None
    facts: str
    claim: str | None
    amount: Decimal | None
    anonymous: bool = False
    respondent_credit_code: str | None = None
    online_platform: str | None = None   # platform name when the seller is on an online platform
    privacy_notice_version: str = "v1"


@dataclass(frozen=True)
class TicketReceipt:
    """What the citizen is told after creation."""

    ticket_no: str          # "XA-261126-0042"
    agency: str             # docs/interfaces.md §4 code
    agency_name: str        # Chinese name, e.g. "浦东新区市场监督管理局"
    contact_by: dt.date     # contact the citizen by (1 working day for the 12345 order)
    resolve_by: dt.date     # answer by (per kind / docs/domain.md deadlines)
    forwarded: bool         # already accepted by the external platform
    created: bool           # False when the idempotency key had already created it


@dataclass(frozen=True)
class TicketStatusView:
    """What a citizen who proved the ticket is theirs may learn about it."""

    ticket_no: str
    kind: str
    status: str
    status_label: str       # Chinese, from routing_rules.yml
    agency: str
    agency_name: str
    created_at: dt.datetime
    contact_by: dt.date
    resolve_by: dt.date
    overdue: bool
    near_due: bool
    last_update_at: dt.datetime


_LIMITS = {"complainant_name": 100, "phone": 32, "respondent_name": 255, "online_platform": 100,
           "intent": 64, "channel": 32, "conversation_id": 255, "privacy_notice_version": 32}


def _text(value: Any, name: str, *, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise TicketValidationError(f"{name} is required", name, missing=True)
        return None
    if not isinstance(value, str):
        raise TicketValidationError(f"{name} must be text, got {type(value).__name__}", name)
    value = value.strip()
    limit = _LIMITS.get(name)
    if limit and len(value) > limit:
        raise TicketValidationError(f"{name} is longer than {limit} characters", name)
    return value


def _phone(value: Any) -> str:
    """The phone as the forms store it: the project's one phone rule (`normalize_phone`).

    A mobile number or a Shanghai landline -> "13812345678" / "02161234567"; anything else is
    refused. The stored (encrypted) phone and its lookup hash (`phone_hash`) are both computed
    from this form, so `tickets_for_phone` finds a ticket however the number is typed.
    """
    digits = normalize_phone(str(value))
    if digits is None:
        raise TicketValidationError("phone must be a mobile number or a Shanghai landline", "phone")
    return digits


def _amount(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise TicketValidationError(f"amount {value!r} is not a number", "amount") from exc
    if not amount.is_finite() or amount < 0 or amount >= Decimal("1e12"):
        raise TicketValidationError(f"amount {value!r} is out of range", "amount")
    return amount.quantize(Decimal("0.01"))


class TicketService:
    """Creates tickets, answers status questions, records status changes.

    Args:
        settings: Database URL and `ticket_api_url` (default `services.settings()`).
        clock: Current time, timezone-aware (tests pass a fixed one).
        router: The routing (default: the packaged routing_rules.yml).
        deliverer: The outbox deliverer (default: one for `settings`).
        rate_limiter: Counts wrong status lookups per ticket number (default: Redis at
            `XIAOAN_REDIS_URL`, else the settings' database, on the service's clock).
    """

    def __init__(self, settings: Settings | None = None, *, clock: Callable[[], dt.datetime] = utcnow,
                 router: Router | None = None, deliverer: outbox.OutboxDeliverer | None = None,
                 rate_limiter: ratelimit.RateLimiter | None = None) -> None:
        self.settings = settings or services.settings()
        self.clock = clock
        self.router = router or Router()
        self.deliverer = deliverer or outbox.OutboxDeliverer(self.settings, clock=clock)
        self._limiter = rate_limiter or ratelimit.build_rate_limiter(
            (os.environ.get(ratelimit.REDIS_URL_ENV) or "").strip() or None, self.settings.database_url,
            clock=lambda: self.clock().timestamp())

    @property
    def forwarding(self) -> bool:
        """True when tickets are forwarded to the external platform (XIAOAN_TICKET_API_URL)."""
        return bool(self.settings.ticket_api_url)

    def _session(self):
        return session_scope(self.settings.database_url)

    def today(self) -> dt.date:
        """Today's date in Shanghai by the service's clock."""
        return shanghai_date(self.clock())

    # -- creation ---------------------------------------------------------------------------

    def _clean(self, draft: TicketDraft) -> dict[str, Any]:
        kind = draft.kind
        if kind not in KINDS:
            raise TicketValidationError(f"kind must be one of {list(KINDS)}, got {kind!r}", "kind")
        anonymous = bool(draft.anonymous)
        if anonymous and kind == "complaint":
            raise TicketValidationError("a complaint cannot be anonymous (only reports can)", "anonymous")
        fields: dict[str, Any] = {
            "kind": kind,
            "anonymous": anonymous,
            "intent": _text(draft.intent, "intent", required=True),
            "channel": _text(draft.channel, "channel", required=True),
            "conversation_id": _text(draft.conversation_id, "conversation_id", required=True),
            "respondent_name": _text(draft.respondent_name, "respondent_name", required=True),
            "respondent_address": _text(draft.respondent_address, "respondent_address", required=False),
            "facts": _text(draft.facts, "facts", required=True),
            "claim": _text(draft.claim, "claim", required=False),
            "amount": _amount(draft.amount),
            "online_platform": _text(draft.online_platform, "online_platform", required=False),
            "privacy_notice_version": _text(draft.privacy_notice_version, "privacy_notice_version", required=True),
        }
        if anonymous:
            # An anonymous reporter's identity is not kept, even if the form carried it.
            fields.update(complainant_name=None, phone=None, complainant_address=None)
        else:
            fields["complainant_name"] = _text(draft.complainant_name, "complainant_name", required=True)
            phone = _text(draft.phone, "phone", required=True)
            fields["phone"] = _phone(phone)
            fields["complainant_address"] = _text(draft.complainant_address, "complainant_address",
                                                  required=kind == "complaint")
        code = _text(draft.respondent_credit_code, "respondent_credit_code", required=False)
        if code is not None:
            code = unicodedata.normalize("NFKC", code).upper().replace(" ", "")
            if len(code) != 18:
                raise TicketValidationError("respondent_credit_code must have 18 characters", "respondent_credit_code")
        fields["respondent_credit_code"] = code
        district = _text(draft.district, "district", required=False)
        if district is not None:
            district = district.lower().removeprefix("dist-")
            if district not in self.router.rules.districts:
                raise TicketValidationError(f"unknown district code {draft.district!r}", "district")
        fields["district"] = district
        return fields

    def create(self, draft: TicketDraft, idempotency_key: str) -> TicketReceipt:
        """Create the ticket of a confirmed form, once per idempotency key.

        Args:
            draft: The collected fields.
            idempotency_key: Same key → same ticket (`created=False` on repeats), also when
                two calls race.

        Returns:
            The receipt: number, agency, due dates, whether the platform already has it.

        Raises:
            TicketValidationError: the draft is incomplete or malformed (`.field` names it).
            RoutingRulesError: routing_rules.yml is broken (fix it; `xiaoan tickets check-rules`).
        """
        key = _text(idempotency_key, "idempotency_key", required=True)
        if len(key) > 255:
            raise TicketValidationError("idempotency_key is longer than 255 characters", "idempotency_key")
        existing = self._receipt_for_key(key)
        if existing is not None:
            return existing
        fields = self._clean(draft)
        decision = self.router.route(_RoutingView(fields))
        rules = self.router.rules
        now = self.clock()
        day = shanghai_date(now)
        contact_by = add_working_days(day, rules.deadlines.contact_by)
        resolve_by = add_working_days(day, rules.deadlines.resolve_by[fields["kind"]])
        token = outbox.new_lease_token() if self.forwarding else None

        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                with self._session() as session:
                    ticket_no = allocate_ticket_no(session, day)
                    ticket = Ticket(
                        ticket_no=ticket_no, status="created", created_at=now, updated_at=now,
                        phone_hash=phone_lookup_hash(fields["phone"]),
                        district=decision.district, agency=decision.agency, routing_rule=decision.rule_id,
                        contact_by=contact_by, resolve_by=resolve_by, idempotency_key=key,
                        **{k: v for k, v in fields.items() if k != "district"},
                    )
                    ticket.record_status("created", f"xiaoan/{fields['channel']}", at=now)
                    session.add(ticket)
                    attachments.link_pending(session, ticket)  # evidence uploaded during the form
                    message_id = None
                    if self.forwarding:
                        message = outbox.enqueue(session, ticket, platform_payload(ticket, decision.agency_name),
                                                 now=now, lease_token=token)
                        session.flush()
                        message_id = message.id
                    session.flush()
                    faults.crash_point("ticket_create:before_commit")
                break
            except IntegrityError:
                existing = self._receipt_for_key(key)
                if existing is not None:
                    return existing
                if attempt == CREATE_ATTEMPTS:
                    raise
                logger.warning("ticket number collision, retrying (attempt %d)", attempt)
            except OperationalError as exc:
                if attempt == CREATE_ATTEMPTS or not _retryable(exc):
                    raise
                logger.warning("database busy while creating a ticket, retrying (attempt %d)", attempt)
                time.sleep(0.05 * attempt)

        faults.crash_point("ticket_create:after_commit")
        logger.info("ticket %s created: kind=%s intent=%s agency=%s rule=%s channel=%s",
                    ticket_no, fields["kind"], fields["intent"], decision.agency, decision.rule_id, fields["channel"])
        forwarded = False
        if message_id is not None:
            try:
                forwarded = self.deliverer.deliver_message(
                    message_id, token=token, timeout=outbox.QUICK_TIMEOUT) == outbox.DELIVERED
            except Exception as exc:  # noqa: BLE001 - the ticket exists; the outbox retries later
                logger.error("first delivery of ticket %s failed (%s); the outbox will retry",
                             ticket_no, outbox.describe_error(exc))
        return TicketReceipt(ticket_no=ticket_no, agency=decision.agency, agency_name=decision.agency_name,
                             contact_by=contact_by, resolve_by=resolve_by, forwarded=forwarded, created=True)

    def _receipt_for_key(self, key: str) -> TicketReceipt | None:
        with self._session() as session:
            ticket = session.execute(select(Ticket).where(Ticket.idempotency_key == key)).scalar_one_or_none()
            if ticket is None:
                return None
            return TicketReceipt(
                ticket_no=ticket.ticket_no, agency=ticket.agency,
                agency_name=self.router.rules.agency_name(ticket.agency),
                contact_by=ticket.contact_by, resolve_by=ticket.resolve_by,
                forwarded=ticket.forwarded_at is not None, created=False,
            )

    # -- status -----------------------------------------------------------------------------

    def status(self, ticket_no: str, phone_last4: str) -> TicketStatusView | None:
        """The status of a ticket, only when the number AND the phone's last four digits match.

        Args:
            ticket_no: As typed ("xa2611260042", "XA 261126 0042", ...).
            phone_last4: The last four digits of the phone given on the ticket (a whole
                number is accepted too).

        Returns:
            The view, or None when anything does not match (never says which part), the
            ticket is anonymous, or too many wrong guesses were made for that number.
        """
        number = normalize_ticket_no(ticket_no)
        digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", phone_last4 or ""))
        if number is None or not (len(digits) == 4 or 7 <= len(digits) <= 15):
            return None
        now = self.clock()
        misses = ratelimit.limit_settings().status_ticket_misses
        if not self._limiter.peek(misses, number).allowed:
            logger.warning("status lookup for %s refused: too many wrong attempts", number)
            return None
        with self._session() as session:
            ticket = session.execute(select(Ticket).where(Ticket.ticket_no == number)).scalar_one_or_none()
            matched = bool(ticket is not None and ticket.phone and not ticket.anonymous
                           and hmac.compare_digest(ticket.phone[-4:], digits[-4:]))
            if not matched:
                self._limiter.record(misses, number)
                logger.info("status lookup for %s: no match", number)
                return None
            rules = self.router.rules
            flag = due_flag(ticket.resolve_by, ticket.status, shanghai_date(now),
                            near_due_days=rules.deadlines.near_due, done_statuses=DONE_STATUSES)
            logger.info("status lookup for %s: match", number)
            return TicketStatusView(
                ticket_no=ticket.ticket_no, kind=ticket.kind, status=ticket.status,
                status_label=rules.status_label(ticket.status), agency=ticket.agency,
                agency_name=rules.agency_name(ticket.agency), created_at=ticket.created_at,
                contact_by=ticket.contact_by, resolve_by=ticket.resolve_by,
                overdue=flag == "overdue", near_due=flag == "near_due", last_update_at=ticket.updated_at,
            )

    def set_status(self, ticket_no: str, status: str, by: str, note: str | None = None) -> dict[str, Any]:
        """Record a status change made by staff or the platform.

        Args:
            ticket_no: The ticket (any accepted spelling).
            status: One of forwarded, accepted, in_progress, answered, closed.
            by: Who made the change (a name or a system).
            note: Optional remark.

        Returns:
            The ticket JSON with its history (as `show`).

        Raises:
            TicketNotFound: no such ticket.
            TicketValidationError: unknown status or no `by`.
        """
        if status not in STATUSES or status == "created":
            allowed = ", ".join(s for s in STATUSES if s != "created")
            raise TicketValidationError(f"unknown status {status!r} (allowed: {allowed})", "status")
        by = _text(by, "by", required=True)
        note = _text(note, "note", required=False)
        number = normalize_ticket_no(ticket_no)
        now = self.clock()
        with self._session() as session:
            ticket = self._load(session, number, ticket_no)
            ticket.record_status(status, by, note=note, at=now)
            session.flush()
            result = self._show_json(ticket)
        logger.info("ticket %s status set to %s", number, status)
        return result

    def tickets_for_phone(self, phone: str) -> list[str]:
        """Numbers of the tickets filed with this phone number, oldest first.

        The phone is stored encrypted; the lookup goes through its keyed hash (`phone_hash`),
        so the database never compares phone numbers in clear.

        Raises:
            TicketValidationError: not a phone number.
        """
        digits = _phone(phone)
        with self._session() as session:
            return list(session.execute(
                select(Ticket.ticket_no).where(Ticket.phone_hash == phone_lookup_hash(digits))
                .order_by(Ticket.created_at, Ticket.id)).scalars())

    # -- listings ---------------------------------------------------------------------------

    def _load(self, session, number: str | None, raw: str) -> Ticket:
        ticket = None
        if number is not None:
            ticket = session.execute(
                select(Ticket).options(selectinload(Ticket.history), selectinload(Ticket.attachments)).where(Ticket.ticket_no == number)
            ).scalar_one_or_none()
        if ticket is None:
            raise TicketNotFound(raw)
        return ticket

    @staticmethod
    def _show_json(ticket: Ticket) -> dict[str, Any]:
        data = ticket_json(ticket)
        data["history"] = history_json(ticket)
        return data

    def show(self, ticket_no: str) -> dict[str, Any]:
        """The docs/interfaces.md §6 JSON of one ticket plus its `history`.

        Raises:
            TicketNotFound: no such ticket.
        """
        with self._session() as session:
            return self._show_json(self._load(session, normalize_ticket_no(ticket_no), ticket_no))

    def list_tickets(self, since: dt.datetime | None = None) -> list[dict[str, Any]]:
        """docs/interfaces.md §6 JSON of the tickets created at or after `since` (aware), oldest first."""
        query = select(Ticket).options(selectinload(Ticket.attachments)).order_by(Ticket.created_at, Ticket.id)
        if since is not None:
            query = query.where(Ticket.created_at >= since)
        with self._session() as session:
            return [ticket_json(t) for t in session.execute(query).scalars()]

    def flag(self, ticket: dict[str, Any]) -> str | None:
        """"overdue", "near_due" or None for a ticket JSON (as of the service's clock)."""
        return due_flag(dt.date.fromisoformat(ticket["resolve_by"]), ticket["status"], self.today(),
                        near_due_days=self.router.rules.deadlines.near_due, done_statuses=DONE_STATUSES)


def rotate_personal_data(settings: Settings | None = None, *, batch: int = 200) -> dict[str, Any]:
    """Re-encrypt every ticket's personal data and outbox payload with the primary data key and
    recompute the phone lookup hashes (`xiaoan keys rotate`; safe to run again or concurrently
    with new tickets: each row is rewritten in its own small transaction).

    The hand-off tables (slots snapshots, callback phones) are rotated too
    (`xiaoan.handoff.service.rotate_handoff_data`).

    Returns:
        {"key_id": the primary key's id, "tickets": rows rewritten, "outbox": rows rewritten,
         "handoff_sessions": rows rewritten, "callbacks": rows rewritten,
         "remaining_old": values still under another key (0 when done)}.
    """
    settings = settings or services.settings()
    ring = keyring()
    primary = ring.primary.key_id
    counts = {"tickets": 0, "outbox": 0}
    last = 0
    while True:
        with session_scope(settings.database_url) as session:
            rows = session.execute(
                select(Ticket).where(Ticket.id > last).order_by(Ticket.id).limit(batch)).scalars().all()
            for ticket in rows:
                last = ticket.id
                session.execute(update(Ticket).where(Ticket.id == ticket.id).values(
                    complainant_name=ticket.complainant_name, phone=ticket.phone,
                    complainant_address=ticket.complainant_address,
                    phone_hash=phone_lookup_hash(ticket.phone)).execution_options(synchronize_session=False))
                counts["tickets"] += 1
        if len(rows) < batch:
            break
    last = 0
    while True:
        with session_scope(settings.database_url) as session:
            rows = session.execute(select(OutboxMessage).where(OutboxMessage.id > last)
                                   .order_by(OutboxMessage.id).limit(batch)).scalars().all()
            for message in rows:
                last = message.id
                session.execute(update(OutboxMessage).where(OutboxMessage.id == message.id)
                                .values(payload=message.payload).execution_options(synchronize_session=False))
                counts["outbox"] += 1
        if len(rows) < batch:
            break
    remaining = 0
    from sqlalchemy import text

    with session_scope(settings.database_url) as session:
        for table, columns in (("tickets", ("complainant_name", "phone", "complainant_address")),
                               ("ticket_outbox", ("payload",))):
            for column in columns:
                for (stored,) in session.execute(text(f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL")):
                    if not is_encrypted(stored) or key_id_of(stored) != primary:
                        remaining += 1
    from xiaoan.handoff.service import rotate_handoff_data

    handoff = rotate_handoff_data(settings, batch=batch)
    remaining += handoff.pop("remaining_old")
    counts.update(handoff)
    logger.info("personal data re-encrypted with key %s: %d tickets, %d outbox rows, %d hand-off sessions, "
                "%d callbacks, %d values left", primary, counts["tickets"], counts["outbox"],
                counts["handoff_sessions"], counts["callbacks"], remaining)
    return {"key_id": primary, **counts, "remaining_old": remaining}


class _RoutingView:
    """The cleaned fields seen through the attribute names the router reads."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self.__dict__.update(fields)


def _retryable(exc: OperationalError) -> bool:
    text = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
    return any(s in text for s in ("database is locked", "deadlock", "could not serialize", "busy"))


def get_ticket_service() -> TicketService:
    """The process's TicketService (`xiaoan.services`: built on first use from the process's settings).

    It starts no thread: ticket forwarding runs in the outbox worker process, or, with
    `XIAOAN_OUTBOX_MODE=thread`, in a thread the process's start-up runs (`xiaoan.workers`).
    """
    return services.service("tickets", TicketService)


def reset_ticket_service() -> None:
    """Forget the process's service and stop an in-process delivery thread (tests)."""
    services.reset("tickets")
    outbox.stop_background_delivery()
