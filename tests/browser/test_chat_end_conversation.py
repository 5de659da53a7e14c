"""The chat cookie is a session cookie and "结束对话" clears the conversation (issue 12, item 5):
the next person at a shared computer sees nothing of it, not even after a reload."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_end_conversation_clears_the_transcript_and_the_cookie_is_session_only(page, live_server, artifacts):
    from playwright.sync_api import expect

    page.goto(live_server.url + "/")
    page.locator("#input").fill("我叫张三，电话13812345678")
    page.locator("#send").click()
    bot = page.locator(".msg-bot .bubble-text")
    expect(bot.last).to_have_text("收到：我叫张三，电话13812345678")

    (cookie,) = [c for c in page.context.cookies() if c["name"] == "xiaoan_session"]
    assert cookie["expires"] == -1  # a session cookie: gone when the browser closes
    assert cookie["httpOnly"]

    end = page.get_by_role("button", name="结束对话")
    expect(end).to_be_visible()
    page.screenshot(path=str(artifacts / "chat-phone-before-end.png"))
    end.click()
    expect(page.get_by_role("status")).to_have_text("对话已结束，本浏览器中的对话记录已清除。")
    expect(page.locator(".msg")).to_have_count(0)
    expect(page.locator("#intro")).to_be_visible()
    page.wait_for_function("window.location.search === ''")  # the notice is not kept in the address
    page.screenshot(path=str(artifacts / "chat-phone-ended.png"))

    # a reload (the next person) finds an empty page: the conversation is not read back
    page.reload()
    expect(page.locator("#intro")).to_be_visible()
    expect(page.get_by_role("status")).to_have_count(0)
    history = page.request.get(live_server.url + "/api/chat/history").json()
    assert history == {"messages": [], "cursor": None}
    expect(page.locator(".msg")).to_have_count(0)

    # the next message starts a new conversation
    page.locator("#input").fill("你好")
    page.locator("#send").click()
    expect(bot.last).to_have_text("您好，我是小安，请问有什么可以帮您？")
    senders = [c["json"]["sender"] for c in live_server.rasa.calls if c["path"] == "/webhooks/rest/webhook"]
    assert len(senders) == 2 and senders[0] != senders[1]
    expect(page.locator(".msg-user .bubble-text")).to_have_text(["你好"])
    assert not [e for e in page.console_errors if "Content Security Policy" in e]
