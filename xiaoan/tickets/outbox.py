"""Forwarding tickets to the work-order platform through a transactional outbox.

The ticket and its outbox row are written in one transaction (`enqueue`), so a ticket is
never created without its delivery being recorded. Delivery happens after the commit:

* `TicketService.create()` tries once right away with a short timeout (the citizen does not wait);
* `deliver_pending()` sends what is due; `run_delivery_loop()` calls it periodically: in the
  outbox worker process (`xiaoan outbox run`, `XIAOAN_OUTBOX_MODE=worker`, the default), or with
  `XIAOAN_OUTBOX_MODE=thread` in one daemon thread per ticket-creating process
  (`start_background_delivery()`, started by the process's start-up: `xiaoan.workers`);
* each POST carries the row's `Idempotency-Key`, so a repeat never makes a second work order.

Failures: 408/429/5xx/timeouts/connection errors are retried with capped exponential
backoff and jitter; other 4xx are permanent (`failed`, shown by `xiaoan tickets outbox`, sent
again only by `xiaoan tickets replay --all-failed`). A short lease (`locked_until`) keeps two
deliverers (threads or processes) from sending the same row at the same time.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from xiaoan import services
from xiaoan.config import Settings
from xiaoan.db import session_scope, utcnow
from xiaoan.privacy import mask_name, mask_phone, mask_text
from xiaoan.tickets.attachments import AttachmentStore, AttachmentUnavailable
from xiaoan.tickets.models import (
    OUTBOX_DELIVERED,
    OUTBOX_FAILED,
    OUTBOX_PENDING,
    OutboxMessage,
    Ticket,
)
from xiaoan.tickets.platform_client import (
    PlatformClient,
    PlatformRejected,
    PlatformUnavailable,
)

logger = logging.getLogger(__name__)

BACKOFF_BASE = 5.0          # seconds before the 2nd attempt
BACKOFF_CAP = 3600.0        # never wait more than an hour between attempts
BACKOFF_JITTER = 0.25       # up to 25 % shorter, so that many rows do not retry in lockstep
LEASE_SECONDS = 60.0        # a claimed row is left alone by other deliverers this long
QUICK_TIMEOUT = (0.5, 1.5)  # (connect, read) of the attempt made while the citizen waits: <= 2 s
BACKGROUND_TIMEOUT = (3.0, 10.0)
LOOP_INTERVAL = 5.0
BATCH_SIZE = 100
DELIVERED_BY = "outbox"

DELIVERED = "delivered"
RETRY = "retry"
FAILED = "failed"
SKIPPED = "skipped"


def backoff_delay(attempts: int, *, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP,
                  jitter: float = BACKOFF_JITTER, rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait after the `attempts`-th failed attempt.

    `base * 2**(attempts-1)`, capped at `cap`, then shortened by a random fraction of up to
    `jitter` (so the result lies in `[d * (1 - jitter), d]` and never exceeds `cap`).
    """
    if attempts < 1:
        raise ValueError("attempts starts at 1")
    delay = min(cap, base * 2 ** min(attempts - 1, 62))
    return delay * (1.0 - jitter * rng())


def mask_error(text: str, phone: str | None, name: str | None) -> str:
    """Mask the citizen's phone and name (and any mobile number) in an error text."""
    if phone:
        text = text.replace(phone, mask_phone(phone))
    if name:
        text = text.replace(name, mask_name(name))
    return mask_text(text)


def describe_error(exc: BaseException) -> str:
    """A log-safe one-line description of an exception.

    SQLAlchemy errors carry the statement's bound parameters (names, phones) in their text:
    only the driver's own message is kept, and mobile numbers are masked.
    """
    from sqlalchemy.exc import StatementError

    inner = exc.orig if isinstance(exc, StatementError) and exc.orig is not None else exc
    text = " ".join(str(inner).split())[:300]
    return f"{type(exc).__name__}: {mask_text(text)}"


def new_lease_token() -> str:
    """A random token identifying one claim of an outbox row."""
    return uuid.uuid4().hex


