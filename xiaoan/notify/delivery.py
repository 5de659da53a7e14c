"""The notification worker: sends the queued notices (``ticket_notifications``) that are due.

Run by the outbox process (`xiaoan outbox run` calls :meth:`NotificationDeliverer.deliver_pending`
on every pass) or by hand (`xiaoan notify run [--once]`). Each row is claimed with a short lease
(two workers never send it twice at once), sent outside any transaction, then marked.

- WeChat: a customer-service message when the citizen's 48-hour window has room (WeChat's budget
  of 5 messages per citizen message, `xiaoan.channels.wechat_store.reserve_cs_slot`); otherwise,
  or when WeChat answers 45015/45047, a subscribe message with the template
  ``XIAOAN_WECHAT_STATUS_TEMPLATE_ID`` (fields ``character_string1`` ticket number, ``phrase2``
  status, ``thing3`` hint, ``time4`` time; values cut to WeChat's field limits). When neither
  works (no template, 43101 the citizen did not accept it, no appid) the notice fails and an SMS is
  queued instead if the citizen left a phone number and the gateway is configured.
- SMS: through `xiaoan.notify.sms.SmsGateway` with the row's idempotency key.
- Web rows are not sent: the chat page shows them on the next visit (`xiaoan.notify.web`).

Network failures, HTTP 429/5xx and "system busy" are retried with backoff (10 s doubling, at most
an hour, up to MAX_ATTEMPTS); other refusals fail the row at once. Phones and openids are masked
in every log line and stored error.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Callable, Optional

from sqlalchemy import or_, select, update

from xiaoan import services, texts
from xiaoan.channels import wechat_store
from xiaoan.channels.wechat_api import (
    WeChatApiClient,
    WeChatApiError,
    WeChatTransportError,
    get_client,
    mask_openid,
    subscribe_value,
)
from xiaoan.config import Settings
from xiaoan.db import session_scope
from xiaoan.localtime import to_shanghai, utcnow
from xiaoan.notify.channels import render
from xiaoan.notify.models import (
    CHANNEL_SMS,
    CHANNEL_WEB,
    CHANNEL_WECHAT,
    DELIVERED,
    FAILED,
    KIND_SURVEY,
    PENDING,
    TicketNotification,
)
from xiaoan.notify.sms import SmsGateway, SmsRejected, SmsRetryable
from xiaoan.privacy import mask_phone, mask_text
from xiaoan.tickets.models import Ticket
from xiaoan.tickets.outbox import backoff_delay

logger = logging.getLogger(__name__)

LEASE = dt.timedelta(seconds=60)
MAX_ATTEMPTS = 8
BACKOFF_BASE = 10.0
BACKOFF_CAP = 3600.0
BATCH = 50
#: WeChat errors meaning "no customer-service message now": try the subscribe message instead.
WINDOW_ERRCODES = frozenset({45015, 45047})
#: WeChat errors meaning "this citizen cannot get the subscribe message": fall back to SMS.
SUBSCRIBE_REFUSED_ERRCODES = frozenset({43101, 43004})

SENT, RETRY, GAVE_UP = "sent", "retry", "failed"


class _Retry(Exception):
    def __init__(self, message: str, after: Optional[float] = None) -> None:
        super().__init__(message)
        self.after = after


class _GiveUp(Exception):
    """Final failure; `fallback` says whether an SMS should be tried instead."""

    def __init__(self, message: str, fallback: bool = False) -> None:
        super().__init__(message)
        self.fallback = fallback


@dataclass
class DeliveryCounts:
    """What one pass did (notification ids)."""

    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)

    @property
    def attempted(self) -> int:
        return len(self.sent) + len(self.retrying) + len(self.failed)


class NotificationDeliverer:
    """Sends due notices.

    Args:
        settings: Database, WeChat and SMS settings (default: the process's).
        clock: Current time.
        wechat: The WeChat API client (default: `get_client(settings)`, None without appid).
        sms: The SMS gateway (default: from XIAOAN_SMS_URL, None when unset).
    """

    def __init__(self, settings: Settings | None = None, *, clock: Callable[[], dt.datetime] = utcnow,
                 wechat: WeChatApiClient | None = None, sms: SmsGateway | None = None) -> None:
        self.settings = settings or services.settings()
        self.clock = clock
        self._wechat = wechat
        self.sms = sms if sms is not None else SmsGateway.from_settings(self.settings)

    @property
    def wechat(self) -> WeChatApiClient | None:
        if self._wechat is None:
            self._wechat = get_client(self.settings)
        return self._wechat

    def _session(self):
        return session_scope(self.settings.database_url)

    def deliver_pending(self, limit: int = BATCH) -> DeliveryCounts:
        """Send the due WeChat and SMS notices (at most `limit`)."""
        now = self.clock()
        with self._session() as session:
            ids = list(session.execute(
                select(TicketNotification.id)
                .where(TicketNotification.state == PENDING, TicketNotification.channel != CHANNEL_WEB,
                       TicketNotification.next_attempt_at <= now,
                       or_(TicketNotification.locked_until.is_(None), TicketNotification.locked_until <= now))
                .order_by(TicketNotification.next_attempt_at, TicketNotification.id).limit(limit)).scalars())
        counts = DeliveryCounts()
        for notification_id in ids:
            outcome = self.deliver(notification_id)
            {SENT: counts.sent, RETRY: counts.retrying, GAVE_UP: counts.failed}.get(outcome, []).append(notification_id)
        if counts.attempted:
            logger.info("notifications: %d sent, %d to retry, %d failed", len(counts.sent), len(counts.retrying),
                        len(counts.failed))
        return counts

    def _claim(self, notification_id: int, now: dt.datetime) -> bool:
        with self._session() as session:
            result = session.execute(
                update(TicketNotification)
                .where(TicketNotification.id == notification_id, TicketNotification.state == PENDING,
                       or_(TicketNotification.locked_until.is_(None), TicketNotification.locked_until <= now))
                .values(locked_until=now + LEASE).execution_options(synchronize_session=False))
            return result.rowcount == 1

    def deliver(self, notification_id: int) -> str | None:
        """Send one notice now; ``sent``, ``retry``, ``failed``, or None when another worker holds it."""
        now = self.clock()
        if not self._claim(notification_id, now):
            return None
        with self._session() as session:
            row = session.get(TicketNotification, notification_id)
            if row is None:  # removed meanwhile (retention)
                return None
            channel, kind, recipient, params = row.channel, row.kind, row.recipient, dict(row.params)
            attempts = row.attempts + 1
            ticket = session.get(Ticket, row.ticket_id)
            phone = ticket.phone if ticket is not None else None
        text = render(kind, params, channel)
        via = None
        try:
            if channel == CHANNEL_WECHAT:
                via = self._send_wechat(recipient, kind, text, params, now)
            elif channel == CHANNEL_SMS:
                via = self._send_sms(recipient, text, notification_id)
            else:
                raise _GiveUp(f"channel {channel!r} is not sent by the worker")
        except _Retry as exc:
            if attempts >= MAX_ATTEMPTS:
                return self._fail(notification_id, attempts, f"gave up after {attempts} attempts: {exc}",
                                  recipient, phone, fallback=channel == CHANNEL_WECHAT)
            delay = max(exc.after or 0.0, backoff_delay(attempts, base=BACKOFF_BASE, cap=BACKOFF_CAP))
            with self._session() as session:
                session.execute(update(TicketNotification).where(TicketNotification.id == notification_id).values(
                    attempts=attempts, next_attempt_at=now + dt.timedelta(seconds=delay), locked_until=None,
                    last_error=self._masked(str(exc), recipient, phone)))
            logger.warning("notice %d (%s, %s) not sent yet (%s); retry in %.0f s", notification_id, channel,
                           _mask_recipient(channel, recipient), self._masked(str(exc), recipient, phone), delay)
            return RETRY
        except _GiveUp as exc:
            return self._fail(notification_id, attempts, str(exc), recipient, phone, fallback=exc.fallback)
        with self._session() as session:
            session.execute(update(TicketNotification).where(TicketNotification.id == notification_id).values(
                state=DELIVERED, via=via, attempts=attempts, delivered_at=self.clock(), locked_until=None,
                last_error=None))
        logger.info("notice %d about %s sent to %s by %s", notification_id, params.get("ticket_no"),
                    _mask_recipient(channel, recipient), via)
        return SENT

    # -- channels ---------------------------------------------------------------------------

    def _send_wechat(self, openid: str, kind: str, text: str, params: dict, now: dt.datetime) -> str:
        client = self.wechat
        if client is None:
            raise _GiveUp("WeChat is not configured (XIAOAN_WECHAT_APPID / XIAOAN_WECHAT_SECRET)", fallback=True)
        url = self.settings.database_url
        reason = wechat_store.reserve_cs_slot(url, openid, now)
        if reason is None:
            try:
                client.send_text(openid, text)
                return "cs"
            except WeChatApiError as exc:
                wechat_store.release_cs_slot(url, openid)
                if exc.errcode not in WINDOW_ERRCODES:
                    raise _GiveUp(f"WeChat error {exc.errcode}", fallback=True) from exc
                reason = wechat_store.api_error_reason(exc.errcode)
            except WeChatTransportError as exc:
                wechat_store.release_cs_slot(url, openid)
                raise _Retry(f"WeChat unreachable: {exc}") from exc
        template = self.settings.wechat_status_template_id
        if not template:
            raise _GiveUp(f"no customer-service message possible ({reason}) and no subscribe template", fallback=True)
        hint = texts.text("utter_satisfaction_wechat_hint" if kind == KIND_SURVEY else "utter_status_wechat_hint")
        data = {"character_string1": params.get("ticket_no", ""), "phrase2": params.get("status_label", ""),
                "thing3": hint, "time4": to_shanghai(now).strftime("%Y年%m月%d日 %H:%M")}
        try:
            client.send_subscribe_message(openid, template, {k: subscribe_value(k, v) for k, v in data.items()})
        except WeChatApiError as exc:
            if exc.errcode in SUBSCRIBE_REFUSED_ERRCODES:
                raise _GiveUp(f"subscribe message refused ({exc.errcode})", fallback=True) from exc
            raise _GiveUp(f"subscribe message error {exc.errcode}", fallback=True) from exc
        except WeChatTransportError as exc:
            raise _Retry(f"WeChat unreachable: {exc}") from exc
        return "subscribe"

    def _send_sms(self, phone: str, text: str, notification_id: int) -> str:
        if self.sms is None:
            raise _GiveUp("the SMS gateway is not configured (XIAOAN_SMS_URL)")
        try:
            self.sms.send(phone, text, idempotency_key=f"xiaoan-notice-{notification_id}")
        except SmsRetryable as exc:
            raise _Retry(str(exc), exc.retry_after) from exc
        except SmsRejected as exc:
            raise _GiveUp(str(exc)) from exc
        return "sms"

    # -- failure ----------------------------------------------------------------------------

    @staticmethod
    def _masked(text: str, recipient: str, phone: str | None) -> str:
        for secret, shown in ((phone, mask_phone(phone)), (recipient, mask_openid(recipient))):
            if secret:
                text = text.replace(secret, shown or "****")
        return mask_text(text)[:500]

    def _fail(self, notification_id: int, attempts: int, reason: str, recipient: str, phone: str | None,
              *, fallback: bool) -> str:
        reason = self._masked(reason, recipient, phone)
        with self._session() as session:
            row = session.get(TicketNotification, notification_id)
            row.state, row.attempts, row.last_error, row.locked_until = FAILED, attempts, reason, None
            queued = False
            if fallback and phone and self.sms is not None and row.channel != CHANNEL_SMS:
                key = f"{row.dedupe_key}:sms"
                exists = session.execute(select(TicketNotification.id).where(TicketNotification.dedupe_key == key)).first()
                if exists is None:
                    session.add(TicketNotification(
                        dedupe_key=key, ticket_id=row.ticket_id, kind=row.kind, channel=CHANNEL_SMS, recipient=phone,
                        params=dict(row.params), state=PENDING, next_attempt_at=self.clock(), created_at=self.clock()))
                    queued = True
        logger.warning("notice %d not delivered: %s%s", notification_id, reason,
                       "; an SMS is queued instead" if queued else "")
        return GAVE_UP


def _mask_recipient(channel: str, recipient: str) -> str:
    return mask_phone(recipient) if channel == CHANNEL_SMS else mask_openid(recipient)

