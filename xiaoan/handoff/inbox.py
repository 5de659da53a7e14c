"""The agents' inbox (`/console/inbox`, roles agent / supervisor / admin).

Pages: the queue (reason, wait, channel; take), one conversation (the whole transcript from the
Rasa tracker, the intent, the gathered slots as a ticket form, a reply box, 交还小安 / 结束会话 /
创建工单), and the callback requests. The conversation page polls
`/console/api/inbox/<id>/transcript` every 2 s, so the citizen's new messages appear without a
reload; the queue page polls `/console/api/inbox/queue`. Every poll is also the agent's presence
heartbeat (an agent is online for 2 minutes after it).

Scripts are template-rendered files served by this blueprint (`/console/inbox/inbox.js`): the
Content-Security-Policy allows scripts from this site only, never inline.

What the pages show (sessions, transcript, gathered slots, the ticket form and its draft) is
`xiaoan.handoff.presenters`; idle conversations go back to 小安 in a thread the app factory starts
(`xiaoan.handoff.idle`, `xiaoan.workers`).

Personal data (issue 12): phone, ID card and bank card numbers are masked in the transcript and in
the gathered-information panel. The agent holding a conversation (or a supervisor) may reveal them
for that conversation with 显示完整号码 (a POST with CSRF); each reveal is written to the audit log
(`xiaoan.privacy_audit`) before anything is shown, and lasts `REVEAL_SECONDS` or until the
conversation leaves the agent. An agent opens a conversation only when it waits in the queue or is
assigned to them; others get 404, the same as for a session that does not exist. Supervisors
read the audit log at `/console/inbox/audit`.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from typing import Any, Optional

from flask import (
    Blueprint,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from xiaoan import labels, privacy_audit
from xiaoan.handoff.assist import draft_slots
from xiaoan.privacy import identity_masker
from xiaoan.handoff.models import ACTIVE, WAITING
from xiaoan.handoff.presenters import (
    CallbackDoneForm,
    FormInputError,
    current_slots,
    draft_from_form,
    gathered_slots,
    intent_label,
    latest_ts,
    local_time,
    session_json,
    ticket_form,
    transcript,
)
from xiaoan.handoff.service import (
    DeliveryFailed,
    HandoffError,
    HandoffService,
    InvalidInput,
    SessionNotFound,
    SessionView,
)
from xiaoan.localtime import format_seconds
from xiaoan.rasa_client import RasaError
from xiaoan.tickets.service import TicketValidationError, get_ticket_service
from xiaoan.web.auth import INBOX_ROLES, current_user, has_role, login_required
from xiaoan.web.errors import error_response
from xiaoan.web.deps import db_session, get_rasa_client, get_settings, add_template_assets

logger = logging.getLogger(__name__)

bp = Blueprint("inbox", __name__)

POLL_SECONDS = 2
OVERRIDE_ROLES = ("supervisor", "admin")
"""May answer, hand back or close a conversation another agent holds; may open every conversation
and read the audit log of personal-data views."""
REVEAL_SECONDS = 10 * 60
"""How long one 显示完整号码 lasts (in this browser session)."""
REVEAL_PARTS = {"transcript": privacy_audit.TRANSCRIPT_REVEAL, "slots": privacy_audit.SLOTS_REVEAL}
_REVEAL_KEY = "inbox_reveals"


# --- the service and the signed-in agent ---------------------------------------------------------

def _service() -> HandoffService:
    return HandoffService(get_settings(), rasa=get_rasa_client())


def _agent():
    """The signed-in staff member (login_required guarantees one)."""
    return current_user()


def _may_override(user) -> bool:
    return has_role(user, *OVERRIDE_ROLES)


def _heartbeat(service: HandoffService, user) -> None:
    try:
        service.heartbeat(user.id, user.display_name)
    except Exception:  # noqa: BLE001 - presence is best effort; the page must still work
        logger.exception("agent presence not recorded")


# --- who may open a conversation and see its personal data ------------------------------------------

def may_open(user, view: SessionView) -> bool:
    """Supervisors open every conversation; an agent one waiting in the queue (any agent may take
    it) or assigned to them (also after it ended)."""
    if _may_override(user):
        return True
    return view.status == WAITING or (view.agent_id is not None and view.agent_id == user.id)


def may_reveal(user, view: SessionView) -> bool:
    """Supervisors, and the agent holding the conversation while it is active."""
    return _may_override(user) or (view.status == ACTIVE and view.agent_id == user.id)


def _open_view(service: HandoffService, session_id: int, user) -> SessionView:
    """The session, if `user` may open it.

    Raises:
        SessionNotFound: no such session, or not this user's to open (told apart from nobody).
    """
    view = service.get(session_id)
    if not may_open(user, view):
        logger.info("handoff %s: refused to agent %s (not assigned)", session_id, user.id)
        raise SessionNotFound()
    return view


def opened_session(session_id: int, heartbeat: bool = False) -> tuple[Any, HandoffService, SessionView]:
    """The signed-in agent, the hand-off service and the session the agent may open (the agent's
    presence recorded first when `heartbeat`).

    Raises:
        HandoffError: no such session, or not this agent's to open.
    """
    user = _agent()
    service = _service()
    if heartbeat:
        _heartbeat(service, user)
    return user, service, _open_view(service, session_id, user)


def after_cursor() -> Optional[float]:
    """The `after` query argument of the polling APIs (unix seconds, default 0); None when it is
    not a finite number of at least 0."""
    try:
        after = float(request.args.get("after", "0"))
    except ValueError:
        return None
    return after if math.isfinite(after) and after >= 0 else None


def _clock() -> float:
    """Unix seconds (tests replace it to move time on)."""
    return time.time()


def _reveal_key(user, session_id: int, part: str) -> str:
    # the user's id is part of the key: the cookie outlives a sign-out at a shared computer
    return f"{user.id}:{session_id}:{part}"


def is_revealed(user, view: SessionView, part: str) -> bool:
    """Whether `user` revealed `part` of this conversation, the reveal has not expired and they
    may still reveal it (an ended or reassigned conversation is masked again)."""
    if not may_reveal(user, view):
        return False
    reveals = session.get(_REVEAL_KEY)
    until = reveals.get(_reveal_key(user, view.id, part)) if isinstance(reveals, dict) else None
    return isinstance(until, (int, float)) and not isinstance(until, bool) and _clock() < until


def _set_reveal(user, session_id: int, part: str, until: Optional[float]) -> None:
    now = _clock()
    reveals = session.get(_REVEAL_KEY)
    reveals = {k: v for k, v in reveals.items() if isinstance(v, (int, float)) and v > now} \
        if isinstance(reveals, dict) else {}
    key = _reveal_key(user, session_id, part)
    if until is None:
        reveals.pop(key, None)
    else:
        reveals[key] = until
    session[_REVEAL_KEY] = reveals


def _audit(user, action: str, subject: str) -> None:
    """Write the audit row first (committed); raises when it cannot be written."""
    with db_session() as db:
        privacy_audit.record_view(db, actor=user.username, actor_id=user.id, actor_role=user.role, action=action,
                                  subject=subject, source="console", remote_addr=request.remote_addr)


# --- the tracker ----------------------------------------------------------------------------------

def _tracker(service: HandoffService, view: SessionView) -> tuple[Optional[dict], Optional[str]]:
    try:
        return service.rasa.get_tracker(view.conversation_id), None
    except RasaError as exc:
        logger.warning("handoff %s: tracker unavailable: %s", view.id, exc)
        return None, labels.message("inbox.transcript_unavailable")


# --- pages -----------------------------------------------------------------------------------------

@bp.get("/console/inbox")
@login_required(*INBOX_ROLES)
def index():
    """The waiting queue, my conversations, and (supervisors) everyone's."""
    user = _agent()
    service = _service()
    _heartbeat(service, user)
    return render_template("inbox/index.html", state=_queue_state(service, user), poll_seconds=5)


