"""The socket.io channel issues and signs conversation ids itself: a browser cannot choose or
guess another citizen's conversation (issue 2)."""

from __future__ import annotations

import contextlib
import threading
import time

import pytest
import socketio
from sanic import Sanic

from tests.fakes.wechat_server import serve_sanic
from xiaoan.channels.socketio_secure import (
    SecureSocketIOInput,
    conversation_from_token,
    issue_conversation_token,
)

SECRET = "socketio-test-secret-0123456789abcdef"


class RecordingAgent:
    """Stands in for Rasa's agent: records who spoke and answers through the output channel."""

    def __init__(self) -> None:
        self.messages: list = []

    async def handle_message(self, message) -> None:
        self.messages.append(message)
        await message.output_channel.send_text_message(message.sender_id, f"收到：{message.text}")


@pytest.fixture()
def server(monkeypatch):
    from rasa.core.run import configure_app

    monkeypatch.setenv("XIAOAN_WEB_SECRET_KEY", SECRET)
    monkeypatch.setattr(Sanic, "test_mode", True)
    channel = SecureSocketIOInput(session_persistence=True, enabled=True)
    app = configure_app(input_channels=[channel], enable_api=False, route="/webhooks/", use_uvloop=False)
    agent = RecordingAgent()
    app.ctx.agent = agent
    with serve_sanic(app) as (base_url, _loop):
        yield base_url, agent


@contextlib.contextmanager
def client(base_url: str):
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


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_tokens_are_signed_and_checked():
    conversation, token = issue_conversation_token(SECRET)
    assert conversation.startswith("web-")
    assert conversation_from_token(token, SECRET) == conversation
    assert conversation_from_token(token, "another-secret") is None
    assert conversation_from_token(conversation, SECRET) is None  # a bare id is no token
    assert conversation_from_token(None, SECRET) is None


def test_the_server_issues_the_id_and_ignores_an_id_the_client_picks(server):
    base_url, agent = server
    with client(base_url) as (sio, received, confirmed):
        sio.emit("session_request", {"session_id": "web-victim-conversation"})
        assert confirmed.wait(10)
        token = received["confirm"][0]
        mine = conversation_from_token(token, SECRET)
        assert mine and mine != "web-victim-conversation"
        # a message naming another conversation still lands in the socket's own conversation
        sio.emit("user_uttered", {"message": "你好", "session_id": "web-victim-conversation"})
        wait_for(lambda: received["bot"])
    assert [m.sender_id for m in agent.messages] == [mine]
    assert received["bot"][0]["text"] == "收到：你好"


def test_a_valid_token_resumes_its_conversation_after_a_reload(server):
    base_url, agent = server
    conversation, token = issue_conversation_token(SECRET)
    with client(base_url) as (sio, received, confirmed):
        sio.emit("session_request", {"session_id": token})
        assert confirmed.wait(10)
        assert conversation_from_token(received["confirm"][0], SECRET) == conversation
        sio.emit("user_uttered", {"message": "我回来了", "session_id": token})
        wait_for(lambda: received["bot"])
    assert agent.messages[-1].sender_id == conversation


def test_messages_before_a_session_are_ignored(server):
    base_url, agent = server
    with client(base_url) as (sio, received, confirmed):
        sio.emit("user_uttered", {"message": "没有会话", "session_id": "web-someone"})
        # then a proper session on the same socket: once its answer is back, the first message
        # has long been handled (events of one socket are handled in order), so no sleep is needed
        sio.emit("session_request", {})
        assert confirmed.wait(10)
        sio.emit("user_uttered", {"message": "有会话了", "session_id": received["confirm"][0]})
        wait_for(lambda: received["bot"])
    assert [m.text for m in agent.messages] == ["有会话了"]
    assert [b["text"] for b in received["bot"]] == ["收到：有会话了"]
