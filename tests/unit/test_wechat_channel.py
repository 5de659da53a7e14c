"""The WeChat channel end to end: WeChat (a signing, encrypting fake) → Rasa's Sanic app with the
channel mounted by ``rasa.core.run.configure_app`` → an agent stub → the fake WeChat API.

The agent stub stands in for Rasa's agent (``app.ctx.agent.handle_message``): it records the
messages and answers through the message's output channel; a gated stub holds its answer until the
test releases it (a slow assistant without clocks).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pytest
import requests
from rasa.shared.exceptions import RasaException
from sqlalchemy import func, select

from tests.fakes.wechat_server import (
    AES_KEY,
    APPID,
    SECRET,
    TOKEN,
    FakeWeChatServer,
    StubAgent,
    WeChatPusher,
    event_xml,
    image_xml,
    link_xml,
    location_xml,
    raw_type_xml,
    running_channel,
    text_xml,
    voice_xml,
    wechat_channel,
)
from tests.waiting import wait_until
from xiaoan.channels import wechat_store as store
from xiaoan.channels.wechat import ChannelTexts, WeChatInput, WeChatOutput, match_choice
from xiaoan.channels.wechat_replies import compose
from xiaoan.db import session_scope

OPENID = "oXiaoAn_citizen_000000000001"
TEXTS = ChannelTexts.load()
GREETING = StubAgent.GREETING
GREETING_BUTTONS = StubAgent.GREETING_BUTTONS


@pytest.fixture()
def fake():
    with FakeWeChatServer() as server:
        yield server


@pytest.fixture()
def make_channel(db_url, fake):
    def make(**kwargs: Any) -> WeChatInput:
        return wechat_channel(db_url, fake.url, **kwargs)

    return make


running = running_channel


def settle(channel: WeChatInput, loop: asyncio.AbstractEventLoop) -> None:
    """Wait for the channel's background work (late answers) to finish."""
    asyncio.run_coroutine_threadsafe(channel.idle(10), loop).result(15)


def count(url: str, model) -> int:
    with session_scope(url) as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def rows(url: str, model) -> list:
    with session_scope(url) as session:
        return session.execute(select(model).order_by(model.id)).scalars().all()


# ---------------------------------------------------------------- verification and signatures


def test_get_verification_echoes_echostr_only_with_a_valid_signature(make_channel, monkeypatch):
    with running(make_channel(), StubAgent(), monkeypatch) as (url, _):
        pusher = WeChatPusher(url)
        ok = pusher.verify("echo-1234567890")
        assert ok.status_code == 200 and ok.text == "echo-1234567890"
        assert ok.headers["content-type"].startswith("text/plain")
        bad = pusher.signed_params(echostr="echo")
        bad["signature"] = "0" * 40
        assert pusher.verify("", params=bad).status_code == 403
        non_ascii = pusher.signed_params(echostr="echo")
        non_ascii["signature"] = "签名" * 20
        assert pusher.verify("", params=non_ascii).status_code == 403
        missing = {"echostr": "echo", "timestamp": "1", "nonce": "2"}
        assert pusher.verify("", params=missing).status_code == 403


@pytest.mark.parametrize("aes_key", [None, AES_KEY], ids=["plaintext", "safe"])
def test_post_with_bad_or_missing_signature_is_403_and_nothing_happens(make_channel, monkeypatch, db_url, aes_key):
    agent = StubAgent()
    with running(make_channel(aes_key=aes_key), agent, monkeypatch) as (url, _):
        pusher = WeChatPusher(url, aes_key=aes_key)
        xml = text_xml(OPENID, "你好", msg_id=1001)
        wrong = pusher.signed_params()
        wrong["signature"] = "f" * 40
        assert pusher.post(xml, params=wrong).status == 403
        assert pusher.post(xml, params={"timestamp": "1", "nonce": "n"}).status == 403
        other_token = WeChatPusher(url, token="not-our-token", aes_key=aes_key)
        assert other_token.post(xml).status == 403
        if aes_key:  # valid signature, but msg_signature missing or wrong
            params = pusher.signed_params(encrypt_type="aes")
            assert pusher.post(xml, params=params).status == 403
            params = pusher.signed_params(encrypt_type="aes", msg_signature="0" * 40)
            assert pusher.post(xml, params=params).status == 403
    assert agent.received == []
    assert count(db_url, store.WeChatProcessedMessage) == 0
    assert count(db_url, store.WeChatUser) == 0


