"""WeChat API client: text splitting, the shared access token, retries, the 5-in-48h budget.

WeChat's API is the local fake in tests/fakes/wechat_server.py (a real HTTP server).
"""

from __future__ import annotations

import datetime as dt
import socket
import threading

import pytest
from sqlalchemy import select, update

from tests.fakes.wechat_server import APPID, SECRET, TOKEN, FakeWeChatServer
from xiaoan.channels import wechat_api
from xiaoan.channels import wechat_store as store
from xiaoan.channels.wechat_api import (
    AccessTokenHolder,
    WeChatApiClient,
    WeChatApiError,
    WeChatTransportError,
    deliver_texts,
    mask_openid,
    merge_texts,
    send_customer_service_text,
    split_text,
)
from xiaoan.config import Settings
from xiaoan.db import session_scope, utcnow

OPENID = "oXiaoAn_citizen_000000000001"


def _bytes(text: str) -> int:
    return len(text.encode("utf-8"))


@pytest.fixture()
def fake():
    with FakeWeChatServer() as server:
        yield server


@pytest.fixture()
def settings(db_url, fake) -> Settings:
    return Settings(
        database_url=db_url, wechat_token=TOKEN, wechat_appid=APPID, wechat_secret=SECRET, wechat_api_url=fake.url
    )


@pytest.fixture()
def client(settings) -> WeChatApiClient:
    return WeChatApiClient(settings.wechat_api_url, APPID, SECRET, database_url=settings.database_url, backoff=0.01)


def _undelivered(url):
    with session_scope(url) as session:
        return session.execute(select(store.WeChatUndeliveredMessage).order_by(store.WeChatUndeliveredMessage.id)).scalars().all()


# ---------------------------------------------------------------- text


def test_split_text_keeps_short_text_whole_and_drops_blank():
    assert split_text("  您好，我是小安。 ") == ["您好，我是小安。"]
    assert split_text("   \n ") == []


def test_split_text_cuts_long_text_at_line_breaks_within_2048_bytes():
    lines = [f"第{i}条：" + "消费者权益保护法规定经营者应当依法退款。" * 3 for i in range(60)]
    text = "\n".join(lines)
    pieces = split_text(text)
    assert len(pieces) > 1
    assert all(_bytes(p) <= 2048 for p in pieces)
    # every piece is made of whole lines, and nothing is lost or reordered
    assert [line for p in pieces for line in p.split("\n")] == lines


def test_split_text_cuts_one_huge_line_at_sentence_ends_then_characters():
    sentence = "预付卡商家关门跑路后，请先保存好合同和付款凭证。"
    line = sentence * 200  # no line breaks at all
    pieces = split_text(line)
    assert all(_bytes(p) <= 2048 for p in pieces)
    assert "".join(pieces) == line
    assert all(p.endswith("。") for p in pieces[:-1])
    no_punctuation = "字" * 3000
    pieces = split_text(no_punctuation)
    assert all(_bytes(p) <= 2048 for p in pieces) and "".join(pieces) == no_punctuation


def test_merge_texts_joins_a_turn_into_one_message_when_it_fits():
    assert merge_texts(["第一句", " ", "第二句"]) == ["第一句\n\n第二句"]


def test_mask_openid_keeps_six_characters():
    assert mask_openid("oAbCdEfGhIjKlMn") == "oAbCdE****"
    assert mask_openid(None) == "****"


# ---------------------------------------------------------------- access token


def test_token_fetched_once_through_stable_token_and_shared(client, fake, settings):
    client.send_text(OPENID, "一")
    other_process = WeChatApiClient(fake.url, APPID, SECRET, database_url=settings.database_url)
    other_process.send_text(OPENID, "二")
    assert fake.token_fetches == 1
    assert fake.state.legacy_token_fetches == 0
    assert [m.content for m in fake.messages] == ["一", "二"]
    assert {m.access_token for m in fake.messages} == {fake.current_token}
    with session_scope(settings.database_url) as session:
        row = session.get(store.WeChatAccessToken, APPID)
        assert row.access_token == fake.current_token
        assert dt.timedelta(seconds=7100) < row.expires_at - utcnow() <= dt.timedelta(seconds=7200)


