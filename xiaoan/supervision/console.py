"""Supervisors' page at ``/console/stats`` (Flask blueprint `bp`): merchant early warnings first,
then what citizens asked and how it was handled over a chosen window (today / 7 / 30 days).

Only supervisors (and admins) may open it. Each alert links to its tickets by number; the
ticket view here is de-identified: no complainant name, phone number or address, and those
(and any phone or ID number) are masked inside the facts and claim too. A supervisor who needs
them presses 显示投诉人信息 (`POST .../reveal`, CSRF): the audit row (`ticket_page_reveal`,
`xiaoan.privacy_audit`) is committed first, and only then is the page shown once in clear (not
kept: a reload is masked again). No audit row, no personal data (503). The stylesheet is a
template file served by this blueprint, as the Content-Security-Policy forbids inline styles.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

import tempfile
from pathlib import Path

from flask import Blueprint, Response, abort, render_template, request

from xiaoan import privacy_audit
from sqlalchemy import select

from xiaoan import labels
from xiaoan.localtime import format_minutes, shanghai_date, utcnow
from xiaoan.privacy import address_variants, mask_text, replace_values
from xiaoan.supervision import alerts as alerts_module
from xiaoan.supervision import report as report_module
from xiaoan.supervision import stats, trends
from xiaoan.tickets.due import due_flag
from xiaoan.tickets.models import DONE_STATUSES, Ticket
from xiaoan.tickets.numbering import normalize_ticket_no
from xiaoan.tickets.routing import load_rules
from xiaoan.tickets.validators import district_name
from xiaoan.web.auth import current_user, login_required
from xiaoan.web.deps import add_template_assets, db_session
from xiaoan.web.errors import error_response

log = logging.getLogger(__name__)

bp = Blueprint("supervision", __name__, url_prefix="/console/stats")

#: Who may open the page (admin passes every check).
STATS_ROLES = ("supervisor",)

#: The pages' own wording is `xiaoan/resources/labels.yml` (messages.supervision).

# long digit runs left after mobile masking: landlines, ID card numbers, bank cards
_LONG_NUMBER = re.compile(r"(?<![\d*])\d{6,}[\dXx]?(?![\d*])")


def _time(value: dt.datetime | None) -> str:
    """A timestamp in Shanghai time, e.g. 2026-11-26 14:03."""
    return format_minutes(value)


def _percent(value: float | None) -> str:
    """0.9333 -> 93.3%; None -> —."""
    return "—" if value is None else f"{value * 100:.1f}%"


def _district(code: str | None) -> str:
    return (district_name(code) or code) if code else stats.NO_DISTRICT_LABEL


def _signal(value: str) -> str:
    return labels.intent(value) or value


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"fmt_time": _time, "pct": _percent, "yuan": report_module.yuan, "district_label": _district,
            "signal_label": _signal, "intent_label": stats.intent_label, "WINDOWS": stats.WINDOWS}


@bp.get("")
@bp.get("/")
@login_required(*STATS_ROLES)
def index():
    """Merchant early warnings, then the window's figures."""
    key = request.args.get("window") or stats.DEFAULT_WINDOW
    notice = None
    if key not in stats.WINDOWS:
        key, notice = stats.DEFAULT_WINDOW, labels.message("supervision.bad_window")
    trend_key = request.args.get("trend") or trends.DEFAULT_GRANULARITY
    if trend_key not in trends.GRANULARITIES:
        trend_key, notice = trends.DEFAULT_GRANULARITY, labels.message("supervision.bad_trend")
    window = stats.make_window(key)
    rules, alert_error = None, None
    try:
        rules = alerts_module.load_alert_rules()
    except alerts_module.AlertRulesError as exc:
        log.error("merchant alerts unavailable: %s", exc)
        alert_error = labels.message("supervision.rules_broken", error=exc)
    with db_session() as session:
        alerts = alerts_module.find_alerts(session, now=window.end, rules=rules) if rules else []
        figures = stats.overview(session, window)
        trend = trends.trends(session, trend_key, now=window.end)
    return render_template("supervision/stats.html", figures=figures, window=window, alerts=alerts,
                           alert_error=alert_error, notice=notice, rules=rules, trend=trend,
                           trend_data=trends.chart_json(trend), GRANULARITIES=trends.GRANULARITIES)


@bp.get("/tickets/<ticket_no>")
@login_required(*STATS_ROLES)
def ticket(ticket_no: str):
    """One ticket of an alert, without the complainant's personal data."""
    return _ticket_page(ticket_no, reveal=False)


@bp.post("/tickets/<ticket_no>/reveal")
@login_required(*STATS_ROLES)
def reveal_ticket(ticket_no: str):
    """显示投诉人信息: the same page once with the complainant's data, after the audit row is written."""
    number = normalize_ticket_no(ticket_no)
    if number is None:
        abort(404)
    with db_session() as session:
        if session.execute(select(Ticket.id).where(Ticket.ticket_no == number)).first() is None:
            abort(404)
    user = current_user()
    try:
        with db_session() as session:
            privacy_audit.record_view(session, actor=user.username, actor_id=user.id, actor_role=user.role,
                                      action=privacy_audit.TICKET_PAGE_REVEAL, subject=f"ticket:{number}",
                                      source="console", remote_addr=request.remote_addr)
    except Exception:  # noqa: BLE001 - no audit row, no personal data
        log.exception("ticket %s: reveal not logged, so not granted", number)
        return error_response(503, labels.message("supervision.reveal_not_logged"))
    page = _ticket_page(number, reveal=True)
    return Response(page, headers={"Cache-Control": "no-store"})


