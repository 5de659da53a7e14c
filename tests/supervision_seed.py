"""A known two-week data set for the supervisors' trends and the weekly report (unit and browser tests).

`seed(db_url, monday)` fills the ISO week starting `monday` (the *report week*) and the week
before it. Expected figures (see the tests):

report week: 5 tickets — 3 prepaid-card (浦东 2 against 乐活健身, 徐汇 1), 1 refund (浦东), 1 report (静安);
  2 mention 跑路/关门; 12 conversations, 2 handed off (16.7%), 5 settled by 小安 alone (41.7%);
  1 ticket answered on time (on-time 100%); ratings 3 满意 + 1 不满意 (75.0%);
  unanswered: 健身卡能转让给别人吗 ×3, a question with a phone number ×1.
week before: 2 tickets (徐汇 refund, 杨浦 general), one answered on time and one overdue (on-time 50.0%);
  ratings 1 基本满意 + 1 不满意 (50.0%).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import update

from tests.fakes.clock import Clock as _Clock
from xiaoan.config import Settings
from xiaoan.db import session_scope
from xiaoan.handoff.models import HandoffSession
from xiaoan.kb.models import KbUnanswered, KbVote
from xiaoan.ratings import ServiceRating
from xiaoan.tickets.models import Ticket
from xiaoan.tickets.routing import Router
from xiaoan.tickets.service import TicketDraft, TicketService

SH = dt.timezone(dt.timedelta(hours=8))
SECRET_NAME, SECRET_PHONE = "赵小燕", "13912340000"
UNANSWERED_PHONE = "13812345678"


def _at(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=SH)


def _ticket(db_url: str, at: dt.datetime, conversation_id: str, answered_at: dt.datetime | None = None,
            **overrides) -> str:
    fields = dict(
        kind="complaint", intent="complain_general", channel="web", conversation_id=conversation_id,
        complainant_name=SECRET_NAME, phone=SECRET_PHONE, complainant_address="上海市长宁区天山路1号",
        respondent_name="某某商店", respondent_address="上海市某路1号", district="yangpu",
        facts="买的东西坏了", claim="退货", amount=Decimal("100"),
    )
    fields.update(overrides)
    clock = _Clock(at)
    service = TicketService(Settings(database_url=db_url), clock=clock,
                            router=Router(resolve_district=lambda text: None))
    number = service.create(TicketDraft(**fields), uuid.uuid4().hex).ticket_no
    if answered_at is not None:
        clock.now = answered_at
        service.set_status(number, "answered", "承办人")
    return number


def seed(db_url: str, monday: dt.date) -> dict[str, list[str]]:
    """Fill the report week starting `monday` and the week before; returns the ticket numbers."""
    day = lambda n: monday + dt.timedelta(days=n)  # noqa: E731
    prev = lambda n: monday - dt.timedelta(days=7 - n)  # noqa: E731
    week = [
        _ticket(db_url, _at(day(1), 9), "c1", answered_at=_at(day(2)), intent="complain_prepaid",
                district="pudong", respondent_name="乐活健身房", facts="老板跑路了，卡里还有钱", amount=Decimal("3000")),
        _ticket(db_url, _at(day(1), 15), "c2", intent="complain_prepaid", district="pudong",
                respondent_name="上海乐活健身有限公司", facts="健身房关门了", amount=Decimal("2000")),
        _ticket(db_url, _at(day(2)), "c3", intent="complain_prepaid", district="xuhui",
                respondent_name="美美美容院", facts="办了卡不给退", amount=Decimal("1500")),
        _ticket(db_url, _at(day(2), 14), "c4", intent="complain_refund", district="pudong",
                respondent_name="便民超市", facts="不给退货", amount=Decimal("80")),
        _ticket(db_url, _at(day(3)), "c5", kind="report", intent="report_violation", district="jingan",
                respondent_name="无名小店", facts="无证经营", claim=None, amount=None),
    ]
    before = [
        _ticket(db_url, _at(prev(1)), "p1", answered_at=_at(prev(3)), intent="complain_refund", district="xuhui"),
        _ticket(db_url, _at(prev(2)), "p2", intent="complain_general", district="yangpu"),
    ]
    with session_scope(db_url) as s:
        # the second ticket of the week before is open and past its deadline
        s.execute(update(Ticket).where(Ticket.ticket_no == before[1]).values(resolve_by=prev(4)))
        s.add_all([
            HandoffSession(conversation_id="c4", channel="web", reason="requested", status="closed",
                           waiting_since=_at(day(2), 13)),
            HandoffSession(conversation_id="h1", channel="web", reason="fallback", status="closed",
                           waiting_since=_at(day(3), 11)),
            KbVote(entry_id="consumer.prepaid-card", conversation_id="v1", helpful=True, created_at=_at(day(2))),
            KbVote(entry_id="consumer.prepaid-card", conversation_id="v2", helpful=False, created_at=_at(day(2))),
            *[KbUnanswered(text="健身卡能转让给别人吗", conversation_id=f"u{i}", created_at=_at(day(1 + i % 2), 11))
              for i in range(3)],
            KbUnanswered(text=f"电话{UNANSWERED_PHONE[:3]}****{UNANSWERED_PHONE[-4:]}停机了怎么投诉", conversation_id="u9",
                         created_at=_at(day(2), 16)),
            *[ServiceRating(conversation_id=c, channel="web", level=level, created_at=_at(day(2), 17))
              for c, level in (("c1", "satisfied"), ("c2", "satisfied"), ("v1", "satisfied"), ("c4", "dissatisfied"))],
            ServiceRating(conversation_id="p1", channel="web", level="basic", created_at=_at(prev(3))),
            ServiceRating(conversation_id="p2", channel="web", level="dissatisfied", created_at=_at(prev(3))),
        ])
    return {"week": week, "before": before}
