"""Routes of agent assist (issue 15 part 3) beside the inbox (`xiaoan.handoff.inbox`).

- `GET /console/api/inbox/<id>/assist?after=<cursor>`: the conversation's live summary, knowledge-base
  answers for the citizen's latest question (top 3 with scores) and the active canned replies; the
  conversation page's script (`/console/inbox/assist.js`) polls it and, when the transcript moved on,
  redraws the panel. Inserting a suggestion or a canned reply only fills the reply box: the agent
  sends it (no auto-send). Who may call it and what is masked follow the inbox: the conversation
  must be the agent's to open; numbers, the citizen's name and address are masked unless the agent
  revealed the transcript (logged by the inbox).
- `/console/inbox/canned`: supervisors add, edit, retire and restore canned replies (常用语),
  grouped by topic (`xiaoan.handoff.canned`); agents get 403.

The logic is `xiaoan.handoff.assist` (summary, suggestions, ticket prefill) and `xiaoan.handoff.canned`.
"""

from __future__ import annotations

import logging

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField

from xiaoan import labels
from xiaoan.handoff import canned
from xiaoan.handoff.assist import load_assist_labels, suggest, summarize, summary_rows
from xiaoan.handoff.inbox import _tracker, after_cursor, is_revealed, opened_session
from xiaoan.handoff.presenters import current_slots, latest_ts, local_time
from xiaoan.handoff.service import HandoffError
from xiaoan.privacy import identity_masker
from xiaoan.web.auth import INBOX_ROLES, current_user, login_required
from xiaoan.web.deps import db_session, get_settings, add_template_assets

logger = logging.getLogger(__name__)

bp = Blueprint("assist", __name__)

CANNED_ROLES = ("supervisor",)
"""Who maintains canned replies (admin passes every check)."""



def _search_service():
    from xiaoan.kb.service import get_search_service  # looked up on use: tests replace it

    return get_search_service(get_settings().database_url)


# --- the assist panel's data ------------------------------------------------------------------------

@bp.get("/console/api/inbox/<int:session_id>/assist")
@login_required(*INBOX_ROLES)
def assist_api(session_id: int):
    """Summary, knowledge-base suggestions and canned replies of one conversation (JSON)."""
    after = after_cursor()
    if after is None:
        return jsonify(error=labels.message("inbox.bad_request")), 400
    try:
        user, service, view = opened_session(session_id)
    except HandoffError:
        return jsonify(error=labels.message("inbox.not_found")), 404
    tracker, error = _tracker(service, view)
    if tracker is None:
        return jsonify(error=error), 503
    events = tracker.get("events") or []
    cursor = latest_ts(events) or 0.0
    if after and cursor <= after:
        return jsonify(changed=False, cursor=cursor)
    wording = load_assist_labels()
    slots = current_slots(tracker, view)
    summary = summarize(events, slots, intent=view.intent, reason=view.reason)
    revealed = is_revealed(user, view, "transcript")
    masker = (lambda text: text) if revealed else identity_masker(slots)
    search_error = None
    try:
        suggestions = suggest(_search_service(), summary.latest_question, intent=summary.question_intent)
    except Exception:  # noqa: BLE001 - the summary and canned replies still help the agent
        logger.exception("handoff %s: knowledge-base suggestions unavailable", view.id)
        suggestions, search_error = [], labels.message("canned.search_failed")
    with db_session() as db:
        groups = canned.grouped(canned.list_replies(db))
    return jsonify(
        changed=True,
        cursor=cursor,
        summary=summary_rows(summary, masker=masker, wording=wording),
        question=masker(summary.latest_question) if summary.latest_question else None,
        suggestions=[s.as_json() for s in suggestions],
        search_error=search_error,
        canned=[{"topic": topic, "replies": [r.as_json() for r in replies]} for topic, replies in groups],
        labels={"insert": wording.insert, "confident": wording.confident, **{f"empty_{k}": v
                                                                             for k, v in wording.empty.items()}},
    )


# --- canned replies: the supervisors' page ------------------------------------------------------------

