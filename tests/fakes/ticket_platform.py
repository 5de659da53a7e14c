"""A fake 12345 work-order platform for tests: a real HTTP server on 127.0.0.1 that fails on purpose.

For tests and local trials of forwarding (`XIAOAN_TICKET_API_URL=<fake.url>`)::

    with FakePlatform() as fake:
        fake.fail_next(500, 500, ("sleep", 3.0), 400)   # then it succeeds
        ... XIAOAN_TICKET_API_URL=fake.url ...
        fake.orders          # Idempotency-Key -> work order id (one per key, like a real platform)
        fake.requests        # every request received: RecordedRequest(headers, body, status)
        fake.files           # work order id -> attachments received [(name, bytes)], checked by sha256

Successful POSTs answer 201 {"id": "WO-000001"} the first time a key is seen and 200 with the
same id on a repeat, as a platform honouring `Idempotency-Key` would.

The other direction, the platform reporting a ticket's progress to 小安
(`POST /api/platform/tickets/<no>/status`, docs/tickets-interface.md)::

    fake.push_status(web_url, secret, "XA-261126-0001", "closed", event_id="evt-9")  # signed like the platform
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class RecordedRequest:
    """One request the fake received and what it answered."""

    path: str
    headers: dict[str, str]
    body: Any
    status: int | None


class FakePlatform:
    """A scripted work-order platform (see the module docstring)."""

    def __init__(self) -> None:
        self._script: deque = deque()
        self._lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        self.orders: dict[str, str] = {}
        self.files: dict[str, list[tuple[str, bytes]]] = {}
        """Work order id -> the attachments received with it: (name, decoded bytes)."""
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The endpoint to set as XIAOAN_TICKET_API_URL."""
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/api/work-orders"

    def fail_next(self, *behaviours: Any) -> None:
        """Queue behaviours for the next requests, in order.

        Each is an HTTP status to answer with (e.g. 500, 429, 400), `("sleep", seconds)` to
        answer 201 only after a delay (a slow platform: the client times out), or
        `("status", code, headers)` / `("status", code, headers, body)` with response headers
        (e.g. {"Retry-After": "7"}) and a JSON body of your choice.
        """
        with self._lock:
            self._script.extend(behaviours)

    def _next_behaviour(self) -> Any:
        with self._lock:
            return self._script.popleft() if self._script else None

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw.decode("utf-8")) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        record = RecordedRequest(path=handler.path, headers=dict(handler.headers.items()), body=body, status=None)
        with self._lock:
            self.requests.append(record)
        behaviour = self._next_behaviour()
        headers: dict[str, str] = {}
        reply: Any = None
        if isinstance(behaviour, tuple) and behaviour[0] == "sleep":
            time.sleep(behaviour[1])
            behaviour = None
        if isinstance(behaviour, tuple) and behaviour[0] == "status":
            headers = behaviour[2]
            reply = behaviour[3] if len(behaviour) > 3 else None
            behaviour = behaviour[1]
        if isinstance(behaviour, int):
            record.status = behaviour
            self._reply(handler, behaviour, reply if reply is not None else {"error": f"scripted {behaviour}"}, headers)
            return
        key = handler.headers.get("Idempotency-Key")
        if not key:
            record.status = 400
            self._reply(handler, 400, {"error": "Idempotency-Key header required"})
            return
        files = _attachments(body)
        if files is None:
            record.status = 400
            self._reply(handler, 400, {"error": "attachment content missing or not matching its sha256"})
            return
        with self._lock:
            existing = self.orders.get(key)
            if existing is None:
                existing = self.orders[key] = f"WO-{len(self.orders) + 1:06d}"
                status = 201
            else:
                status = 200
            self.files[existing] = files
        record.status = status
        self._reply(handler, status, {"id": existing})

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(data).encode("utf-8")
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout): a real platform would not notice either

    def start(self) -> "FakePlatform":
        """Listen on a free loopback port in a daemon thread."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server naming
                fake._handle(self)

            def log_message(self, *args):  # keep test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-platform", daemon=True)
        self._thread.start()
        return self

    def push_status(self, web_url: str, secret: str, ticket_no: str, status: str, *, event_id: str,
                    timeout: float = 10.0, **fields: Any) -> Any:
        """Report a status change to the web app at `web_url`, signed with `secret` (HMAC-SHA256 of
        "<timestamp>." + body); the `requests` response. Extra `fields`: at, note, agency."""
        import hashlib
        import hmac

        import requests

        body = json.dumps({"event_id": event_id, "status": status, **fields}, ensure_ascii=False).encode("utf-8")
        stamp = str(int(time.time()))
        signature = hmac.new(secret.encode("utf-8"), stamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
        return requests.post(f"{web_url.rstrip('/')}/api/platform/tickets/{ticket_no}/status", data=body, timeout=timeout,
                             headers={"Content-Type": "application/json; charset=utf-8", "X-Xiaoan-Timestamp": stamp,
                                      "X-Xiaoan-Signature": f"sha256={signature}"})

    def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FakePlatform":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _attachments(body: Any) -> list[tuple[str, bytes]] | None:
    """The attachments of a work order (docs/tickets-interface.md, "Attachments"): each entry's
    `content_base64` decoded and checked against its `size` and `sha256`; None when one fails."""
    import base64
    import hashlib

    items = body.get("attachments") if isinstance(body, dict) else None
    files = []
    for item in items or []:
        try:
            data = base64.b64decode(item["content_base64"], validate=True)
        except (KeyError, TypeError, ValueError):
            return None
        if len(data) != item.get("size") or hashlib.sha256(data).hexdigest() != item.get("sha256"):
            return None
        files.append((item.get("name"), data))
    return files


def unused_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/work-orders"