# ---------------------------------------------------------------- modes


def test_plaintext_text_message_gets_a_passive_reply(make_channel, monkeypatch, fake):
    agent = StubAgent()
    with running(make_channel(), agent, monkeypatch) as (url, _):
        reply = WeChatPusher(url).post(text_xml(OPENID, "网上买的衣服商家不给退款", msg_id=2001))
    assert reply.status == 200 and not reply.encrypted
    assert reply.content == "小安收到：网上买的衣服商家不给退款"
    assert reply.to_user == OPENID
    [message] = agent.received
    assert (message.sender_id, message.input_channel) == (OPENID, "wechat")
    assert message.metadata["wechat"]["msg_type"] == "text"
    assert isinstance(message.output_channel, WeChatOutput) and message.output_channel.name() == "wechat"
    assert fake.messages == [] and fake.token_fetches == 0  # a passive reply needs no API


def test_safe_mode_decrypts_the_message_and_encrypts_the_reply(make_channel, monkeypatch):
    agent = StubAgent()
    with running(make_channel(aes_key=AES_KEY), agent, monkeypatch) as (url, _):
        pusher = WeChatPusher(url, aes_key=AES_KEY)
        reply = pusher.post(text_xml(OPENID, "健身房老板跑路了", msg_id=3001))
    assert reply.status == 200 and reply.encrypted
    assert "健身房" not in reply.body and "小安收到" not in reply.body  # nothing readable on the wire
    assert reply.content == "小安收到：健身房老板跑路了"
    assert agent.texts == ["健身房老板跑路了"]


def test_safe_mode_rejects_a_message_encrypted_for_another_account(make_channel, monkeypatch, db_url):
    agent = StubAgent()
    with running(make_channel(aes_key=AES_KEY), agent, monkeypatch) as (url, _):
        stranger = WeChatPusher(url, aes_key=AES_KEY, appid="wx_another_account_01")
        assert stranger.post(text_xml(OPENID, "你好", msg_id=3002)).status == 403
    assert agent.received == [] and count(db_url, store.WeChatProcessedMessage) == 0


# ---------------------------------------------------------------- exactly once


def test_same_msgid_three_times_is_processed_once(make_channel, monkeypatch, fake, db_url):
    agent = StubAgent()
    with running(make_channel(), agent, monkeypatch) as (url, _):
        pusher = WeChatPusher(url)
        xml = text_xml(OPENID, "我要投诉", msg_id=4001)
        replies = [pusher.post(xml) for _ in range(3)]
    assert agent.texts == ["我要投诉"]
    assert [r.content for r in replies] == ["小安收到：我要投诉"] * 3  # WeChat retried: it lost the first
    assert count(db_url, store.WeChatProcessedMessage) == 1
    assert fake.messages == []


def test_retry_while_the_first_is_processing_waits_for_it_in_another_process(make_channel, monkeypatch):
    """Two channel instances (two processes) share the database: the retry must not run again."""
    agent_a, agent_b = StubAgent(gated=True), StubAgent()
    xml = text_xml(OPENID, "预付卡退款", msg_id=4002)
    polled = threading.Event()            # the retry looked at the first one's progress
    message_state = store.message_state

    def watched(*args, **kwargs):
        polled.set()
        return message_state(*args, **kwargs)

    monkeypatch.setattr(store, "message_state", watched)
    # the budgets are generous bounds: the order of events is set by the gate, not by time
    with running(make_channel(reply_budget=30.0), agent_a, monkeypatch) as (url_a, _), running(
        make_channel(reply_budget=30.0), agent_b, monkeypatch
    ) as (url_b, _):
        replies: dict[str, Any] = {}
        first = threading.Thread(target=lambda: replies.update(first=WeChatPusher(url_a).post(xml)))
        first.start()
        assert agent_a.started.wait(30)    # the first delivery is being answered...
        retry = threading.Thread(target=lambda: replies.update(retry=WeChatPusher(url_b).post(xml)))
        retry.start()
        assert polled.wait(30)             # ...and the retry is waiting for it
        assert "retry" not in replies
        agent_a.release()
        first.join(30)
        retry.join(30)
    assert agent_a.texts == ["预付卡退款"] and agent_b.received == []
    assert replies["first"].content == replies["retry"].content == "小安收到：预付卡退款"


