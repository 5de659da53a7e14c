"""Figures for supervisors: what citizens ask and how it is handled, over a chosen window.

One function per figure, each a SQL aggregation (SQLAlchemy 2.0-style `select()` with
`group_by`, bound parameters) returning plain dataclasses, shared by the console page
(/console/stats) and the command line (`xiaoan alerts stats`)::

    window = make_window("7d")
    with session_scope() as session:
        rows = tickets_by_intent(session, window)     # [CountRow(key, label, count, share), ...]
        everything = overview(session, window)

No figure carries a citizen's name or phone number: only codes, labels, counts, the
knowledge base's own texts and the unanswered questions (stored with phone numbers masked,
masked again here).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from xiaoan import labels
from xiaoan.handoff.models import REASONS, HandoffSession
from xiaoan.kb.models import KbEntry, KbUnanswered, KbVote
from xiaoan.localtime import SHANGHAI, iso_seconds, shanghai_date, utcnow
from xiaoan.privacy import mask_text
from xiaoan.ratings import BASIC, DISSATISFIED, SATISFIED, ServiceRating
from xiaoan.supervision.alerts import TICKET_INTENTS
from xiaoan.tickets.due import due_flag
from xiaoan.tickets.models import DONE_STATUSES, Ticket, TicketStatusEvent
from xiaoan.tickets.routing import load_rules
from xiaoan.tickets.validators import district_name

#: Windows a supervisor can choose: key -> (Chinese label, number of Shanghai calendar days
#: ending today).
WINDOWS = {"today": ("今天", 1), "7d": ("近7天", 7), "30d": ("近30天", 30)}
DEFAULT_WINDOW = "7d"

# The four kinds of citizens' requests that become tickets are `alerts.TICKET_INTENTS`
# (docs/interfaces.md §3); their labels, like those of the hand-off reasons, are in
# xiaoan/resources/labels.yml (xiaoan.labels).
RATING_LABELS = {SATISFIED: "满意", BASIC: "基本满意", DISSATISFIED: "不满意"}
NO_DISTRICT_LABEL = "未确定区"

TOP_LIMIT = 10


class StatsError(ValueError):
    """A figure was asked for with bad parameters (the message is Chinese, for staff)."""


@dataclass(frozen=True)
class Window:
    """A period the figures cover: Shanghai calendar days up to now."""

    key: str                 # "today" | "7d" | "30d"
    label: str               # 今天 / 近7天 / 近30天
    start: dt.datetime       # Shanghai midnight of the first day (aware)
    end: dt.datetime         # now (aware)


def make_window(key: str | None = None, now: dt.datetime | None = None) -> Window:
    """The window `key` (default "7d") ending at `now` (default: the current time).

    "today" starts at midnight Shanghai time; "7d" and "30d" cover today and the 6 or 29
    days before it.

    Raises:
        StatsError: an unknown key.
    """
    key = key or DEFAULT_WINDOW
    if key not in WINDOWS:
        raise StatsError(f"统计时段只能是 {'、'.join(WINDOWS)}，收到：{key!r}")
    now = now or utcnow()
    label, days = WINDOWS[key]
    first_day = shanghai_date(now) - dt.timedelta(days=days - 1)
    start = dt.datetime.combine(first_day, dt.time(), tzinfo=SHANGHAI).astimezone(dt.timezone.utc)
    return Window(key=key, label=label, start=start, end=now)


def _within(column, window: Window):
    return and_(column >= window.start, column <= window.end)


def _share(part: int, total: int) -> float:
    return part / total if total else 0.0


def _rate(part: int, total: int) -> float | None:
    return part / total if total else None


@dataclass(frozen=True)
class CountRow:
    """One line of a breakdown."""

    key: str | None          # the code (intent, agency, district, reason); None = not known
    label: str               # Chinese
    count: int
    share: float             # of the breakdown's total, 0..1 (0 when the total is 0)


def intent_label(intent: str | None) -> str:
    """The Chinese label of a ticket intent (其他 for one outside the four kinds)."""
    if intent in TICKET_INTENTS:
        return labels.intent(intent) or intent
    return f"其他（{intent}）" if intent else "其他"


def tickets_total(session: Session, window: Window) -> int:
    """Tickets (complaints and reports) created in the window."""
    return session.execute(select(func.count(Ticket.id)).where(_within(Ticket.created_at, window))).scalar_one()


def _grouped(session: Session, column, time_column, window: Window) -> dict[Any, int]:
    stmt = (select(column, func.count()).where(_within(time_column, window))
            .group_by(column))
    return {key: count for key, count in session.execute(stmt)}


def tickets_by_intent(session: Session, window: Window) -> list[CountRow]:
    """Tickets by kind of request: 退款纠纷, 预付卡纠纷, 其他消费投诉, 举报 (always listed, in this
    order), then any other intent."""
    counts = _grouped(session, Ticket.intent, Ticket.created_at, window)
    total = sum(counts.values())
    keys = list(TICKET_INTENTS) + sorted(k for k in counts if k not in TICKET_INTENTS)
    return [CountRow(k, intent_label(k), counts.get(k, 0), _share(counts.get(k, 0), total)) for k in keys]


def tickets_by_agency(session: Session, window: Window) -> list[CountRow]:
    """Tickets by the agency they were routed to (docs/interfaces.md §4), most first."""
    counts = _grouped(session, Ticket.agency, Ticket.created_at, window)
    total = sum(counts.values())
    names = load_rules()
    return [CountRow(k, names.agency_name(k), n, _share(n, total))
            for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def tickets_by_district(session: Session, window: Window) -> list[CountRow]:
    """Tickets by district (None = no district could be determined), most first."""
    counts = _grouped(session, Ticket.district, Ticket.created_at, window)
    total = sum(counts.values())
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0] is None, kv[0] or ""))
    return [CountRow(k, (district_name(k) or k) if k else NO_DISTRICT_LABEL, n, _share(n, total)) for k, n in rows]


@dataclass(frozen=True)
class DeadlineFigures:
    """Whether the window's tickets were answered in time (docs/domain.md §1, on-time closure rate).

    A ticket is *due* once it is answered (or closed) or its answer deadline has passed.

    Attributes:
        total: Tickets created in the window.
        answered_on_time: Answered or closed no later than their `resolve_by` day (Shanghai).
        answered_late: Answered or closed after it.
        open_overdue: Not answered and past `resolve_by` (`due_flag` "overdue").
        open_near_due: Not answered, deadline today or within the near-due working days.
        open_in_time: Not answered, deadline further away.
        on_time_rate: answered_on_time ÷ due tickets (None when none is due).
        overdue_rate: (answered_late + open_overdue) ÷ due tickets (None when none is due).
    """

    total: int
    answered_on_time: int
    answered_late: int
    open_overdue: int
    open_near_due: int
    open_in_time: int
    on_time_rate: float | None
    overdue_rate: float | None

    @property
    def due(self) -> int:
        """Tickets whose deadline has been met or missed."""
        return self.answered_on_time + self.answered_late + self.open_overdue


#: How a ticket stands against its answer deadline (`deadline_outcome`).
DEADLINE_OUTCOMES = ("on_time", "late", "overdue", "near_due", "in_time")


def deadline_rows(start: dt.datetime, end: dt.datetime):
    """SELECT resolve_by, status, updated_at, done_at (first answered/closed time), created_at of
    the tickets created between `start` and `end` (both included)."""
    in_range = _within_times(Ticket.created_at, start, end)
    done = (
        select(TicketStatusEvent.ticket_id, func.min(TicketStatusEvent.at).label("done_at"))
        .join(Ticket, Ticket.id == TicketStatusEvent.ticket_id)
        .where(TicketStatusEvent.status.in_(DONE_STATUSES), in_range)
        .group_by(TicketStatusEvent.ticket_id)
        .subquery()
    )
    return (select(Ticket.resolve_by, Ticket.status, Ticket.updated_at, done.c.done_at, Ticket.created_at)
            .outerjoin(done, done.c.ticket_id == Ticket.id).where(in_range))


def deadline_outcome(resolve_by: dt.date, status: str, updated_at: dt.datetime | None, done_at: Any, *,
                     today: dt.date, near_due_days: int) -> str:
    """One of DEADLINE_OUTCOMES: an answered ticket is on time when its first answered/closed
    status change fell on or before its deadline; an open one is flagged by `due_flag`."""
    if status in DONE_STATUSES:
        answered = shanghai_date(_aware(done_at) if done_at is not None else updated_at)
        return "on_time" if answered <= resolve_by else "late"
    return due_flag(resolve_by, status, today, near_due_days=near_due_days, done_statuses=DONE_STATUSES) or "in_time"


def _within_times(column, start: dt.datetime, end: dt.datetime):
    return and_(column >= start, column <= end)


def deadline_figures(session: Session, window: Window, *, today: dt.date | None = None,
                     near_due_days: int | None = None) -> DeadlineFigures:
    """On-time and overdue counts of the tickets created in the window.

    Open tickets are flagged with the tickets module's `due_flag`; an answered ticket is on
    time when its first answered/closed status change fell on or before its deadline.

    Args:
        session: A database session.
        window: The window.
        today: The Shanghai date to judge open tickets on (default: the window's end).
        near_due_days: Default: `deadlines.near_due` of routing_rules.yml.
    """
    if near_due_days is None:
        near_due_days = load_rules().deadlines.near_due
    today = today or shanghai_date(window.end)
    counts = dict.fromkeys(DEADLINE_OUTCOMES, 0)
    for row in session.execute(deadline_rows(window.start, window.end)):
        counts[deadline_outcome(*row[:4], today=today, near_due_days=near_due_days)] += 1
    due = counts["on_time"] + counts["late"] + counts["overdue"]
    return DeadlineFigures(
        total=sum(counts.values()), answered_on_time=counts["on_time"], answered_late=counts["late"],
        open_overdue=counts["overdue"], open_near_due=counts["near_due"], open_in_time=counts["in_time"],
        on_time_rate=_rate(counts["on_time"], due), overdue_rate=_rate(counts["late"] + counts["overdue"], due),
    )


@dataclass(frozen=True)
class UnansweredQuestion:
    """A question the knowledge base could not answer, with how often it was asked."""

    text: str                # phone numbers masked
    count: int
    last_asked_at: dt.datetime


def top_unanswered(session: Session, window: Window, limit: int = TOP_LIMIT) -> list[UnansweredQuestion]:
    """The unanswered questions asked most often in the window (same wording grouped)."""
    asked = func.count(KbUnanswered.id)
    last = func.max(KbUnanswered.created_at)
    stmt = (select(KbUnanswered.text, asked, last).where(_within(KbUnanswered.created_at, window))
            .group_by(KbUnanswered.text).order_by(asked.desc(), last.desc()).limit(limit))
    return [UnansweredQuestion(mask_text(text), count, _aware(at)) for text, count, at in session.execute(stmt)]


def _aware(value: Any) -> dt.datetime:
    """A max()/min() of a UTC column (SQLite may return text)."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class DownvotedEntry:
    """A knowledge-base entry citizens said did not help."""

    entry_id: str
    title: str | None        # None when the entry no longer exists
    unhelpful: int
    helpful: int


def most_downvoted(session: Session, window: Window, limit: int = TOP_LIMIT) -> list[DownvotedEntry]:
    """Entries with the most 没帮助 votes in the window (at least one)."""
    unhelpful = func.sum(case((KbVote.helpful.is_(False), 1), else_=0))
    helpful = func.sum(case((KbVote.helpful.is_(True), 1), else_=0))
    stmt = (
        select(KbVote.entry_id, KbEntry.title, unhelpful, helpful)
        .outerjoin(KbEntry, KbEntry.id == KbVote.entry_id)
        .where(_within(KbVote.created_at, window))
        .group_by(KbVote.entry_id, KbEntry.title)
        .having(unhelpful > 0)
        .order_by(unhelpful.desc(), helpful, KbVote.entry_id)
        .limit(limit)
    )
    return [DownvotedEntry(e, t, int(u or 0), int(h or 0)) for e, t, u, h in session.execute(stmt)]


@dataclass(frozen=True)
class RatingFigures:
    """Satisfaction ratings given in the window.

    Attributes:
        satisfaction_rate: (满意 + 基本满意) ÷ all ratings (docs/domain.md §1); None when there is none.
        ticket_callbacks: how many of the ratings answer the satisfaction question of a closed
            ticket (`xiaoan.notify.surveys`); the rest were given in a conversation.
    """

    satisfied: int
    basic: int
    dissatisfied: int
    total: int
    satisfaction_rate: float | None
    ticket_callbacks: int = 0


def rating_figures(session: Session, window: Window) -> RatingFigures:
    """Ratings by level and the satisfaction rate."""
    counts = _grouped(session, ServiceRating.level, ServiceRating.created_at, window)
    satisfied, basic, dissatisfied = (counts.get(k, 0) for k in (SATISFIED, BASIC, DISSATISFIED))
    total = satisfied + basic + dissatisfied
    from xiaoan.notify.models import TicketSurvey

    callbacks = session.execute(
        select(func.count()).select_from(TicketSurvey).join(ServiceRating, ServiceRating.id == TicketSurvey.rating_id)
        .where(_within(ServiceRating.created_at, window))).scalar_one()
    return RatingFigures(satisfied, basic, dissatisfied, total, _rate(satisfied + basic, total), callbacks)


def handoffs_by_reason(session: Session, window: Window) -> list[CountRow]:
    """Conversations handed to a human in the window, by reason (every reason listed)."""
    counts = _grouped(session, HandoffSession.reason, HandoffSession.waiting_since, window)
    total = sum(counts.values())
    keys = list(REASONS) + sorted(k for k in counts if k not in REASONS)
    return [CountRow(k, labels.handoff_reason(k), counts.get(k, 0), _share(counts.get(k, 0), total))
            for k in keys]


@dataclass(frozen=True)
class Overview:
    """Every figure of one window (what /console/stats shows)."""

    window: Window
    tickets_total: int
    by_intent: list[CountRow]
    by_agency: list[CountRow]
    by_district: list[CountRow]
    deadlines: DeadlineFigures
    ratings: RatingFigures
    handoffs: list[CountRow]
    unanswered: list[UnansweredQuestion]
    downvoted: list[DownvotedEntry]


def overview(session: Session, window: Window) -> Overview:
    """All figures of `window`."""
    return Overview(
        window=window,
        tickets_total=tickets_total(session, window),
        by_intent=tickets_by_intent(session, window),
        by_agency=tickets_by_agency(session, window),
        by_district=tickets_by_district(session, window),
        deadlines=deadline_figures(session, window),
        ratings=rating_figures(session, window),
        handoffs=handoffs_by_reason(session, window),
        unanswered=top_unanswered(session, window),
        downvoted=most_downvoted(session, window),
    )


def to_json(value: Any) -> Any:
    """A figure (dataclass, list, datetime...) as JSON-ready data; times ISO-8601 in Shanghai time."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dt.datetime):
        return iso_seconds(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value