class CannedForm(FlaskForm):
    """Add or edit a canned reply (CSRF included)."""

    topic = StringField(render_kw={"maxlength": canned.MAX_TOPIC_CHARS})
    title = StringField(render_kw={"maxlength": canned.MAX_TITLE_CHARS})
    text = TextAreaField(render_kw={"maxlength": canned.MAX_TEXT_CHARS, "rows": 4})

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name, label in load_assist_labels().canned_fields.items():
            getattr(self, name).label.text = label
        self.topic.render_kw = {**self.topic.render_kw, "placeholder": labels.message("canned.topic_placeholder")}
        self.title.render_kw = {**self.title.render_kw, "placeholder": labels.message("canned.title_placeholder")}


class ActionForm(FlaskForm):
    """Retire / restore (CSRF only)."""


def _render_index(form: CannedForm, error: str | None = None, status: int = 200):
    with db_session() as db:
        groups = canned.grouped(canned.list_replies(db, include_retired=True))
    return render_template("inbox/canned.html", groups=groups, form=form, action_form=ActionForm(), error=error,
                           local=local_time), status


def _by() -> str:
    user = current_user()
    return user.display_name or user.username


def _field_error(form: CannedForm, exc: canned.CannedInputError) -> None:
    getattr(form, exc.field).errors = [str(exc)]


@bp.route("/console/inbox/canned", methods=["GET", "POST"])
@login_required(*CANNED_ROLES)
def canned_index():
    """Every canned reply by topic (retired ones marked) and the form to add one."""
    form = CannedForm()
    if request.method == "GET":
        return _render_index(form)
    if not form.validate_on_submit():
        return _render_index(form, labels.message("common.expired"), 400)
    try:
        with db_session() as db:
            reply = canned.create_reply(db, topic=form.topic.data, title=form.title.data, text=form.text.data,
                                        by=_by())
    except canned.CannedInputError as exc:
        _field_error(form, exc)
        return _render_index(form, str(exc), 400)
    flash(labels.message("canned.created", title=reply.title))
    return redirect(url_for("assist.canned_index"))


@bp.route("/console/inbox/canned/<int:reply_id>", methods=["GET", "POST"])
@login_required(*CANNED_ROLES)
def canned_edit(reply_id: int):
    """Edit one canned reply."""
    try:
        with db_session() as db:
            reply = canned.get_reply(db, reply_id)
    except canned.CannedNotFound:
        abort(404)
    form = CannedForm(data={"topic": reply.topic, "title": reply.title, "text": reply.text})
    error, status = None, 200
    if request.method == "POST":
        if not form.validate_on_submit():
            error, status = labels.message("common.expired"), 400
        else:
            try:
                with db_session() as db:
                    saved = canned.update_reply(db, reply_id, topic=form.topic.data, title=form.title.data,
                                                text=form.text.data, by=_by())
            except canned.CannedNotFound:
                abort(404)
            except canned.CannedInputError as exc:
                _field_error(form, exc)
                error, status = str(exc), 400
            else:
                flash(labels.message("canned.updated", title=saved.title))
                return redirect(url_for("assist.canned_index"))
    return render_template("inbox/canned_edit.html", reply=reply, form=form, error=error, local=local_time), status


@bp.post("/console/inbox/canned/<int:reply_id>/retire")
@login_required(*CANNED_ROLES)
def canned_retire(reply_id: int):
    """停用: no longer offered to agents (kept)."""
    return _set_active(reply_id, False, "canned.retired")


@bp.post("/console/inbox/canned/<int:reply_id>/restore")
@login_required(*CANNED_ROLES)
def canned_restore(reply_id: int):
    """恢复 a retired canned reply."""
    return _set_active(reply_id, True, "canned.restored")


def _set_active(reply_id: int, active: bool, done: str):
    """Retire or restore; `done` is the labels file's message key of the flash line."""
    if not ActionForm().validate_on_submit():
        flash(labels.message("common.expired"))
        return redirect(url_for("assist.canned_index"))
    try:
        with db_session() as db:
            reply = canned.set_active(db, reply_id, active, by=_by())
    except canned.CannedNotFound:
        abort(404)
    except canned.CannedInputError as exc:
        flash(str(exc))
        return redirect(url_for("assist.canned_index"))
    flash(labels.message(done, title=reply.title))
    return redirect(url_for("assist.canned_index"))


# --- assets ----------------------------------------------------------------------------------------

# the assist panel's script; its and the canned-reply page's stylesheet
add_template_assets(bp, {"assist_js": ("/console/inbox/assist.js", "inbox/assist.js"),
                         "assist_css": ("/console/inbox/assist.css", "inbox/assist.css")})