@pytest.mark.parametrize("remaining_minutes, fetches", [(4, 2), (10, 1)])
def test_token_refreshed_about_five_minutes_before_expiry(client, fake, settings, remaining_minutes, fetches):
    client.send_text(OPENID, "一")
    with session_scope(settings.database_url) as session:
        session.execute(
            update(store.WeChatAccessToken).values(expires_at=utcnow() + dt.timedelta(minutes=remaining_minutes))
        )
    client.send_text(OPENID, "二")
    assert fake.token_fetches == fetches
    assert len(fake.messages) == 2


def test_expired_token_is_refreshed_once_and_the_call_repeated(client, fake):
    client.send_text(OPENID, "一")
    old = fake.current_token
    fake.expire_token()
    client.send_text(OPENID, "二")
    assert fake.token_fetches == 2 and fake.forced_fetches == 0
    assert fake.current_token != old
    assert [m.content for m in fake.messages] == ["一", "二"]
    assert fake.state.send_attempts == 3  # one rejected with 40001, then the retry


def test_token_rejected_but_still_returned_forces_a_new_one(client, fake):
    client.send_text(OPENID, "一")
    fake.revoke_token_silently()
    client.send_text(OPENID, "二")
    assert fake.forced_fetches == 1
    assert [m.content for m in fake.messages] == ["一", "二"]


def test_invalid_token_twice_gives_up_after_one_refresh(client, fake):
    fake.fail_next_sends(40001, 40001, 40001)
    with pytest.raises(WeChatApiError) as err:
        client.send_text(OPENID, "一")
    assert err.value.errcode == 40001
    assert fake.state.send_attempts == 2
    assert fake.messages == []


def test_concurrent_refresh_fetches_once(fake, settings):
    fake.slow_token_endpoint(0.4)
    holders = [
        AccessTokenHolder(wechat_api._Http(fake.url), APPID, SECRET, database_url=settings.database_url, poll_interval=0.02)
        for _ in range(5)
    ]
    tokens: list[str] = []
    errors: list[BaseException] = []

    def get(holder):
        try:
            tokens.append(holder.get())
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=get, args=(h,)) for h in holders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert errors == []
    assert len(tokens) == 5 and len(set(tokens)) == 1
    assert fake.token_fetches == 1


def test_wrong_secret_is_a_clear_api_error(fake, settings):
    client = WeChatApiClient(fake.url, APPID, "wrong-secret", database_url=settings.database_url)
    with pytest.raises(WeChatApiError) as err:
        client.send_text(OPENID, "一")
    assert err.value.errcode == 40125
    with session_scope(settings.database_url) as session:  # the lease was released
        assert session.get(store.WeChatAccessToken, APPID).refreshing_until is None


# ---------------------------------------------------------------- retries


def test_server_errors_and_system_busy_are_retried_with_backoff(client, fake):
    fake.fail_next_sends("http500", -1)
    client.send_text(OPENID, "一")
    assert [m.content for m in fake.messages] == ["一"]
    assert fake.state.send_attempts == 3


def test_unreachable_api_fails_after_bounded_retries(settings):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    sleeps: list[float] = []
    http = wechat_api._Http(dead_url, attempts=3, backoff=0.2, sleep=sleeps.append)
    with pytest.raises(WeChatTransportError):
        http.post("/cgi-bin/stable_token", {})
    assert sleeps == [0.2, 0.4]


# ---------------------------------------------------------------- budget and undelivered


