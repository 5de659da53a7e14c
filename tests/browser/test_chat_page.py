"""The citizen chat page in a real Chromium: conversation, buttons, reload, agent replies, Rasa down."""

from __future__ import annotations

import pytest

from xiaoan.web import messages

pytestmark = pytest.mark.browser


def bot_texts(page):
    return page.locator(".msg-bot .bubble-text")


def test_chat_conversation_in_the_browser(page, live_server, artifacts):
    from playwright.sync_api import expect

    page.goto(live_server.url + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("小安 · 上海市市场监管局智能客服")
    expect(page.locator(".privacy")).to_be_visible()
    expect(page.locator("#send")).to_be_disabled()  # nothing typed yet
    page.screenshot(path=str(artifacts / "chat-phone-empty.png"))

    # type a message: the bot's reply and its buttons appear
    page.locator("#input").fill("你好")
    page.locator("#send").click()
    expect(bot_texts(page).last).to_have_text("您好，我是小安，请问有什么可以帮您？")
    options = page.locator(".options .option")
    expect(options).to_have_text(["咨询问题", "我要投诉"])
    expect(page.locator("#input")).to_have_value("")
    expect(page.locator("#intro")).to_be_hidden()

    # click a button: its title is shown as the citizen's words, its payload goes to Rasa
    page.get_by_role("button", name="我要投诉").click()
    expect(bot_texts(page).last).to_have_text("好的，请简要描述您遇到的问题。")
    expect(page.locator(".msg-user .bubble-text")).to_have_text(["你好", "我要投诉"])
    expect(options.first).to_be_disabled()
    (conv,) = live_server.rasa.trackers
    sent = [c["json"]["message"] for c in live_server.rasa.calls if c["path"] == "/webhooks/rest/webhook"]
    assert sent == ["你好", "/complain_general"]

    # Enter sends too
    page.locator("#input").fill("网上买的衣服商家不给退款")
    page.locator("#input").press("Enter")
    expect(bot_texts(page).last).to_have_text("收到：网上买的衣服商家不给退款")
    page.screenshot(path=str(artifacts / "chat-phone-conversation.png"))

    # reload: the transcript comes back from the tracker, old buttons stay switched off
    page.reload()
    expect(page.locator(".msg .bubble-text")).to_have_text([
        "你好", "您好，我是小安，请问有什么可以帮您？", "我要投诉", "好的，请简要描述您遇到的问题。",
        "网上买的衣服商家不给退款", "收到：网上买的衣服商家不给退款",
    ])
    expect(page.locator(".options .option").first).to_be_disabled()
    expect(page.locator(".options .option.chosen")).to_have_text("我要投诉")
    expect(page.locator("#intro")).to_be_hidden()

    # a human agent's reply appended to the tracker shows up by polling, labelled as a person
    live_server.rasa.add_bot_message(conv, "您好，我是人工坐席小王，请问订单号是多少？", metadata={"agent": "小王"})
    expect(bot_texts(page).last).to_have_text("您好，我是人工坐席小王，请问订单号是多少？", timeout=8000)
    expect(page.locator(".msg-agent .msg-name")).to_have_text("人工坐席 · 小王")
    expect(bot_texts(page)).to_have_count(4)  # shown once, not repeated by later polls
    # two more polls: a poll is scheduled only after the previous answer was handled, so once the
    # second has started, the first came back with the message already shown and added nothing
    for _ in range(2):
        with page.expect_request(lambda r: "/api/chat/updates" in r.url, timeout=15_000):
            pass
    expect(bot_texts(page)).to_have_count(4)

    # Rasa goes away: a visible message, and the typed text is kept
    live_server.rasa.stop()
    page.locator("#input").fill("还在吗？我的订单号是123456")
    page.locator("#send").click()
    alert = page.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(alert).to_have_text(messages.RASA_UNAVAILABLE)
    expect(page.locator("#input")).to_have_value("还在吗？我的订单号是123456")
    expect(page.locator(".msg-user .bubble-text").last).to_have_text("网上买的衣服商家不给退款")
    page.screenshot(path=str(artifacts / "chat-phone-rasa-down.png"))

    assert not [e for e in page.console_errors if "Content Security Policy" in e]


def test_too_long_text_cannot_be_typed_and_suggestion_chips_send(page, live_server):
    from playwright.sync_api import expect

    page.goto(live_server.url + "/")
    page.locator("#input").fill("投" * 520)
    expect(page.locator("#input")).to_have_value("投" * 500)  # maxlength
    expect(page.locator("#counter")).to_have_text("500 / 500")
    page.locator("#input").fill("")
    page.get_by_role("button", name="个体户营业执照怎么办").click()
    expect(bot_texts(page).last).to_have_text("收到：个体户营业执照怎么办")
    assert not [e for e in page.console_errors if "Content Security Policy" in e]