def test_retry_that_gives_up_hands_the_answer_to_the_api(make_channel, monkeypatch, fake, db_url):
    """The retry's budget runs out first: it answers "success"; the first run then uses the API."""
    agent_a, agent_b = StubAgent(gated=True), StubAgent()
    channel_a = make_channel(reply_budget=30.0)
    xml = text_xml(OPENID, "商家不退押金", msg_id=4003)
    with running(channel_a, agent_a, monkeypatch) as (url_a, loop_a), running(
        make_channel(reply_budget=0.4), agent_b, monkeypatch
    ) as (url_b, _):
        first: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: first.update(reply=WeChatPusher(url_a).post(xml)))
        thread.start()
        assert agent_a.started.wait(30)
        retry = WeChatPusher(url_b).post(xml)   # the first is held: the retry's budget runs out
        assert not agent_a.answered.is_set()
        agent_a.release()
        thread.join(30)
        settle(channel_a, loop_a)
    assert retry.content is None and retry.body == "success"
    assert first["reply"].content is None  # its passive reply would go to a connection WeChat left
    assert [m.content for m in fake.messages] == ["小安收到：商家不退押金"]
    assert agent_a.texts == ["商家不退押金"] and agent_b.received == []
    assert store.message_state(db_url, "msg:4003")[0] == store.STATUS_DONE


def test_slow_assistant_acknowledges_then_answers_through_the_api(make_channel, monkeypatch, fake, db_url):
    agent = StubAgent(gated=True)
    channel = make_channel(reply_budget=0.3)
    with running(channel, agent, monkeypatch) as (url, loop):
        pusher = WeChatPusher(url)
        xml = text_xml(OPENID, "投诉多久会有结果", msg_id=5001)
        reply = pusher.post(xml)
        assert reply.status == 200 and reply.body == "success" and reply.content is None
        assert agent.started.is_set() and not agent.answered.is_set()  # answered before the assistant finished
        assert fake.messages == []
        agent.release()
        [sent] = fake.wait_for_messages(1)
        settle(channel, loop)
        again = pusher.post(xml)  # a late retry of an answer already sent through the API
    assert (sent.touser, sent.content) == (OPENID, "小安收到：投诉多久会有结果")
    assert again.body == "success"
    assert agent.texts == ["投诉多久会有结果"]
    assert len(fake.messages) == 1
    assert store.message_state(db_url, "msg:5001")[0] == store.STATUS_DONE


def test_wechat_hanging_up_moves_the_answer_to_the_api(make_channel, monkeypatch, fake, db_url, caplog):
    """WeChat stops waiting (its 5 s) before the assistant is done: the answer is not lost."""
    caplog.set_level(logging.WARNING, logger="xiaoan.channels.wechat")
    agent = StubAgent(gated=True)
    channel = make_channel(reply_budget=30.0)
    with running(channel, agent, monkeypatch) as (url, loop):
        pusher = WeChatPusher(url)
        xml = text_xml(OPENID, "在吗", msg_id=5601)
        with pytest.raises(requests.Timeout):
            pusher.post(xml, timeout=0.3)  # the assistant is held: this client always gives up first
        wait_until(lambda: "WeChat hung up" in caplog.text, what="the channel noticing the hang-up")
        agent.release()
        [sent] = fake.wait_for_messages(1)
        settle(channel, loop)
        retry = pusher.post(xml)
    assert sent.content == "小安收到：在吗"
    assert retry.body == "success"
    assert agent.texts == ["在吗"]
    assert store.message_state(db_url, "msg:5601")[0] == store.STATUS_DONE


