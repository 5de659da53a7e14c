"""The project's name of a conversation's channel, the one answer to "which channel is this?".

Rasa knows the *input channel* a message came through (``rest``, ``socketio``, ``wechat``); the
project stores and shows a *channel* with every ticket, handoff session and rating:

- ``web``: the citizen chat page. It talks to Rasa over socket.io, or over the REST channel with
  conversation ids that start with ``web-`` (the web app's ids).
- ``wechat``: the WeChat Official Account channel (``xiaoan/channels/wechat.py``).
- any other input channel keeps its (lower-case) name, e.g. ``rest`` for scripts and tests;
  ``unknown`` when there is none.

Labels for staff pages are data: ``xiaoan/resources/labels.yml`` (``xiaoan.labels``).
"""

from __future__ import annotations

from typing import Optional

WEB = "web"
WECHAT = "wechat"
UNKNOWN = "unknown"
#: Conversation ids the web app gives its REST conversations (xiaoan/web/chat.py).
WEB_CONVERSATION_PREFIX = "web-"


def channel_name(input_channel: Optional[str], conversation_id: Optional[str]) -> str:
    """The project's channel for a Rasa input channel and conversation.

    Args:
        input_channel: Rasa's input channel name (``tracker.get_latest_input_channel()``).
        conversation_id: The conversation (sender) id.

    Returns:
        ``"web"``, ``"wechat"``, the input channel's own name, or ``"unknown"``.
    """
    name = (input_channel or "").strip().lower()
    if name in {"socketio", WEB} or (name == "rest" and str(conversation_id or "").startswith(WEB_CONVERSATION_PREFIX)):
        return WEB
    if name.startswith(WECHAT) or name.endswith(".wechatinput"):
        return WECHAT
    return name or UNKNOWN
