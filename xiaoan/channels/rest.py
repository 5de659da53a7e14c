"""Rasa's REST channel for the web app only: a shared secret, typed choices, no typed commands.

The web app proxies the citizen chat page through ``/webhooks/rest/webhook`` (a public
contract, so the channel keeps the name ``rest``). Rasa's own REST channel answers anyone who
reaches the port and lets the caller pick any conversation id (a WeChat openid, another
citizen's web chat), so here every route of the channel requires the header
``X-Xiaoan-Rest-Secret`` (:data:`xiaoan.config.REST_SECRET_HEADER`) with the value of
``XIAOAN_REST_SECRET`` (development: generated once into ``var/rest_secret``, which the web app
reads too). A call without it, or with another value, is answered 401 and never reaches Rasa.

A citizen who types a button's title, a part of it or its number instead of clicking gets the
button's payload sent to Rasa, and typed ``/intent{...}`` commands that are not an offered
button's payload reach NLU as plain text, exactly as on socket.io and WeChat (see
:mod:`xiaoan.channels.choices`).

After the secret, every call counts against the caller's address (``XIAOAN_LIMIT_REST_IP``) and
every message against its sender (``XIAOAN_LIMIT_REST_SENDER``), in the counters shared with the
web app (:mod:`xiaoan.channels.limits`; a message's two counts go to the store in one round trip);
over a limit the answer is 429 with ``Retry-After`` and nothing reaches Rasa. Enabled in
``credentials.yml``::

    xiaoan.channels.rest.ChoiceRestInput:
"""

from __future__ import annotations

import hmac
import logging
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request

from xiaoan.channels import limits as channel_limits
from xiaoan.channels.choices import TypedChoiceHandler
from xiaoan.config import REST_SECRET_HEADER, rest_secret
from xiaoan import texts
from xiaoan.input_checks import MAX_JSON_DEPTH, UNREADABLE, json_problem, loads_bounded

logger = logging.getLogger(__name__)

# The channel's refusals: the rest section of domain.yml.
NOT_AUTHENTICATED = texts.text("utter_rest_not_authenticated")
BAD_REQUEST = texts.text("utter_rest_bad_request")
UNREADABLE_TEXT = texts.text("utter_rest_unreadable_text")
MAX_SENDER_CHARS = 128
MAX_MESSAGE_CHARS = 5000
"""Generous: the web app sends at most 500 typed characters, or an offered button's payload."""
MAX_CHANNEL_CHARS = 64


def webhook_body_problem(body: bytes) -> Optional[str]:
    """Why a webhook body cannot become a user message (a Chinese message), or None when it can.

    The body must be a JSON object (nested at most `MAX_JSON_DEPTH` levels) with a non-empty string
    ``sender`` and a string ``message``; ``input_channel`` a short string and ``metadata`` an object
    when present; no NUL or lone surrogate anywhere (PostgreSQL refuses NUL; a lone surrogate stored
    in the tracker breaks every later read of the conversation).
    """
    try:
        data = loads_bounded(body or b"")
    except (ValueError, UnicodeDecodeError):
        return BAD_REQUEST
    if not isinstance(data, dict):
        return BAD_REQUEST
    sender, message = data.get("sender"), data.get("message")
    if not isinstance(sender, str) or not sender.strip() or len(sender) > MAX_SENDER_CHARS:
        return BAD_REQUEST
    if not isinstance(message, str) or len(message) > MAX_MESSAGE_CHARS:
        return BAD_REQUEST
    channel = data.get("input_channel")
    if channel is not None and (not isinstance(channel, str) or len(channel) > MAX_CHANNEL_CHARS):
        return BAD_REQUEST
    if data.get("metadata") is not None and not isinstance(data["metadata"], dict):
        return BAD_REQUEST
    problem = json_problem(data, MAX_JSON_DEPTH)
    if problem is not None:
        return UNREADABLE_TEXT if problem == UNREADABLE else BAD_REQUEST
    return None


def too_many_requests(decision) -> response.HTTPResponse:
    """429 with Retry-After and a Chinese message, in the REST channel's error shape."""
    seconds = max(1, decision.retry_after)
    return response.json({"status": "failure", "reason": "TooManyRequests", "code": 429,
                          "message": channel_limits.RATE_LIMITED.format(seconds=seconds)},
                         status=429, headers={"Retry-After": str(seconds)})


def secret_matches(given: Any, expected: str) -> bool:
    """Whether a header value is the expected secret (constant time; never true for an empty secret)."""
    if not isinstance(given, str) or not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


class ChoiceRestInput(RestInput):
    """REST input channel for the web app: shared secret, typed choices, screened commands.

    Args:
        secret: The shared secret; default :func:`xiaoan.config.rest_secret`, read when the
            channel's routes are built (Rasa start-up).
    """

    def __init__(self, secret: Optional[str] = None) -> None:
        self._secret = secret

    @classmethod
    def name(cls) -> Text:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "ChoiceRestInput":
        """No values in credentials.yml: the secret comes from the environment (or `var/`)."""
        return cls()

    @property
    def secret(self) -> str:
        """The shared secret the web app must send."""
        if self._secret is None:
            self._secret = rest_secret()
        return self._secret

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """Rasa's REST routes (``/`` and ``/webhook``), behind the secret, typed choices resolved first."""
        handler = TypedChoiceHandler(on_new_message)
        blueprint = super().blueprint(handler)
        secret = self.secret

        @blueprint.middleware("request")
        async def require_secret(request: Request) -> Optional[response.HTTPResponse]:
            if secret_matches(request.headers.get(REST_SECRET_HEADER), secret):
                return None
            logger.warning("REST channel: a call without the shared secret was refused (%s %s)",
                           request.method, request.path)
            return response.json({"status": "failure", "reason": "NotAuthenticated", "code": 401,
                                  "message": NOT_AUTHENTICATED}, status=401)

        def is_message(request: Request) -> bool:
            return request.method == "POST" and request.path.rstrip("/").endswith("/webhook")

        def refuse(refused) -> response.HTTPResponse:
            by = "a client" if refused.limit == channel_limits.settings().rest_ip else "a conversation"
            logger.warning("REST channel: rate limit %s reached by %s", refused.limit.name, by)
            return too_many_requests(refused)

        @blueprint.middleware("request")
        async def limit_client(request: Request) -> Optional[response.HTTPResponse]:
            # after the secret (an unauthenticated flood costs a comparison, not a counter write);
            # a message is counted by check_message, address and sender in one round trip
            if is_message(request):
                return None
            refused = await channel_limits.first_refusal(
                (channel_limits.settings().rest_ip, channel_limits.sanic_client(request)))
            return None if refused is None else refuse(refused)

        @blueprint.middleware("request")
        async def check_message(request: Request) -> Optional[response.HTTPResponse]:
            # after the secret; Rasa's own handler answers 500 on a body that is not a JSON object.
            # The address is counted first, then (for a well-formed message) the sender; a refusal
            # by the address leaves the sender uncounted
            if not is_message(request):
                return None
            limits = channel_limits.settings()
            problem = webhook_body_problem(request.body)
            checks = [(limits.rest_ip, channel_limits.sanic_client(request))]
            if problem is None:
                checks.append((limits.rest_sender, loads_bounded(request.body)["sender"]))
            refused = await channel_limits.first_refusal(*checks)
            if refused is not None:
                return refuse(refused)
            if problem is None:
                return None
            logger.info("REST channel: a malformed message was refused (%s)", problem)
            return response.json({"status": "failure", "reason": "BadRequest", "code": 400,
                                  "message": problem}, status=400)

        handler.blueprint = blueprint
        return blueprint
