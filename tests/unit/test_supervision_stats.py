"""Supervisors' figures (xiaoan.supervision.stats) on a small known data set with a fixed clock."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest

from tests.fakes.clock import Clock
from xiaoan.config import Settings
from xiaoan.db import session_scope
from xiaoan.handoff.models import REASONS, HandoffSession
from xiaoan.kb.models import KbEntry, KbUnanswered, KbVote
from xiaoan.ratings import ServiceRating
from xiaoan.supervision import stats
from xiaoan.tickets.routing import Router
from xiaoan.tickets.service import TicketDraft, TicketService

UTC = dt.timezone.utc
SH = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2026, 11, 26, 10, 0, tzinfo=SH)      # Thursday 10:00 in Shanghai


def draft(**overrides) -> TicketDraft:
    fields = dict(
        kind="complaint", intent="complain_general", channel="web", conversation_id="conv-stats",
        complainant_name="李四", phone="13900001111", complainant_address="上海市杨浦区国权路1号",
        respondent_name="某某商店", respondent_address="上海市杨浦区五角场1号", district="yangpu",
        facts="买的东西坏了", claim="退货", amount=Decimal("100"),
    )
    fields.update(overrides)
    return TicketDraft(**fields)


def file_ticket(db_url: str, at: dt.datetime, answered_at: dt.datetime | None = None, **overrides) -> str:
    """A ticket filed at `at` (Shanghai time), answered at `answered_at` when given."""
    clock = Clock(at)
    service = TicketService(Settings(database_url=db_url), clock=clock, router=Router(resolve_district=lambda t: None))
    number = service.create(draft(**overrides), uuid.uuid4().hex).ticket_no
    if answered_at is not None:
        clock.now = answered_at
        service.set_status(number, "answered", "承办人")
    return number


def sh(month: int, day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, 0, tzinfo=SH)


@pytest.fixture()
def data(db_url):
    """The known data set (see each test for what it expects)."""
    # tickets: 5 in the last 7 days, 1 older (in the 30-day window only)
    file_ticket(db_url, sh(11, 26, 9), intent="complain_prepaid", district="pudong")              # today
    file_ticket(db_url, sh(11, 25), intent="complain_prepaid", district="pudong")
    file_ticket(db_url, sh(11, 24), intent="complain_refund", district="xuhui")
    file_ticket(db_url, sh(11, 20, 0), kind="report", intent="report_violation", district=None,  # first minute
                facts="无证经营", claim=None, amount=None)
    file_ticket(db_url, sh(11, 19, 23), intent="complain_general")                              # just before 7d
    file_ticket(db_url, sh(11, 2))                                                               # 30d only
    with session_scope(db_url) as s:
        s.add_all(
            [ServiceRating(conversation_id=f"r{i}", channel="web", level=level, created_at=NOW - dt.timedelta(days=1))
             for i, level in enumerate(["satisfied"] * 3 + ["basic", "dissatisfied"])]
            + [ServiceRating(conversation_id="old", channel="web", level="dissatisfied",
                             created_at=NOW - dt.timedelta(days=20))]
        )
        s.add_all([HandoffSession(conversation_id=f"h{i}", channel="web", reason=reason, status="closed",
                                  waiting_since=NOW - dt.timedelta(hours=i + 1))
                   for i, reason in enumerate(["requested", "requested", "urgent"])])
        s.add(HandoffSession(conversation_id="h-old", channel="web", reason="angry", status="closed",
                             waiting_since=NOW - dt.timedelta(days=9)))
        for i, text in enumerate(["健身卡能转让吗"] * 3 + ["电话13812345678打不通怎么办", "健身卡能转让吗"]):
            at = NOW - dt.timedelta(hours=i + 1) if i < 4 else NOW - dt.timedelta(days=10)
            s.add(KbUnanswered(text=text, created_at=at))
        s.add(KbEntry(id="consumer.prepaid-card", area="consumer", title="预付卡怎么退？", phrasings=[],
                      answer="……", tags=[], status="published", updated_by="t"))
        votes = [("consumer.prepaid-card", False)] * 3 + [("consumer.prepaid-card", True),
                                                          ("consumer.gone", False), ("consumer.liked", True)]
        s.add_all([KbVote(entry_id=e, helpful=h, created_at=NOW - dt.timedelta(hours=2)) for e, h in votes])
        s.add(KbVote(entry_id="consumer.gone", helpful=False, created_at=NOW - dt.timedelta(days=8)))


def test_windows_are_shanghai_calendar_days():
    today = stats.make_window("today", NOW)
    assert today.start == dt.datetime(2026, 11, 26, 0, 0, tzinfo=SH) and today.end == NOW
    assert stats.make_window("7d", NOW).start == dt.datetime(2026, 11, 20, 0, 0, tzinfo=SH)
    assert stats.make_window("30d", NOW).start == dt.datetime(2026, 10, 28, 0, 0, tzinfo=SH)
    assert stats.make_window(None, NOW).key == "7d"
    with pytest.raises(stats.StatsError, match="统计时段只能是 today、7d、30d"):
        stats.make_window("90d", NOW)


def test_tickets_by_intent_agency_and_district(db_url, data):
    week = stats.make_window("7d", NOW)
    with session_scope(db_url) as s:
        assert stats.tickets_total(s, week) == 4
        assert [(r.label, r.count) for r in stats.tickets_by_intent(s, week)] == [
            ("退款纠纷", 1), ("预付卡纠纷", 2), ("其他消费投诉", 0), ("举报", 1)]
        assert [(r.key, r.label, r.count) for r in stats.tickets_by_agency(s, week)] == [
            ("dist-pudong", "浦东新区市场监督管理局", 2), ("city-samr", "上海市市场监督管理局", 1),
            ("dist-xuhui", "徐汇区市场监督管理局", 1)]
        by_district = stats.tickets_by_district(s, week)
        assert [(r.key, r.label, r.count, r.share) for r in by_district] == [
            ("pudong", "浦东新区", 2, 0.5), ("xuhui", "徐汇区", 1, 0.25), (None, "未确定区", 1, 0.25)]
        today = stats.make_window("today", NOW)
        assert [r.count for r in stats.tickets_by_intent(s, today)] == [0, 1, 0, 0]
        assert stats.tickets_total(s, stats.make_window("30d", NOW)) == 6


def test_deadlines_use_the_due_flag_and_the_answer_time(db_url):
    # complaints are due 5 working days after filing (no holidays in November 2026)
    file_ticket(db_url, sh(11, 2), answered_at=sh(11, 9, 18))    # due 11-09: answered that day -> on time
    file_ticket(db_url, sh(11, 2), answered_at=sh(11, 10, 9))    # due 11-09: answered a day late
    file_ticket(db_url, sh(11, 3))                                # due 11-10, still open -> overdue
    file_ticket(db_url, sh(11, 19))                               # due 11-26 = today -> near due
    file_ticket(db_url, sh(11, 26, 8))                            # due 12-03 -> in time
    with session_scope(db_url) as s:
        figures = stats.deadline_figures(s, stats.make_window("30d", NOW))
    assert (figures.answered_on_time, figures.answered_late, figures.open_overdue, figures.open_near_due,
            figures.open_in_time, figures.total, figures.due) == (1, 1, 1, 1, 1, 5, 3)
    assert figures.on_time_rate == pytest.approx(1 / 3) and figures.overdue_rate == pytest.approx(2 / 3)


def test_deadline_rates_are_none_when_nothing_is_due(db_url):
    file_ticket(db_url, sh(11, 26, 8))
    with session_scope(db_url) as s:
        figures = stats.deadline_figures(s, stats.make_window("today", NOW))
    assert (figures.total, figures.open_in_time, figures.on_time_rate, figures.overdue_rate) == (1, 1, None, None)


def test_ratings_and_the_satisfaction_rate(db_url, data):
    with session_scope(db_url) as s:
        week = stats.rating_figures(s, stats.make_window("7d", NOW))
        month = stats.rating_figures(s, stats.make_window("30d", NOW))
        today = stats.rating_figures(s, stats.make_window("today", NOW))
    assert (week.satisfied, week.basic, week.dissatisfied, week.total) == (3, 1, 1, 5)
    assert week.satisfaction_rate == pytest.approx(0.8)          # (满意 + 基本满意) / 全部
    assert month.total == 6 and month.satisfaction_rate == pytest.approx(4 / 6)
    assert today.total == 0 and today.satisfaction_rate is None


def test_handoffs_by_reason_list_every_reason(db_url, data):
    with session_scope(db_url) as s:
        rows = stats.handoffs_by_reason(s, stats.make_window("7d", NOW))
    assert [r.key for r in rows] == list(REASONS)
    assert {r.key: r.count for r in rows} == {"requested": 2, "fallback": 0, "form_failed": 0, "angry": 0, "urgent": 1}
    assert [r.label for r in rows] == ["市民要求转人工", "小安多次未能理解", "填表多次未通过", "市民情绪激动", "紧急情况"]


def test_top_unanswered_questions_grouped_and_masked(db_url, data):
    with session_scope(db_url) as s:
        rows = stats.top_unanswered(s, stats.make_window("7d", NOW))
    assert [(q.text, q.count) for q in rows] == [("健身卡能转让吗", 3), ("电话138****5678打不通怎么办", 1)]


def test_most_downvoted_entries(db_url, data):
    with session_scope(db_url) as s:
        rows = stats.most_downvoted(s, stats.make_window("7d", NOW))
    assert [(e.entry_id, e.title, e.unhelpful, e.helpful) for e in rows] == [
        ("consumer.prepaid-card", "预付卡怎么退？", 3, 1), ("consumer.gone", None, 1, 0)]


def test_overview_is_json_ready_and_free_of_personal_data(db_url, data):
    with session_scope(db_url) as s:
        figures = stats.overview(s, stats.make_window("7d", NOW))
    text = json.dumps(stats.to_json(figures), ensure_ascii=False)
    assert '"tickets_total": 4' in text and '"satisfaction_rate": 0.8' in text
    assert '"start": "2026-11-20T00:00:00+08:00"' in text
    for secret in ("李四", "13900001111", "13812345678", "国权路"):
        assert secret not in text
