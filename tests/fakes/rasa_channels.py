"""Rasa's input channels served by a real Sanic app on the loopback, with a recording agent in
place of Rasa's: the channel tests (unit and security) start them here, and talk to socket.io
through `socketio_client` (what it receives arrives on its own thread: `tests.waiting.wait_until`)."""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

from rasa.core.channels.channel import UserMessage
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from sanic import Sanic

from tests.fakes.wechat_server import serve_sanic


class RecordingAgent:
    """Rasa's agent as the channels see it: a tracker store, and `handle_message` recording each
    message and answering "收到：<text>" through the message's output channel."""

    def __init__(self) -> None:
        self.tracker_store = InMemoryTrackerStore(Domain.empty())
        self.messages: list[UserMessage] = []

    async def handle_message(self, message: UserMessage) -> None:
        self.messages.append(message)
        await message.output_channel.send_text_message(message.sender_id, f"收到：{message.text}")


@contextlib.contextmanager
def serve_channels(monkeypatch, *channels, agent: RecordingAgent | None = None
                   ) -> Iterator[tuple[str, RecordingAgent]]:
    """Rasa's app (`configure_app`, channels under /webhooks/) with `channels` and `agent` (a new
    `RecordingAgent` by default), served on a free port; yields the base URL and the agent."""
    from rasa.core.run import configure_app

    monkeypatch.setattr(Sanic, "test_mode", True)
    app = configure_app(input_channels=list(channels), enable_api=False, route="/webhooks/", use_uvloop=False)
    agent = agent if agent is not None else RecordingAgent()
    app.ctx.agent = agent
    with serve_sanic(app) as (base_url, _loop):
        yield base_url, agent


@contextlib.contextmanager
def socketio_client(base_url: str) -> Iterator[tuple[object, dict, threading.Event]]:
    """A socket.io client connected to `base_url`; yields it, what it received (``{"confirm":
    [session tokens], "bot": [bot messages]}``) and an event set on the session confirmation."""
    import socketio

    sio = socketio.Client(reconnection=False)
    received: dict = {"confirm": [], "bot": []}
    confirmed = threading.Event()

    @sio.on("session_confirm")
    def on_confirm(token):
        received["confirm"].append(token)
        confirmed.set()

    @sio.on("bot_uttered")
    def on_bot(data):
        received["bot"].append(data)

    sio.connect(base_url, socketio_path="/socket.io", transports=["polling"], wait_timeout=10)
    try:
        yield sio, received, confirmed
    finally:
        # abort: do not wait for the pending long-poll request (up to the ping interval) to end
        sio.eio.disconnect(abort=True)
