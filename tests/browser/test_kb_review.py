"""需复核 in a real Chromium: a maintainer finds the entries whose legal basis needs checking,
filters by reason, records 已复核 for one, and it leaves the list while the repealed basis stays."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.browser.test_kb_console import PASSWORD, sign_in
from xiaoan.db import session_scope
from xiaoan.kb.repository import KbRepository
from xiaoan.kb.schema import EntryData
from xiaoan.web.accounts import create_user

pytestmark = pytest.mark.browser


def entry(entry_id: str, basis: str | None, days_ago: int) -> EntryData:
    when = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days_ago)
    return EntryData(id=entry_id, area=entry_id.split(".")[0], title=f"{entry_id}？", phrasings=["问法"],
                     answer="回答。", basis=basis, status="published", updated_by="content-team", updated_at=when)


def test_review_view_filter_and_record_a_review(page, live_server, db_url, artifacts):
    from playwright.sync_api import expect

    with session_scope(db_url) as db:
        create_user(db, "alice", PASSWORD, "maintainer", "维护员甲")
    KbRepository(db_url).import_entries([
        entry("consumer.fraud", "《中华人民共和国消费者权益保护法》第五十五条", 10),
        entry("biz.old-rule", "《个体工商户条例》第八条", 10),
        entry("biz.forgotten", "《中华人民共和国公司法》", 400),
    ], "test")
    page.set_viewport_size({"width": 1280, "height": 900})
    base = live_server.url
    sign_in(page, base, "alice")
    page.get_by_role("link", name="需复核", exact=True).click()
    rows = page.locator("#kb-review tbody tr[data-entry]")
    expect(rows).to_have_count(2)
    expect(page.locator('tr[data-entry="biz.old-rule"]')).to_contain_text("由《促进个体工商户发展条例》取代")
    expect(page.locator('tr[data-entry="biz.forgotten"]')).to_contain_text("超过一年未复核")
    page.screenshot(path=str(artifacts / "kb-review.png"), full_page=True)

    page.get_by_role("link", name="超过一年未复核（1）").click()
    expect(rows).to_have_count(1)
    page.get_by_role("button", name="已复核 biz.forgotten").click()
    expect(page.locator(".notice").first).to_contain_text("已记录：alice 复核了“biz.forgotten”")
    expect(rows).to_have_count(0)
    page.get_by_role("link", name="需复核", exact=True).click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-entry", "biz.old-rule")
    history = KbRepository(db_url).history("biz.forgotten")
    assert [(v.action, v.changed_by) for v in history][0] == ("review", "alice")


from tests.browser.test_accessibility import axe_violations  # noqa: E402


def test_question_groups_become_phrasings_and_both_pages_are_accessible(open_context, live_server, db_url):
    from playwright.sync_api import expect

    with session_scope(db_url) as db:
        create_user(db, "alice", PASSWORD, "maintainer", "维护员甲")
    repo = KbRepository(db_url)
    repo.import_entries([
        EntryData(id="reg.metrology", area="reg", title="缺斤短两、秤不准怎么投诉？", phrasings=["买东西分量不够"],
                  answer="可以向市场监管部门举报。", status="published", basis=None),
    ], "test")
    repo.record_unanswered("菜场的秤不准少给了二两", "c1", 0.3, "reg.metrology")
    repo.record_vote("reg.metrology", "c2", False, question="菜场秤不准少了二两怎么办")
    page = open_context(viewport={"width": 1280, "height": 900})
    base = live_server.url
    sign_in(page, base, "alice")
    page.goto(base + "/console/kb/review")
    assert axe_violations(page) == []
    page.goto(base + "/console/kb/clusters")
    assert axe_violations(page) == []
    group = page.locator("section.kb-cluster").first
    expect(group).to_contain_text("2 次")
    expect(group.locator('input[name="entry_id"]')).to_have_value("reg.metrology")
    group.get_by_label("菜场秤不准少了二两怎么办").uncheck()
    group.get_by_role("button", name="加为相似问法").click()
    expect(page.locator(".notice").first).to_contain_text("已为“reg.metrology”添加 1 个相似问法")
    expect(page.locator("section.kb-cluster")).to_have_count(1)  # the unticked question is still to do
    assert repo.get("reg.metrology").data.phrasings == ["买东西分量不够", "菜场的秤不准少给了二两"]
