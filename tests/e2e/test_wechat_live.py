"""Security probes of the WeChat webhook against a real `rasa run` with the trained model (issue 12).

tests/security/test_wechat.py probes every check against the channel in Rasa's Sanic app with an
agent stub; these few probes repeat the essential ones against the real server process: the
streamed, capped body under `rasa run`, the nonce memory and window, and above all what the real
Rasa makes of typed commands, numbered replies and an over-long letter.

The stack's own Rasa server has no WeChat token, so a second Rasa server is started with the
channel on (plaintext mode; WeChat's API is the local fake), sharing the stack's database and
action server.
"""

from __future__ import annotations

import contextlib
import itertools
import subprocess
import time
import uuid

import pytest
import requests

from tests.e2e.conftest import BIN, MODEL, ROOT, Stack, free_port
from tests.fakes.wechat_server import APPID, SECRET, TOKEN, FakeWeChatServer, WeChatPusher, event_xml, text_xml

_ids = itertools.count(770_000_000)


@pytest.fixture(scope="module")
def fake_api():
    with FakeWeChatServer() as server:
        yield server


@contextlib.contextmanager
def wechat_rasa_server(stack: Stack, fake_api, work, aes_key: str | None = None):
    """A Rasa server with the WeChat channel on (safe mode when `aes_key` is given), its own
    tracker store, the stack's database and action server: yields (webhook URL, Rasa URL)."""
    port = free_port()
    env = dict(stack.env)
    env.update(
        XIAOAN_WECHAT_TOKEN=TOKEN,
        XIAOAN_WECHAT_APPID=APPID,
        XIAOAN_WECHAT_SECRET=SECRET,
        XIAOAN_WECHAT_API_URL=fake_api.url,
        XIAOAN_TRACKER_STORE_URL=f"sqlite:///{work / 'tracker.db'}",
    )
    if aes_key:
        env["XIAOAN_WECHAT_AES_KEY"] = aes_key
    else:
        env.pop("XIAOAN_WECHAT_AES_KEY", None)
    cmd = [str(BIN / "rasa"), "run", "--enable-api", f"--auth-token={stack.token}", "-i", "127.0.0.1", "-p", str(port),
           "--model", str(MODEL), "--endpoints", "endpoints.yml", "--credentials", "credentials.yml"]
    log_path = work / "rasa.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 900       # only against a hung start
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"rasa with WeChat exited:\n{log_path.read_text(errors='replace')[-4000:]}")
            try:
                if requests.get(f"{base}/status", params={"token": stack.token}, timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"rasa with WeChat did not start:\n{log_path.read_text(errors='replace')[-4000:]}")
            time.sleep(1)
        assert requests.get(f"{base}/webhooks/wechat/", timeout=10).json() == {"status": "ok"}
        yield f"{base}/webhooks/wechat/webhook", base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def wechat_rasa(stack: Stack, fake_api, tmp_path_factory):
    """A second Rasa server with the WeChat channel on, plaintext mode: (webhook URL, Rasa URL)."""
    with wechat_rasa_server(stack, fake_api, tmp_path_factory.mktemp("wechat-rasa")) as urls:
        yield urls


def user_texts(base: str, token: str, openid: str, expected: int = 0) -> list[str]:
    """What Rasa recorded as the citizen's messages, once at least `expected` are there (late
    answers run on after the webhook acknowledged; the wait is bounded, not an assertion)."""
    deadline = time.monotonic() + 120
    while True:
        r = requests.get(f"{base}/conversations/{openid}/tracker", params={"token": token}, timeout=30)
        r.raise_for_status()
        texts = [e.get("text") or "" for e in r.json()["events"] if e["event"] == "user"]
        if len(texts) >= expected or time.monotonic() > deadline:
            return texts
        time.sleep(0.5)


def answer(reply, fake_api, openid: str, before: int) -> str:
    """The turn's answer: the passive reply, or (a slow turn) what went through the API."""
    if reply.content:
        return reply.content
    sent = fake_api.wait_for_messages(before + 1, timeout=60)
    return "\n\n".join(m.content for m in sent[before:] if m.touser == openid)


def test_live_typed_commands_are_words_and_numbered_replies_are_payloads(wechat_rasa, stack, fake_api):
    url, base = wechat_rasa
    openid = f"oLiveProbe_{uuid.uuid4().hex[:16]}"
    pusher = WeChatPusher(url)
    welcome = pusher.post(event_xml(openid, "subscribe", create_time=int(time.time())))
    assert welcome.status == 200
    menu = answer(welcome, fake_api, openid, 0)
    assert "回复数字选择：" in menu and "\n1. " in menu
    pusher.post(text_xml(openid, "1", msg_id=next(_ids)))
    for typed in ("/request_human", " /greet", '/inform{"phone": "13800000000"}'):
        pusher.post(text_xml(openid, typed, msg_id=next(_ids)))
    texts = user_texts(base, stack.token, openid, expected=5)
    # the welcome and the numbered reply are button payloads (legit); the typed ones are words
    assert texts[0] == "/greet" and texts[1].startswith("/")
    assert texts[2:] == ["request_human", "greet", 'inform{"phone": "13800000000"}']


def test_live_replays_stale_timestamps_huge_and_malformed_bodies_are_refused(wechat_rasa, stack):
    url, base = wechat_rasa
    openid = f"oLiveProbe_{uuid.uuid4().hex[:16]}"
    pusher = WeChatPusher(url)
    params = pusher.signed_params()
    assert pusher.post(text_xml(openid, "你好", msg_id=next(_ids)), params=params).status == 200
    assert pusher.post(text_xml("oIntruder_0000000000000001", "冒充", msg_id=next(_ids)), params=params).status == 403
    stale = pusher.signed_params(timestamp=str(int(time.time()) - 3600))
    assert pusher.post(text_xml(openid, "旧消息", msg_id=next(_ids)), params=stale).status == 403
    huge = text_xml(openid, "长" * 350_000, msg_id=next(_ids)).encode()
    assert pusher.post_raw(huge, pusher.signed_params()).status_code == 413
    bad_id = text_xml(openid, "你好", msg_id=1).replace("<MsgId>1</MsgId>", "<MsgId>abc</MsgId>")
    assert pusher.post_raw(bad_id.encode(), pusher.signed_params()).status_code == 400
    assert user_texts(base, stack.token, openid, expected=1) == ["你好"]
    assert user_texts(base, stack.token, "oIntruder_0000000000000001") == []


def test_live_an_over_long_letter_is_read_in_part_and_the_citizen_told(wechat_rasa, stack, fake_api):
    url, base = wechat_rasa
    openid = f"oLiveProbe_{uuid.uuid4().hex[:16]}"
    letter = "我于今年十月在浦东新区某健身房办理了会员预付卡，充值五千元，现在健身房突然关门，老板联系不上。" * 55
    before = len(fake_api.messages)
    reply = WeChatPusher(url).post(text_xml(openid, letter, msg_id=next(_ids)))
    told = answer(reply, fake_api, openid, before)
    assert f"共{len(letter)}字" in told and "没有读到" in told
    [read] = user_texts(base, stack.token, openid, expected=1)
    assert len(read) <= 2000 and letter.startswith(read)