def test_slow_turn_with_several_messages_is_one_api_message(make_channel, monkeypatch, fake):
    agent = StubAgent(gated=True, responder=lambda text: [{"text": "第一段"}, {"text": "第二段"}, {"text": "第三段"}])
    channel = make_channel(reply_budget=0.2)
    with running(channel, agent, monkeypatch) as (url, loop):
        assert WeChatPusher(url).post(text_xml(OPENID, "你好", msg_id=5002)).body == "success"
        agent.release()
        fake.wait_for_messages(1)
        settle(channel, loop)
    assert [m.content for m in fake.messages] == ["第一段\n\n第二段\n\n第三段"]


def test_fast_turn_with_several_messages_is_one_passive_reply(make_channel, monkeypatch):
    agent = StubAgent(responder=lambda text: [{"text": "第一段"}, {"text": "第二段"}])
    with running(make_channel(), agent, monkeypatch) as (url, _):
        reply = WeChatPusher(url).post(text_xml(OPENID, "你好", msg_id=5003))
    assert reply.content == "第一段\n\n第二段"


def test_expired_token_during_a_late_answer_is_refreshed_and_retried(make_channel, monkeypatch, fake):
    agent = StubAgent(gated=True)
    channel = make_channel(reply_budget=0.1)
    with running(channel, agent, monkeypatch) as (url, loop):
        pusher = WeChatPusher(url)
        assert pusher.post(text_xml(OPENID, "第一问", msg_id=5101)).body == "success"
        agent.release()
        fake.wait_for_messages(1)
        settle(channel, loop)
        first_token = fake.current_token
        fake.expire_token()
        agent.hold()
        assert pusher.post(text_xml(OPENID, "第二问", msg_id=5102)).body == "success"
        agent.release()
        fake.wait_for_messages(2)
        settle(channel, loop)
    assert [m.content for m in fake.messages] == ["小安收到：第一问", "小安收到：第二问"]
    assert fake.token_fetches == 2 and fake.messages[1].access_token != first_token


def test_45015_on_a_late_answer_is_recorded_as_undelivered(make_channel, monkeypatch, fake, db_url):
    fake.reject_openid(OPENID, 45015)
    channel = make_channel(reply_budget=0.1)
    agent = StubAgent(gated=True)
    with running(channel, agent, monkeypatch) as (url, loop):
        assert WeChatPusher(url).post(text_xml(OPENID, "还在吗", msg_id=5201)).body == "success"
        agent.release()
        assert agent.answered.wait(30)
        settle(channel, loop)
    [row] = rows(db_url, store.WeChatUndeliveredMessage)
    assert (row.openid, row.text, row.reason, row.source) == (OPENID, "小安收到：还在吗", "api_45015", "assistant")
    assert fake.messages == []


def test_long_late_answer_uses_at_most_five_messages_and_records_the_rest(make_channel, monkeypatch, fake, db_url):
    line = "请您保留好购物凭证、聊天记录和付款截图，这些都是维权的重要证据。"  # ~96 bytes
    long_answer = "\n".join([line] * 150)  # ~14 KB: 7 messages of at most 2048 bytes
    channel = make_channel(reply_budget=0.1)
    agent = StubAgent(gated=True, responder=lambda text: [{"text": long_answer}])
    with running(channel, agent, monkeypatch) as (url, loop):
        assert WeChatPusher(url).post(text_xml(OPENID, "怎么维权", msg_id=5301)).body == "success"
        agent.release()
        fake.wait_for_messages(5)
        settle(channel, loop)
    sent = [m.content for m in fake.messages]
    assert len(sent) == 5 and all(len(c.encode("utf-8")) <= 2048 for c in sent)
    undelivered = rows(db_url, store.WeChatUndeliveredMessage)
    assert undelivered and {r.reason for r in undelivered} == {"budget_exhausted"}
    assert "\n".join(sent + [r.text for r in undelivered]) == long_answer  # split at line breaks, nothing lost


def test_long_fast_answer_replies_the_first_part_and_sends_the_rest(make_channel, monkeypatch, fake):
    line = "七日无理由退货自收到商品之日起计算，商品应当完好。"
    long_answer = "\n".join([line] * 80)  # ~5.8 KB
    channel = make_channel()
    with running(channel, StubAgent(responder=lambda text: [{"text": long_answer}]), monkeypatch) as (url, loop):
        reply = WeChatPusher(url).post(text_xml(OPENID, "七天无理由", msg_id=5401))
        fake.wait_for_messages(2)
        settle(channel, loop)
    assert len(reply.content.encode("utf-8")) <= 2048
    rest = [m.content for m in fake.messages]
    assert "\n".join([reply.content, *rest]) == long_answer