def _queue_state(service: HandoffService, user) -> dict:
    now = service.clock()
    queue = [session_json(v, now, position) for position, v in enumerate(service.queue(), start=1)]
    active = service.active()
    mine = [session_json(v, now) for v in active if v.agent_id == user.id]
    others = [session_json(v, now) for v in active if v.agent_id != user.id] if _may_override(user) else []
    return {"queue": queue, "mine": mine, "others": others, "callbacks_open": len(service.callbacks()),
            "agents_online": service.agents_online(now)}


@bp.get("/console/api/inbox/queue")
@login_required(*INBOX_ROLES)
def queue_api():
    """The queue as JSON (polled by the inbox page; also the agent's heartbeat)."""
    user = _agent()
    service = _service()
    _heartbeat(service, user)
    return jsonify(_queue_state(service, user))


@bp.post("/console/inbox/<int:session_id>/take")
@login_required(*INBOX_ROLES)
def take(session_id: int):
    """Take a waiting conversation (only one agent can)."""
    user = _agent()
    service = _service()
    try:
        service.take(session_id, user.id, user.display_name)
    except HandoffError as exc:
        flash(str(exc))
        return redirect(url_for("inbox.index"))
    flash(labels.message("inbox.taken"))
    return redirect(url_for("inbox.conversation", session_id=session_id))


