"""Client of the SMS gateway (``XIAOAN_SMS_URL``, bearer ``XIAOAN_SMS_TOKEN``).

Request: ``POST <XIAOAN_SMS_URL>`` with ``Authorization: Bearer <token>``, ``Idempotency-Key``
(the same on every retry of one notice) and the JSON body ``{"to": "13812345678", "text": "…"}``.
The gateway adds the bureau's registered signature. 2xx = accepted; 408, 429, 5xx, timeouts and
connection errors are worth a retry (:class:`SmsRetryable`); any other answer is final
(:class:`SmsRejected`). Phone numbers appear masked in every log line and error.
"""

from __future__ import annotations

import json
import logging
from typing import Callable, Optional

import requests

from xiaoan.config import Settings
from xiaoan.privacy import mask_phone, mask_text

logger = logging.getLogger(__name__)

#: A citizen's SMS longer than this (characters) is refused before sending (about 4 segments of 67).
MAX_SMS_CHARS = 268


class SmsError(Exception):
    """The gateway did not take the message."""


class SmsRetryable(SmsError):
    """Worth trying again later (network, 408, 429, 5xx)."""

    def __init__(self, message: str, retry_after: Optional[float] = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SmsRejected(SmsError):
    """The gateway refused the message for good (e.g. 400 bad number, 401 wrong token)."""


class SmsGateway:
    """Sends one SMS per call.

    Args:
        url: The gateway's send URL.
        token: Bearer token.
        timeout: (connect, read) seconds.
        post: The HTTP call (tests may replace it).
    """

    def __init__(self, url: str, token: Optional[str], *, timeout: tuple[float, float] = (2.0, 8.0),
                 post: Optional[Callable[..., requests.Response]] = None) -> None:
        self.url = url
        self._token = token or ""
        self.timeout = timeout
        self._post = post or requests.post

    @classmethod
    def from_settings(cls, settings: Settings) -> Optional["SmsGateway"]:
        """The configured gateway, or None when ``XIAOAN_SMS_URL`` is unset."""
        return cls(settings.sms_url, settings.sms_token) if settings.sms_url else None

    def send(self, phone: str, text: str, idempotency_key: str) -> None:
        """Send `text` to `phone`.

        Raises:
            SmsRetryable: try again later.
            SmsRejected: the gateway refused it (or the text is too long).
        """
        masked = mask_phone(phone)
        if len(text) > MAX_SMS_CHARS:
            raise SmsRejected(f"text of {len(text)} characters is longer than {MAX_SMS_CHARS}")
        body = json.dumps({"to": phone, "text": text}, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": idempotency_key,
                   "Authorization": f"Bearer {self._token}"}
        try:
            resp = self._post(self.url, data=body, headers=headers, timeout=self.timeout, allow_redirects=False)
        except requests.RequestException as exc:
            raise SmsRetryable(f"SMS to {masked}: {type(exc).__name__}") from exc
        if 200 <= resp.status_code < 300:
            logger.info("SMS to %s accepted by the gateway", masked)
            return
        detail = mask_text(" ".join((resp.text or "").split())[:200]).replace(phone, masked or "")
        if resp.status_code in (408, 429) or resp.status_code >= 500:
            retry_after = resp.headers.get("Retry-After")
            raise SmsRetryable(f"SMS to {masked}: HTTP {resp.status_code} {detail}",
                               float(retry_after) if (retry_after or "").isdigit() else None)
        raise SmsRejected(f"SMS to {masked}: HTTP {resp.status_code} {detail}")
