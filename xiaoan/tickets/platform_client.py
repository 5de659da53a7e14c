"""HTTP client of the external 12345 work-order platform (`XIAOAN_TICKET_API_URL`).

One call: POST the ticket JSON to the configured URL with an `Idempotency-Key` header (the
platform must treat a repeated key as the same work order). Outcomes:

* 2xx → `PlatformAck` (with the platform's id when the JSON body has `id`, `work_order_id`
  or `ticket_id`);
* 408, 429, 5xx, timeouts, connection errors → `PlatformUnavailable` (retry later;
  `retry_after` from a numeric Retry-After header);
* any other 4xx, and 3xx (redirects are not followed: fix the URL) → `PlatformRejected`
  (permanent; an operator looks at it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import requests

from xiaoan.privacy import mask_text

USER_AGENT = "xiaoan-tickets/1"
RETRYABLE_4XX = (408, 429)
_ID_KEYS = ("id", "work_order_id", "ticket_id")
_MAX_ERROR_BODY = 300


class PlatformError(Exception):
    """A delivery that did not succeed."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class PlatformUnavailable(PlatformError):
    """Temporary failure: send again later."""

    def __init__(self, message: str, status_code: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, status_code)
        self.retry_after = retry_after


class PlatformRejected(PlatformError):
    """The platform refused the request for good: sending it unchanged will not help."""


@dataclass(frozen=True)
class PlatformAck:
    """The platform accepted the work order."""

    status_code: int
    external_id: str | None


class PlatformClient:
    """Client of the work-order platform.

    Args:
        url: The endpoint receiving work orders (`Settings.ticket_api_url`).
        timeout: Default (connect, read) timeout in seconds.
        session: A `requests.Session` to reuse (one per thread).
    """

    def __init__(self, url: str, *, timeout: tuple[float, float] = (3.0, 10.0),
                 session: requests.Session | None = None) -> None:
        if not url:
            raise ValueError("the work-order platform URL is empty (XIAOAN_TICKET_API_URL)")
        self.url = url
        self.timeout = timeout
        self.session = session or requests.Session()

    def submit(self, payload: dict[str, Any], idempotency_key: str, *,
               timeout: tuple[float, float] | None = None) -> PlatformAck:
        """POST one work order.

        Raises:
            PlatformUnavailable: try again later.
            PlatformRejected: permanent refusal.
        """
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
            "Idempotency-Key": idempotency_key,
            "User-Agent": USER_AGENT,
        }
        try:
            response = self._post(body, headers, timeout or self.timeout)
        except requests.Timeout as exc:
            raise PlatformUnavailable(f"timeout: {exc.__class__.__name__}") from exc
        except requests.ConnectionError as exc:
            raise PlatformUnavailable(f"connection error: {exc.__class__.__name__}") from exc
        except requests.RequestException as exc:
            raise PlatformUnavailable(f"request failed: {exc.__class__.__name__}") from exc
        status = response.status_code
        if 200 <= status < 300:
            return PlatformAck(status_code=status, external_id=_external_id(response))
        detail = f"HTTP {status}: {_short_body(response)}"
        if status >= 500 or status in RETRYABLE_4XX:
            raise PlatformUnavailable(detail, status, _retry_after(response))
        raise PlatformRejected(detail, status)

    def _post(self, body: bytes, headers: dict[str, str], timeout: tuple[float, float]) -> requests.Response:
        """The network call (tests may replace it)."""
        # No redirects: requests would turn a redirected POST into a GET and report success.
        return self.session.post(self.url, data=body, headers=headers, timeout=timeout, allow_redirects=False)

    def close(self) -> None:
        """Release pooled connections."""
        self.session.close()


def _external_id(response: requests.Response) -> str | None:
    try:
        data = response.json()
    except ValueError:
        return None
    if isinstance(data, dict):
        for key in _ID_KEYS:
            value = data.get(key)
            if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
                return str(value)[:128]
    return None


def _short_body(response: requests.Response) -> str:
    text = (response.text or "").strip()
    try:  # JSON with \uXXXX escapes is re-dumped readable, so that names can be masked in it
        text = json.dumps(json.loads(text), ensure_ascii=False)
    except ValueError:
        pass
    text = text.replace("\n", " ")
    if len(text) > _MAX_ERROR_BODY:
        text = text[:_MAX_ERROR_BODY] + "…"
    return mask_text(text) or "(empty body)"


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    if value.isdigit():
        return float(value)
    return None
