"""Trends for supervisors: the figures of `stats` per day or per ISO week, for charts.

Shared by the charts on /console/stats and the weekly report 《投诉举报动态》 (`report.py`)::

    with session_scope() as session:
        t = trends(session, "day")             # the last 30 Shanghai calendar days
        t.buckets                              # ["11-06", ..., "12-05"]
        t.by_kind[0].label, t.by_kind[0].values   # "退款纠纷", [0, 2, 1, ...]

Every series has one value per bucket. Rates are fractions (0..1) or None when the bucket has
nothing to divide by. Like `stats`, nothing here carries a citizen's name or phone number.

Conversations: the project database does not keep every conversation (Rasa's tracker store
does), so the self-service and hand-off rates count the conversations that left a trace here:
a ticket, a hand-off, a 有帮助/没帮助 vote, an unanswered question or a satisfaction rating.
A conversation belongs to the bucket of its first trace.

* 转人工率 = conversations handed to a human ÷ conversations.
* 自助办结率 = conversations that 小安 settled alone (a ticket filed or an answer voted 有帮助,
  and no hand-off) ÷ conversations. Conversations that only left an unanswered question or a
  没帮助 vote count as not settled.
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from xiaoan.handoff.models import HandoffSession
from xiaoan.kb.models import KbUnanswered, KbVote
from xiaoan.localtime import SHANGHAI, shanghai_date, utcnow
from xiaoan.ratings import BASIC, DISSATISFIED, SATISFIED, ServiceRating
from xiaoan.supervision import alerts as alerts_module
from xiaoan.supervision import stats
from xiaoan.supervision.alerts import TICKET_INTENTS
from xiaoan.tickets.models import Ticket
from xiaoan.tickets.routing import load_rules
from xiaoan.tickets.validators import district_name

#: granularity -> (Chinese label, number of buckets shown by default)
GRANULARITIES = {"day": ("按日", 30), "week": ("按周", 12)}
DEFAULT_GRANULARITY = "day"

#: Districts and agencies beyond this many (the busiest over the whole period) are summed as 其他.
TOP_SERIES = 6
OTHER_LABEL = "其他"

PREPAID_INTENT = "complain_prepaid"
PREPAID_LABEL = "预付卡纠纷"
VANISHING_LABEL = "“跑路/关门”迹象"

RATE_LABELS = {
    "self_service": "自助办结率",
    "handoff": "转人工率",
    "on_time": "按时办结率",
    "satisfaction": "满意率",
}


@dataclass(frozen=True)
class Series:
    """One line or stack of a chart."""

    key: str | None
    label: str               # Chinese
    values: list             # one number (or None for a rate with nothing to divide) per bucket


@dataclass(frozen=True)
class Trends:
    """The charts' data over consecutive buckets (days or ISO weeks)."""

    granularity: str             # "day" | "week"
    label: str                   # 按日 / 按周
    starts: list[dt.date]        # first Shanghai day of each bucket
    buckets: list[str]           # the buckets' Chinese axis labels
    totals: list[int]            # tickets per bucket
    by_kind: list[Series]        # the four kinds of request (always), then any other intent
    by_district: list[Series]    # the busiest districts, then 其他
    by_agency: list[Series]      # the busiest agencies, then 其他
    signals: list[Series]        # prepaid-card complaints; tickets that mention 跑路/关门...
    rates: list[Series]          # self-service, hand-off, on-time, satisfaction (RATE_LABELS order)
    ratings_total: int           # satisfaction ratings over the whole period (0: no chart)
    signals_available: bool      # False when alert_rules.yml is broken (keyword series empty)

    @property
    def days(self) -> int:
        return 1 if self.granularity == "day" else 7


class TrendsError(ValueError):
    """Bad parameters (the message is Chinese, for staff)."""


def bucket_starts(granularity: str, periods: int, last_day: dt.date) -> list[dt.date]:
    """The first days of `periods` consecutive buckets, the last one containing `last_day`.

    Weeks are ISO weeks (Monday to Sunday).
    """
    if granularity not in GRANULARITIES:
        raise TrendsError(f"趋势粒度只能是 {'、'.join(GRANULARITIES)}，收到：{granularity!r}")
    if periods < 1:
        raise TrendsError("趋势至少要有 1 个时段。")
    if granularity == "day":
        return [last_day - dt.timedelta(days=i) for i in range(periods - 1, -1, -1)]
    monday = last_day - dt.timedelta(days=last_day.weekday())
    return [monday - dt.timedelta(weeks=i) for i in range(periods - 1, -1, -1)]