@bp.get("/console/inbox/<int:session_id>")
@login_required(*INBOX_ROLES)
def conversation(session_id: int):
    """One conversation: transcript, intent, gathered slots as a ticket form, reply box."""
    try:
        user, service, view = opened_session(session_id, heartbeat=True)
    except HandoffError:
        abort(404)
    tracker, error = _tracker(service, view)
    slots = current_slots(tracker, view)
    form = ticket_form(view, draft_slots(tracker, view, slots), reveal=is_revealed(user, view, "slots"))
    return _render_conversation(service, user, view, tracker, slots, form, error)


def _render_conversation(service, user, view, tracker, slots, form, error=None, form_error=None, status=200):
    events = (tracker or {}).get("events") or []
    latest = (tracker or {}).get("latest_message") or {}
    active_loop = ((tracker or {}).get("active_loop") or {}).get("name") or view.active_form
    holder = view.status == ACTIVE and (view.agent_id == user.id or _may_override(user))
    reveal_transcript = is_revealed(user, view, "transcript")
    reveal_slots = is_revealed(user, view, "slots")
    context = {
        "session": session_json(view, service.clock()),
        "view": view,
        "messages": transcript(events, reveal=reveal_transcript, masker=identity_masker(slots)),
        "can_reveal": may_reveal(user, view),
        "reveal_transcript": reveal_transcript,
        "reveal_slots": reveal_slots,
        "reveal_minutes": REVEAL_SECONDS // 60,
        "cursor": latest_ts(events) or 0,
        "latest_intent": intent_label((latest.get("intent") or {}).get("name") or view.intent),
        "topic_intent": intent_label(view.intent),
        "active_form": labels.form(active_loop) if active_loop else None,
        "slots": gathered_slots(slots, reveal=reveal_slots),
        "form": form,
        "form_error": form_error,
        "can_act": holder,
        "can_take": view.status == WAITING,
        "error": error,
        "poll_seconds": POLL_SECONDS,
        "holder_is_other": view.status == ACTIVE and view.agent_id != user.id,
    }
    return render_template("inbox/conversation.html", **context), status


@bp.get("/console/api/inbox/<int:session_id>/transcript")
@login_required(*INBOX_ROLES)
def transcript_api(session_id: int):
    """Transcript entries after `after` (unix seconds), the session's status; the agent's heartbeat."""
    after = after_cursor()
    if after is None:
        return jsonify(error=labels.message("inbox.bad_request")), 400
    try:
        user, service, view = opened_session(session_id, heartbeat=True)
    except HandoffError:
        return jsonify(error=labels.message("inbox.not_found")), 404
    tracker, error = _tracker(service, view)
    if tracker is None:
        return jsonify(error=error, status=view.status, status_label=labels.session_status(view.status)), 503
    events = tracker.get("events") or []
    reveal = is_revealed(user, view, "transcript")
    masker = identity_masker(current_slots(tracker, view))
    new = [m for m in transcript(events, reveal=reveal, masker=masker) if m["ts"] is not None and m["ts"] > after]
    latest = latest_ts(events)
    return jsonify(messages=new, cursor=max(latest, after) if latest is not None else after,
                   status=view.status, status_label=labels.session_status(view.status),
                   latest_intent=intent_label(((tracker.get("latest_message") or {}).get("intent") or {}).get("name")))


