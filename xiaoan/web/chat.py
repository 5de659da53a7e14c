"""The citizens' chat page (`/`) and its JSON API, a thin proxy to Rasa's REST channel.

The conversation id is issued here and kept in the signed, HttpOnly session cookie: the browser
never chooses it, so nobody can read another citizen's conversation. The cookie lives as long as
the browser session only (no expiry date: the next person at a shared computer does not find the
conversation), and the page's "结束对话" button forgets the conversation at once
(`POST /api/chat/end`). Typed text starting with "/" reaches Rasa as an intent command only when it
is exactly the payload of a button offered in the last bot turn; otherwise it loses its leading
slashes (`xiaoan.channels.choices.screen_command`, shared with the Rasa channels).

A human agent's replies are appended to the Rasa tracker as bot events by the agents' inbox (with
metadata `{"agent": "<display name>"}` the page labels them 人工坐席); the page polls
`/api/chat/updates` for them.
"""

from __future__ import annotations

import logging
import math
import uuid
from typing import Any

from flask import Blueprint, jsonify, render_template, request, session

from xiaoan.channels.choices import DISPLAY_TEXT_KEY, is_command, screen_command
from xiaoan.input_checks import has_unreadable
from xiaoan.privacy import mask_text
from xiaoan.rasa_client import RasaError, RasaRateLimited
from xiaoan.web import messages
from xiaoan.web.deps import get_rasa_client
from xiaoan.web.limits import chat_rate_limit, chat_read_rate_limit

logger = logging.getLogger(__name__)

bp = Blueprint("chat", __name__)

MAX_MESSAGE_CHARS = 500
CONVERSATION_KEY = "chat_conversation_id"
STARTED_KEY = "chat_started"  # set once the citizen has sent something: before that Rasa has nothing
CONVERSATION_PREFIX = "web-"


def conversation_id() -> str:
    """The current browser's conversation id, issued on first use ("web-" + 32 hex digits)."""
    conv = session.get(CONVERSATION_KEY)
    if not isinstance(conv, str) or not conv.startswith(CONVERSATION_PREFIX):
        conv = CONVERSATION_PREFIX + uuid.uuid4().hex
        session[CONVERSATION_KEY] = conv
        session.pop(STARTED_KEY, None)
        # never `session.permanent = True`: the chat must not outlive the browser session
    return conv


def _error(status: int, message: str):
    return jsonify(error=message), status


@bp.get("/")
def index():
    """The chat page."""
    conversation_id()
    return render_template("chat.html", max_chars=MAX_MESSAGE_CHARS, ended=request.args.get("ended") == "1")


@bp.post("/api/chat/message")
def post_message():
    """Send the citizen's text or a clicked button's payload to Rasa; return the replies."""
    limited = chat_rate_limit(conversation_id())  # 429 + Retry-After per client IP and conversation
    if limited is not None:
        return limited
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return _error(400, messages.BAD_MESSAGE_REQUEST)
    conv = conversation_id()
    client = get_rasa_client()
    metadata: dict[str, Any] = {"channel": "web"}
    try:
        if data.get("payload") is not None:
            payload = data["payload"]
            if not isinstance(payload, str) or not payload.strip():
                return _error(400, messages.BAD_MESSAGE_REQUEST)
            if has_unreadable(payload):
                return _error(400, messages.UNREADABLE_TEXT)
            offered = _offered_buttons(client, conv) if session.get(STARTED_KEY) else []
            button = next((b for b in offered if b["payload"] == payload.strip()), None)
            if button is None:
                return _error(400, messages.STALE_BUTTON)
            text = button["payload"]
            metadata[DISPLAY_TEXT_KEY] = button["title"]
        else:
            text = data.get("text")
            if not isinstance(text, str):
                return _error(400, messages.BAD_MESSAGE_REQUEST)
            text = text.strip()
            if not text:
                return _error(400, messages.EMPTY_MESSAGE)
            if len(text) > MAX_MESSAGE_CHARS:
                return _error(400, messages.MESSAGE_TOO_LONG.format(limit=MAX_MESSAGE_CHARS))
            if has_unreadable(text):
                # a NUL cannot be stored by PostgreSQL; a lone surrogate breaks the history once stored
                return _error(400, messages.UNREADABLE_TEXT)
            if is_command(text):
                # typed "/intent{...}" is a command only when it is an offered button's payload
                offered = _offered_buttons(client, conv) if session.get(STARTED_KEY) else []
                screened = screen_command(text, [b["payload"] for b in offered])
                if screened != text:
                    metadata[DISPLAY_TEXT_KEY] = text
                    text = screened
        logger.info("web chat %s: user message (%d chars)", conv, len(text))
        logger.debug("web chat %s: %s", conv, mask_text(text))
        replies = client.send_message(conv, text, metadata)
    except RasaRateLimited as exc:  # the REST channel's own limit (shared counters): say when to retry
        logger.warning("web chat %s: REST channel rate limit", conv)
        return jsonify(error=messages.CHAT_RATE_LIMITED.format(seconds=exc.retry_after)), 429, {
            "Retry-After": str(exc.retry_after)}
    except RasaError as exc:
        logger.warning("web chat %s: Rasa unavailable: %s", conv, exc)
        return _error(503, messages.RASA_UNAVAILABLE)
    session[STARTED_KEY] = True
    try:
        cursor = _latest_timestamp(client.get_tracker(conv).get("events") or [])
    except RasaError as exc:  # the reply arrived; the page falls back to its previous cursor
        logger.warning("web chat %s: no tracker after reply: %s", conv, exc)
        cursor = None
    out = [m for m in (_message(r) for r in replies) if m]
    return jsonify(messages=out, cursor=cursor)


