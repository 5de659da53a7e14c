"""Security probes of the WeChat webhook (issue 12, item 2, and the WeChat parts of items 1 and 4).

Each probe speaks HTTP to the channel mounted in Rasa's own Sanic app
(``rasa.core.run.configure_app``, as ``rasa run`` mounts it), with an agent stub standing in for
the model and a fake clock for the timestamp window. What is probed:

- signatures and the ±300 s timestamp window (POST and the verification GET);
- the nonce memory shared through the database: a signed query string never works twice, also
  across processes; it expires and is cleaned up;
- the 64 KB body cap (413 before the body is read whole; chunked bodies too), with Sanic's
  REQUEST_MAX_SIZE and the nginx example in step;
- ``encrypt_type=aes`` required when an AES key is set;
- malformed fields and hostile XML → 400, never 500;
- a message over 2,000 characters: the citizen is told what was read;
- typed ``/intent`` commands never reach Rasa as commands; numbered replies still do their job;
- property-based tests (hypothesis) over the parser and the HTTP handler.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import re
import socket
import string
from typing import Any
from urllib.parse import urlencode, urlparse

import pytest
import requests
import xmltodict
from sqlalchemy import func, select

from tests.fakes.wechat_server import (
    ACCOUNT,
    AES_KEY,
    TOKEN,
    FakeClock,
    FakeWeChatServer,
    StubAgent,
    WeChatPusher,
    event_xml,
    running_channel,
    sign,
    text_xml,
    wechat_channel,
)
from xiaoan.channels import wechat_store as store
from xiaoan.channels import wechat_xml
from xiaoan.channels.wechat import MAX_USER_TEXT, TIMESTAMP_WINDOW, WeChatInput, neutralize_command
from xiaoan.channels.wechat_xml import MAX_BODY_BYTES, MalformedMessage
from xiaoan.config import PROJECT_ROOT
from xiaoan.db import session_scope

try:
    import hypothesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - depends on the environment
    hypothesis = None

HYPOTHESIS_MISSING = (
    "hypothesis is not installed in .venv (pip install hypothesis): the property-based probes "
    "of the WeChat parser and handler cannot run"
)

OPENID = "oXiaoAn_citizen_000000000001"
OTHER = "oSomeoneElse_0000000000000002"
_ids = itertools.count(880_000_000)


def next_id() -> int:
    return next(_ids)


@pytest.fixture()
def fake():
    with FakeWeChatServer() as server:
        yield server


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture()
def make_channel(db_url, fake, clock):
    def make(**kwargs: Any) -> WeChatInput:
        return wechat_channel(db_url, fake.url, **{"clock": clock, **kwargs})

    return make


@pytest.fixture()
def plain(make_channel, monkeypatch, clock):
    """A plaintext-mode channel running: (pusher, agent, webhook URL, channel, loop)."""
    agent = StubAgent()
    channel = make_channel()
    with running_channel(channel, agent, monkeypatch) as (url, loop):
        yield WeChatPusher(url, clock=clock), agent, url, channel, loop


@pytest.fixture()
def safe(make_channel, monkeypatch, clock):
    """A safe-mode channel running: (pusher, agent, webhook URL)."""
    agent = StubAgent()
    with running_channel(make_channel(aes_key=AES_KEY), agent, monkeypatch) as (url, _):
        yield WeChatPusher(url, aes_key=AES_KEY, clock=clock), agent, url


def count(url: str, model) -> int:
    with session_scope(url) as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def nothing_happened(agent: StubAgent, db_url: str) -> bool:
    return agent.received == [] and count(db_url, store.WeChatProcessedMessage) == 0


# ---------------------------------------------------------------- signatures and the timestamp window


@pytest.mark.parametrize("offset", [-TIMESTAMP_WINDOW - 1, TIMESTAMP_WINDOW + 1, -86_400, 86_400])
def test_post_with_a_timestamp_outside_the_window_is_403(plain, clock, db_url, offset):
    pusher, agent, *_ = plain
    params = pusher.signed_params(timestamp=str(int(clock()) + offset))
    reply = pusher.post(text_xml(OPENID, "你好", msg_id=next_id()), params=params)
    assert reply.status == 403
    assert nothing_happened(agent, db_url)


@pytest.mark.parametrize("offset", [-TIMESTAMP_WINDOW, TIMESTAMP_WINDOW, -299, 0])
def test_post_with_a_timestamp_inside_the_window_is_answered(plain, clock, offset):
    pusher, agent, *_ = plain
    params = pusher.signed_params(timestamp=str(int(clock()) + offset))
    reply = pusher.post(text_xml(OPENID, "你好", msg_id=next_id()), params=params)
    assert reply.status == 200 and reply.content == "小安收到：你好"
    assert agent.texts == ["你好"]


@pytest.mark.parametrize("timestamp", ["1e9", "-1", "１７９６０００００", "99999999999999999999", "", " 1796000000"])
def test_malformed_timestamps_are_403_never_500(plain, db_url, timestamp):
    pusher, agent, *_ = plain
    params = {"signature": sign(TOKEN, timestamp, "n0nce"), "timestamp": timestamp, "nonce": "n0nce"}
    reply = pusher.post(text_xml(OPENID, "你好", msg_id=next_id()), params=params)
    assert reply.status == 403
    assert nothing_happened(agent, db_url)


def test_verification_get_checks_the_window_and_works_once(plain, clock):
    pusher, *_ = plain
    old = pusher.signed_params(timestamp=str(int(clock()) - 3600), echostr="12345")
    assert pusher.verify("", params=old).status_code == 403
    fresh = pusher.signed_params(echostr="6789012345")
    first = pusher.verify("", params=fresh)
    assert first.status_code == 200 and first.text == "6789012345"
    assert pusher.verify("", params=fresh).status_code == 403  # the same signed query string again
    weird = pusher.signed_params(echostr="<script>alert(1)</script>")
    assert pusher.verify("", params=weird).status_code == 400  # only an echostr's characters are echoed


# ---------------------------------------------------------------- nonce memory


def test_same_signed_query_with_another_body_and_openid_is_403(plain, db_url):
    pusher, agent, *_ = plain
    params = pusher.signed_params()
    first = pusher.post(text_xml(OPENID, "我要投诉", msg_id=next_id()), params=params)
    assert first.status == 200
    replay = pusher.post(text_xml(OTHER, "我要举报隔壁", msg_id=next_id()), params=params)
    assert replay.status == 403
    assert agent.texts == ["我要投诉"]
    assert [m.sender_id for m in agent.received] == [OPENID]


def test_replay_reaching_another_process_is_403(make_channel, monkeypatch, clock, db_url):
    """Two channel instances (two Rasa processes) share the nonce table through the database."""
    agent_a, agent_b = StubAgent(), StubAgent()
    with running_channel(make_channel(), agent_a, monkeypatch) as (url_a, _), running_channel(
        make_channel(), agent_b, monkeypatch
    ) as (url_b, _):
        params = WeChatPusher(url_a, clock=clock).signed_params()
        assert WeChatPusher(url_a, clock=clock).post(text_xml(OPENID, "你好", msg_id=next_id()), params=params).status == 200
        replay = WeChatPusher(url_b, clock=clock).post(text_xml(OTHER, "冒充的消息", msg_id=next_id()), params=params)
    assert replay.status == 403
    assert agent_a.texts == ["你好"] and agent_b.received == []


def test_replay_in_safe_mode_is_403(safe, db_url):
    pusher, agent, _ = safe
    params, body = pusher.encrypted(text_xml(OPENID, "你好", msg_id=next_id()), pusher.signed_params())
    assert pusher.reply_of(pusher.post_raw(body.encode(), params)).content == "小安收到：你好"
    _, other_body = pusher.encrypted(text_xml(OTHER, "冒充", msg_id=next_id()), params)
    replay = pusher.post_raw(other_body.encode(), params)
    assert replay.status_code == 403
    assert agent.texts == ["你好"]


def test_identical_repeat_runs_nothing_and_gives_no_content(plain, fake):
    """Byte for byte the same request (WeChat retrying, or a captured request played again): the
    assistant does not run again and the HTTP answer carries nothing; the lost passive reply goes
    to the real sender through the customer-service API, once."""
    pusher, agent, _, channel, loop = plain
    params = pusher.signed_params()
    body = text_xml(OPENID, "预付卡退款", msg_id=next_id()).encode()
    first = pusher.reply_of(pusher.post_raw(body, params))
    assert first.content == "小安收到：预付卡退款"
    repeats = [pusher.post_raw(body, params) for _ in range(3)]
    assert [(r.status_code, r.text) for r in repeats] == [(200, "success")] * 3
    [sent] = fake.wait_for_messages(1)
    assert (sent.touser, sent.content) == (OPENID, "小安收到：预付卡退款")
    asyncio.run_coroutine_threadsafe(channel.idle(5), loop).result(10)
    assert len(fake.messages) == 1
    assert agent.texts == ["预付卡退款"]


def test_nonces_expire_and_are_cleaned_up(plain, clock, db_url):
    pusher, agent, _, channel, loop = plain
    params = pusher.signed_params()
    assert pusher.post(text_xml(OPENID, "第一条", msg_id=next_id()), params=params).status == 200
    assert count(db_url, store.WeChatNonce) == 1
    with session_scope(db_url) as session:
        [row] = session.execute(select(store.WeChatNonce)).scalars().all()
        assert row.expires_at >= dt.datetime.fromtimestamp(int(params["timestamp"]) + TIMESTAMP_WINDOW, tz=dt.timezone.utc)
    clock.advance(TIMESTAMP_WINDOW + 120)
    # the old query string is now refused by the window itself (the record may go)
    assert pusher.post(text_xml(OTHER, "重放", msg_id=next_id()), params=params).status == 403
    assert pusher.post(text_xml(OPENID, "第二条", msg_id=next_id())).status == 200  # triggers the cleanup
    asyncio.run_coroutine_threadsafe(channel.idle(5), loop).result(10)
    with session_scope(db_url) as session:
        left = session.execute(select(store.WeChatNonce.expires_at)).scalars().all()
    now = dt.datetime.fromtimestamp(clock(), tz=dt.timezone.utc)
    assert len(left) == 1 and left[0] > now  # only the fresh request's record is kept
    assert agent.texts == ["第一条", "第二条"]


def test_claim_nonce_and_prune_in_the_store(db_url):
    t0 = dt.datetime(2026, 12, 5, 1, 0, tzinfo=dt.timezone.utc)
    expires = t0 + dt.timedelta(seconds=360)
    assert store.claim_nonce(db_url, "k1", "b1", expires, t0) == store.NONCE_NEW
    assert store.claim_nonce(db_url, "k1", "b1", expires, t0) == store.NONCE_REPEAT
    assert store.claim_nonce(db_url, "k1", "b2", expires, t0) == store.NONCE_REPLAY
    assert store.claim_nonce(db_url, "k2", "b1", t0 + dt.timedelta(hours=1), t0) == store.NONCE_NEW
    assert store.prune_nonces(db_url, t0 + dt.timedelta(seconds=359)) == 0
    assert store.prune_nonces(db_url, t0 + dt.timedelta(seconds=361)) == 1
    assert count(db_url, store.WeChatNonce) == 1


# ---------------------------------------------------------------- body size


def test_a_signed_1mb_body_is_413_and_not_parsed(plain, db_url):
    pusher, agent, *_ = plain
    huge = text_xml(OPENID, "长" * 350_000, msg_id=next_id()).encode()  # ~1 MB
    resp = pusher.post_raw(huge, pusher.signed_params())
    assert resp.status_code == 413
    assert nothing_happened(agent, db_url) and count(db_url, store.WeChatNonce) == 0


def test_a_chunked_body_over_the_cap_is_413(plain, db_url):
    pusher, agent, *_ = plain
    body = text_xml(OPENID, "长" * 40_000, msg_id=next_id()).encode()  # ~120 KB, no Content-Length
    chunks = (body[i : i + 8192] for i in range(0, len(body), 8192))
    resp = pusher.post_raw(chunks, pusher.signed_params())  # requests sends a generator chunked
    assert resp.status_code == 413
    assert nothing_happened(agent, db_url)


def test_a_declared_huge_length_is_refused_before_the_body_is_sent(plain):
    pusher, _, url, *_ = plain
    parsed = urlparse(url)
    query = urlencode(pusher.signed_params())
    request = (
        f"POST {parsed.path}?{query} HTTP/1.1\r\nHost: {parsed.netloc}\r\n"
        f"Content-Type: text/xml\r\nContent-Length: {50 * 1024 * 1024}\r\n\r\n<xml>"
    ).encode()
    with socket.create_connection((parsed.hostname, parsed.port), timeout=10) as sock:
        sock.sendall(request)
        head = sock.recv(4096).decode("latin-1")
    assert head.startswith("HTTP/1.1 413")


def test_a_body_at_the_cap_is_read(plain):
    pusher, agent, *_ = plain
    base = text_xml(OPENID, "", msg_id=next_id())
    filler = "a" * (MAX_BODY_BYTES - len(base.encode()))
    body = text_xml(OPENID, filler, msg_id=next_id()).encode()
    assert len(body) <= MAX_BODY_BYTES
    resp = pusher.post_raw(body, pusher.signed_params())
    assert resp.status_code == 200
    assert len(agent.received[0].text) <= MAX_USER_TEXT


def test_sanic_request_max_size_comes_from_the_environment(monkeypatch):
    """The process-wide cap of the Rasa server (docs/deploy/README.md) is set by SANIC_REQUEST_MAX_SIZE."""
    from rasa.core.run import configure_app
    from sanic import Sanic

    monkeypatch.setattr(Sanic, "test_mode", True)
    monkeypatch.setenv("SANIC_REQUEST_MAX_SIZE", "2097152")
    app = configure_app(input_channels=[], enable_api=False, route="/webhooks/", use_uvloop=False)
    assert app.config.REQUEST_MAX_SIZE == 2_097_152


def test_the_nginx_example_caps_the_webhook_like_the_channel():
    conf = (PROJECT_ROOT / "docs" / "deploy" / "nginx-wechat.conf").read_text(encoding="utf-8")
    block = conf[conf.index("location /webhooks/wechat/") :]
    block = block[: block.index("\n    }\n")]
    size = re.search(r"client_max_body_size\s+(\d+)([kKmM]?);", block)
    assert size, "the WeChat location must set client_max_body_size"
    factor = {"": 1, "k": 1024, "m": 1024 * 1024}[size.group(2).lower()]
    assert int(size.group(1)) * factor == MAX_BODY_BYTES
    assert re.search(r"proxy_read_timeout\s+([6-9]|[1-9]\d)s;", block)  # above WeChat's 5 s
    assert "proxy_pass http://127.0.0.1:5005" in block


# ---------------------------------------------------------------- safe mode is required with a key


@pytest.mark.parametrize("encrypt_type", [None, "raw", ""])
def test_plaintext_is_refused_when_an_aes_key_is_set(safe, db_url, encrypt_type):
    pusher, agent, _ = safe
    params = pusher.signed_params()
    if encrypt_type is not None:
        params["encrypt_type"] = encrypt_type
    resp = pusher.post_raw(text_xml(OPENID, "你好", msg_id=next_id()).encode(), params)
    assert resp.status_code == 403
    assert nothing_happened(agent, db_url)


def test_encrypted_messages_still_work_in_safe_mode(safe):
    pusher, agent, _ = safe
    reply = pusher.post(text_xml(OPENID, "你好", msg_id=next_id()))
    assert reply.status == 200 and reply.encrypted and reply.content == "小安收到：你好"


# ---------------------------------------------------------------- malformed fields and hostile XML


def _fields(**overrides: Any) -> str:
    fields = {"ToUserName": ACCOUNT, "FromUserName": OPENID, "CreateTime": "1796000000", "MsgType": "text",
              "Content": "你好", "MsgId": str(next_id())}
    for key, value in overrides.items():
        if value is None:
            fields.pop(key, None)
        else:
            fields[key] = value
    return xmltodict.unparse({"xml": fields}, full_document=False)


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa">'
    + "".join(f'<!ENTITY {chr(98 + i)} "' + f"&{chr(97 + i)};" * 10 + '">' for i in range(8))
    + "]><xml><ToUserName>gh_1</ToUserName><FromUserName>oX</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>text</MsgType><Content>&i;</Content><MsgId>1</MsgId></xml>"
)
XXE = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    "<xml><ToUserName>gh_1</ToUserName><FromUserName>oX</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>text</MsgType><Content>&x;</Content><MsgId>1</MsgId></xml>"
)
MALFORMED = {
    "msgid-not-numeric": _fields(MsgId="abc"),
    "msgid-negative": _fields(MsgId="-1"),
    "msgid-over-64-bit": _fields(MsgId=str(2**64)),
    "msgid-nested": _fields(MsgId={"a": "1"}),
    "fromuser-nested": _fields(FromUserName={"openid": OPENID}),
    "fromuser-empty": _fields(FromUserName=""),
    "fromuser-missing": _fields(FromUserName=None),
    "fromuser-twice": _fields().replace("</xml>", f"<FromUserName>{OTHER}</FromUserName></xml>"),
    "fromuser-cdata-injection": _fields(FromUserName="o]]><x>"),
    "createtime-huge": _fields(CreateTime="9" * 30),
    "createtime-year-3000": _fields(CreateTime="32503680000"),
    "createtime-not-numeric": _fields(CreateTime="yesterday"),
    "msgtype-missing": _fields(MsgType=None),
    "msgtype-nested": _fields(MsgType={"t": "text"}),
    "content-nested": _fields(Content={"b": "粗体"}),
    "event-without-event": _fields(MsgType="event", Content=None),
    "not-xml": "this is not xml",
    "truncated-xml": _fields()[:-5],
    "empty-body": "",
    "other-root": _fields().replace("<xml>", "<doc>").replace("</xml>", "</doc>"),
    "billion-laughs": BILLION_LAUGHS,
    "xxe": XXE,
    "dtd-only": '<!DOCTYPE xml SYSTEM "http://example.invalid/x.dtd">' + _fields(),
    "deep-nesting": "<xml><Content>" + "<a>" * 50_00 + "</a>" * 50_00 + "</Content></xml>",
    "nul-reference": _fields(Content="a&#0;b").replace("&amp;#0;", "&#0;"),
    "surrogate-reference": _fields(Content="a&#xD800;b").replace("&amp;#xD800;", "&#xD800;"),
    "control-character": _fields(Content="a\x01b").replace("\x01", "&#1;"),
}
RAW_MALFORMED = {
    "nul-byte": _fields(Content="a\x00b").encode("utf-8"),
    "lone-surrogate-bytes": _fields(Content="a\ud800b").encode("utf-8", "surrogatepass"),
    "gbk-encoded": ('<?xml version="1.0" encoding="GBK"?>' + _fields(Content="你好")).encode("gbk"),
    "latin1-bytes": _fields(Content="caf\xe9").encode("latin-1"),
}


@pytest.mark.parametrize("body", list(MALFORMED.values()) + list(RAW_MALFORMED.values()),
                         ids=list(MALFORMED) + list(RAW_MALFORMED))
def test_malformed_plaintext_is_400_never_500(plain, db_url, body):
    pusher, agent, *_ = plain
    data = body if isinstance(body, bytes) else body.encode("utf-8")
    resp = pusher.post_raw(data, pusher.signed_params())
    assert resp.status_code == 400, resp.text
    assert nothing_happened(agent, db_url)


@pytest.mark.parametrize("name", ["msgid-not-numeric", "fromuser-nested", "createtime-huge", "billion-laughs"])
def test_malformed_decrypted_messages_are_400_in_safe_mode(safe, db_url, name):
    pusher, agent, _ = safe
    params, body = pusher.encrypted(MALFORMED[name], pusher.signed_params())
    resp = pusher.post_raw(body.encode(), params)
    assert resp.status_code == 400
    assert nothing_happened(agent, db_url)


def test_hostile_envelopes_in_safe_mode_are_refused(safe, db_url):
    pusher, agent, _ = safe
    for body in (BILLION_LAUGHS, XXE, "<xml><Encrypt><x>1</x></Encrypt></xml>", "<xml><Encrypt>%%%</Encrypt></xml>"):
        params = pusher.signed_params(encrypt_type="aes", msg_signature="0" * 40)
        assert pusher.post_raw(body.encode(), params).status_code in (400, 403)
    assert nothing_happened(agent, db_url)


def test_events_with_a_huge_createtime_are_400(plain, db_url):
    pusher, agent, *_ = plain
    xml = event_xml(OPENID, "subscribe", create_time=1).replace("<CreateTime>1</CreateTime>", "<CreateTime>" + "9" * 25 + "</CreateTime>")
    assert pusher.post_raw(xml.encode(), pusher.signed_params()).status_code == 400
    assert nothing_happened(agent, db_url)


# ---------------------------------------------------------------- over-long messages


def short_answer(_text: str) -> list[dict]:
    return [{"text": "已收到您的来信。"}]


def test_a_message_over_2000_characters_is_cut_and_the_citizen_told(make_channel, monkeypatch, clock):
    agent = StubAgent(responder=short_answer)
    with running_channel(make_channel(), agent, monkeypatch) as (url, _):
        pusher = WeChatPusher(url, clock=clock)
        sentence = "我在浦东新区某健身房办了预付卡，老板跑路了，卡里还有两千元。"  # 30 characters
        text = sentence * 80 + "最后这一段不会被读到。"  # 2411 characters
        reply = pusher.post(text_xml(OPENID, text, msg_id=next_id()))
    [received] = agent.received
    assert len(received.text) <= MAX_USER_TEXT and text.startswith(received.text)
    assert received.text.endswith("。")  # cut at a sentence end, not in the middle of a word
    assert received.metadata["wechat"]["cut"] == {"total": len(text), "kept": len(received.text)}
    notice, answer = reply.content.split("\n\n")
    assert f"共{len(text)}字" in notice and f"前{len(received.text)}字" in notice and "2000" in notice
    assert f"后面{len(text) - len(received.text)}字没有读到" in notice
    assert f"读到“{received.text[-12:]}”为止" in notice
    assert answer == "已收到您的来信。"  # the notice first, then the assistant's answer, in one reply


def test_a_message_of_exactly_2000_characters_is_not_cut(plain):
    pusher, agent, *_ = plain
    text = "字" * MAX_USER_TEXT
    reply = pusher.post(text_xml(OPENID, text, msg_id=next_id()))
    assert agent.texts == [text]
    assert "超过" not in reply.content


def test_a_long_message_in_safe_mode_is_cut_with_the_notice(make_channel, monkeypatch, clock):
    agent = StubAgent(responder=short_answer)
    with running_channel(make_channel(aes_key=AES_KEY), agent, monkeypatch) as (url, _):
        text = "商家不退款。" * 400  # 2400 characters
        reply = WeChatPusher(url, aes_key=AES_KEY, clock=clock).post(text_xml(OPENID, text, msg_id=next_id()))
    assert reply.encrypted and f"共{len(text)}字" in reply.content and reply.content.endswith("已收到您的来信。")
    [kept] = agent.texts
    assert len(kept) <= MAX_USER_TEXT and kept.endswith("。") and text.startswith(kept)


# ---------------------------------------------------------------- typed commands


COMMANDS = [
    "/greet",
    " /greet",
    "\u3000/request_human",
    "\n/restart",
    "//session_start",
    "／greet",
    "/ /greet",
    '/inform{"phone": "13800000000"}',
    '/complain_general{"respondent_name": "某店"}@1.0',
]


@pytest.mark.parametrize("typed", COMMANDS)
def test_typed_commands_never_reach_rasa_as_commands(plain, typed):
    pusher, agent, *_ = plain
    pusher.post(text_xml(OPENID, typed, msg_id=next_id()))
    for message in agent.received:
        assert not message.text.strip().startswith("/"), message.text
    assert len(agent.received) <= 1


def test_numbered_replies_still_send_the_button_payload(plain):
    pusher, agent, *_ = plain
    menu = pusher.post(event_xml(OPENID, "subscribe", create_time=1_796_000_000))
    assert "1. 我要投诉" in menu.content
    pusher.post(text_xml(OPENID, "2", msg_id=next_id()))
    assert agent.texts == ["/greet", "/report_violation"]


def test_neutralize_command_examples():
    assert neutralize_command("/greet") == "greet"
    assert neutralize_command("  // ／ restart ") == "restart"
    assert neutralize_command("我要投诉 /greet") == "我要投诉 /greet"  # only a leading command matters
    assert neutralize_command("///") == ""


# ---------------------------------------------------------------- property-based (hypothesis)

if hypothesis is not None:
    ANY_CHAR = st.characters(blacklist_categories=())  # includes surrogates and control characters
    FIELD_TEXT = st.text(ANY_CHAR, max_size=40) | st.sampled_from(["", "0", "-1", str(2**64), "9" * 30, "1796000000"])

    def _raw_field(name: str, value: str) -> str:
        escaped = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return f"<{name}>{escaped}</{name}>"

    @st.composite
    def wechat_bodies(draw) -> bytes:
        """Bodies near a real text message: any field may be missing, nested, odd or hostile."""
        parts = []
        for name, good in (("ToUserName", ACCOUNT), ("FromUserName", OPENID), ("CreateTime", "1796000000"),
                           ("MsgType", "text"), ("Content", "你好"), ("MsgId", "123")):
            choice = draw(st.sampled_from(["good", "good", "odd", "missing", "nested"]))
            if choice == "good":
                parts.append(_raw_field(name, good))
            elif choice == "odd":
                parts.append(_raw_field(name, draw(FIELD_TEXT)))
            elif choice == "nested":
                parts.append(f"<{name}><x>{draw(st.sampled_from(['1', 'a', '']))}</x></{name}>")
        body = "<xml>" + "".join(draw(st.permutations(parts))) + "</xml>"
        return body.encode("utf-8", "surrogatepass")

    @settings(max_examples=400, deadline=None)
    @given(st.one_of(st.binary(max_size=300), wechat_bodies()))
    def test_property_parser_accepts_only_well_formed_messages(body):
        try:
            fields = wechat_xml.read_message(body)
        except MalformedMessage:
            return
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", fields["FromUserName"])
        assert 0 < int(fields["CreateTime"]) <= wechat_xml.MAX_CREATE_TIME
        assert "MsgId" not in fields or 0 <= int(fields["MsgId"]) < 2**64
        for value in fields.values():
            assert isinstance(value, str)
            assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]", value)
        message = wechat_xml.to_wechatpy(fields)
        assert message.source == fields["FromUserName"]

    SLASHY_TEXT = st.text(st.sampled_from("/／ \u3000\n\t\x0b\x1c\x85\u2028\u200ba字1"), max_size=10) | st.builds(
        lambda space, slash, rest: space + slash + rest,  # a command behind whitespace: the classic bypass
        st.text(st.sampled_from(" \u3000\n\t\u2028"), max_size=3),
        st.sampled_from(["/", "／", "//", "/ "]),
        st.text(st.sampled_from(string.ascii_letters + '_{}":@.0123456789'), max_size=20),
    )

    @settings(max_examples=300, deadline=None)
    @given(st.text(ANY_CHAR, max_size=80) | SLASHY_TEXT)
    def test_property_neutralized_text_is_never_a_command(text):
        assert not neutralize_command(text).strip().startswith("/")

    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(body=wechat_bodies(), content=st.text(ANY_CHAR, max_size=60) | SLASHY_TEXT, use_content=st.booleans())
    def test_property_http_handler_never_answers_5xx(plain, body, content, use_content):
        """Either a hostile body, or a valid message whose Content is anything at all."""
        pusher, agent, *_ = plain
        before = len(agent.received)
        if use_content:
            body = _fields(Content=content).encode("utf-8", "surrogatepass")
        resp = pusher.post_raw(body, pusher.signed_params())
        assert resp.status_code in (200, 400), (resp.status_code, resp.text[:200])
        for message in agent.received[before:]:
            assert len(message.text) <= MAX_USER_TEXT
            assert not message.text.strip().startswith("/")
            assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]", message.text)

else:  # pragma: no cover - only without hypothesis

    @pytest.mark.skip(reason=HYPOTHESIS_MISSING)
    def test_property_parser_accepts_only_well_formed_messages():
        pass

    @pytest.mark.skip(reason=HYPOTHESIS_MISSING)
    def test_property_neutralized_text_is_never_a_command():
        pass

    @pytest.mark.skip(reason=HYPOTHESIS_MISSING)
    def test_property_http_handler_never_answers_5xx():
        pass
