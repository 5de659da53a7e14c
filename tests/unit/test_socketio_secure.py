"""The socket.io channel issues and signs conversation ids itself: a browser cannot choose or
guess another citizen's conversation (issue 2)."""

from __future__ import annotations

import pytest

from tests.fakes.rasa_channels import serve_channels, socketio_client
from tests.waiting import wait_until
from xiaoan.channels.socketio_secure import (
    SecureSocketIOInput,
    conversation_from_token,
    issue_conversation_token,
)

SECRET = "socketio-test-secret-0123456789abcdef"


@pytest.fixture()
def server(monkeypatch):
    monkeypatch.setenv("XIAOAN_WEB_SECRET_KEY", SECRET)
    with serve_channels(monkeypatch, SecureSocketIOInput(session_persistence=True, enabled=True)) as served:
        yield served


def test_tokens_are_signed_and_checked():
    conversation, token = issue_conversation_token(SECRET)
    assert conversation.startswith("web-")
    assert conversation_from_token(token, SECRET) == conversation
    assert conversation_from_token(token, "another-secret") is None
    assert conversation_from_token(conversation, SECRET) is None  # a bare id is no token
    assert conversation_from_token(None, SECRET) is None


def test_the_server_issues_the_id_and_ignores_an_id_the_client_picks(server):
    base_url, agent = server
    with socketio_client(base_url) as (sio, received, confirmed):
        sio.emit("session_request", {"session_id": "web-victim-conversation"})
        assert confirmed.wait(10)
        token = received["confirm"][0]
        mine = conversation_from_token(token, SECRET)
        assert mine and mine != "web-victim-conversation"
        # a message naming another conversation still lands in the socket's own conversation
        sio.emit("user_uttered", {"message": "你好", "session_id": "web-victim-conversation"})
        wait_until(lambda: received["bot"])
    assert [m.sender_id for m in agent.messages] == [mine]
    assert received["bot"][0]["text"] == "收到：你好"


def test_a_valid_token_resumes_its_conversation_after_a_reload(server):
    base_url, agent = server
    conversation, token = issue_conversation_token(SECRET)
    with socketio_client(base_url) as (sio, received, confirmed):
        sio.emit("session_request", {"session_id": token})
        assert confirmed.wait(10)
        assert conversation_from_token(received["confirm"][0], SECRET) == conversation
        sio.emit("user_uttered", {"message": "我回来了", "session_id": token})
        wait_until(lambda: received["bot"])
    assert agent.messages[-1].sender_id == conversation


def test_messages_before_a_session_are_ignored(server):
    base_url, agent = server
    with socketio_client(base_url) as (sio, received, confirmed):
        sio.emit("user_uttered", {"message": "没有会话", "session_id": "web-someone"})
        # then a proper session on the same socket: once its answer is back, the first message
        # has long been handled (events of one socket are handled in order), so no sleep is needed
        sio.emit("session_request", {})
        assert confirmed.wait(10)
        sio.emit("user_uttered", {"message": "有会话了", "session_id": received["confirm"][0]})
        wait_until(lambda: received["bot"])
    assert [m.text for m in agent.messages] == ["有会话了"]
    assert [b["text"] for b in received["bot"]] == ["收到：有会话了"]