def enqueue(session: Session, ticket: Ticket, payload: dict[str, Any], *, now: dt.datetime,
            lease_token: str | None = None) -> OutboxMessage:
    """Add the outbox row of `ticket` to the caller's transaction.

    Args:
        session: The session that also inserts the ticket.
        ticket: The (flushed or pending) ticket.
        payload: The JSON body to POST.
        now: Creation time.
        lease_token: Claim the row at birth for this token (the creator's quick attempt),
            so background deliverers leave it alone for LEASE_SECONDS.
    """
    message = OutboxMessage(
        ticket=ticket,
        payload=payload,
        idempotency_key=str(uuid.uuid4()),
        state=OUTBOX_PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        locked_until=now + dt.timedelta(seconds=LEASE_SECONDS) if lease_token else None,
        lock_token=lease_token,
    )
    session.add(message)
    return message


@dataclass
class DeliveryReport:
    """What one `deliver_pending()` pass did (ticket numbers per outcome)."""

    delivered: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def attempted(self) -> int:
        """How many rows were sent."""
        return len(self.delivered) + len(self.retrying) + len(self.failed)

    def as_dict(self) -> dict[str, list[str]]:
        """JSON-friendly form."""
        return {"delivered": self.delivered, "retrying": self.retrying, "failed": self.failed}


