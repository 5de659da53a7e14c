"""The citizen chat page in a real headless Chromium against the real, running assistant (issues 2, 4)."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def test_chat_page_talks_to_the_real_assistant_and_survives_a_reload(stack, page):
    from playwright.sync_api import expect

    page.goto(stack.web_url + "/")
    page.locator("#input").fill("你好")
    page.locator("#send").click()
    bot = page.locator(".msg-bot .bubble-text")
    expect(bot.last).to_contain_text("小安", timeout=30_000)
    # the greeting's buttons are shown and work
    page.get_by_role("button", name="我要投诉").last.click()
    expect(bot.last).not_to_contain_text("您好，我是小安", timeout=30_000)
    count = bot.count()
    page.reload()
    expect(page.locator(".msg-bot .bubble-text")).to_have_count(count, timeout=15_000)
    expect(page.locator(".msg-user .bubble-text").first).to_have_text("你好")


def test_a_published_edit_reaches_the_live_chat_answer_without_retraining(stack, page):
    """A maintainer's published edit answers citizens within seconds, with no restart."""
    from playwright.sync_api import expect

    from xiaoan.kb.service import get_repository

    repo = get_repository(stack.env["DATABASE_URL"])
    entry = repo.get("biz.individual-business")
    marker = f"（测试更新{uuid.uuid4().hex[:6]}）"
    edited = dataclasses.replace(entry.data, answer=entry.data.answer.rstrip() + marker)
    repo.update(entry.data.id, edited, "maintainer-a")
    repo.submit(entry.data.id, "maintainer-a")
    repo.publish(entry.data.id, "maintainer-b")

    page.goto(stack.web_url + "/")
    page.locator("#input").fill("个体户营业执照怎么办理")
    page.locator("#send").click()
    # the action server checks the knowledge base's revision at most once a second
    expect(page.locator(".msg-bot .bubble-text").filter(has_text=marker)).to_have_count(1, timeout=30_000)
