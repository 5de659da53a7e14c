"""Typed choices and typed commands where a message enters Rasa, shared by every channel.

Before Rasa's NLU sees a citizen's message, the channel looks up the buttons the assistant
offered since the citizen last spoke (in the conversation's tracker) and:

- **typed commands** (issue 12): Rasa reads any text starting with "/" as an intent with
  entities (``/complain_general{"amount": 1}``), which would let a citizen set slots at will. Such
  text goes on as a command only when it is exactly the payload of a button offered in the last
  bot turn (a click relayed by the web app, or a copied button); anything else loses its leading
  slashes (:func:`screen_command`) and NLU reads it as text. The typed text is kept in
  ``metadata["display_text"]`` for the transcript;
- **typed choices** (issue 10): when the typed text picks one of the buttons
  (:func:`xiaoan.understanding.choices.resolve_choice`), the button's payload is sent instead,
  keeping what was typed in ``metadata["display_text"]``.

A tracker that cannot be read leaves ordinary text as it was, and makes every "/" text plain text
(nothing is known to be offered). The pure functions :func:`is_command` and
:func:`screen_command` need no Rasa import (the web app and the WeChat channel call them with the
payloads they know were offered).
"""

from __future__ import annotations

import logging
from typing import Any, Iterable, Optional

from xiaoan.understanding.choices import Choice, offered_choices, resolve_choice

logger = logging.getLogger(__name__)

DISPLAY_TEXT_KEY = "display_text"
COMMAND_PREFIX = "/"  # rasa.shared.constants.INTENT_MESSAGE_PREFIX
EMPTY_COMMAND_TEXT = "／"
"""What a text made only of slashes becomes: a full-width slash, which Rasa never reads as a command."""

# tracker event type names (rasa.shared.core.events ... .type_name) that end the offer of buttons
_BOT, _TURN_ENDERS = "bot", {"user", "restart", "session_started"}


def is_command(text: Any) -> bool:
    """Whether Rasa would read `text` as an intent command (it strips the text, then looks for "/")."""
    return isinstance(text, str) and text.strip().startswith(COMMAND_PREFIX)


def neutralise_command(text: str) -> str:
    """`text` without its leading slashes (and the blanks between them): plain text for NLU."""
    plain = text.strip()
    while plain.startswith(COMMAND_PREFIX):
        plain = plain.lstrip(COMMAND_PREFIX).strip()
    return plain or EMPTY_COMMAND_TEXT


def screen_command(text: str, offered_payloads: Iterable[str]) -> str:
    """The text Rasa may see for a citizen's typed `text`.

    Args:
        text: What the citizen sent.
        offered_payloads: Payloads of the buttons offered in the last bot turn (since the
            citizen last spoke).

    Returns:
        `text` unchanged when it is not a command; the payload (stripped) when the text is exactly
        one of `offered_payloads`; otherwise the text without its leading slashes, which Rasa
        reads as plain text (:func:`neutralise_command`).
    """
    if not is_command(text):
        return text
    command = text.strip()
    if any(isinstance(p, str) and p.strip() == command for p in offered_payloads):
        return command
    return neutralise_command(text)


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
        kind = getattr(event, "type_name", None)
        if kind in _TURN_ENDERS:
            break
        if kind == _BOT:
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


async def resolve_typed_choice(source: Any, message: Any) -> Any:
    """The message to hand to Rasa: typed commands screened, typed choices resolved.

    Args:
        source: Rasa's agent or a tracker store (None: nothing is known to be offered).
        message: The citizen's message (``rasa.core.channels.channel.UserMessage``) as the
            channel built it.

    Returns:
        `message` itself when nothing changes; otherwise a copy whose text is the chosen
        button's payload, or the command made plain text, and whose metadata carries the typed
        text under ``display_text``.
    """
    text = message.text
    if not isinstance(text, str) or not text.strip():
        return message
    choices = await offered_for(source, message.sender_id)
    if is_command(text):
        screened = screen_command(text, [c.payload for c in choices])
        if screened == text.strip():
            return message  # exactly an offered button's payload (a click)
        logger.info("typed command made plain text in conversation %s", message.sender_id)
        choice = resolve_choice(screened, choices)
        return _replaced(message, choice.payload if choice else screened, text)
    choice = resolve_choice(text, choices)
    if choice is None:
        return message
    logger.debug("typed choice resolved to a button payload in conversation %s", message.sender_id)
    return _replaced(message, choice.payload, text)


def _replaced(message: Any, text: str, typed: str) -> Any:
    """A copy of `message` with `text`, the citizen's own words kept under ``display_text``."""
    from rasa.core.channels.channel import UserMessage  # heavy: only where Rasa runs

    metadata = dict(message.metadata or {})
    metadata[DISPLAY_TEXT_KEY] = typed
    return UserMessage(
        text,
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
