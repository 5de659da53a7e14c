"""Issue 12, item 3 (rest of it): per-client HTTP-level limits of the Rasa input channels.

- REST (`ChoiceRestInput` in Rasa's Sanic app): per source address and per sender, 429 +
  Retry-After + a Chinese message, nothing reaches the agent; the web app turns the channel's 429
  into its own 429 with the citizen's message;
- socket.io (when on): connections per address refused with a Chinese message; messages per
  conversation answered by a Chinese bot message, nothing reaches the agent;
- WeChat: per source address (before the signature check) answered ``success``; per openid a
  polite passive reply in Chinese (encrypted in safe mode), never a 5xx, nothing reaches the agent.

The limiter is the real one (`xiaoan.ratelimit`, table `rate_limit_counters` of a real SQLite
database) with a fake clock."""

from __future__ import annotations

import itertools
import re

import pytest
import requests

from tests.fakes.clock import Clock
from tests.fakes.rasa_channels import serve_channels, socketio_client
from tests.fakes.wechat_server import (
    AES_KEY, FakeClock, FakeWeChatServer, StubAgent, WeChatPusher, event_xml,
    running_channel, text_xml, wechat_channel,
)
from tests.waiting import wait_until
from xiaoan.channels import limits as channel_limits
from xiaoan.config import REST_SECRET_HEADER, Settings
from xiaoan.ratelimit import DatabaseBackend, Limit, LimitSettings, RateLimiter, set_rate_limiter
from xiaoan.rasa_client import RasaRateLimited
from xiaoan.web import messages
from xiaoan.web.app import create_app

REST_SECRET = "channel-limits-rest-secret-0123456789"
CJK = re.compile(r"[\u4e00-\u9fff]")
T0 = 1_800_000_000.0


@pytest.fixture()
def limits(db_url):
    """Use the real limiter on the test database with a fake clock; `apply(**limits)` sets limits."""
    clock = Clock(T0)

    def apply(**values):
        set_rate_limiter(RateLimiter(DatabaseBackend(db_url), clock=clock),
                         LimitSettings(**{name: Limit(name, *value) for name, value in values.items()}))
        return clock

    yield apply
    set_rate_limiter(None, None)


# -- REST ------------------------------------------------------------------------------------------------

@pytest.fixture()
def rest(monkeypatch):
    from xiaoan.channels.rest import ChoiceRestInput

    with serve_channels(monkeypatch, ChoiceRestInput(REST_SECRET)) as (base_url, agent):
        yield f"{base_url}/webhooks/rest/webhook", agent


def say_rest(url: str, sender: str, text: str = "你好", secret: str = REST_SECRET):
    return requests.post(url, json={"sender": sender, "message": text}, headers={REST_SECRET_HEADER: secret},
                         timeout=10)


def test_rest_channel_limits_each_sender_with_429_and_retry_after(rest, limits):
    clock = limits(rest_sender=(3, 60))
    url, agent = rest
    assert [say_rest(url, "web-a").status_code for _ in range(3)] == [200, 200, 200]
    refused = say_rest(url, "web-a")
    assert refused.status_code == 429
    wait = int(refused.headers["Retry-After"])
    assert wait > 0
    body = refused.json()
    assert body["code"] == 429 and body["reason"] == "TooManyRequests" and CJK.search(body["message"])
    assert f"{wait}秒" in body["message"]
    assert len(agent.messages) == 3  # the refused message never reached the agent
    assert say_rest(url, "web-b").status_code == 200  # another conversation goes on
    clock.now += wait
    assert say_rest(url, "web-a").status_code == 200


def test_rest_channel_limits_each_source_address_and_counts_only_authenticated_calls(rest, limits):
    limits(rest_ip=(4, 60))
    url, agent = rest
    # calls without the secret are refused before the counter (an unauthenticated flood writes nothing)
    assert {say_rest(url, "web-x", secret="wrong").status_code for _ in range(6)} == {401}
    statuses = [say_rest(url, f"web-{n}").status_code for n in range(6)]  # a new sender each time
    assert statuses == [200] * 4 + [429] * 2
    assert len(agent.messages) == 4
    health = requests.get(url.rsplit("/", 1)[0] + "/", headers={REST_SECRET_HEADER: REST_SECRET}, timeout=10)
    assert health.status_code == 429  # every route of the channel counts


