"""Typed choices on the Rasa server side (issue 10): the REST and socket.io channels send the
payload of the button a citizen typed, looked up in the conversation's tracker; typed commands
that are not an offered button's payload reach NLU as plain text (issue 12)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
import requests
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.run import create_http_input_channels
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from tests.fakes import rasa_channels
from tests.fakes.rasa_channels import serve_channels, socketio_client
from tests.waiting import wait_until
from xiaoan.channels.choices import offered_for, resolve_typed_choice
from xiaoan.channels.rest import ChoiceRestInput
from xiaoan.channels.socketio_secure import SecureSocketIOInput, conversation_from_token, issue_conversation_token
from xiaoan.config import PROJECT_ROOT, REST_SECRET_HEADER

SECRET = "channel-choices-test-secret-0123456789"
REST_SECRET = "channel-choices-rest-secret-0123456789"
CALLBACK = '/request_human{"handoff_choice": "callback"}'
QUEUE = '/request_human{"handoff_choice": "queue"}'
CALLBACK_BUTTONS = [
    {"title": "留下电话等回电", "payload": CALLBACK},
    {"title": "继续排队等人工", "payload": QUEUE},
    {"title": "先不用了", "payload": "/deny"},
]


class RecordingAgent(rasa_channels.RecordingAgent):
    """The recording agent (tests/fakes/rasa_channels.py) that can also store an offer of buttons."""

    def offer(self, conversation_id: str, buttons: list[dict]) -> None:
        """Store a conversation whose last bot messages offered `buttons` (after an earlier offer)."""
        tracker = DialogueStateTracker(conversation_id, slots=[])
        for event in (
            UserUttered("你好"),
            BotUttered("菜单", data={"buttons": [{"title": "我要投诉", "payload": "/complain_general"}]}),
            UserUttered("转人工"),
            ActionExecuted("action_handoff"),
            BotUttered("现在暂时没有人工坐席在线。"),
            BotUttered("您可以留下电话等回电，也可以继续排队。", data={"buttons": buttons}),
            ActionExecuted("action_listen"),
        ):
            tracker.update(event)
        asyncio.run(self.tracker_store.save(tracker))


# ---------------------------------------------------------------- the shared helper


def test_the_helper_resolves_against_the_tracker():
    agent = RecordingAgent()
    agent.offer("conv-1", CALLBACK_BUTTONS)

    async def run(text: str, sender: str = "conv-1", metadata=None) -> UserMessage:
        message = UserMessage(text, CollectingOutputChannel(), sender, input_channel="rest", metadata=metadata)
        return await resolve_typed_choice(agent, message)

    assert [c.title for c in asyncio.run(offered_for(agent, "conv-1"))] == [b["title"] for b in CALLBACK_BUTTONS]
    assert [c.payload for c in asyncio.run(offered_for(agent.tracker_store, "conv-1"))] == [CALLBACK, QUEUE, "/deny"]
    chosen = asyncio.run(run("我等着", metadata={"channel": "web"}))
    assert chosen.text == QUEUE
    assert chosen.metadata == {"channel": "web", "display_text": "我等着"}
    assert (chosen.sender_id, chosen.input_channel) == ("conv-1", "rest")
    assert asyncio.run(run("回电")).text == CALLBACK
    # not a choice: the very same message goes on (an offered payload typed exactly, too)
    for text in ("我要投诉隔壁超市缺斤短两，上周买的猪肉少了二两", QUEUE, "/deny", "我要投诉"):
        message = UserMessage(text, None, "conv-1")
        assert asyncio.run(resolve_typed_choice(agent, message)) is message
    # a command that is not an offered payload is plain text, the typed words kept for the transcript
    plain = asyncio.run(run("/request_human"))
    assert (plain.text, plain.metadata["display_text"]) == ("request_human", "/request_human")
    # no tracker, no store: unchanged
    assert asyncio.run(run("排队", sender="conv-unknown")).text == "排队"
    assert asyncio.run(resolve_typed_choice(None, UserMessage("排队", None, "conv-1"))).text == "排队"


def test_a_failing_tracker_store_leaves_the_message_alone():
    class BrokenStore:
        async def retrieve(self, sender_id):
            raise ConnectionError("database down")

    message = UserMessage("排队", None, "conv-1")
    assert asyncio.run(resolve_typed_choice(BrokenStore(), message)) is message


# ---------------------------------------------------------------- REST


@pytest.fixture()
def rest_server(monkeypatch):
    with serve_channels(monkeypatch, ChoiceRestInput(REST_SECRET), agent=RecordingAgent()) as served:
        yield served


def test_the_rest_channel_sends_the_payload_of_a_typed_title(rest_server):
    base_url, agent = rest_server
    agent.offer("web-rest-1", CALLBACK_BUTTONS)
    url = f"{base_url}/webhooks/rest/webhook"

    def send(text: str, sender: str = "web-rest-1") -> list:
        reply = requests.post(url, json={"sender": sender, "message": text, "metadata": {"channel": "web"}},
                              headers={REST_SECRET_HEADER: REST_SECRET}, timeout=10)
        assert reply.status_code == 200
        return reply.json()

    assert send("继续排队等人工") == [{"recipient_id": "web-rest-1", "text": f"收到：{QUEUE}"}]
    assert send("留电话") == [{"recipient_id": "web-rest-1", "text": f"收到：{CALLBACK}"}]
    agent.offer("web-rest-1", CALLBACK_BUTTONS)
    assert send("/deny")[0]["text"] == "收到：/deny"  # a button click relayed by the web app
    assert send("/greet")[0]["text"] == "收到：greet"  # typed, offered nowhere: plain text
    assert send("我想问一下预付卡商家跑路了怎么办")[0]["text"] == "收到：我想问一下预付卡商家跑路了怎么办"
    assert send("排队", sender="web-rest-other")[0]["text"] == "收到：排队"  # nothing offered there
    assert [m.metadata.get("display_text") for m in agent.messages] == [
        "继续排队等人工", "留电话", None, "/greet", None, None]
    assert all(m.input_channel == "rest" for m in agent.messages)


def test_credentials_mount_the_choice_rest_channel_under_its_public_name():
    channels = create_http_input_channels(None, str(PROJECT_ROOT / "credentials.yml"))
    rest = [c for c in channels if c.name() == "rest"]
    assert len(rest) == 1 and isinstance(rest[0], ChoiceRestInput)
    assert rest[0].url_prefix() == "rest"


# ---------------------------------------------------------------- socket.io


@pytest.fixture()
def socketio_server(monkeypatch):
    monkeypatch.setenv("XIAOAN_WEB_SECRET_KEY", SECRET)
    channel = SecureSocketIOInput(session_persistence=True, enabled=True)
    with serve_channels(monkeypatch, channel, agent=RecordingAgent()) as served:
        yield served


@contextlib.contextmanager
def socket_client(base_url: str, token: str):
    """A socket.io client in the conversation of `token`; yields it and the bot messages it receives."""
    with socketio_client(base_url) as (sio, received, confirmed):
        sio.emit("session_request", {"session_id": token})
        assert confirmed.wait(10)
        yield sio, received["bot"]


def test_the_socketio_channel_sends_the_payload_of_a_typed_title(socketio_server):
    base_url, agent = socketio_server
    conversation, token = issue_conversation_token(SECRET)
    assert conversation_from_token(token, SECRET) == conversation
    agent.offer(conversation, CALLBACK_BUTTONS)
    with socket_client(base_url, token) as (sio, bot):
        sio.emit("user_uttered", {"message": "打电话给我", "session_id": token})
        wait_until(lambda: len(bot) == 1)
        sio.emit("user_uttered", {"message": "好的", "session_id": token})  # 3-way offer: no guess
        wait_until(lambda: len(bot) == 2)
    assert [m.text for m in agent.messages] == [CALLBACK, "好的"]
    assert agent.messages[0].metadata.get("display_text") == "打电话给我"
    assert agent.messages[0].sender_id == conversation
    assert bot[0]["text"] == f"收到：{CALLBACK}"
