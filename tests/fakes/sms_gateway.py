"""A local fake of the SMS gateway (``XIAOAN_SMS_URL``), a real HTTP server in a thread.

``POST /send`` with ``Authorization: Bearer <token>`` and ``{"to", "text"}``: records the message
(deduplicated by ``Idempotency-Key``: a retried key is answered 200 again and not recorded twice).
Test controls: :meth:`FakeSmsGateway.fail_next` (answers such as 500, 429, 400 in order),
``messages``, ``wait_for``.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.http import ServedFake, send_json

TOKEN = "fake-sms-token-0123456789abcdef"


@dataclass
class Sms:
    """One message the fake accepted."""

    to: str
    text: str
    key: str


class FakeSmsGateway(ServedFake):
    """The SMS gateway on 127.0.0.1; use as a context manager. ``url`` is the send URL."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self._messages: list[Sms] = []
        self._keys: set[str] = set()
        self._failures: list[int] = []
        self.requests = 0
        self._lock = threading.Condition()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = fake._handle(self.path, self.headers, raw)
                send_json(self, answer, status)

        return Handler

    @property
    def url(self) -> str:
        return f"{self.base_url}/send"

    def _handle(self, path: str, headers: Any, raw: bytes) -> tuple[int, dict]:
        with self._lock:
            self.requests += 1
            if path != "/send":
                return 404, {"error": "not found"}
            if headers.get("Authorization") != f"Bearer {self.token}":
                return 401, {"error": "bad token"}
            if self._failures:
                return self._failures.pop(0), {"error": "scripted failure"}
            try:
                body = json.loads(raw.decode("utf-8"))
            except ValueError:
                return 400, {"error": "not json"}
            to, text, key = body.get("to"), body.get("text"), headers.get("Idempotency-Key") or ""
            if not isinstance(to, str) or not to.isdigit() or not isinstance(text, str) or not text:
                return 400, {"error": "bad message"}
            if key and key in self._keys:
                return 200, {"status": "duplicate"}
            self._keys.add(key)
            self._messages.append(Sms(to, text, key))
            self._lock.notify_all()
            return 200, {"status": "queued"}

    def fail_next(self, *statuses: int) -> None:
        """The next sends answer these HTTP statuses, in order."""
        with self._lock:
            self._failures.extend(statuses)

    @property
    def messages(self) -> list[Sms]:
        with self._lock:
            return list(self._messages)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Sms]:
        """Wait until `count` messages arrived; the messages (maybe fewer on timeout)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._messages) < count and time.monotonic() < deadline:
                self._lock.wait(max(0.0, deadline - time.monotonic()))
            return list(self._messages)
