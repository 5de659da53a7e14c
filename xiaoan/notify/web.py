"""The chat page's notices (`GET /api/notices`, `POST /api/notices/<id>/satisfaction`) and the SMS
gateway's inbound replies (`POST /api/sms/replies`).

The chat conversation cookie lives only as long as the browser session; a notice must reach the
citizen on their next visit. So the page's first call sets a long-lived random cookie
``xiaoan_visitor`` (HttpOnly, 180 days) and links it with the current conversation
(``web_visitors``); notices of every conversation this browser had are shown. A status notice is
shown once; the satisfaction question stays until it is answered (or its 7 days pass). Notices
name the ticket number and its status only, never personal data.

The SMS gateway posts ``{"from": "13812345678", "text": "1"}`` with ``Authorization: Bearer
<XIAOAN_SMS_TOKEN>``; the answer ``{"reply": "…"}`` is the text to send back (null: not a survey
answer, nothing to send).
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import secrets

from flask import Blueprint, current_app, jsonify, make_response, request
from sqlalchemy import select, update

from xiaoan import labels, texts
from xiaoan.localtime import utcnow
from xiaoan.notify import surveys
from xiaoan.notify.channels import choices, render
from xiaoan.notify.models import (
    CHANNEL_SMS,
    CHANNEL_WEB,
    DELIVERED,
    KIND_SURVEY,
    PENDING,
    SURVEY_ASKED,
    TicketNotification,
    TicketSurvey,
    WebVisitor,
)
from xiaoan.privacy import mask_phone
from xiaoan.web.chat import conversation_id
from xiaoan.web.deps import db_session, get_settings
from xiaoan.web.limits import chat_rate_limit, chat_read_rate_limit

logger = logging.getLogger(__name__)

bp = Blueprint("notices", __name__)
gateway_bp = Blueprint("sms_gateway", __name__)

VISITOR_COOKIE = "xiaoan_visitor"
VISITOR_MAX_AGE = 180 * 24 * 3600
#: A satisfaction question is shown on the chat page for this long.
SURVEY_SHOWN_FOR = dt.timedelta(days=7)


def _visitor() -> tuple[str, bool]:
    value = request.cookies.get(VISITOR_COOKIE, "")
    if 20 <= len(value) <= 64 and value.replace("-", "").replace("_", "").isalnum():
        return value, False
    return secrets.token_urlsafe(24), True


def _conversations(session, visitor: str) -> list[str]:
    return list(session.execute(select(WebVisitor.conversation_id).where(WebVisitor.visitor_id == visitor)).scalars())


def _link(session, visitor: str, conv: str) -> None:
    if session.get(WebVisitor, (visitor, conv)) is None:
        session.add(WebVisitor(visitor_id=visitor, conversation_id=conv, seen_at=utcnow()))


@bp.get("/api/notices")
def notices():
    """Notices about this browser's tickets (shown once), and open satisfaction questions."""
    conv = conversation_id()
    limited = chat_read_rate_limit(conv)
    if limited is not None:
        return limited
    visitor, new = _visitor()
    now = utcnow()
    out = []
    with db_session() as session:
        _link(session, visitor, conv)
        session.flush()
        convs = _conversations(session, visitor)
        rows = session.execute(
            select(TicketNotification, TicketSurvey.state, TicketSurvey.asked_at)
            .outerjoin(TicketSurvey, TicketSurvey.ticket_id == TicketNotification.ticket_id)
            .where(TicketNotification.channel == CHANNEL_WEB, TicketNotification.state == PENDING,
                   TicketNotification.conversation_id.in_(convs))
            .order_by(TicketNotification.created_at, TicketNotification.id)).all()
        shown = []
        for row, survey_state, asked_at in rows:
            notice = {"id": row.id, "kind": row.kind, "ticket_no": row.params.get("ticket_no"),
                      "text": render(row.kind, row.params, CHANNEL_WEB)}
            if row.kind == KIND_SURVEY:
                if survey_state != SURVEY_ASKED or asked_at is None or now - asked_at > SURVEY_SHOWN_FOR:
                    shown.append(row.id)  # answered elsewhere or too old: not shown again
                    continue
                notice.update(choices=choices(), reason_placeholder=texts.text("utter_satisfaction_reason_placeholder"),
                              submit=texts.text("utter_satisfaction_submit"))
            else:
                shown.append(row.id)
            out.append(notice)
        if shown:
            session.execute(update(TicketNotification).where(TicketNotification.id.in_(shown))
                            .values(state=DELIVERED, via="web", delivered_at=now)
                            .execution_options(synchronize_session=False))
    response = make_response(jsonify(notices=out))
    if new:
        response.set_cookie(VISITOR_COOKIE, visitor, max_age=VISITOR_MAX_AGE, httponly=True, samesite="Lax",
                            secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure)
    return response


