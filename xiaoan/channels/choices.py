"""Typed choices where a message enters Rasa, shared by the REST and socket.io channels.

Before Rasa's NLU sees a citizen's message, the channel looks up the buttons the assistant
offered since the citizen last spoke (in the conversation's tracker) and, when the typed text
picks one of them (:func:`xiaoan.understanding.choices.resolve_choice`), sends the button's
payload instead, keeping what was typed in ``metadata["display_text"]`` for the transcript.

Never in the way: text that starts with "/" (a button click relayed by the web app, or a
command the channel neutralises itself) is passed on untouched, and any failure to read the
tracker leaves the message as it was.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from rasa.core.channels.channel import UserMessage
from rasa.shared.core.events import BotUttered, Restarted, SessionStarted, UserUttered

from xiaoan.understanding.choices import Choice, offered_choices, resolve_choice

logger = logging.getLogger(__name__)

DISPLAY_TEXT_KEY = "display_text"


def tracker_store_of(source: Any) -> Any:
    """The tracker store of a Rasa agent, or `source` itself when it is one (None when neither)."""
    if source is None:
        return None
    if hasattr(source, "retrieve"):
        return source
    return getattr(source, "tracker_store", None)


def _recent_events(tracker: Any) -> list[dict]:
    """The tracker's events since the citizen last spoke, as dicts, oldest first."""
    recent = []
    for event in reversed(list(getattr(tracker, "events", None) or [])):
        if isinstance(event, (UserUttered, Restarted, SessionStarted)):
            break
        if isinstance(event, BotUttered):
            recent.append(event.as_dict())
    recent.reverse()
    return recent


async def offered_for(source: Any, sender_id: Optional[str]) -> list[Choice]:
    """The buttons offered in a conversation since the citizen last spoke ([] when unknown).

    Args:
        source: Rasa's agent (``app.ctx.agent``) or a tracker store.
        sender_id: The conversation id.
    """
    store = tracker_store_of(source)
    if store is None or not sender_id:
        return []
    try:
        tracker = await store.retrieve(sender_id)
    except Exception:  # a store outage must not stop the message itself
        logger.warning("typed choices: the tracker of a conversation could not be read", exc_info=True)
        return []
    return offered_choices(_recent_events(tracker)) if tracker is not None else []


async def resolve_typed_choice(source: Any, message: UserMessage) -> UserMessage:
    """The message to hand to Rasa: the chosen button's payload when the typed text picks one.

    Args:
        source: Rasa's agent or a tracker store (None: the message is returned as it is).
        message: The citizen's message as the channel built it.

    Returns:
        `message` itself when nothing was chosen; otherwise a copy whose text is the button's
        payload and whose metadata carries the typed text under ``display_text``.
    """
    text = message.text
    if not isinstance(text, str) or not text.strip() or text.lstrip().startswith("/"):
        return message
    choices = await offered_for(source, message.sender_id)
    choice = resolve_choice(text, choices)
    if choice is None:
        return message
    logger.debug("typed choice resolved to a button payload in conversation %s", message.sender_id)
    metadata = dict(message.metadata or {})
    metadata[DISPLAY_TEXT_KEY] = text
    return UserMessage(
        choice.payload,
        message.output_channel,
        message.sender_id,
        input_channel=message.input_channel,
        message_id=message.message_id,
        metadata=metadata,
    )


def agent_of(blueprint: Any) -> Any:
    """Rasa's agent of the Sanic app a registered blueprint belongs to (None before registration).

    Rasa 3.6 keeps the agent in ``app.ctx.agent`` (rasa/server.py, rasa/core/run.py) and hands
    input channels only a message handler, so a channel reaches the agent through the app its
    blueprint was registered with (Sanic 21.12 ``Blueprint.apps``).
    """
    for app in getattr(blueprint, "_apps", None) or ():
        agent = getattr(app.ctx, "agent", None)
        if agent is not None:
            return agent
    return None


class TypedChoiceHandler:
    """Wraps a channel's ``on_new_message`` so typed choices become button payloads.

    Usage inside ``InputChannel.blueprint``::

        handler = TypedChoiceHandler(on_new_message)
        bp = ...build the blueprint with `handler` instead of `on_new_message`...
        handler.blueprint = bp
    """

    def __init__(self, on_new_message: Any, blueprint: Any = None) -> None:
        self.on_new_message = on_new_message
        self.blueprint = blueprint

    async def __call__(self, message: UserMessage) -> Any:
        """Resolve the message against the conversation's offered buttons, then hand it on."""
        return await self.on_new_message(await resolve_typed_choice(agent_of(self.blueprint), message))