def test_assistant_failure_gets_an_apology(make_channel, monkeypatch):
    with running(make_channel(), StubAgent(fail=True), monkeypatch) as (url, _):
        reply = WeChatPusher(url).post(text_xml(OPENID, "你好", msg_id=5501))
    assert reply.content == TEXTS.error


# ---------------------------------------------------------------- buttons


def test_buttons_become_numbered_choices_and_a_number_sends_the_payload(make_channel, monkeypatch):
    agent = StubAgent()
    with running(make_channel(), agent, monkeypatch) as (url, _):
        pusher = WeChatPusher(url)
        menu = pusher.post(event_xml(OPENID, "subscribe", create_time=1_700_000_000))
        second = pusher.post(text_xml(OPENID, "2", msg_id=6001))
        pusher.post(text_xml(OPENID, "/greet", msg_id=6002))  # typed, not a button: no command
        pusher.post(text_xml(OPENID, "我要投诉", msg_id=6003))  # no choices now: plain text
        pusher.post(event_xml(OPENID, "subscribe", create_time=1_700_000_100))
        pusher.post(text_xml(OPENID, "我要投诉", msg_id=6004))  # the exact title
        pusher.post(text_xml(OPENID, "２", msg_id=6005))  # full-width digit, choices of the last turn: none
    assert menu.content == f"{GREETING}\n\n回复数字选择：\n1. 我要投诉\n2. 我要举报"
    assert second.content == "小安收到：/report_violation"
    assert agent.texts == ["/greet", "/report_violation", "greet", "我要投诉", "/greet", "/complain_general", "２"]
    # what the citizen typed stays visible in the transcript
    assert [m.metadata.get("display_text") for m in agent.received] == [None, "2", None, None, None, "我要投诉", None]


def test_match_choice_and_compose():
    choices = [{"title": "我要投诉", "payload": "/complain_general"}, {"title": "转人工", "payload": "/request_human"}]
    assert match_choice("1", choices) == "/complain_general"
    assert match_choice(" 2. ", choices) == "/request_human"
    assert match_choice("２", choices) == "/request_human"
    assert match_choice("3", choices) is None
    assert match_choice("转人工", choices) == "/request_human"
    assert match_choice("我要转人工", choices) == "/request_human"  # fillers are ignored now (issue 10)
    assert match_choice("我要转人工，商家不给退款还骂人", choices) is None  # a new request, not a choice
    assert match_choice("/request_human", choices) is None  # typed commands are never payloads
    assert match_choice("1", []) is None
    texts, numbered = compose(
        [("请选择：", [{"title": "是", "payload": "/affirm"}]), ("或者：", [{"title": "否", "payload": "/deny"}])], "回复数字选择："
    )
    assert texts == ["请选择：\n\n回复数字选择：\n1. 是\n\n或者：\n\n回复数字选择：\n2. 否"]
    assert [c["payload"] for c in numbered] == ["/affirm", "/deny"]


# ---------------------------------------------------------------- message types and events


def test_voice_uses_the_recognition_text(make_channel, monkeypatch):
    agent = StubAgent()
    with running(make_channel(), agent, monkeypatch) as (url, _):
        pusher = WeChatPusher(url)
        recognised = pusher.post(voice_xml(OPENID, 7001, recognition="电梯困人了怎么办"))
        unrecognised = pusher.post(voice_xml(OPENID, 7002, recognition=None))
        blank = pusher.post(voice_xml(OPENID, 7003, recognition=""))
    assert recognised.content == "小安收到：电梯困人了怎么办"
    assert unrecognised.content == blank.content == TEXTS.voice_unrecognized
    assert agent.texts == ["电梯困人了怎么办"]