def bucket_label(granularity: str, start: dt.date) -> str:
    """12-05 for a day; "第49周\n11-30起" (two lines under the axis) for an ISO week."""
    if granularity == "day":
        return start.strftime("%m-%d")
    return f"第{start.isocalendar()[1]}周\n{start.strftime('%m-%d')}起"


def _utc_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=SHANGHAI).astimezone(dt.timezone.utc)


def _top_series(per_bucket: list[dict], label_of, limit: int = TOP_SERIES) -> list[Series]:
    """Series for the `limit` busiest keys over all buckets, the rest summed as 其他."""
    totals: dict = {}
    for counts in per_bucket:
        for key, n in counts.items():
            totals[key] = totals.get(key, 0) + n
    ranked = sorted(totals, key=lambda k: (-totals[k], k is None, k or ""))
    top, rest = ranked[:limit], set(ranked[limit:])
    series = [Series(k, label_of(k), [c.get(k, 0) for c in per_bucket]) for k in top]
    if rest:
        series.append(Series("other", OTHER_LABEL,
                             [sum(n for k, n in c.items() if k in rest) for c in per_bucket]))
    return series


def trends(session: Session, granularity: str = DEFAULT_GRANULARITY, *, periods: int | None = None,
           now: dt.datetime | None = None, last_day: dt.date | None = None) -> Trends:
    """The figures per day (default: the last 30 days) or per ISO week (the last 12 weeks).

    Args:
        session: A database session.
        granularity: "day" or "week".
        periods: Number of buckets (default: GRANULARITIES).
        now: The current time: open tickets are judged on its date (default: now).
        last_day: The Shanghai day the last bucket contains (default: today).

    Raises:
        TrendsError: an unknown granularity or fewer than one period.
    """
    if granularity not in GRANULARITIES:
        raise TrendsError(f"趋势粒度只能是 {'、'.join(GRANULARITIES)}，收到：{granularity!r}")
    label, default_periods = GRANULARITIES[granularity]
    now = now or utcnow()
    last_day = last_day or shanghai_date(now)
    starts = bucket_starts(granularity, periods or default_periods, last_day)
    step = dt.timedelta(days=1 if granularity == "day" else 7)
    bounds = [_utc_midnight(s) for s in starts] + [_utc_midnight(starts[-1] + step)]
    first, end = bounds[0], bounds[-1]

    def bucket_of(moment: dt.datetime) -> int | None:
        """The bucket whose [start, next start) holds `moment` (bounds are Shanghai midnights in UTC)."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.timezone.utc)
        index = bisect.bisect_right(bounds, moment) - 1
        return index if 0 <= index < len(starts) else None

    n = len(starts)
    kinds = [dict() for _ in range(n)]
    districts = [dict() for _ in range(n)]
    agencies = [dict() for _ in range(n)]
    prepaid, vanishing = [0] * n, [0] * n
    try:
        signal_rules = alerts_module.load_alert_rules().signals
    except alerts_module.AlertRulesError:
        signal_rules = None

    stmt = (select(Ticket.created_at, Ticket.intent, Ticket.district, Ticket.agency, Ticket.facts, Ticket.claim,
                   Ticket.conversation_id)
            .where(Ticket.created_at >= first, Ticket.created_at < end))
    first_seen: dict[str, int] = {}
    settled: set[str] = set()
    for created_at, intent, district, agency, facts, claim, conversation_id in session.execute(stmt):
        i = bucket_of(created_at)
        if i is None:
            continue
        for counts, key in ((kinds[i], intent), (districts[i], district), (agencies[i], agency)):
            counts[key] = counts.get(key, 0) + 1
        if intent == PREPAID_INTENT:
            prepaid[i] += 1
        if signal_rules is not None:
            found = alerts_module.ticket_signals(None, facts, claim, signal_rules)
            if found:
                vanishing[i] += 1
        _seen(first_seen, conversation_id, i)
        settled.add(conversation_id)

    handed_off: set[str] = set()
    for conversation_id, at in session.execute(
            select(HandoffSession.conversation_id, HandoffSession.waiting_since)
            .where(HandoffSession.waiting_since >= first, HandoffSession.waiting_since < end)):
        i = bucket_of(at)
        if i is not None:
            _seen(first_seen, conversation_id, i)
            handed_off.add(conversation_id)
    for conversation_id, at, helpful in session.execute(
            select(KbVote.conversation_id, KbVote.created_at, KbVote.helpful)
            .where(KbVote.created_at >= first, KbVote.created_at < end)):
        i = bucket_of(at)
        if i is not None and conversation_id:
            _seen(first_seen, conversation_id, i)
            if helpful:
                settled.add(conversation_id)
    for model in (KbUnanswered, ServiceRating):
        for conversation_id, at in session.execute(
                select(model.conversation_id, model.created_at)
                .where(model.created_at >= first, model.created_at < end)):
            i = bucket_of(at)
            if i is not None and conversation_id:
                _seen(first_seen, conversation_id, i)

    conversations, self_served, handoffs = [0] * n, [0] * n, [0] * n
    for conversation_id, i in first_seen.items():
        conversations[i] += 1
        if conversation_id in handed_off:
            handoffs[i] += 1
        elif conversation_id in settled:
            self_served[i] += 1

    # on time: one pass over the period's tickets, judged like stats.deadline_figures
    today = shanghai_date(now)
    near_due_days = load_rules().deadlines.near_due
    outcomes = [dict.fromkeys(stats.DEADLINE_OUTCOMES, 0) for _ in range(n)]
    for resolve_by, status, updated_at, done_at, created_at in session.execute(
            stats.deadline_rows(first, end - dt.timedelta(microseconds=1))):
        i = bucket_of(created_at)
        if i is not None:
            outcomes[i][stats.deadline_outcome(resolve_by, status, updated_at, done_at, today=today,
                                               near_due_days=near_due_days)] += 1
    on_time = [_rate(o["on_time"], o["on_time"] + o["late"] + o["overdue"]) for o in outcomes]

    # satisfaction: (满意 + 基本满意) ÷ ratings, like stats.rating_figures
    rated, pleased = [0] * n, [0] * n
    for level, at in session.execute(select(ServiceRating.level, ServiceRating.created_at)
                                      .where(ServiceRating.created_at >= first, ServiceRating.created_at < end)):
        i = bucket_of(at)
        if i is not None and level in (SATISFIED, BASIC, DISSATISFIED):
            rated[i] += 1
            pleased[i] += level in (SATISFIED, BASIC)
    satisfaction = [_rate(pleased[i], rated[i]) for i in range(n)]
    ratings_total = sum(rated)

    intent_keys = list(TICKET_INTENTS) + sorted({k for c in kinds for k in c if k not in TICKET_INTENTS},
                                                key=lambda k: k or "")
    names = load_rules()
    return Trends(
        granularity=granularity,
        label=label,
        starts=starts,
        buckets=[bucket_label(granularity, s) for s in starts],
        totals=[sum(c.values()) for c in kinds],
        by_kind=[Series(k, stats.intent_label(k), [c.get(k, 0) for c in kinds]) for k in intent_keys],
        by_district=_top_series(districts, _district_label),
        by_agency=_top_series(agencies, lambda k: names.agency_name(k) if k else "未分派"),
        signals=[Series(PREPAID_INTENT, PREPAID_LABEL, prepaid),
                 Series("vanishing", VANISHING_LABEL, vanishing if signal_rules is not None else [None] * n)],
        rates=[Series("self_service", RATE_LABELS["self_service"],
                      [_rate(self_served[i], conversations[i]) for i in range(n)]),
               Series("handoff", RATE_LABELS["handoff"],
                      [_rate(handoffs[i], conversations[i]) for i in range(n)]),
               Series("on_time", RATE_LABELS["on_time"], on_time),
               Series("satisfaction", RATE_LABELS["satisfaction"], satisfaction)],
        ratings_total=ratings_total,
        signals_available=signal_rules is not None,
    )


def _district_label(code: str | None) -> str:
    return (district_name(code) or code) if code else stats.NO_DISTRICT_LABEL


def _rate(part: int, total: int) -> float | None:
    return part / total if total else None


def _seen(first_seen: dict[str, int], conversation_id: str | None, index: int) -> None:
    if not conversation_id:
        return
    if conversation_id not in first_seen or index < first_seen[conversation_id]:
        first_seen[conversation_id] = index


def chart_json(t: Trends) -> dict:
    """The data the charts script reads (xiaoan/web/static/js/stats_charts.js): rates in percent."""

    def series(items: list[Series], percent: bool = False) -> list[dict]:
        return [{"name": s.label,
                 "data": [None if v is None else (round(v * 100, 1) if percent else v) for v in s.values]}
                for s in items]

    return {
        "granularity": t.granularity,
        "buckets": t.buckets,
        "totals": t.totals,
        "by_kind": series(t.by_kind),
        "by_district": series(t.by_district),
        "by_agency": series(t.by_agency),
        "signals": series(t.signals),
        "rates": series(t.rates if t.ratings_total else t.rates[:3], percent=True),
    }