class OutboxDeliverer:
    """Sends outbox rows to the platform and records the outcome.

    Args:
        settings: Database URL and `ticket_api_url`.
        clock: Current time (UTC, aware).
        client: A platform client (default: one `PlatformClient` per thread).
        rng: Random source of the backoff jitter.
    """

    def __init__(self, settings: Settings | None = None, *, clock: Callable[[], dt.datetime] = utcnow,
                 client: PlatformClient | None = None, rng: Callable[[], float] = random.random) -> None:
        self.settings = settings or services.settings()
        self.clock = clock
        self.rng = rng
        self._client = client
        self._local = threading.local()

    @property
    def client(self) -> PlatformClient:
        """The platform client of the current thread."""
        if self._client is not None:
            return self._client
        client = getattr(self._local, "client", None)
        if client is None:
            if not self.settings.ticket_api_url:
                raise RuntimeError("XIAOAN_TICKET_API_URL is not set: nothing to forward to")
            client = PlatformClient(self.settings.ticket_api_url, timeout=BACKGROUND_TIMEOUT)
            self._local.client = client
        return client

    def _session(self):
        return session_scope(self.settings.database_url)

    def _claim(self, message_id: int, *, force: bool) -> str | None:
        now = self.clock()
        token = new_lease_token()
        stmt = (
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.state == OUTBOX_PENDING,
                   or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until < now))
            .values(locked_until=now + dt.timedelta(seconds=LEASE_SECONDS), lock_token=token)
            .execution_options(synchronize_session=False)
        )
        if not force:
            stmt = stmt.where(OutboxMessage.next_attempt_at <= now)
        with self._session() as session:
            claimed = session.execute(stmt).rowcount == 1
        return token if claimed else None

    def deliver_message(self, message_id: int, *, token: str | None = None, force: bool = False,
                        timeout: tuple[float, float] | None = None) -> str:
        """Send one outbox row (claiming it first unless `token` is the caller's claim).

        Args:
            message_id: The outbox row.
            token: The lease token when the caller already holds the claim.
            force: Ignore `next_attempt_at` (an operator's replay).
            timeout: (connect, read) timeout of the POST.

        Returns:
            "delivered", "retry", "failed", or "skipped" (not pending, or claimed elsewhere).
        """
        if token is None:
            token = self._claim(message_id, force=force)
            if token is None:
                return SKIPPED
        with self._session() as session:
            message = session.get(OutboxMessage, message_id)
            if message is None or message.state != OUTBOX_PENDING or message.lock_token != token:
                return SKIPPED
            payload, key, ticket_no = message.payload, message.idempotency_key, message.ticket.ticket_no
            personal = (message.ticket.phone, message.ticket.complainant_name)
        try:
            # the evidence files travel in the body, read now (never copied into the outbox row)
            payload = AttachmentStore(self.settings).with_content(payload)
            ack = self.client.submit(payload, key, timeout=timeout)
        except AttachmentUnavailable as exc:
            return self._record_failure(message_id, token, ticket_no, exc, personal, permanent=True)
        except PlatformRejected as exc:
            return self._record_failure(message_id, token, ticket_no, exc, personal, permanent=True)
        except PlatformUnavailable as exc:
            return self._record_failure(message_id, token, ticket_no, exc, personal, permanent=False)
        return self._record_delivery(message_id, token, ticket_no, ack.external_id)

    def _record_delivery(self, message_id: int, token: str, ticket_no: str, external_id: str | None) -> str:
        now = self.clock()
        with self._session() as session:
            message = session.get(OutboxMessage, message_id)
            if message is None or message.lock_token != token:
                logger.warning("ticket %s delivered but its outbox claim was lost; the platform dedupes "
                               "the repeat by Idempotency-Key", ticket_no)
                return DELIVERED
            message.state = OUTBOX_DELIVERED
            message.attempts += 1
            message.delivered_at = now
            message.last_error = None
            message.last_status_code = None
            message.locked_until = None
            message.lock_token = None
            # Data minimisation: the platform has it now; the ticket row keeps the number.
            message.payload = {**message.payload, "phone": None}
            ticket = message.ticket
            if external_id:
                ticket.external_id = external_id
            ticket.forwarded_at = now
            ticket.record_status("forwarded", DELIVERED_BY, at=now,
                                 note=f"platform id {external_id}" if external_id else None,
                                 set_current=ticket.status == "created")
        logger.info("ticket %s forwarded to the platform (id %s)", ticket_no, external_id or "-")
        return DELIVERED

    def _record_failure(self, message_id: int, token: str, ticket_no: str, exc: Exception,
                        personal: tuple[str | None, str | None], *, permanent: bool) -> str:
        now = self.clock()
        error = mask_error(str(exc), *personal)
        with self._session() as session:
            message = session.get(OutboxMessage, message_id)
            if message is None or message.lock_token != token:
                return SKIPPED
            message.attempts += 1
            message.last_error = error
            message.last_status_code = getattr(exc, "status_code", None)
            message.locked_until = None
            message.lock_token = None
            if permanent:
                message.state = OUTBOX_FAILED
                message.failed_at = now
                attempts = message.attempts
            else:
                delay = backoff_delay(message.attempts, rng=self.rng)
                retry_after = getattr(exc, "retry_after", None)
                if retry_after:
                    delay = max(delay, min(retry_after, BACKOFF_CAP))
                message.next_attempt_at = now + dt.timedelta(seconds=delay)
                attempts = message.attempts
        if permanent:
            logger.error("ticket %s rejected by the platform (attempt %d), not retried: %s",
                         ticket_no, attempts, error)
            return FAILED
        logger.warning("ticket %s not forwarded (attempt %d), retry in %.0f s: %s",
                       ticket_no, attempts, delay, error)
        return RETRY

    def deliver_pending(self, *, force: bool = False, include_failed: bool = False,
                        ticket_nos: list[str] | None = None, limit: int = BATCH_SIZE) -> DeliveryReport:
        """Send the pending rows that are due.

        Args:
            force: Send pending rows now even if their next attempt is later (replay).
            include_failed: Put permanently failed rows back to pending first (replay --all-failed).
            ticket_nos: Only these tickets.
            limit: At most this many rows in one pass.
        """
        now = self.clock()
        with self._session() as session:
            ticket_ids = None
            if ticket_nos:
                ticket_ids = select(Ticket.id).where(Ticket.ticket_no.in_(ticket_nos)).scalar_subquery()
            if include_failed:
                reset = (update(OutboxMessage).where(OutboxMessage.state == OUTBOX_FAILED)
                         .values(state=OUTBOX_PENDING, failed_at=None, next_attempt_at=now)
                         .execution_options(synchronize_session=False))
                if ticket_ids is not None:
                    reset = reset.where(OutboxMessage.ticket_id.in_(ticket_ids))
                session.execute(reset)
            query = (select(OutboxMessage.id, Ticket.ticket_no).join(Ticket, OutboxMessage.ticket_id == Ticket.id)
                     .where(OutboxMessage.state == OUTBOX_PENDING,
                            or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until < now))
                     .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit))
            if not force:
                query = query.where(OutboxMessage.next_attempt_at <= now)
            if ticket_ids is not None:
                query = query.where(OutboxMessage.ticket_id.in_(ticket_ids))
            rows = session.execute(query).all()
        report = DeliveryReport()
        for message_id, ticket_no in rows:
            outcome = self.deliver_message(message_id, force=force)
            if outcome == DELIVERED:
                report.delivered.append(ticket_no)
            elif outcome == RETRY:
                report.retrying.append(ticket_no)
            elif outcome == FAILED:
                report.failed.append(ticket_no)
        return report