@bp.post("/api/notices/<int:notice_id>/satisfaction")
def answer(notice_id: int):
    """The citizen's answer to a satisfaction question shown on the chat page."""
    conv = conversation_id()
    limited = chat_rate_limit(conv)
    if limited is not None:
        return limited
    bad = texts.text("utter_satisfaction_bad_answer")
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or data.get("level") not in surveys.LEVELS:
        return jsonify(error=bad), 400
    reason = data.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > surveys.MAX_REASON):
        return jsonify(error=bad), 400
    visitor, _ = _visitor()
    with db_session() as session:
        row = session.get(TicketNotification, notice_id)
        if (row is None or row.channel != CHANNEL_WEB or row.kind != KIND_SURVEY
                or row.conversation_id not in set(_conversations(session, visitor)) | {conv}):
            return jsonify(error=texts.text("utter_satisfaction_not_pending")), 404
        ticket_id, ticket_no = row.ticket_id, row.params.get("ticket_no")
    try:
        result = surveys.answer_survey(ticket_id, data["level"], via=CHANNEL_WEB, reason=reason or None)
    except ValueError:
        return jsonify(error=bad), 400
    with db_session() as session:
        session.execute(update(TicketNotification).where(TicketNotification.id == notice_id)
                        .values(state=DELIVERED, via="web", delivered_at=utcnow())
                        .execution_options(synchronize_session=False))
    if result.outcome == surveys.ALREADY:
        return jsonify(message=texts.text("utter_satisfaction_already").format(ticket_no=ticket_no), already=True)
    if result.outcome == surveys.NOT_PENDING:
        return jsonify(error=texts.text("utter_satisfaction_not_pending")), 404
    name = "utter_satisfaction_thanks_reason" if reason else "utter_satisfaction_thanks"
    return jsonify(message=texts.text(name).format(ticket_no=ticket_no), already=False)


@gateway_bp.post("/api/sms/replies")
def sms_reply():
    """The SMS gateway hands over a citizen's reply (bearer XIAOAN_SMS_TOKEN)."""
    token = get_settings().sms_token
    if not token:
        return jsonify(error="not_configured", message=labels.message("sms_replies.not_configured")), 404  # the endpoint is off here, not failing
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode("utf-8", "replace"), f"Bearer {token}".encode("utf-8")):
        return jsonify(error="unauthorized", message=labels.message("sms_replies.unauthorized")), 401
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not isinstance(data.get("from"), str) or not isinstance(data.get("text"), str):
        return jsonify(error="bad_request", message=labels.message("sms_replies.bad_request")), 400
    try:
        reply = surveys.reply_from_channel(CHANNEL_SMS, data["from"], data["text"][:1000], settings=get_settings())
    except ValueError:
        reply = None
    logger.info("SMS reply from %s: %s", mask_phone(data["from"]) or "****",
                "survey answer" if reply else "not a survey answer")
    return jsonify(reply=reply)


def _exempt_from_csrf() -> None:
    # the gateway is a machine authenticated by its token, not a browser session
    from xiaoan.web.app import csrf

    csrf.exempt(gateway_bp)


_exempt_from_csrf()

