"""Rasa's REST channel with typed choices (issue 10).

The web app proxies the citizen chat page through ``/webhooks/rest/webhook`` (a public
contract, so the channel keeps the name ``rest``). A citizen who types a button's title, a
part of it or its number instead of clicking gets the button's payload sent to Rasa, exactly as
on socket.io and WeChat (see :mod:`xiaoan.channels.choices`). Enabled in ``credentials.yml``::

    xiaoan.channels.rest.ChoiceRestInput:
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Text

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint

from xiaoan.channels.choices import TypedChoiceHandler


class ChoiceRestInput(RestInput):
    """REST input channel that maps typed choices to the offered buttons' payloads."""

    @classmethod
    def name(cls) -> Text:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """Rasa's REST routes (``/`` and ``/webhook``), with typed choices resolved first."""
        handler = TypedChoiceHandler(on_new_message)
        handler.blueprint = super().blueprint(handler)
        return handler.blueprint