def deliver_pending(settings: Settings | None = None, **kwargs: Any) -> DeliveryReport:
    """Send the due outbox rows once (see `OutboxDeliverer.deliver_pending`)."""
    return OutboxDeliverer(settings).deliver_pending(**kwargs)


def list_outbox(settings: Settings | None = None, *, states: tuple[str, ...] = (OUTBOX_PENDING, OUTBOX_FAILED)
                ) -> list[dict[str, Any]]:
    """Outbox rows in `states`, oldest first, without personal data (for `xiaoan tickets outbox`)."""
    from xiaoan.tickets.views import iso_datetime

    settings = settings or services.settings()
    with session_scope(settings.database_url) as session:
        rows = session.execute(
            select(OutboxMessage, Ticket.ticket_no).join(Ticket, OutboxMessage.ticket_id == Ticket.id)
            .where(OutboxMessage.state.in_(states)).order_by(OutboxMessage.created_at, OutboxMessage.id)
        ).all()
        return [
            {
                "ticket_no": ticket_no,
                "state": m.state,
                "attempts": m.attempts,
                "next_attempt_at": iso_datetime(m.next_attempt_at) if m.state == OUTBOX_PENDING else None,
                "last_status_code": m.last_status_code,
                "last_error": m.last_error,
                "idempotency_key": m.idempotency_key,
                "created_at": iso_datetime(m.created_at),
                "delivered_at": iso_datetime(m.delivered_at),
                "failed_at": iso_datetime(m.failed_at),
            }
            for m, ticket_no in rows
        ]


def run_delivery_loop(settings: Settings, stop: threading.Event, *, interval: float = LOOP_INTERVAL,
                      deliverer: OutboxDeliverer | None = None) -> None:
    """Deliver what is due every `interval` seconds until `stop` is set (never raises)."""
    deliverer = deliverer or OutboxDeliverer(settings)
    while not stop.is_set():
        try:
            report = deliverer.deliver_pending()
            if report.attempted:
                logger.info("outbox pass: %d delivered, %d to retry, %d failed",
                            len(report.delivered), len(report.retrying), len(report.failed))
        except Exception as exc:  # noqa: BLE001 - the loop must survive a database hiccup
            logger.error("outbox pass failed (%s); trying again in %.0f s", describe_error(exc), interval)
        stop.wait(interval)


#: Where tickets are forwarded (`Settings.outbox_mode`, XIAOAN_OUTBOX_MODE).
WORKER_MODE, THREAD_MODE = "worker", "thread"
OUTBOX_MODES = (WORKER_MODE, THREAD_MODE)


def delivers_in_process(settings: Settings) -> bool:
    """Whether a ticket-creating process runs the delivery loop itself (`XIAOAN_OUTBOX_MODE=thread`
    with forwarding on); "worker" leaves it to `xiaoan outbox run`.

    Raises:
        ValueError: an unknown mode.
    """
    if settings.outbox_mode not in OUTBOX_MODES:
        raise ValueError(f"XIAOAN_OUTBOX_MODE must be one of {', '.join(OUTBOX_MODES)}, got {settings.outbox_mode!r}")
    return settings.outbox_mode == THREAD_MODE and bool(settings.ticket_api_url)


_bg_lock = threading.Lock()
_bg: dict[str, Any] = {"thread": None, "stop": None, "pid": None}


def start_background_delivery(settings: Settings, *, interval: float = LOOP_INTERVAL) -> threading.Thread:
    """Start the delivery loop in a daemon thread, once per process (later calls return it)."""
    with _bg_lock:
        thread = _bg["thread"]
        if thread is not None and thread.is_alive() and _bg["pid"] == os.getpid():
            return thread
        stop = threading.Event()
        thread = threading.Thread(target=run_delivery_loop, args=(settings, stop),
                                  kwargs={"interval": interval}, name="xiaoan-ticket-outbox", daemon=True)
        thread.start()
        _bg.update(thread=thread, stop=stop, pid=os.getpid())
        logger.info("ticket outbox delivery started (every %.0f s)", interval)
        return thread


def stop_background_delivery(timeout: float = 5.0) -> None:
    """Stop the background loop, if running (tests, shutdown)."""
    with _bg_lock:
        thread, stop = _bg["thread"], _bg["stop"]
        _bg.update(thread=None, stop=None, pid=None)
    if stop is not None:
        stop.set()
    if thread is not None:
        thread.join(timeout)