def _ticket_page(ticket_no: str, *, reveal: bool) -> str:
    number = normalize_ticket_no(ticket_no)
    if number is None:
        abort(404)
    with db_session() as session:
        row = session.execute(select(Ticket).where(Ticket.ticket_no == number)).scalar_one_or_none()
        if row is None:
            abort(404)
        rules = load_rules()
        flag = due_flag(row.resolve_by, row.status, shanghai_date(utcnow()),
                        near_due_days=rules.deadlines.near_due, done_statuses=DONE_STATUSES)
        view = {
            "ticket_no": row.ticket_no,
            "kind": labels.ticket_kind(row.kind),
            "intent": stats.intent_label(row.intent),
            "status": rules.status_label(row.status),
            "flag": labels.due_flag(flag) or None,
            "agency": rules.agency_name(row.agency),
            "district": _district(row.district),
            "created_at": row.created_at,
            "resolve_by": row.resolve_by,
            "respondent_name": row.respondent_name,
            "respondent_address": row.respondent_address,
            "online_platform": row.online_platform,
            "facts": row.facts if reveal else deidentify(row.facts, row),
            "claim": row.claim if reveal else deidentify(row.claim, row),
            "amount": row.amount,
            "anonymous": bool(row.anonymous),
            "has_personal_data": bool(row.complainant_name or row.phone or row.complainant_address),
        }
        if reveal:
            view.update(complainant_name=row.complainant_name, phone=row.phone,
                        complainant_address=row.complainant_address)
    return render_template("supervision/ticket.html", ticket=view, revealed=reveal)


def deidentify(text: str | None, ticket: Ticket) -> str | None:
    """A ticket's free text without the complainant's name, phone number or address.

    The complainant's own name, phone and address are replaced where they occur; then every
    other mobile number is masked (138****5678) and so is any run of six or more digits
    (landlines, ID card and bank card numbers) but its last four.
    """
    if not text:
        return text
    hidden_address = labels.message("supervision.hidden_address")
    replacements = [(variant, hidden_address) for variant in address_variants(ticket.complainant_address)]
    replacements += [(value.strip(), labels.message(f"supervision.hidden_{field}")) for value, field in
                     ((ticket.phone, "phone"), (ticket.complainant_name, "name"))
                     if value and len(value.strip()) >= 2]
    text = mask_text(replace_values(text, replacements)) or ""
    return _LONG_NUMBER.sub(lambda m: "*" * (len(m.group(0)) - 4) + m.group(0)[-4:], text)


REPORT_FORMATS = {"html": "text/html; charset=utf-8", "pdf": "application/pdf"}


@bp.get("/report")
@login_required(*STATS_ROLES)
def report_index():
    """The weekly report 《投诉举报动态》: pick a week, download HTML or PDF."""
    return render_template("supervision/report_index.html", weeks=_week_links(), error=None)


def _week_links() -> list[dict[str, str]]:
    return [{"code": report_module.week_code(monday),
             "label": labels.message("supervision.week", year=monday.year, week=monday.isocalendar()[1],
                                     start=f"{monday:%m-%d}", end=f"{monday + dt.timedelta(days=6):%m-%d}")}
            for monday in report_module.recent_weeks()]


@bp.get("/report/weekly.<fmt>")
@login_required(*STATS_ROLES)
def report_download(fmt: str):
    """report-YYYY-Www.html (self-contained) or .pdf as a download; ?week=YYYY-Www (default: last week)."""
    if fmt not in REPORT_FORMATS:
        abort(404)
    week = (request.args.get("week") or "").strip()
    try:
        monday = report_module.parse_week(week) if week else report_module.last_full_week()
        with db_session() as session:
            data = report_module.build_weekly(session, monday)
        if fmt == "html":
            body: bytes = report_module.render_html(data).encode("utf-8")
        else:
            with tempfile.TemporaryDirectory(prefix="xiaoan-report-") as tmp:
                _, pdf_path = report_module.write_report(data, Path(tmp))
                body = pdf_path.read_bytes()
    except report_module.BadWeek as exc:
        return render_template("supervision/report_index.html", weeks=_week_links(), error=str(exc)), 400
    except report_module.ReportError as exc:
        log.error("weekly report %s (%s) not made: %s", week or "last week", fmt, exc)
        return render_template("supervision/report_index.html", weeks=_week_links(),
                               error=labels.message("supervision.pdf_unavailable", error=exc)), 503
    filename = f"report-{data.week}.{fmt}"
    return Response(body, mimetype=REPORT_FORMATS[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})


# the page's stylesheet
add_template_assets(bp, {"stylesheet": ("/stats.css", "supervision/stats.css")})
