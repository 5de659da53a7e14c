"""Rasa's socket.io channel with server-issued conversation ids, off unless switched on.

Off by default (issue 12: a door nobody uses is a door to close): the channel serves
``/socket.io`` only when ``XIAOAN_SOCKETIO_ENABLED=true``; otherwise nothing is mounted there
and its routes answer 404. The citizen chat page (port 8000) does not need it.

Rasa's own `SocketIOInput` lets the browser choose its `session_id`, so anyone who learns or
guesses another citizen's id can join that room and read the replies. Here the server mints
the id and hands the browser a signed token; a token with a bad signature is replaced by a
fresh conversation, and messages are always attributed to the id bound to the socket, never to
an id the client sends.

Per client (:mod:`xiaoan.channels.limits`, counters shared with the web app and every replica):
a connection counts against the client's address (``XIAOAN_LIMIT_SOCKETIO_IP``; over it the
connection is refused with a Chinese message), a message against that address and against its
conversation (``XIAOAN_LIMIT_SOCKETIO_CONVERSATION``; over it the citizen gets a bot message
saying when to send again, and nothing reaches Rasa).

A typed reply that picks one of the buttons last offered (its title, a part of it, its
number...) is sent to Rasa as that button's payload, and a typed ``/intent{...}`` command that
is not an offered button's payload reaches NLU as plain text, as on the REST and WeChat channels
(see :mod:`xiaoan.channels.choices`).
"""

from __future__ import annotations

import inspect
import logging
import uuid
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from itsdangerous import BadSignature, URLSafeSerializer
from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from sanic import Blueprint, response
from socketio import AsyncServer
from socketio.exceptions import ConnectionRefusedError as SocketConnectionRefused

from xiaoan.channels import limits as channel_limits
from xiaoan import services
from xiaoan.channels.choices import TypedChoiceHandler
from xiaoan.config import web_secret_key

logger = logging.getLogger(__name__)

_SALT = "xiaoan-socketio-conversation"


def conversation_serializer(secret: Optional[str] = None) -> URLSafeSerializer:
    """Signs and checks conversation tokens (shared with the web app)."""
    return URLSafeSerializer(secret or web_secret_key(), salt=_SALT)


def issue_conversation_token(secret: Optional[str] = None) -> tuple[str, str]:
    """A new conversation id and the signed token the browser keeps."""
    conversation_id = f"web-{uuid.uuid4().hex}"
    return conversation_id, conversation_serializer(secret).dumps(conversation_id)


def conversation_from_token(token: Any, secret: Optional[str] = None) -> Optional[str]:
    """The conversation id inside a valid token, else None."""
    if not isinstance(token, str) or not token:
        return None
    try:
        value = conversation_serializer(secret).loads(token)
    except BadSignature:
        return None
    return value if isinstance(value, str) else None


class SecureSocketIOInput(SocketIOInput):
    """socket.io input channel whose conversation ids are issued and signed by the server.

    Takes Rasa's ``SocketIOInput`` arguments, plus ``enabled`` (default False: no socket.io
    endpoint at all). From ``credentials.yml`` it is on when ``XIAOAN_SOCKETIO_ENABLED`` is true.
    """

    def __init__(self, *args: Any, enabled: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.enabled = enabled

    @classmethod
    def name(cls) -> Text:
        return "socketio"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "SecureSocketIOInput":
        """Rasa's socket.io settings from credentials.yml; on/off from ``XIAOAN_SOCKETIO_ENABLED``."""
        channel = super().from_credentials(credentials)
        channel.enabled = services.settings().socketio_enabled
        if not channel.enabled:
            logger.info("socket.io channel is off (set XIAOAN_SOCKETIO_ENABLED=true to serve /socket.io)")
        return channel

    def get_output_channel(self) -> Optional[SocketIOOutput]:
        """The output channel, or None when the channel is off."""
        return super().get_output_channel() if self.enabled else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """The socket.io endpoint: `session_request` binds the socket to a server-issued id.

        When the channel is off, an empty blueprint: nothing is served at ``/socket.io`` and
        ``/webhooks/socketio/`` answers 404.
        """
        if not self.enabled:
            return Blueprint("socketio_webhook", __name__)
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=[])
        webhook = SocketBlueprint(sio, self.socketio_path, "socketio_webhook", __name__)
        self.sio = sio
        on_new_message = TypedChoiceHandler(on_new_message, webhook)

        @webhook.route("/", methods=["GET"])
        async def health(_request):
            return response.json({"status": "ok"})

        @sio.on("connect", namespace=self.namespace)
        async def connect(sid: Text, environ: Dict, auth: Optional[Dict] = None) -> bool:
            client = channel_limits.environ_client(environ)
            refused = await channel_limits.first_refusal((channel_limits.settings().socketio_ip, client))
            if refused is not None:
                logger.warning("socket.io: a connection was refused by rate limit %s", refused.limit.name)
                raise SocketConnectionRefused(channel_limits.SOCKETIO_CONNECT_REFUSED)
            await sio.save_session(sid, {"client": client}, namespace=self.namespace)
            return True

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: Text, data: Optional[Dict]) -> None:
            token = data.get("session_id") if isinstance(data, dict) else None
            conversation_id = conversation_from_token(token)
            if conversation_id is None:
                conversation_id, token = issue_conversation_token()
            session = await sio.get_session(sid, namespace=self.namespace) or {}
            await sio.save_session(sid, {**session, "conversation_id": conversation_id}, namespace=self.namespace)
            joined = sio.enter_room(sid, conversation_id, namespace=self.namespace)
            if inspect.isawaitable(joined):  # a coroutine in python-socketio 5.x
                await joined
            await sio.emit("session_confirm", token, room=sid, namespace=self.namespace)

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: Text, data: Dict) -> None:
            session = await sio.get_session(sid, namespace=self.namespace)
            conversation_id = (session or {}).get("conversation_id")
            if not conversation_id:
                logger.warning("socket.io message before session_request was ignored")
                return
            if not isinstance(data, dict) or not isinstance(data.get("message"), str):
                return
            limits = channel_limits.settings()
            refused = await channel_limits.first_refusal(
                (limits.socketio_ip, (session or {}).get("client") or "unknown"),
                (limits.socketio_conversation, conversation_id))
            if refused is not None:
                logger.warning("socket.io: a message was refused by rate limit %s", refused.limit.name)
                await sio.emit(self.bot_message_evt,
                               {"text": channel_limits.SOCKETIO_RATE_LIMITED.format(
                                   seconds=max(1, refused.retry_after))},
                               room=sid, namespace=self.namespace)
                return
            text = data["message"]
            metadata = data.get(self.metadata_key) or {}
            message = UserMessage(
                text[:2000],
                SocketIOOutput(sio, self.bot_message_evt),
                conversation_id,
                input_channel=self.name(),
                metadata=metadata if isinstance(metadata, dict) else {},
            )
            await on_new_message(message)

        return webhook