@bp.post("/console/api/inbox/<int:session_id>/reply")
@login_required(*INBOX_ROLES)
def reply(session_id: int):
    """Send the agent's message to the citizen (JSON `{"text"}`)."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        return jsonify(error=labels.message("inbox.bad_request")), 400
    user = _agent()
    service = _service()
    try:
        _open_view(service, session_id, user)
        message = service.reply(session_id, user.id, user.display_name, data["text"],
                                override=_may_override(user))
    except InvalidInput as exc:
        return jsonify(error=str(exc)), 400
    except SessionNotFound:
        return jsonify(error=labels.message("inbox.not_found")), 404
    except DeliveryFailed as exc:
        return jsonify(error=str(exc)), 503
    except HandoffError as exc:  # not (or no longer) this agent's conversation
        return jsonify(error=str(exc)), 409
    return jsonify(message={"id": message.id, "text": message.text, "agent": message.agent_name,
                            "sent_at": message.sent_at.isoformat()})


@bp.post("/console/inbox/<int:session_id>/handback")
@login_required(*INBOX_ROLES)
def hand_back(session_id: int):
    """交还小安."""
    return _end(session_id, "hand_back", labels.message("inbox.handed_back"))


@bp.post("/console/inbox/<int:session_id>/close")
@login_required(*INBOX_ROLES)
def close(session_id: int):
    """结束会话."""
    return _end(session_id, "close", labels.message("inbox.closed"))


def _end(session_id: int, operation: str, done_message: str):
    try:
        user, service, _view = opened_session(session_id)
    except HandoffError:
        abort(404)
    try:
        getattr(service, operation)(session_id, user.id, user.display_name, override=_may_override(user))
    except HandoffError as exc:
        flash(str(exc))
        return redirect(url_for("inbox.conversation", session_id=session_id))
    flash(done_message)
    return redirect(url_for("inbox.index"))


@bp.post("/console/inbox/<int:session_id>/ticket")
@login_required(*INBOX_ROLES)
def create_ticket(session_id: int):
    """创建工单 from the (completed) form; the citizen is told the number."""
    user = _agent()
    service = _service()
    try:
        view = _open_view(service, session_id, user)
    except HandoffError:
        abort(404)
    tracker, error = _tracker(service, view)
    slots = current_slots(tracker, view)
    prefill = draft_slots(tracker, view, slots)  # what the form showed: the masked prefill maps back to it
    form = ticket_form(view, prefill, formdata=request.form, reveal=is_revealed(user, view, "slots"))

    def again(message: str, field: Optional[str] = None, status: int = 400):
        if field and hasattr(form, field):
            getattr(form, field).errors = [message]
        return _render_conversation(service, user, view, tracker, slots, form, error, form_error=message,
                                    status=status)

    if not (view.status == ACTIVE and (view.agent_id == user.id or _may_override(user))):
        flash(labels.message("inbox.ticket_refused"))
        return redirect(url_for("inbox.conversation", session_id=session_id))
    if not form.validate_on_submit():
        return again(labels.message("common.expired"))
    try:
        draft = draft_from_form(form, view, prefill)
        receipt = get_ticket_service().create(draft, idempotency_key=f"handoff:{view.id}")
    except FormInputError as exc:
        return again(str(exc), exc.field)
    except TicketValidationError as exc:
        label = labels.load_labels().slots.get(exc.field or "")
        if not label:
            return again(labels.message("inbox.ticket_invalid"), exc.field)
        return again(labels.message("inbox.field_missing" if exc.missing else "inbox.field_invalid", label=label),
                     exc.field)
    except Exception:  # noqa: BLE001 - the agent keeps what they typed and may retry
        logger.exception("handoff %s: ticket creation failed", view.id)
        return again(labels.message("inbox.ticket_failed"), status=503)
    service.record_ticket(view.id, view.agent_id or user.id, receipt, override=True)
    flash(labels.message("inbox.ticket_created", ticket_no=receipt.ticket_no, agency=receipt.agency_name)
          if receipt.created else labels.message("inbox.ticket_exists", ticket_no=receipt.ticket_no))
    return redirect(url_for("inbox.conversation", session_id=session_id))


# --- revealing one conversation's personal data (logged) ---------------------------------------------

@bp.post("/console/inbox/<int:session_id>/reveal")
@login_required(*INBOX_ROLES)
def reveal(session_id: int):
    """显示完整号码 in the transcript (`part=transcript`) or the gathered information (`part=slots`); logged."""
    try:
        user, _, view = opened_session(session_id)
    except HandoffError:
        abort(404)
    part = request.form.get("part")
    if part not in REVEAL_PARTS:
        return error_response(400, labels.message("inbox.bad_request"))
    if not may_reveal(user, view):
        return error_response(403, labels.message("inbox.reveal_refused"))
    try:
        _audit(user, REVEAL_PARTS[part], f"handoff:{view.id}")
    except Exception:  # noqa: BLE001 - no audit row, no personal data
        logger.exception("handoff %s: reveal not logged, so not granted", view.id)
        return error_response(503, labels.message("inbox.reveal_not_logged"))
    _set_reveal(user, view.id, part, _clock() + REVEAL_SECONDS)
    flash(labels.message("inbox.revealed", minutes=REVEAL_SECONDS // 60))
    return redirect(url_for("inbox.conversation", session_id=view.id))


@bp.post("/console/inbox/<int:session_id>/conceal")
@login_required(*INBOX_ROLES)
def conceal(session_id: int):
    """重新隐藏: mask this conversation's numbers again (both parts)."""
    user = _agent()
    for part in REVEAL_PARTS:
        _set_reveal(user, session_id, part, None)
    flash(labels.message("inbox.concealed"))
    return redirect(url_for("inbox.conversation", session_id=session_id))


