"""Status notices and the satisfaction question on the chat page (issue 15, part 2), in Chromium:
the platform closes a ticket filed on the web, the citizen comes back later with the same browser
(the conversation cookie is gone, the visitor cookie is not), sees the notices above the chat,
answers 不满意 with a reason, and the answer is stored once."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.notify_support import make_ticket, settings
from xiaoan import texts
from xiaoan.db import session_scope
from xiaoan.notify.models import TicketSurvey, WebVisitor
from xiaoan.ratings import ServiceRating
from xiaoan.tickets.updates import apply_status_update

pytestmark = pytest.mark.browser


def test_the_next_visit_shows_the_notices_and_takes_the_answer(page, live_server, db_url, artifacts):
    from playwright.sync_api import expect

    page.goto(live_server.url + "/")
    expect(page.locator("#intro")).to_be_visible()
    page.wait_for_load_state("networkidle")  # the page's /api/notices call links browser and conversation
    with session_scope(db_url) as session:
        visits = session.execute(select(WebVisitor.conversation_id)).scalars().all()
    [conversation] = visits
    number = make_ticket(db_url, conversation_id=conversation)
    apply_status_update(number, "accepted", source="platform", event_id="a", settings=settings(db_url))
    apply_status_update(number, "closed", source="platform", event_id="c", settings=settings(db_url))

    # the browser was closed: the session cookie is gone, the visitor cookie stays
    kept = [c for c in page.context.cookies() if c["name"] == "xiaoan_visitor"]
    assert kept and kept[0]["httpOnly"] and kept[0]["expires"] > 0
    page.context.clear_cookies()
    page.context.add_cookies(kept)
    page.reload()

    notices = page.locator("#notices .notice")
    expect(notices).to_have_count(3)
    expect(notices.nth(0)).to_contain_text(number)
    expect(notices.nth(0)).to_contain_text("受理")
    expect(notices.nth(1)).to_contain_text("已办结")
    question = notices.nth(2)
    expect(question).to_contain_text("请您对工单")
    page.screenshot(path=str(artifacts / "chat-status-notices.png"))
    question.get_by_role("button", name="不满意").click()
    reason = question.get_by_role("textbox")
    expect(reason).to_be_visible()
    reason.fill("一直没人联系我")
    question.get_by_role("button", name=texts.text("utter_satisfaction_submit")).click()
    expect(question.locator(".notice-result")).to_have_text(texts.text("utter_satisfaction_thanks_reason"))
    expect(question.get_by_role("button")).to_have_count(0)
    page.screenshot(path=str(artifacts / "chat-satisfaction-answered.png"))

    with session_scope(db_url) as session:
        survey = session.execute(select(TicketSurvey)).scalar_one()
        assert (survey.level, survey.reason, survey.answered_via) == ("dissatisfied", "一直没人联系我", "web")
        assert session.execute(select(ServiceRating.level)).scalars().all() == ["dissatisfied"]
    # shown once, answered once: the next visit is quiet
    page.reload()
    expect(page.locator("#intro")).to_be_visible()
    page.wait_for_load_state("networkidle")
    expect(page.locator("#notices")).to_have_count(0)
    assert not [e for e in page.console_errors if "Content Security Policy" in e]


def test_the_notices_have_no_serious_accessibility_problems(open_context, live_server, db_url):
    from playwright.sync_api import expect

    from tests.browser.conftest import PHONE
    from tests.browser.test_accessibility import axe_violations

    page = open_context(**PHONE)  # the CSP bypassed only so that axe can be injected
    page.goto(live_server.url + "/")
    page.wait_for_load_state("networkidle")
    with session_scope(db_url) as session:
        [conversation] = session.execute(select(WebVisitor.conversation_id)).scalars().all()
    number = make_ticket(db_url, conversation_id=conversation)
    apply_status_update(number, "closed", source="platform", event_id="c", settings=settings(db_url))
    page.reload()
    expect(page.locator("#notices .notice")).to_have_count(2)
    page.locator("#notices").get_by_role("button", name="不满意").click()
    expect(page.locator("#notices textarea")).to_be_visible()
    assert axe_violations(page) == []