def test_rest_message_counts_address_and_sender_in_one_transaction(rest, limits, db_url):
    """A message's two counts are one round trip to the store (issue 13); a refusal by the address
    leaves the sender uncounted, and a malformed message still counts against the address."""
    from sqlalchemy import event

    from xiaoan.db import get_engine

    clock = limits(rest_ip=(3, 60), rest_sender=(10, 60))
    url, agent = rest
    assert say_rest(url, "web-a").status_code == 200  # the first also purges expired counters
    begins: list = []
    listener = lambda conn: begins.append(conn)  # noqa: E731
    engine = get_engine(db_url, durable=False)  # the counters' engine
    event.listen(engine, "begin", listener)
    try:
        assert say_rest(url, "web-a").status_code == 200
    finally:
        event.remove(engine, "begin", listener)
    assert len(begins) == 1
    malformed = requests.post(url, data=b'{"message": "no sender"}', headers={REST_SECRET_HEADER: REST_SECRET},
                              timeout=10)
    assert malformed.status_code == 400  # counted: the address is now at 3 of 3
    refused = say_rest(url, "web-a")
    assert refused.status_code == 429 and len(agent.messages) == 2
    limiter, settings = channel_limits.get_rate_limiter(), channel_limits.settings()
    assert limiter.peek(settings.rest_sender, "web-a").uses == 2  # the refused message was not counted
    assert limiter.peek(settings.rest_ip, "127.0.0.1").uses == 3
    clock.now += int(refused.headers["Retry-After"])
    assert say_rest(url, "web-a").status_code == 200


def test_web_chat_answers_the_rest_channels_429_with_its_own_message(db_url):
    class LimitedRasa:
        def send_message(self, conversation_id, text, metadata=None):
            raise RasaRateLimited("Rasa rate-limited POST /webhooks/rest/webhook", 42)

        def get_tracker(self, conversation_id):
            return {"events": []}

    app = create_app(Settings(database_url=db_url, rasa_url="http://127.0.0.1:9",
                              web_secret_key="channel-limits-0123456789abcdefghij"), testing=True)
    app.extensions["xiaoan"]["rasa_client"] = LimitedRasa()
    client = app.test_client()
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', client.get("/").text).group(1)
    response = client.post("/api/chat/message", json={"text": "你好"}, headers={"X-CSRFToken": token})
    assert response.status_code == 429 and response.headers["Retry-After"] == "42"
    assert response.get_json() == {"error": messages.CHAT_RATE_LIMITED.format(seconds=42)}


# -- socket.io -------------------------------------------------------------------------------------------

@pytest.fixture()
def socketio_server(monkeypatch):
    from xiaoan.channels.socketio_secure import SecureSocketIOInput

    monkeypatch.setenv("XIAOAN_WEB_SECRET_KEY", "socketio-limits-secret-0123456789abcdef")
    with serve_channels(monkeypatch, SecureSocketIOInput(session_persistence=True, enabled=True)) as served:
        yield served


def test_socketio_messages_over_the_conversation_limit_get_a_chinese_answer_and_reach_nobody(socketio_server,
                                                                                             limits):
    limits(socketio_conversation=(2, 60))
    base_url, agent = socketio_server
    with socketio_client(base_url) as (sio, received, confirmed):
        sio.emit("session_request", {})
        assert confirmed.wait(10)
        for n in range(3):
            sio.emit("user_uttered", {"message": f"第{n}条"})
            wait_until(lambda: len(received["bot"]) > n)
    assert [m.text for m in agent.messages] == ["第0条", "第1条"]
    assert received["bot"][2]["text"].startswith("您发送消息太快了") and "秒后再发" in received["bot"][2]["text"]


def test_socketio_connections_over_the_address_limit_are_refused(socketio_server, limits):
    import socketio

    limits(socketio_ip=(2, 60))
    base_url, _ = socketio_server
    with socketio_client(base_url) as (sio, _received, _confirmed):
        assert sio.connected  # the first connection: one use
        with socketio_client(base_url) as (second, *_):
            assert second.connected  # the second: two
            third = socketio.Client(reconnection=False)
            errors: list = []
            third.on("connect_error", lambda data: errors.append(data))
            with pytest.raises(socketio.exceptions.ConnectionError):
                third.connect(base_url, socketio_path="/socket.io", transports=["polling"], wait_timeout=10)
    assert errors and "访问人数较多" in str(errors[0])