# --- the audit log (supervisors) ---------------------------------------------------------------------

@bp.get("/console/inbox/audit")
@login_required(*OVERRIDE_ROLES)
def audit_log():
    """Who saw which citizen's personal data, newest first (supervisors)."""
    actor = (request.args.get("actor") or "").strip()[:64] or None
    action = request.args.get("action") or None
    if action not in privacy_audit.ACTIONS:
        action = None
    with db_session() as db:
        rows = privacy_audit.list_views(db, actor=actor, action=action)
    for row in rows:
        row["local_time"] = format_seconds(dt.datetime.fromisoformat(row["at"]))
    return render_template("inbox/audit.html", rows=rows, actor=actor or "", action=action or "",
                           action_labels=privacy_audit.ACTION_LABELS, limit=privacy_audit.MAX_LISTED)


# --- callbacks -------------------------------------------------------------------------------------

@bp.get("/console/inbox/callbacks")
@login_required(*INBOX_ROLES)
def callbacks():
    """Open callback requests (phones masked) and the latest handled ones."""
    service = _service()
    _heartbeat(service, _agent())
    done = [c for c in service.callbacks(None) if c.status == "done"][:20]
    return render_template("inbox/callbacks.html", open_items=service.callbacks(), done_items=done,
                           reason_labels=labels.load_labels().handoff_reasons, channel_labels=labels.load_labels().channels, local=local_time)


@bp.route("/console/inbox/callbacks/<int:callback_id>", methods=["GET", "POST"])
@login_required(*INBOX_ROLES)
def callback_detail(callback_id: int):
    """One callback request with the full number to call, and the form to mark it done."""
    user = _agent()
    service = _service()
    try:
        item = service.get_callback(callback_id)
    except HandoffError:
        abort(404)
    form = CallbackDoneForm()
    error = None
    if request.method == "GET":
        try:
            _audit(user, privacy_audit.CALLBACK_VIEW, f"callback:{item.id}")
        except Exception:  # noqa: BLE001 - no audit row, no phone number
            logger.exception("callback %s: view not logged, so not shown", item.id)
            return error_response(503, labels.message("inbox.view_not_logged"))
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                service.complete_callback(callback_id, user.display_name, form.note.data)
            except HandoffError as exc:
                error = str(exc)
            else:
                flash(labels.message("inbox.callback_done"))
                return redirect(url_for("inbox.callbacks"))
        else:
            error = labels.message("common.expired")
    slots = gathered_slots(item.slots or {})
    return render_template("inbox/callback.html", item=item, form=form, error=error, slots=slots,
                           reason_labels=labels.load_labels().handoff_reasons, channel_labels=labels.load_labels().channels, local=local_time), \
        (400 if error else 200)


# --- assets ----------------------------------------------------------------------------------------

# the inbox pages' script and stylesheet
add_template_assets(bp, {"inbox_js": ("/console/inbox/inbox.js", "inbox/inbox.js"),
                         "inbox_css": ("/console/inbox/inbox.css", "inbox/inbox.css")})
