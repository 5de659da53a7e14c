"""The knowledge-base console in a real Chromium: a maintainer edits an answer (with the live
chat preview), a second maintainer publishes it, and the running search service answers with
the new text at its next revision check (once a second; a fake clock here), without a restart."""

from __future__ import annotations

import pytest

from tests.fakes.clock import Clock
from xiaoan.db import session_scope
from xiaoan.kb.repository import KbRepository
from xiaoan.kb.schema import EntryData
from xiaoan.kb.service import KbSearchService
from xiaoan.web.accounts import create_user

pytestmark = pytest.mark.browser

PASSWORD = "correct-horse-42"
OLD = "拨打电梯轿厢内的应急电话，等待救援。"
NEW = "请不要强行扒门，先按电梯内的警铃或拨打应急电话，\n再拨打12345反映，市场监管部门会督促维保单位处理。"


def sign_in(page, base: str, username: str) -> None:
    page.goto(base + "/console/kb")
    page.locator("#username").fill(username)
    page.locator("#password").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(base + "/console/kb")


def sign_out(page) -> None:
    page.get_by_role("button", name="退出").click()
    page.wait_for_url("**/console/login")


def test_edit_publish_with_a_second_maintainer_reaches_search(page, live_server, db_url, artifacts):
    from playwright.sync_api import expect

    with session_scope(db_url) as db:
        create_user(db, "alice", PASSWORD, "maintainer", "维护员甲")
        create_user(db, "bob", PASSWORD, "maintainer", "维护员乙")
    repo = KbRepository(db_url)
    repo.import_entries([EntryData(id="reg.elevator-trapped", area="reg", title="被困电梯里怎么办？",
                                   phrasings=["电梯困人", "电梯突然停了人在里面"], answer=OLD, status="published",
                                   updated_by="content-team")], "test")
    # an action-server worker that is already running, with the old text in memory
    clock = Clock(1000.0)
    worker = KbSearchService(KbRepository(db_url), encoder=None, clock=clock)
    assert worker.search("电梯困人了怎么办").hits[0].entry.answer == OLD

    page.set_viewport_size({"width": 1280, "height": 900})
    base = live_server.url
    sign_in(page, base, "alice")
    page.get_by_role("link", name="reg.elevator-trapped").click()
    page.get_by_role("link", name="修改", exact=True).click()
    answer = page.locator("#kb-answer")
    preview = page.locator("[data-preview-target]")
    expect(preview).to_have_text(OLD)
    answer.fill(NEW)
    expect(preview).to_have_text(NEW)  # the chat bubble follows the typing
    page.screenshot(path=str(artifacts / "kb-console-edit.png"), full_page=True)
    page.get_by_role("button", name="保存草稿").click()
    expect(page.locator(".notice").first).to_contain_text("已保存为草稿")
    page.get_by_role("button", name="提交审核").click()
    expect(page.locator(".notice").first).to_contain_text("已提交审核")
    expect(page.get_by_role("button", name="审核通过并发布")).to_have_count(0)  # not for the editor herself
    clock.now += worker.check_interval                                   # it looks at the revision again
    assert worker.search("电梯困人了怎么办").hits[0].entry.answer == OLD  # not live yet
    sign_out(page)

    sign_in(page, base, "bob")
    page.get_by_role("link", name="reg.elevator-trapped").click()
    page.get_by_role("button", name="审核通过并发布").click()
    expect(page.locator(".notice").first).to_contain_text("已发布")
    page.screenshot(path=str(artifacts / "kb-console-published.png"), full_page=True)

    assert worker.search("电梯困人了怎么办").hits[0].entry.answer == OLD   # checked less than a second ago
    clock.now += worker.check_interval                                   # its next revision check
    assert worker.search("电梯困人了怎么办").hits[0].entry.answer == NEW.strip()
    history = KbRepository(db_url).history("reg.elevator-trapped")
    assert [(v.action, v.changed_by) for v in history[:3]] == [("publish", "bob"), ("submit", "alice"), ("edit", "alice")]
    assert page.console_errors == []