@pytest.mark.parametrize(
    "xml",
    [
        image_xml(OPENID, 7101),
        location_xml(OPENID, 7102),
        link_xml(OPENID, 7103),
        raw_type_xml(OPENID, "video", 7104),
        raw_type_xml(OPENID, "shortvideo", 7105),
        raw_type_xml(OPENID, "file", 7106),
        raw_type_xml(OPENID, "emotion", 7107),
    ],
    ids=["image", "location", "link", "video", "shortvideo", "file", "sticker"],
)
def test_unsupported_types_get_a_polite_answer(make_channel, monkeypatch, xml):
    agent = StubAgent()
    with running(make_channel(), agent, monkeypatch) as (url, _):
        reply = WeChatPusher(url).post(xml)
    assert reply.content == TEXTS.unsupported
    assert "文字" in reply.content and agent.received == []


def test_subscribe_gets_the_welcome_once_and_is_recorded(make_channel, monkeypatch, db_url):
    agent = StubAgent()
    with running(make_channel(), agent, monkeypatch) as (url, _):
        pusher = WeChatPusher(url)
        xml = event_xml(OPENID, "subscribe", create_time=1_700_000_000)
        first, retry = pusher.post(xml), pusher.post(xml)
        scanned = pusher.post(event_xml("oScanToSubscribe_00000001", "subscribe", 1_700_000_050, "qrscene_123"))
    assert first.content.startswith(GREETING) and retry.content == first.content
    assert scanned.content.startswith(GREETING)
    assert agent.texts == ["/greet", "/greet"]
    assert [(r.openid, r.event) for r in rows(db_url, store.WeChatSubscriptionEvent)] == [
        (OPENID, "subscribe"),
        ("oScanToSubscribe_00000001", "subscribe"),
    ]


def test_unsubscribe_is_recorded_without_a_reply(make_channel, monkeypatch, db_url):
    agent = StubAgent()
    with running(make_channel(), agent, monkeypatch) as (url, _):
        pusher = WeChatPusher(url)
        xml = event_xml(OPENID, "unsubscribe", create_time=1_700_000_200)
        replies = [pusher.post(xml), pusher.post(xml)]
        click = pusher.post(event_xml(OPENID, "CLICK", create_time=1_700_000_300, event_key="MENU_1"))
    assert [r.body for r in replies] == ["success", "success"] and click.body == "success"
    [row] = rows(db_url, store.WeChatSubscriptionEvent)
    assert (row.openid, row.event, int(row.event_time.timestamp())) == (OPENID, "unsubscribe", 1_700_000_200)
    assert agent.received == []


def test_unreadable_body_with_a_valid_signature_is_400(make_channel, monkeypatch, db_url):
    with running(make_channel(), StubAgent(), monkeypatch) as (url, _):
        assert WeChatPusher(url).post("this is not xml").status == 400
    assert count(db_url, store.WeChatProcessedMessage) == 0


# ---------------------------------------------------------------- output channel (Rasa API pushes)


def test_pushes_outside_a_turn_are_merged_into_one_api_message(make_channel, monkeypatch, fake, db_url):
    channel = make_channel()
    store.record_citizen_message(db_url, OPENID)
    with running(channel, StubAgent(), monkeypatch) as (url, loop):

        async def push() -> None:
            output = channel.get_output_channel()
            assert isinstance(output, WeChatOutput) and output.name() == "wechat"
            await output.send_response(OPENID, {"text": "您的工单已受理。"})
            await output.send_response(OPENID, {"text": "对处理结果满意吗？", "buttons": [{"title": "满意", "payload": "/rate_service"}]})

        asyncio.run_coroutine_threadsafe(push(), loop).result(5)
        fake.wait_for_messages(1)
        settle(channel, loop)
    assert [m.content for m in fake.messages] == ["您的工单已受理。\n\n对处理结果满意吗？\n\n回复数字选择：\n1. 满意"]
    assert store.load_choices(db_url, OPENID) == [{"title": "满意", "payload": "/rate_service"}]


# ---------------------------------------------------------------- configuration


def _clear_wechat_env(monkeypatch):
    for name in ("TOKEN", "APPID", "SECRET", "AES_KEY", "API_URL"):
        monkeypatch.delenv(f"XIAOAN_WECHAT_{name}", raising=False)


