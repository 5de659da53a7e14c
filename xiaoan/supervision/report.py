"""The weekly report 《投诉举报动态》: one ISO week's complaints and reports, compared with the week
before, as a self-contained HTML file and a PDF printed from it by headless Chromium.

Used by `xiaoan report weekly [--week YYYY-Www] --out DIR` and by the console
(/console/stats/report)::

    week = parse_week("2026-W49")                  # or last_full_week()
    with session_scope() as session:
        data = build_weekly(session, week)
    html = render_html(data)                       # str: charts, tables, script and styles inline
    write_report(data, Path("out"))                # out/report.html and out/report.pdf

Contents: key figures with week-over-week changes (tickets, prepaid-card disputes, 跑路/关门
signals, self-service, hand-off, on-time and satisfaction rates), charts (the week day by day,
the last 8 weeks), tickets by kind and by district, merchants under alert, the week's
prepaid-card cases, the questions 小安 could not answer most often. Like /console/stats it
carries no citizen's name, phone number or address: ticket numbers, merchants, districts,
amounts and masked questions only.

The HTML file inlines the vendored ECharts (xiaoan/web/static/vendor/echarts/) so that it can be
forwarded and opened anywhere without a network. The PDF is printed by Chromium (Debian's
/usr/bin/chromium, or XIAOAN_CHROMIUM) through Playwright: no download at run time.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xiaoan import labels
from xiaoan.localtime import SHANGHAI, format_minutes, shanghai_date, utcnow
from xiaoan.supervision import alerts as alerts_module
from xiaoan.supervision import stats, trends
from xiaoan.tickets.models import Ticket
from xiaoan.tickets.routing import load_rules
from xiaoan.tickets.validators import district_name
from xiaoan.understanding.money import format_amount

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
ECHARTS_JS = WEB_DIR / "static" / "vendor" / "echarts" / "echarts.common.min.js"
CHARTS_JS = WEB_DIR / "static" / "js" / "stats_charts.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

#: Weeks in the trend chart of the report.
TREND_WEEKS = 8
#: Lines in the tables of unanswered questions and prepaid-card cases.
TOP_QUESTIONS = 10
MAX_PREPAID_CASES = 50

_WEEK = re.compile(r"^\s*(\d{4})-?[Ww](\d{1,2})\s*$")


class ReportError(ValueError):
    """The report cannot be made (the message is Chinese, for staff): Chromium missing, printing failed..."""


class BadWeek(ReportError):
    """The week asked for is not a week, or has not started yet."""


# --- weeks -------------------------------------------------------------------------------------------


def parse_week(text: str) -> dt.date:
    """The Monday of ISO week "2026-W49" (also "2026W49", "2026-w49").

    Raises:
        BadWeek: not a week, or a week that does not exist (e.g. 2026-W54).
    """
    match = _WEEK.match(text or "")
    if not match:
        raise BadWeek(f"周次格式应为“年-W周”，例如 2026-W49，收到：{text!r}")
    year, week = int(match.group(1)), int(match.group(2))
    try:
        return dt.date.fromisocalendar(year, week, 1)
    except ValueError as exc:
        raise BadWeek(f"{year} 年没有第 {week} 周。") from exc


def week_code(monday: dt.date) -> str:
    """2026-W49."""
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def last_full_week(now: dt.datetime | None = None) -> dt.date:
    """The Monday of the last complete ISO week before `now` (Shanghai time)."""
    today = shanghai_date(now or utcnow())
    return today - dt.timedelta(days=today.weekday() + 7)


def recent_weeks(count: int = 12, now: dt.datetime | None = None) -> list[dt.date]:
    """Mondays of the last `count` complete weeks, latest first."""
    last = last_full_week(now)
    return [last - dt.timedelta(weeks=i) for i in range(count)]


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=SHANGHAI).astimezone(dt.timezone.utc)


def week_window(monday: dt.date) -> stats.Window:
    """The ISO week starting `monday` as a stats window (Monday 00:00 to Sunday 24:00, Shanghai)."""
    return stats.Window(key="week", label=week_code(monday), start=_midnight(monday),
                        end=_midnight(monday + dt.timedelta(days=7)) - dt.timedelta(microseconds=1))


# --- the data ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """A figure this week and the week before."""

    label: str
    current: float | int | None
    previous: float | int | None
    rate: bool = False            # a fraction shown as a percentage; the change is in points
    higher_is_better: bool = False

    @property
    def current_text(self) -> str:
        return _figure(self.current, self.rate)

    @property
    def previous_text(self) -> str:
        return _figure(self.previous, self.rate)

    @property
    def change_text(self) -> str:
        """+3（+150.0%） for counts, +2.5 个百分点 for rates, — when either side is missing."""
        if self.current is None or self.previous is None:
            return "—"
        if self.rate:
            points = (self.current - self.previous) * 100
            return "持平" if abs(points) < 0.05 else f"{points:+.1f} 个百分点"
        diff = self.current - self.previous
        if diff == 0:
            return "持平"
        if not self.previous:
            return f"{diff:+d}（上周为 0）"
        return f"{diff:+d}（{diff / self.previous * 100:+.1f}%）"

    @property
    def direction(self) -> str:
        """up | down | same | none."""
        if self.current is None or self.previous is None:
            return "none"
        return "up" if self.current > self.previous else "down" if self.current < self.previous else "same"

    @property
    def tone(self) -> str:
        """worse | better | "" (the change's colour): more complaints are worse, a higher
        on-time rate is better."""
        if self.direction not in ("up", "down"):
            return ""
        return "better" if (self.direction == "up") == self.higher_is_better else "worse"


def _figure(value, rate: bool) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.1f}%" if rate else str(value)


@dataclass(frozen=True)
class PrepaidCase:
    """A prepaid-card complaint of the week (no personal data of the citizen)."""

    ticket_no: str
    merchant: str
    district: str
    amount: Decimal | None
    status: str
    created_at: dt.datetime


@dataclass(frozen=True)
class WeeklyReport:
    """Everything report.html shows."""

    week: str                              # 2026-W49
    monday: dt.date
    sunday: dt.date
    generated_at: dt.datetime
    key_figures: list[Change]
    by_kind: list[Change]
    by_district: list[Change]
    daily: trends.Trends                   # the week, day by day
    weekly: trends.Trends                  # the last TREND_WEEKS weeks
    alerts: list[alerts_module.MerchantAlert]
    alert_error: str | None
    prepaid_cases: list[PrepaidCase]
    unanswered: list[stats.UnansweredQuestion]
    deadlines: stats.DeadlineFigures
    ratings: stats.RatingFigures

    @property
    def title(self) -> str:
        return f"投诉举报动态（{self.monday.year}年第{self.monday.isocalendar()[1]}周）"

    @property
    def period(self) -> str:
        return f"{self.monday.year}年{self.monday.month}月{self.monday.day}日至{self.sunday.month}月{self.sunday.day}日"


def _series(items: list[trends.Series], key: str) -> list:
    return next(s.values for s in items if s.key == key)


def _breakdown(current: list[stats.CountRow], previous: list[stats.CountRow], keep_zero: bool) -> list[Change]:
    prev = {r.key: r.count for r in previous}
    rows = [Change(r.label, r.count, prev.get(r.key, 0)) for r in current if keep_zero or r.count or prev.get(r.key)]
    seen = {r.key for r in current}
    rows += [Change(r.label, 0, r.count) for r in previous if r.key not in seen and r.count]
    return rows


def build_weekly(session: Session, monday: dt.date, *, now: dt.datetime | None = None) -> WeeklyReport:
    """The report of the ISO week starting `monday`.

    Raises:
        BadWeek: a week that has not started yet.
    """
    now = now or utcnow()
    if monday.weekday() != 0:
        raise BadWeek("周报从周一开始。")
    if _midnight(monday) > now:
        raise BadWeek(f"{week_code(monday)} 还没有开始，无法生成周报。")
    sunday = monday + dt.timedelta(days=6)
    window, previous = week_window(monday), week_window(monday - dt.timedelta(days=7))
    weekly = trends.trends(session, "week", periods=TREND_WEEKS, now=now, last_day=sunday)
    daily = trends.trends(session, "day", periods=7, now=now, last_day=sunday)

    def pair(items, key):
        values = _series(items, key)
        return values[-1], values[-2]

    counts = dict(zip(("total", "complaints", "reports"), (
        (weekly.totals[-1], weekly.totals[-2]),
        _kind_counts(session, window, previous, "complaint"),
        _kind_counts(session, window, previous, "report"),
    )))
    key_figures = [
        Change("工单总数", *counts["total"]),
        Change("其中投诉", *counts["complaints"]),
        Change("其中举报", *counts["reports"]),
        Change("预付卡纠纷", *pair(weekly.signals, trends.PREPAID_INTENT)),
        Change("提到“跑路/关门”等迹象", *pair(weekly.signals, "vanishing")),
        Change("自助办结率", *pair(weekly.rates, "self_service"), rate=True, higher_is_better=True),
        Change("转人工率", *pair(weekly.rates, "handoff"), rate=True),
        Change("按时办结率", *pair(weekly.rates, "on_time"), rate=True, higher_is_better=True),
        Change("满意率", *pair(weekly.rates, "satisfaction"), rate=True, higher_is_better=True),
    ]
    alert_error = None
    try:
        alerts = alerts_module.find_alerts(session, now=min(now, window.end))
    except alerts_module.AlertRulesError as exc:
        alerts, alert_error = [], f"预警规则文件有误，本期未计算商家预警：{exc}"
    return WeeklyReport(
        week=week_code(monday), monday=monday, sunday=sunday, generated_at=now,
        key_figures=key_figures,
        by_kind=_breakdown(stats.tickets_by_intent(session, window), stats.tickets_by_intent(session, previous),
                           keep_zero=True),
        by_district=_breakdown(stats.tickets_by_district(session, window),
                               stats.tickets_by_district(session, previous), keep_zero=False),
        daily=daily, weekly=weekly, alerts=alerts, alert_error=alert_error,
        prepaid_cases=_prepaid_cases(session, window),
        unanswered=stats.top_unanswered(session, window, limit=TOP_QUESTIONS),
        deadlines=stats.deadline_figures(session, window, today=shanghai_date(now)),
        ratings=stats.rating_figures(session, window),
    )


def _kind_counts(session: Session, window: stats.Window, previous: stats.Window, kind: str) -> tuple[int, int]:
    def count(w: stats.Window) -> int:
        return session.execute(select(func.count(Ticket.id)).where(
            Ticket.kind == kind, Ticket.created_at >= w.start, Ticket.created_at <= w.end)).scalar_one()

    return count(window), count(previous)


def _prepaid_cases(session: Session, window: stats.Window) -> list[PrepaidCase]:
    rules = load_rules()
    stmt = (select(Ticket.ticket_no, Ticket.respondent_name, Ticket.district, Ticket.amount, Ticket.status,
                   Ticket.created_at)
            .where(Ticket.intent == trends.PREPAID_INTENT, Ticket.created_at >= window.start,
                   Ticket.created_at <= window.end)
            .order_by(Ticket.created_at, Ticket.id).limit(MAX_PREPAID_CASES))
    return [PrepaidCase(no, name or "（未填写）", (district_name(d) or d) if d else stats.NO_DISTRICT_LABEL,
                        amount, rules.status_label(status), created_at)
            for no, name, d, amount, status, created_at in session.execute(stmt)]


# --- HTML and PDF ------------------------------------------------------------------------------------


def yuan(value) -> str:
    """An amount for the supervisors' pages and the report: "2,000 元" ("—" for none)."""
    return format_amount(value, labels.message("common.amount_unit")) or "—"


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(WEB_DIR / "templates")),
                      autoescape=select_autoescape(["html"]))
    env.filters["yuan"] = yuan
    env.globals.update(fmt_time=format_minutes, pct=lambda v: _figure(v, True),
                       district_label=lambda c: (district_name(c) or c) if c else stats.NO_DISTRICT_LABEL,
                       signal_label=lambda s: stats.intent_label(s) if s in alerts_module.TICKET_INTENTS else s)
    return env


