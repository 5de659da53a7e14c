"""A local stand-in for the Rasa server's HTTP API, for tests (not part of the package).

It speaks the subset that `xiaoan.rasa_client.RasaClient` uses — the REST channel webhook and
the tracker endpoints with `?token=` — keeps trackers in memory and records every call::

    with FakeRasa() as rasa:                      # serves on 127.0.0.1, a free port
        settings = Settings(rasa_url=rasa.url)
        ...
        rasa.add_bot_message("web-...", "您好，我是人工坐席。")   # as the agents' inbox would
        assert rasa.calls[0]["path"] == "/webhooks/rest/webhook"

Replies come from `reply(sender_id, text, metadata) -> list[dict]` (REST channel format); the
default answers a few fixed inputs with buttons and echoes everything else. A reply may carry
`"active_loop": "complaint_form"` (or None): the fake records a form starting (or ending) before
that reply, and the tracker's `active_loop` says so, as Rasa's does; the key is not sent back.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

from xiaoan.config import REST_SECRET_HEADER

Reply = Callable[[str, str, dict], list[dict]]

GREETING_BUTTONS = [
    {"title": "咨询问题", "payload": "/ask_regulation"},
    {"title": "我要投诉", "payload": "/complain_general"},
]


def default_reply(sender_id: str, text: str, metadata: dict) -> list[dict]:
    """Scripted answers: a greeting with buttons, a reply per button, an echo otherwise."""
    if text == "/greet" or "你好" in text:
        return [{"text": "您好，我是小安，请问有什么可以帮您？", "buttons": GREETING_BUTTONS}]
    if text == "/complain_general":
        return [{"text": "好的，请简要描述您遇到的问题。"}]
    if text == "/ask_regulation":
        return [{"text": "请问您想咨询哪方面的问题？"}]
    return [{"text": f"收到：{text}"}]


class FakeRasa:
    """A threaded HTTP server imitating Rasa (see the module docstring).

    Args:
        token: the API token the tracker endpoints require.
        rest_secret: when set, the REST channel webhook requires it in the header
            `X-Xiaoan-Rest-Secret` (401 otherwise), as the real channel does.
        reply: answers to user messages (REST channel format, without `recipient_id`).
        host: address to bind.
        port: port to bind (0 = a free one).
    """

    def __init__(self, token: str = "test-token", reply: Reply = default_reply,
                 host: str = "127.0.0.1", port: int = 0, rest_secret: str | None = None) -> None:
        self.token = token
        self.rest_secret = rest_secret
        self.reply = reply
        self.delay = 0.0
        """Seconds to wait before answering any request (to provoke client timeouts)."""
        self.fail_status: int | None = None
        """When set, every request is answered with this HTTP status."""
        self.calls: list[dict[str, Any]] = []
        self.trackers: dict[str, list[dict]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:41234`."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeRasa":
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-rasa", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (afterwards connections are refused)."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> "FakeRasa":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def events(self, conversation_id: str) -> list[dict]:
        """A copy of a conversation's events."""
        with self._lock:
            return [dict(e) for e in self.trackers.get(conversation_id, [])]

    def add_bot_message(self, conversation_id: str, text: str, buttons: list[dict] | None = None,
                        metadata: dict | None = None) -> dict:
        """Append a bot event directly, as the agents' inbox does through the API."""
        event = _bot_event(text, buttons)
        event["metadata"] = dict(metadata or {})
        with self._lock:
            self._tracker(conversation_id).append(event)
        return event

    # --- request handling ---------------------------------------------------------------------

    def _tracker(self, conversation_id: str) -> list[dict]:
        events = self.trackers.get(conversation_id)
        if events is None:
            now = time.time()
            events = self.trackers[conversation_id] = [
                {"event": "action", "timestamp": now, "name": "action_session_start"},
                {"event": "session_started", "timestamp": now},
                {"event": "action", "timestamp": now, "name": "action_listen"},
            ]
        return events

    def _tracker_state(self, conversation_id: str) -> dict:
        events = self._tracker(conversation_id)
        return {
            "sender_id": conversation_id,
            "slots": {},
            "latest_message": _latest_message(events),
            "latest_event_time": events[-1]["timestamp"] if events else None,
            "paused": False,
            "events": [dict(e) for e in events],
            "latest_input_channel": "rest",
            "active_loop": _active_loop(events),
            "latest_action_name": "action_listen",
        }

    def _handle(self, method: str, raw_path: str, body: Any, headers: dict | None = None) -> tuple[int, Any]:
        parts = urlsplit(raw_path)
        path, query = parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()}
        headers = dict(headers or {})
        with self._lock:
            self.calls.append({"method": method, "path": path, "query": query, "json": body, "headers": headers})
        if self.delay:
            time.sleep(self.delay)
        if self.fail_status:
            return self.fail_status, {"status": "failure", "message": "fake failure"}
        if method == "POST" and path == "/webhooks/rest/webhook":
            if self.rest_secret is not None and headers.get(REST_SECRET_HEADER.lower()) != self.rest_secret:
                return 401, {"status": "failure", "reason": "NotAuthenticated", "code": 401}
            return self._rest_webhook(body)
        if path.startswith("/conversations/"):
            if query.get("token") != self.token:
                return 401, {"status": "failure", "reason": "NotAuthenticated", "code": 401}
            rest = path[len("/conversations/"):]
            if method == "GET" and rest.endswith("/tracker"):
                with self._lock:
                    return 200, self._tracker_state(unquote(rest[: -len("/tracker")]))
            if method == "POST" and rest.endswith("/tracker/events"):
                return self._append(unquote(rest[: -len("/tracker/events")]), body)
        return 404, {"status": "failure", "reason": "NotFound"}

    def _rest_webhook(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("sender"), str) or not isinstance(body.get("message"), str):
            return 400, {"status": "failure"}
        sender, text, metadata = body["sender"], body["message"], body.get("metadata") or {}
        replies = [dict(r) for r in self.reply(sender, text, metadata)]
        with self._lock:
            events = self._tracker(sender)
            events.append({"event": "user", "timestamp": time.time(), "text": text, "input_channel": "rest",
                           "metadata": metadata, "parse_data": {"intent": {"name": None}, "entities": []}})
            for reply in replies:
                if "active_loop" in reply:  # a scripted form starting (a name) or ending (None)
                    events.append({"event": "active_loop", "timestamp": time.time(), "name": reply.pop("active_loop")})
                events.append({"event": "action", "timestamp": time.time(), "name": "utter_fake"})
                events.append(_bot_event(reply.get("text"), reply.get("buttons"), reply.get("image")))
            events.append({"event": "action", "timestamp": time.time(), "name": "action_listen"})
        return 200, [{"recipient_id": sender, **r} for r in replies]

    def _append(self, conversation_id: str, body: Any) -> tuple[int, Any]:
        new = body if isinstance(body, list) else [body]
        if not new or not all(isinstance(e, dict) and e.get("event") for e in new):
            return 400, {"status": "failure", "reason": "BadRequest"}
        with self._lock:
            events = self._tracker(conversation_id)
            for event in new:
                events.append({**event, "timestamp": event.get("timestamp") or time.time()})
            return 200, self._tracker_state(conversation_id)

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, payload = fake._handle(method, self.path, body, headers)
                data = json.dumps(payload, ensure_ascii=False).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                self._serve("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._serve("POST")

            def log_message(self, format, *args) -> None:  # noqa: A002 - keep test output clean
                pass

        return Handler


def _active_loop(events: list[dict]) -> dict:
    """The tracker's `active_loop` as Rasa gives it: `{"name": ...}` of the last active_loop event
    that started a form, `{}` when none runs."""
    for event in reversed(events):
        if event.get("event") == "active_loop":
            return {"name": event["name"]} if event.get("name") else {}
    return {}


def _latest_message(events: list[dict]) -> dict:
    """The tracker's `latest_message` as Rasa gives it: the parse data of the last user event
    (intent and entities at the top level) with its text."""
    user = next((e for e in reversed(events) if e["event"] == "user"), None)
    if user is None:
        return {}
    parse_data = user.get("parse_data") or {}
    return {**parse_data, "text": user.get("text")}


def _bot_event(text: str | None, buttons: list[dict] | None = None, image: str | None = None) -> dict:
    return {
        "event": "bot",
        "timestamp": time.time(),
        "text": text,
        "data": {"elements": None, "quick_replies": None, "buttons": buttons, "attachment": None,
                 "image": image, "custom": None},
        "metadata": {},
    }
