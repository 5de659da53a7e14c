"""The supervisors' ticket page in a real browser (issue 12, item 3): the complainant is hidden until
显示投诉人信息 is clicked; the click writes the audit row first, and a reload hides it again."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from xiaoan.config import Settings
from xiaoan.db import session_scope
from xiaoan.privacy_audit import TICKET_PAGE_REVEAL, PersonalDataView
from xiaoan.tickets.service import TicketDraft, TicketService
from xiaoan.web.accounts import create_user

PASSWORD = "supervisor-password-1"
NAME, PHONE, ADDRESS = "欧阳春梅", "13812345678", "上海市杨浦区国权路525号3楼"


def test_supervisor_reveals_the_complainant_by_click_and_a_reload_hides_it(page, live_server, db_url):
    number = TicketService(Settings(database_url=db_url)).create(TicketDraft(
        kind="complaint", intent="complain_prepaid", channel="web", conversation_id="conv-browser",
        complainant_name=NAME, phone=PHONE, complainant_address=ADDRESS, respondent_name="某某健身",
        respondent_address="上海市杨浦区五角场1号", district="yangpu",
        facts=f"我叫{NAME}，电话{PHONE}，住国权路525号。", claim="退款", amount=Decimal("2000")), "kb1").ticket_no
    with session_scope() as db:
        create_user(db, "zhuguan", PASSWORD, "supervisor", "主管")
    page.goto(f"{live_server.url}/console/login")
    page.locator("#username").fill("zhuguan")
    page.locator("#password").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()

    page.goto(f"{live_server.url}/console/stats/tickets/{number}")
    body = page.locator("body").inner_text()
    assert NAME not in body and PHONE not in body and "国权路525号" not in body

    page.locator("#sv-reveal").click()
    page.locator("#sv-revealed").wait_for()
    body = page.locator("body").inner_text()
    assert NAME in body and PHONE in body and ADDRESS in body
    with session_scope() as db:
        rows = [(r.action, r.subject, r.actor) for r in db.execute(select(PersonalDataView)).scalars()]
    assert rows == [(TICKET_PAGE_REVEAL, f"ticket:{number}", "zhuguan")]

    page.goto(f"{live_server.url}/console/stats/tickets/{number}")
    assert NAME not in page.locator("body").inner_text()