def test_five_messages_within_48_hours_then_recorded_as_undelivered(fake, settings):
    store.record_citizen_message(settings.database_url, OPENID)
    results = [send_customer_service_text(OPENID, f"第{i}条", settings=settings) for i in range(1, 7)]
    assert results == [True] * 5 + [False]
    assert [m.content for m in fake.messages] == [f"第{i}条" for i in range(1, 6)]
    rows = _undelivered(settings.database_url)
    assert [(r.text, r.reason, r.source) for r in rows] == [("第6条", "budget_exhausted", "agent")]
    # a new message from the citizen opens a new window
    store.record_citizen_message(settings.database_url, OPENID)
    assert send_customer_service_text(OPENID, "第7条", settings=settings) is True


def test_outside_the_48_hour_window_nothing_is_sent(fake, settings):
    store.record_citizen_message(settings.database_url, OPENID, at=utcnow() - dt.timedelta(hours=49))
    assert send_customer_service_text(OPENID, "您好", settings=settings) is False
    assert send_customer_service_text("oNeverWroteToUs_0000000", "您好", settings=settings) is False
    assert fake.messages == []
    assert [r.reason for r in _undelivered(settings.database_url)] == ["window_closed", "window_closed"]


def test_45015_is_recorded_and_the_slot_given_back(fake, settings):
    store.record_citizen_message(settings.database_url, OPENID)
    fake.reject_openid(OPENID, 45015)
    assert send_customer_service_text(OPENID, "您的投诉已受理", settings=settings) is False
    rows = _undelivered(settings.database_url)
    assert [(r.text, r.reason) for r in rows] == [("您的投诉已受理", "api_45015")]
    assert store.cs_sent_count(settings.database_url, OPENID) == 0


def test_long_agent_reply_is_split_and_each_piece_counts(fake, settings):
    store.record_citizen_message(settings.database_url, OPENID)
    text = "\n".join(f"第{i}点：" + "请保留购物凭证、聊天记录和付款记录。" * 4 for i in range(40))
    assert send_customer_service_text(OPENID, text, settings=settings) is True
    contents = [m.content for m in fake.messages]
    assert len(contents) >= 2 and all(_bytes(c) <= 2048 for c in contents)
    assert "\n".join(contents) == text
    assert store.cs_sent_count(settings.database_url, OPENID) == len(contents)


def test_failure_records_the_rest_of_the_delivery_without_more_calls(client, fake, settings):
    store.record_citizen_message(settings.database_url, OPENID)
    fake.fail_next_sends(45047)
    result = deliver_texts(OPENID, ["一", "二", "三"], source="assistant", client=client, settings=settings)
    assert (result.sent, result.undelivered) == (0, 3)
    assert fake.state.send_attempts == 1
    assert [(r.text, r.reason, r.source) for r in _undelivered(settings.database_url)] == [
        ("一", "api_45047", "assistant"),
        ("二", "api_45047", "assistant"),
        ("三", "api_45047", "assistant"),
    ]


def test_without_appid_and_secret_nothing_is_sent_and_it_is_recorded(db_url):
    settings = Settings(database_url=db_url, wechat_token=TOKEN)
    store.record_citizen_message(db_url, OPENID)
    assert send_customer_service_text(OPENID, "您好", settings=settings) is False
    assert [r.reason for r in _undelivered(db_url)] == ["not_configured"]


def test_send_customer_service_text_reads_the_environment(fake, db_url, monkeypatch):
    monkeypatch.setenv("XIAOAN_WECHAT_TOKEN", TOKEN)
    monkeypatch.setenv("XIAOAN_WECHAT_APPID", APPID)
    monkeypatch.setenv("XIAOAN_WECHAT_SECRET", SECRET)
    monkeypatch.setenv("XIAOAN_WECHAT_API_URL", fake.url)
    store.record_citizen_message(db_url, OPENID)
    assert send_customer_service_text(OPENID, "人工客服：您好，我来帮您处理。") is True
    assert [(m.touser, m.content) for m in fake.messages] == [(OPENID, "人工客服：您好，我来帮您处理。")]