def _script(text: str) -> Markup:
    """JavaScript safe to place inside <script> (no closing tag can end it early)."""
    return Markup(text.replace("</", "<\\/"))


def render_html(report: WeeklyReport) -> str:
    """The report as one self-contained HTML document (styles, data, ECharts and the chart script inline)."""
    return _environment().get_template("supervision/report.html").render(
        report=report,
        daily_data=trends.chart_json(report.daily),
        weekly_data=trends.chart_json(report.weekly),
        echarts_js=_script(ECHARTS_JS.read_text(encoding="utf-8")),
        charts_js=_script(CHARTS_JS.read_text(encoding="utf-8")),
    )


def chromium_path() -> str:
    """Debian's Chromium (or XIAOAN_CHROMIUM).

    Raises:
        ReportError: it is not installed.
    """
    path = os.environ.get("XIAOAN_CHROMIUM", CHROMIUM)
    if not Path(path).exists():
        raise ReportError(f"找不到 Chromium（{path}），无法生成 PDF：请安装 Debian 的 chromium 软件包"
                          "（apt-get install chromium fonts-wqy-zenhei），或用环境变量 XIAOAN_CHROMIUM 指定。")
    return path


def print_pdf(html_path: Path, pdf_path: Path, *, timeout_ms: int = 60_000) -> None:
    """Print an HTML file to an A4 PDF with headless Chromium, once its charts are drawn.

    Runs Playwright's synchronous API in a thread of its own, so that it also works when the
    caller's thread has an asyncio loop running.

    Raises:
        ReportError: Chromium is missing or printing failed.
    """
    import threading

    executable = chromium_path()
    errors: list[BaseException] = []

    def run() -> None:
        from playwright.sync_api import sync_playwright

        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
                try:
                    page = browser.new_page(viewport={"width": 1000, "height": 1400}, locale="zh-CN",
                                            timezone_id="Asia/Shanghai")
                    page.set_default_timeout(timeout_ms)
                    page.goto(Path(html_path).resolve().as_uri())
                    page.wait_for_function("window.xiaoanChartsReady === true")
                    page.emulate_media(media="print")
                    page.pdf(path=str(pdf_path), format="A4", print_background=True, prefer_css_page_size=True,
                             margin={"top": "14mm", "bottom": "14mm", "left": "12mm", "right": "12mm"})
                finally:
                    browser.close()
        except BaseException as exc:  # noqa: BLE001 - reported to the caller's thread below
            errors.append(exc)

    thread = threading.Thread(target=run, name="report-pdf", daemon=True)
    thread.start()
    thread.join()
    if errors:
        raise ReportError(f"用 Chromium 打印 PDF 失败：{errors[0]}") from errors[0]


def write_report(report: WeeklyReport, out_dir: Path, *, pdf: bool = True) -> tuple[Path, Path | None]:
    """Write out_dir/report.html and (unless pdf=False) out_dir/report.pdf; returns their paths.

    The PDF is printed to a temporary file and moved in place, so a failed print leaves no
    half-written report.pdf (report.html is kept).
    """
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"无法创建输出目录 {out_dir}：{exc.strerror or exc}") from exc
    html_path = out_dir / "report.html"
    html_path.write_text(render_html(report), encoding="utf-8")
    if not pdf:
        return html_path, None
    pdf_path = out_dir / "report.pdf"
    with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".report-", suffix=".pdf", delete=False) as tmp:
        tmp_path = Path(tmp.name)
    try:
        print_pdf(html_path, tmp_path)
        tmp_path.chmod(html_path.stat().st_mode & 0o777)
        tmp_path.replace(pdf_path)
    finally:
        tmp_path.unlink(missing_ok=True)
    return html_path, pdf_path