# -- the outbox worker process and its alerts ---------------------------------------------------

#: A pending row older than this (minutes) raises an alert: the platform has been unreachable.
DEFAULT_ALERT_AFTER_MINUTES = 30
#: An unchanged alert is logged again after this many seconds (so the log is not flooded).
ALERT_REPEAT_SECONDS = 3600.0
#: The worker runs the retention jobs this often.
RETENTION_INTERVAL = dt.timedelta(days=1)


def alert_after(env: dict | None = None) -> dt.timedelta:
    """`XIAOAN_OUTBOX_ALERT_MINUTES` (default 30) as a timedelta."""
    env = os.environ if env is None else env
    raw = (env.get("XIAOAN_OUTBOX_ALERT_MINUTES") or "").strip()
    try:
        minutes = float(raw) if raw else DEFAULT_ALERT_AFTER_MINUTES
    except ValueError:
        raise ValueError(f"XIAOAN_OUTBOX_ALERT_MINUTES must be a number of minutes, got {raw!r}") from None
    if minutes <= 0:
        raise ValueError("XIAOAN_OUTBOX_ALERT_MINUTES must be positive")
    return dt.timedelta(minutes=minutes)


@dataclass
class OutboxHealth:
    """What operators need to know about the outbox (`xiaoan outbox status`)."""

    pending: int = 0
    failed: int = 0
    old_pending: int = 0
    oldest_pending_at: dt.datetime | None = None
    alert_after_minutes: float = DEFAULT_ALERT_AFTER_MINUTES
    old_tickets: list[str] = field(default_factory=list)
    failed_tickets: list[str] = field(default_factory=list)

    @property
    def alerting(self) -> bool:
        """True when a row is failed or pending for longer than the alert threshold."""
        return bool(self.failed or self.old_pending)

    def alerts(self) -> list[str]:
        """One line per alert (no personal data: ticket numbers only)."""
        lines = []
        if self.failed:
            lines.append(f"{self.failed} ticket(s) rejected by the platform and not retried "
                         f"(xiaoan tickets outbox; replay with xiaoan tickets replay --all-failed): "
                         f"{', '.join(self.failed_tickets[:20])}")
        if self.old_pending:
            lines.append(f"{self.old_pending} ticket(s) pending for more than {self.alert_after_minutes:g} min "
                         f"(platform unreachable?): {', '.join(self.old_tickets[:20])}")
        return lines

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        from xiaoan.tickets.views import iso_datetime

        return {"pending": self.pending, "failed": self.failed, "old_pending": self.old_pending,
                "oldest_pending_at": iso_datetime(self.oldest_pending_at),
                "alert_after_minutes": self.alert_after_minutes, "alerting": self.alerting,
                "old_tickets": self.old_tickets, "failed_tickets": self.failed_tickets, "alerts": self.alerts()}


def outbox_health(settings: Settings | None = None, *, now: dt.datetime | None = None,
                  old_after: dt.timedelta | None = None) -> OutboxHealth:
    """Counts of pending, old pending and failed outbox rows (see OutboxHealth)."""
    settings = settings or services.settings()
    now = now or utcnow()
    old_after = old_after or alert_after()
    health = OutboxHealth(alert_after_minutes=old_after.total_seconds() / 60)
    with session_scope(settings.database_url) as session:
        rows = session.execute(
            select(OutboxMessage.state, OutboxMessage.created_at, Ticket.ticket_no)
            .join(Ticket, OutboxMessage.ticket_id == Ticket.id)
            .where(OutboxMessage.state.in_((OUTBOX_PENDING, OUTBOX_FAILED)))
            .order_by(OutboxMessage.created_at, OutboxMessage.id)
        ).all()
    for state, created_at, ticket_no in rows:
        if state == OUTBOX_FAILED:
            health.failed += 1
            health.failed_tickets.append(ticket_no)
            continue
        health.pending += 1
        if health.oldest_pending_at is None:
            health.oldest_pending_at = created_at
        if now - created_at > old_after:
            health.old_pending += 1
            health.old_tickets.append(ticket_no)
    return health


def run_retention(settings: Settings) -> Any:
    """The retention jobs (`xiaoan.retention.run_all`), imported when first due."""
    from xiaoan.retention import run_all

    return run_all(settings)