def test_channel_is_off_without_a_token(db_url, monkeypatch, caplog):
    _clear_wechat_env(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="xiaoan.channels.wechat"):
        channel = WeChatInput.from_credentials(None)
    assert not channel.enabled and channel.get_output_channel() is None
    assert any("XIAOAN_WECHAT_TOKEN" in r.getMessage() for r in caplog.records)
    agent = StubAgent()
    with running(channel, agent, monkeypatch) as (url, _):
        pusher = WeChatPusher(url)
        verify = pusher.verify("echo")
        post = requests.post(url, params=pusher.signed_params(), data=text_xml(OPENID, "你好", 8001).encode(), timeout=10)
    for resp in (verify, post):
        assert resp.status_code == 404
        assert resp.json() == {"error": "wechat channel not configured"}
    assert agent.received == []


def test_from_credentials_reads_the_environment(db_url, monkeypatch, fake):
    _clear_wechat_env(monkeypatch)
    monkeypatch.setenv("XIAOAN_WECHAT_TOKEN", TOKEN)
    monkeypatch.setenv("XIAOAN_WECHAT_APPID", APPID)
    monkeypatch.setenv("XIAOAN_WECHAT_SECRET", SECRET)
    monkeypatch.setenv("XIAOAN_WECHAT_API_URL", fake.url)
    channel = WeChatInput.from_credentials(None)
    assert channel.enabled and channel.crypto is None
    assert (channel.settings.wechat_appid, channel.settings.wechat_api_url, channel.database_url) == (APPID, fake.url, db_url)
    monkeypatch.setenv("XIAOAN_WECHAT_AES_KEY", AES_KEY)
    assert WeChatInput.from_credentials(None).crypto is not None


@pytest.mark.parametrize(
    "missing, aes_key, message",
    [
        ("XIAOAN_WECHAT_APPID", AES_KEY, "XIAOAN_WECHAT_APPID is required in safe mode"),
        ("XIAOAN_WECHAT_SECRET", AES_KEY, "XIAOAN_WECHAT_SECRET is required in safe mode"),
        (None, "too-short", "XIAOAN_WECHAT_AES_KEY must be the 43-character EncodingAESKey"),
        (None, "!" * 43, "XIAOAN_WECHAT_AES_KEY is not a valid EncodingAESKey"),
    ],
)
def test_safe_mode_misconfiguration_fails_clearly_at_start_up(db_url, monkeypatch, missing, aes_key, message):
    _clear_wechat_env(monkeypatch)
    monkeypatch.setenv("XIAOAN_WECHAT_TOKEN", TOKEN)
    monkeypatch.setenv("XIAOAN_WECHAT_APPID", APPID)
    monkeypatch.setenv("XIAOAN_WECHAT_SECRET", SECRET)
    monkeypatch.setenv("XIAOAN_WECHAT_AES_KEY", aes_key)
    if missing:
        monkeypatch.delenv(missing)
    with pytest.raises(RasaException, match=message):
        WeChatInput.from_credentials(None)


def test_credentials_yml_mounts_the_channel_from_the_environment(db_url, monkeypatch, fake):
    from rasa.core.run import create_http_input_channels

    from xiaoan.config import PROJECT_ROOT

    _clear_wechat_env(monkeypatch)
    monkeypatch.setenv("XIAOAN_WECHAT_TOKEN", TOKEN)
    channels = create_http_input_channels(None, str(PROJECT_ROOT / "credentials.yml"))
    [wechat] = [c for c in channels if c.name() == "wechat"]
    assert isinstance(wechat, WeChatInput) and wechat.enabled and wechat.token == TOKEN


def test_channel_texts_come_from_the_domain_file(tmp_path):
    assert TEXTS.choice_hint == "回复数字选择："
    broken = tmp_path / "wechat.yml"
    broken.write_text('version: "3.1"\nresponses:\n  utter_wechat_unsupported:\n    - text: 只有这一条\n', encoding="utf-8")
    with pytest.raises(RasaException, match="utter_wechat_voice_unrecognized"):
        ChannelTexts.load(broken)


def test_openids_are_masked_in_logs(make_channel, monkeypatch, caplog):
    with caplog.at_level(logging.INFO, logger="xiaoan.channels.wechat"):
        with running(make_channel(), StubAgent(), monkeypatch) as (url, _):
            WeChatPusher(url).post(text_xml(OPENID, "你好", msg_id=9001))
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "oXiaoA****" in logged and OPENID not in logged