@bp.post("/api/chat/end")
def end_conversation():
    """Forget this browser's conversation ("结束对话"): its transcript and read-back are no longer
    reachable from this browser; the next page load starts a new conversation."""
    conv = session.pop(CONVERSATION_KEY, None)
    session.pop(STARTED_KEY, None)
    if conv:
        logger.info("web chat %s: ended by the citizen", conv)
    return jsonify(ended=True)


@bp.get("/api/chat/history")
def history():
    """The transcript of this browser's conversation, rebuilt from the Rasa tracker."""
    conv = conversation_id()
    limited = chat_read_rate_limit(conv)  # 429 + Retry-After per client IP and conversation
    if limited is not None:
        return limited
    if not session.get(STARTED_KEY):
        return jsonify(messages=[], cursor=None)
    try:
        events = get_rasa_client().get_tracker(conv).get("events") or []
    except RasaError as exc:
        logger.warning("web chat %s: history unavailable: %s", conv, exc)
        return _error(503, messages.RASA_UNAVAILABLE)
    out = []
    for event in events:
        kind = event.get("event")
        if kind == "user":
            text = (event.get("metadata") or {}).get("display_text") or event.get("text")
            if isinstance(text, str) and text:
                out.append({"sender": "user", "text": text, "buttons": [], "image": None, "agent": None,
                            "ts": event.get("timestamp")})
        elif kind == "bot":
            message = _bot_event_message(event)
            if message:
                out.append({"sender": "bot", **message, "ts": event.get("timestamp")})
    return jsonify(messages=out, cursor=_latest_timestamp(events))


@bp.get("/api/chat/updates")
def updates():
    """Bot messages (e.g. a human agent's replies) appended after `after` (unix seconds)."""
    limited = chat_read_rate_limit(conversation_id())  # counted before any work, bad cursors too
    if limited is not None:
        return limited
    raw = request.args.get("after", "0")
    try:
        after = float(raw)
    except ValueError:
        return _error(400, messages.BAD_CURSOR)
    if not math.isfinite(after) or after < 0:
        return _error(400, messages.BAD_CURSOR)
    conv = conversation_id()
    if not session.get(STARTED_KEY):
        return jsonify(messages=[], cursor=None)
    try:
        events = get_rasa_client().get_tracker(conv).get("events") or []
    except RasaError as exc:
        logger.warning("web chat %s: updates unavailable: %s", conv, exc)
        return _error(503, messages.RASA_UNAVAILABLE)
    out = []
    for event in events:
        ts = _timestamp(event)
        if event.get("event") == "bot" and ts is not None and ts > after:
            message = _bot_event_message(event)
            if message:
                out.append({"sender": "bot", **message, "ts": ts})
    latest = _latest_timestamp(events)
    return jsonify(messages=out, cursor=max(latest, after) if latest is not None else after)


def _offered_buttons(client, conv: str) -> list[dict]:
    """The buttons the bot offered since the citizen last spoke."""
    events = client.get_tracker(conv).get("events") or []
    offered: list[dict] = []
    for event in events:
        if event.get("event") == "user":
            offered = []
        elif event.get("event") == "bot":
            offered.extend(_buttons((event.get("data") or {}).get("buttons")))
    return offered


def _message(raw: dict) -> dict | None:
    """A REST channel reply as `{"text", "buttons", "image"}`, or None when it shows nothing."""
    text = raw.get("text") if isinstance(raw.get("text"), str) else None
    image = raw.get("image") if isinstance(raw.get("image"), str) else None
    buttons = _buttons(raw.get("buttons"))
    if not (text or image or buttons):
        return None
    return {"text": text, "buttons": buttons, "image": image}


def _bot_event_message(event: dict) -> dict | None:
    """A tracker bot event as `{"text", "buttons", "image", "agent"}`; `agent` is the display name
    of the human agent who wrote it (bot event metadata `{"agent": ...}`), else None."""
    data = event.get("data") or {}
    message = _message({"text": event.get("text"), "buttons": data.get("buttons"), "image": data.get("image")})
    if message is not None:
        agent = (event.get("metadata") or {}).get("agent")
        message["agent"] = agent if isinstance(agent, str) and agent.strip() else None
    return message


def _buttons(raw: Any) -> list[dict]:
    if not isinstance(raw, list):
        return []
    return [{"title": str(b.get("title") or b["payload"]), "payload": b["payload"]}
            for b in raw if isinstance(b, dict) and isinstance(b.get("payload"), str) and b["payload"]]


def _timestamp(event: dict) -> float | None:
    ts = event.get("timestamp")
    return float(ts) if isinstance(ts, (int, float)) and not isinstance(ts, bool) else None


def _latest_timestamp(events: list[dict]) -> float | None:
    stamps = [ts for ts in map(_timestamp, events) if ts is not None]
    return max(stamps) if stamps else None