# -- WeChat ----------------------------------------------------------------------------------------------

_ids = itertools.count(770_000_000)


@pytest.fixture()
def wechat(db_url, monkeypatch):
    def start(aes_key=None):
        clock = FakeClock()
        fake = FakeWeChatServer()
        fake.__enter__()
        channel = wechat_channel(db_url, fake.url, aes_key=aes_key, clock=clock)
        agent = StubAgent()
        context = running_channel(channel, agent, monkeypatch)
        url, _loop = context.__enter__()
        started.append((context, fake))
        return WeChatPusher(url, aes_key=aes_key, clock=clock), agent, url

    started: list = []
    yield start
    for context, fake in reversed(started):
        context.__exit__(None, None, None)
        fake.__exit__(None, None, None)


@pytest.mark.parametrize("aes_key", [None, AES_KEY], ids=["plaintext", "safe-mode"])
def test_wechat_citizen_over_the_openid_limit_gets_a_polite_reply_and_reaches_nobody(wechat, limits, aes_key):
    limits(wechat_openid=(3, 60))
    pusher, agent, _ = wechat(aes_key)
    replies = [pusher.post(text_xml("oCitizenFast000000000001", f"消息{n}", msg_id=next(_ids))) for n in range(5)]
    assert [r.status for r in replies] == [200] * 5
    assert [r.content for r in replies[:3]] == [f"小安收到：消息{n}" for n in range(3)]
    for refused in replies[3:]:
        assert refused.content == channel_limits.WECHAT_RATE_LIMITED and refused.encrypted == bool(aes_key)
        assert refused.to_user == "oCitizenFast000000000001"
    assert agent.texts == ["消息0", "消息1", "消息2"]
    # another citizen is not affected
    other = pusher.post(text_xml("oCitizenCalm000000000002", "你好", msg_id=next(_ids)))
    assert other.content == "小安收到：你好"
    # an event over the limit is simply acknowledged
    event = pusher.post(event_xml("oCitizenFast000000000001", "subscribe", create_time=1_796_000_000))
    assert event.status == 200 and event.content is None and event.body == "success"


def test_wechat_source_address_over_its_limit_is_answered_success_before_any_work(wechat, limits, db_url):
    from sqlalchemy import func, select

    from xiaoan.channels import wechat_store as store
    from xiaoan.db import session_scope

    limits(wechat_ip=(2, 60))
    pusher, agent, url = wechat()
    first = pusher.post(text_xml("oCitizen0000000000000003", "一", msg_id=next(_ids)))
    second = pusher.post(text_xml("oCitizen0000000000000003", "二", msg_id=next(_ids)))
    assert first.content and second.content
    third = pusher.post(text_xml("oCitizen0000000000000003", "三", msg_id=next(_ids)))
    assert third.status == 200 and third.body == "success"
    # unsigned requests from that address are answered the same way, never 5xx, never 403 work
    forged = requests.post(url, data=b"<xml></xml>", timeout=10)
    assert forged.status_code == 200 and forged.text == "success"
    assert agent.texts == ["一", "二"]
    with session_scope(db_url) as session:
        nonces = session.execute(select(func.count()).select_from(store.WeChatNonce)).scalar_one()
    assert nonces == 2  # the dropped requests did not even reach the nonce memory


def test_channel_defaults_never_bite_before_the_web_apps_own_friendlier_limits():
    defaults = LimitSettings()
    per_minute = lambda limit: limit.count / limit.period * 60  # noqa: E731
    # the REST channel sees every web message: its per-sender limit sits above the web chat's
    assert per_minute(defaults.rest_sender) >= 2 * per_minute(defaults.chat_conversation)
    # socket.io citizens get the web chat's pace
    assert per_minute(defaults.socketio_conversation) >= per_minute(defaults.chat_conversation)
    # a citizen on WeChat typing on a phone: one message every 3 s for a whole minute
    assert per_minute(defaults.wechat_openid) >= 20
    # WeChat's servers carry every citizen from a small pool of addresses
    assert per_minute(defaults.wechat_ip) >= 100 * per_minute(defaults.wechat_openid) / 2