class OutboxWorker:
    """The body of `xiaoan outbox run`: the outbox's own process (Procfile `outbox:`).

    Each pass delivers what is due (when `XIAOAN_TICKET_API_URL` is set), sends the due status
    notices to citizens (`xiaoan.notify.delivery`), checks the outbox's
    health and logs alerts at ERROR (again only when they change or after ALERT_REPEAT_SECONDS),
    and once a day runs the retention jobs (`xiaoan.retention`).

    Args:
        settings: The environment.
        clock: Current time (tests pass a fake clock).
        deliverer: The deliverer (default: one on `settings`).
        retention: Called once a day with `settings` (default `run_retention`); None = off.
        old_after: Age of a pending row that raises an alert (default `alert_after()`).
        notifier: Sends the citizens' status notices each pass (default: a
            `xiaoan.notify.delivery.NotificationDeliverer`; None = off).
    """

    def __init__(self, settings: Settings | None = None, *, clock: Callable[[], dt.datetime] = utcnow,
                 deliverer: OutboxDeliverer | None = None,
                 retention: Callable[[Settings], Any] | None = run_retention,
                 old_after: dt.timedelta | None = None, notifier: Any = "default") -> None:
        self.settings = settings or services.settings()
        if notifier == "default":  # the citizens' status notices share this process (xiaoan.notify.delivery)
            from xiaoan.notify.delivery import NotificationDeliverer

            notifier = NotificationDeliverer(self.settings, clock=clock)
        self.notifier = notifier
        self.clock = clock
        # one delivery mechanism: with XIAOAN_OUTBOX_MODE=thread the ticket-creating processes deliver
        self.deliverer = deliverer or (OutboxDeliverer(self.settings, clock=clock)
                                       if self.settings.ticket_api_url and not delivers_in_process(self.settings)
                                       else None)
        self.retention = retention
        self.old_after = old_after or alert_after()
        self.last_retention: dt.datetime | None = None
        self._last_alert: tuple[tuple[str, ...], dt.datetime] | None = None
        self.alerts_logged = 0

    def run_pass(self) -> OutboxHealth:
        """One pass: deliver, check, alert, and the daily retention when due."""
        now = self.clock()
        if self.deliverer is not None:
            report = self.deliverer.deliver_pending()
            if report.attempted:
                logger.info("outbox pass: %d delivered, %d to retry, %d failed",
                            len(report.delivered), len(report.retrying), len(report.failed))
        if self.notifier is not None:
            try:
                self.notifier.deliver_pending()
            except Exception as exc:  # noqa: BLE001 - notices must not stop ticket forwarding
                logger.error("notification pass failed (%s)", describe_error(exc))
        health = outbox_health(self.settings, now=now, old_after=self.old_after)
        self._alert(health, now)
        if self.retention is not None and (self.last_retention is None
                                           or now - self.last_retention >= RETENTION_INTERVAL):
            self.last_retention = now
            try:
                self.retention(self.settings)
            except Exception as exc:  # noqa: BLE001 - retention must not stop delivery
                logger.error("retention jobs failed (%s); trying again tomorrow", describe_error(exc))
        return health

    def _alert(self, health: OutboxHealth, now: dt.datetime) -> None:
        if not health.alerting:
            self._last_alert = None
            return
        key = tuple(health.failed_tickets + health.old_tickets)
        if self._last_alert is not None:
            previous, at = self._last_alert
            if previous == key and (now - at).total_seconds() < ALERT_REPEAT_SECONDS:
                return
        self._last_alert = (key, now)
        for line in health.alerts():
            logger.error("OUTBOX ALERT: %s", line)
            self.alerts_logged += 1

    def run(self, stop: threading.Event, *, interval: float = LOOP_INTERVAL) -> None:
        """Run passes every `interval` seconds until `stop` is set (never raises)."""
        logger.info("outbox worker started (every %.0f s; forwarding %s)", interval,
                    "on" if self.deliverer is not None else
                    "in the ticket-creating processes: XIAOAN_OUTBOX_MODE=thread" if self.settings.ticket_api_url
                    else "off: XIAOAN_TICKET_API_URL unset")
        while not stop.is_set():
            try:
                self.run_pass()
            except Exception as exc:  # noqa: BLE001 - the worker must survive a database hiccup
                logger.error("outbox pass failed (%s); trying again in %.0f s", describe_error(exc), interval)
            stop.wait(interval)
