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
