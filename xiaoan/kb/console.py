"""The maintainers' console for the knowledge base at ``/console/kb`` (Flask blueprint `bp`).

Maintainers (and supervisors, admins) edit; agents may read. Workflow: create or edit (a
draft) -> send for review -> another maintainer publishes -> citizens get it within seconds.
Also: retire, history with roll back to any version, adding one 相似问法 in one step (from an
entry's page or next to an unanswered question), unanswered questions, down-voted answers,
a test search that shows what the assistant would do with a question, the questions grouped
(问题归类: unanswered and down-voted questions clustered, `xiaoan.kb.clusters`, each group turned
into 相似问法 of an entry or a new entry's form in one step), and 需复核 (entries whose
legal basis is missing, unknown, repealed or amended since their last review, or unreviewed
for a year; `xiaoan.kb.review`) with a one-click 已复核 record. Every change is a
version row with who and when (`xiaoan.kb.repository`). Forms are plain POSTs protected by
the app's CSRFProtect (hidden ``csrf_token``); the page's script and stylesheet are template
files served by this blueprint, as the Content-Security-Policy forbids inline code.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from xiaoan import labels
from xiaoan.db import SHANGHAI
from xiaoan.input_checks import has_unreadable
from xiaoan.kb.repository import EntryNotFound, KbError, KbRepository
from xiaoan.kb.schema import AREAS, STATUSES, EntryData, parse_entry, today_shanghai
from xiaoan.web.auth import KB_ROLES, current_user, has_role, login_required
from xiaoan.web.deps import add_template_assets
from xiaoan.web.messages import UNREADABLE_TEXT

log = logging.getLogger(__name__)

bp = Blueprint("kb", __name__, url_prefix="/console/kb")

#: Roles that may read the knowledge base in the console (admin passes every check).
READ_ROLES = (*KB_ROLES, "agent")
#: Roles that may change it.
WRITE_ROLES = KB_ROLES

#: The history's action names and the pages' flash lines are `xiaoan/resources/labels.yml`
#: (messages.kb_actions, messages.kb).
_SPLIT_TAGS = re.compile(r"[,，、;；\s]+")


def _repo() -> KbRepository:
    from xiaoan.web.deps import get_settings

    return KbRepository(get_settings().database_url)


def _search_service():
    from xiaoan.kb.service import get_search_service
    from xiaoan.web.deps import get_settings

    return get_search_service(get_settings().database_url)


def _username() -> str:
    user = current_user()
    assert user is not None  # guarded by login_required
    return user.username


def _can_write() -> bool:
    return has_role(current_user(), *WRITE_ROLES)


@bp.app_template_filter("kb_time")
def _kb_time(value: dt.datetime | None) -> str:
    """A timestamp in Shanghai time, e.g. 2026-11-26 14:03."""
    if value is None:
        return ""
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


@bp.app_context_processor
def _kb_labels() -> dict[str, Any]:
    from xiaoan.kb.review import REASONS

    return {"KB_AREAS": AREAS, "KB_STATUSES": STATUSES, "KB_ACTIONS": labels.messages_of("kb_actions"),
            "REVIEW_REASONS": REASONS}


# --- pages ---------------------------------------------------------------------------------------


@bp.get("")
@bp.get("/")
@login_required(*READ_ROLES)
def index():
    """List and filter entries."""
    text = request.args.get("q", "").strip()
    area = request.args.get("area") or None
    status = request.args.get("status") or None
    if area not in (None, *AREAS):
        area = None
    if status not in (None, "expired", *STATUSES):
        status = None
    records = _repo().list_entries(text=text or None, area=area, status=status)
    return render_template(
        "kb/index.html",
        records=records,
        q=text,
        area=area,
        status=status,
        today=today_shanghai(),
        can_write=_can_write(),
    )


@bp.route("/new", methods=["GET", "POST"])
@login_required(*WRITE_ROLES)
def new():
    """Create an entry (a draft)."""
    form = _empty_form()
    errors: list[str] = []
    if request.method == "POST":
        form = _form_from_request()
        data, errors = _validate(form)
        if data is not None:
            try:
                record = _repo().create(data, _username())
            except KbError as exc:
                errors = [str(exc)]
            else:
                flash(labels.message("kb.created", id=record.data.id))
                return redirect(url_for("kb.detail", entry_id=record.data.id))
    return render_template("kb/edit.html", form=form, errors=errors, creating=True), 400 if errors else 200


@bp.get("/<entry_id>")
@login_required(*READ_ROLES)
def detail(entry_id: str):
    """An entry: working copy with chat preview, workflow buttons, history."""
    repo = _repo()
    record = _get_or_404(repo, entry_id)
    history = repo.history(entry_id)
    live = next((v for v in history if v.version == record.published_version), None)
    user = current_user()
    reasons, last = _review_of(record.data, history)
    return render_template(
        "kb/detail.html",
        record=record,
        entry=record.data,
        history=history,
        live=live,
        review_reasons=reasons,
        last_review=last,
        today=today_shanghai(),
        can_write=_can_write(),
        can_publish=_can_write() and record.data.status == "review" and record.data.updated_by != user.username,
    )


@bp.route("/<entry_id>/edit", methods=["GET", "POST"])
@login_required(*WRITE_ROLES)
def edit(entry_id: str):
    """Edit every field of an entry (saved as a draft; the published version stays live)."""
    repo = _repo()
    record = _get_or_404(repo, entry_id)
    form = _form_from_entry(record.data, record.version)
    errors: list[str] = []
    if request.method == "POST":
        form = _form_from_request()
        form["id"] = entry_id
        data, errors = _validate(form)
        if data is not None:
            try:
                saved = repo.update(entry_id, data, _username(), expected_version=_int(form.get("version")))
            except KbError as exc:
                errors = [str(exc)]
            else:
                flash(labels.message("kb.saved", version=saved.version))
                return redirect(url_for("kb.detail", entry_id=entry_id))
    return render_template(
        "kb/edit.html", form=form, errors=errors, creating=False, record=record
    ), 400 if errors else 200


@bp.post("/<entry_id>/submit")
@login_required(*WRITE_ROLES)
def submit(entry_id: str):
    """Send a draft for review."""
    return _workflow(entry_id, "submit", lambda repo, v: repo.submit(entry_id, _username(), expected_version=v),
                     lambda r: labels.message("kb.submitted"))


@bp.post("/<entry_id>/publish")
@login_required(*WRITE_ROLES)
def publish(entry_id: str):
    """Approve and publish an entry in review (not by its last editor)."""
    return _workflow(entry_id, "publish", lambda repo, v: repo.publish(entry_id, _username(), expected_version=v),
                     lambda r: labels.message("kb.published", version=r.version))


@bp.post("/<entry_id>/retire")
@login_required(*WRITE_ROLES)
def retire(entry_id: str):
    """Take an entry offline."""
    return _workflow(entry_id, "retire", lambda repo, v: repo.retire(entry_id, _username(), expected_version=v),
                     lambda r: labels.message("kb.retired"))


@bp.post("/<entry_id>/rollback")
@login_required(*WRITE_ROLES)
def rollback(entry_id: str):
    """Restore an earlier version as a new version."""
    to_version = _int(request.form.get("to_version"))
    if to_version is None:
        flash(labels.message("kb.bad_version"))
        return redirect(url_for("kb.detail", entry_id=entry_id))

    def message(record):
        key = "rolled_back_live" if record.published_version == record.version else "rolled_back_draft"
        return labels.message(f"kb.{key}", to=to_version)

    return _workflow(entry_id, "rollback", lambda repo, v: repo.rollback(entry_id, to_version, _username()), message)


@bp.post("/<entry_id>/phrasings")
@login_required(*WRITE_ROLES)
def add_phrasing(entry_id: str):
    """Append one 相似问法 to an entry in one step (live at once on a published entry)."""
    _get_or_404(_repo(), entry_id)
    return _add_phrasing(entry_id, request.form.get("phrasing", ""), _int(request.form.get("version")),
                         back=url_for("kb.detail", entry_id=entry_id))


@bp.get("/<entry_id>/versions/<int:version>")
@login_required(*READ_ROLES)
def version(entry_id: str, version: int):
    """One earlier version of an entry, with its chat preview."""
    repo = _repo()
    record = _get_or_404(repo, entry_id)
    try:
        old = repo.version(entry_id, version)
    except EntryNotFound:
        abort(404)
    return render_template("kb/version.html", record=record, old=old, can_write=_can_write())


@bp.get("/unanswered")
@login_required(*READ_ROLES)
def unanswered():
    """Questions the assistant could not answer, newest first."""
    repo = _repo()
    return render_template(
        "kb/unanswered.html",
        rows=repo.unanswered(limit=500),
        entries=repo.list_entries() if _can_write() else [],
        can_write=_can_write(),
    )


@bp.post("/unanswered/phrasing")
@login_required(*WRITE_ROLES)
def unanswered_to_phrasing():
    """Add an unanswered question as a 相似问法 of the entry picked next to it."""
    entry_id = (request.form.get("entry_id") or "").strip()
    back = url_for("kb.unanswered")
    if not entry_id:
        flash(labels.message("kb.phrasing_failed", error=labels.message("kb.no_entry")))
        return redirect(back), 303
    return _add_phrasing(entry_id, request.form.get("phrasing", ""), None, back=back)


@bp.get("/clusters")
@login_required(*READ_ROLES)
def clusters():
    """Unanswered and down-voted questions grouped by similarity, with the entry each group came closest to."""
    from xiaoan.kb.clusters import cluster_questions

    repo = _repo()
    groups = cluster_questions(repo.loop_questions(), index=_search_service().index(), known=repo.known_questions())
    return render_template(
        "kb/clusters.html",
        clusters=groups,
        entries=repo.list_entries() if _can_write() else [],
        can_write=_can_write(),
    )


@bp.post("/clusters/phrasings")
@login_required(*WRITE_ROLES)
def cluster_to_phrasings():
    """Add the ticked questions of a group as 相似问法 of one entry, in one step."""
    entry_id = (request.form.get("entry_id") or "").strip()
    questions = [q for q in request.form.getlist("question") if q.strip()]
    back = url_for("kb.clusters")
    if not entry_id:
        flash(labels.message("kb.cluster_failed", error=labels.message("kb.no_entry")))
        return redirect(back), 303
    if not questions:
        flash(labels.message("kb.cluster_failed", error=labels.message("kb.cluster_empty")))
        return redirect(back), 303
    if any(has_unreadable(q) for q in questions):
        flash(labels.message("kb.cluster_failed", error=UNREADABLE_TEXT))
        return redirect(back), 303
    try:
        record, added, skipped = _repo().add_phrasings(entry_id, questions, _username())
    except KbError as exc:
        flash(labels.message("kb.cluster_failed", error=exc))
        return redirect(back), 303
    log.info("kb add_phrasings %s v%s (%d) by %s", entry_id, record.version, len(added), _username())
    if record.published_version == record.version:
        flash(labels.message("kb.cluster_live", id=entry_id, n=len(added)))
    else:
        flash(labels.message("kb.cluster_draft", id=entry_id, n=len(added), version=record.version))
    if skipped:
        flash(labels.message("kb.cluster_skipped", items="；".join(skipped)))
    return redirect(back), 303


@bp.post("/clusters/draft")
@login_required(*WRITE_ROLES)
def cluster_to_draft():
    """A new entry's form filled from the ticked questions of a group (title: the first one)."""
    questions = list(dict.fromkeys(" ".join(q.split()) for q in request.form.getlist("question") if q.strip()))
    if not questions or any(has_unreadable(q) for q in questions):
        flash(labels.message("kb.cluster_failed",
                             error=labels.message("kb.cluster_empty") if not questions else UNREADABLE_TEXT))
        return redirect(url_for("kb.clusters")), 303
    form = _empty_form()
    form["title"] = questions[0]
    form["phrasings"] = "\n".join(questions[1:])
    area = request.form.get("area") or ""
    if area in AREAS:
        form["id"] = f"{area}."
    return render_template("kb/edit.html", form=form, errors=[], creating=True, form_action=url_for("kb.new"),
                           notice=labels.message("kb.cluster_draft_notice", n=len(questions)))


@bp.get("/downvoted")
@login_required(*READ_ROLES)
def downvoted():
    """Answers citizens said did not help, most down-votes first."""
    return render_template("kb/downvoted.html", rows=_repo().vote_summaries(only_downvoted=True))


@bp.get("/review")
@login_required(*READ_ROLES)
def review():
    """需复核: entries whose basis needs checking or that nobody reviewed for a year."""
    from xiaoan.kb.legal import RegisterError, load_register
    from xiaoan.kb.review import REASONS, review_items

    code = request.args.get("reason") or None
    if code not in (None, *REASONS):
        code = None
    repo = _repo()
    error = None
    try:
        register = load_register()
    except RegisterError as exc:
        log.error("legal register invalid: %s", exc)
        error = labels.message("kb.register_error", error=str(exc).split(": ", 1)[-1])
        items = []
    else:
        items = review_items(((r.data, r.version) for r in repo.list_entries()), repo.last_reviews(), register)
    counts = {c: sum(1 for item in items if c in item.codes) for c in REASONS}
    shown = [item for item in items if code is None or code in item.codes]
    return render_template("kb/review.html", items=shown, total=len(items), counts=counts, reasons=REASONS,
                           reason=code, error=error, can_write=_can_write())


@bp.post("/<entry_id>/reviewed")
@login_required(*WRITE_ROLES)
def mark_reviewed(entry_id: str):
    """Record 已复核 (who, when) without changing the entry."""
    back = url_for("kb.review", reason=request.form.get("reason") or None) \
        if request.form.get("back") == "review" else url_for("kb.detail", entry_id=entry_id)
    repo = _repo()
    _get_or_404(repo, entry_id)
    try:
        record = repo.mark_reviewed(entry_id, _username(), expected_version=_int(request.form.get("version")))
    except EntryNotFound:
        abort(404)
    except KbError as exc:
        flash(labels.message("kb.not_done", error=exc))
        return redirect(back), 303
    log.info("kb review %s v%s by %s", entry_id, record.version, _username())
    flash(labels.message("kb.reviewed", by=_username(), id=entry_id, version=record.version))
    return redirect(back), 303


@bp.get("/try")
@login_required(*READ_ROLES)
def try_search():
    """What the assistant would do with a question (the live search service)."""
    text = request.args.get("q", "").strip()[:500]
    intent = request.args.get("intent") or None
    result = _search_service().search(text, intent=intent, top=5) if text else None
    return render_template("kb/try.html", q=text, intent=intent, result=result)


# the console script and stylesheet (incl. the chat-bubble preview)
add_template_assets(bp, {"script": ("/kb.js", "kb/kb.js"), "stylesheet": ("/kb.css", "kb/kb.css")})


# --- helpers -----------------------------------------------------------------------------------


def _review_of(entry: EntryData, history) -> tuple[list, Any]:
    """Why an entry needs review (empty when it does not or the register is invalid) and its last review."""
    from xiaoan.kb.legal import RegisterError, load_register
    from xiaoan.kb.review import last_review, reasons_for

    recorded = next(((v.changed_at, v.changed_by, v.action) for v in history if v.action in ("review", "publish")),
                    None)
    last = last_review(entry, recorded)
    if entry.status == "retired":
        return [], last
    try:
        register = load_register()
    except RegisterError:
        log.exception("legal register invalid")
        return [], last
    return reasons_for(entry, last, register, today=today_shanghai()), last


def _get_or_404(repo: KbRepository, entry_id: str):
    try:
        return repo.get(entry_id)
    except EntryNotFound:
        abort(404)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _workflow(entry_id: str, action: str, call, message):
    repo = _repo()
    _get_or_404(repo, entry_id)
    try:
        record = call(repo, _int(request.form.get("version")))
    except EntryNotFound:
        abort(404)
    except KbError as exc:
        flash(labels.message("kb.not_done", error=exc))
        return redirect(url_for("kb.detail", entry_id=entry_id)), 303
    log.info("kb %s %s by %s", action, entry_id, _username())
    flash(message(record))
    return redirect(url_for("kb.detail", entry_id=entry_id)), 303


def _add_phrasing(entry_id: str, phrasing: str, expected_version: int | None, *, back: str):
    """Add a phrasing, flash the outcome in Chinese and go back to ``back``."""
    try:
        record = _repo().add_phrasing(entry_id, phrasing, _username(), expected_version=expected_version)
    except KbError as exc:  # includes EntryNotFound: the picker takes typed ids
        flash(labels.message("kb.phrasing_failed", error=exc))
        return redirect(back), 303
    text = record.data.phrasings[-1]
    log.info("kb add_phrasing %s v%s by %s", entry_id, record.version, _username())
    if record.published_version == record.version:
        flash(labels.message("kb.phrasing_live", id=entry_id, text=text))
    else:
        flash(labels.message("kb.phrasing_draft", id=entry_id, text=text, version=record.version))
    return redirect(back), 303


def _empty_form() -> dict[str, str]:
    return {k: "" for k in ("id", "title", "phrasings", "answer", "tags", "basis", "agency",
                            "effective_from", "expires_on", "version")}


def _form_from_entry(entry: EntryData, version: int) -> dict[str, str]:
    return {
        "id": entry.id,
        "title": entry.title,
        "phrasings": "\n".join(entry.phrasings),
        "answer": entry.answer,
        "tags": "、".join(entry.tags),
        "basis": entry.basis or "",
        "agency": entry.agency or "",
        "effective_from": entry.effective_from.isoformat() if entry.effective_from else "",
        "expires_on": entry.expires_on.isoformat() if entry.expires_on else "",
        "version": str(version),
    }


def _form_from_request() -> dict[str, str]:
    form = _empty_form()
    for key in form:
        form[key] = (request.form.get(key) or "").replace("\r\n", "\n")
    return form


def _validate(form: dict[str, str]) -> tuple[EntryData | None, list[str]]:
    """The form as an entry, or Chinese error messages (the same rules as the YAML import)."""
    if any(has_unreadable(value) for value in form.values()):
        # NUL cannot be stored by PostgreSQL; a lone surrogate cannot be encoded (the web app's
        # input check refuses both before the view; this keeps the rule where the form is read)
        return None, [UNREADABLE_TEXT]
    raw = {
        "id": form["id"].strip(),
        "title": form["title"],
        "phrasings": [line.strip() for line in form["phrasings"].split("\n") if line.strip()],
        "answer": form["answer"],
        "tags": [t for t in _SPLIT_TAGS.split(form["tags"]) if t],
        "basis": form["basis"].strip() or None,
        "agency": form["agency"].strip() or None,
        "effective_from": form["effective_from"].strip() or None,
        "expires_on": form["expires_on"].strip() or None,
        "status": "draft",
    }
    data, errors, _warnings = parse_entry(raw, default_updated_by=_username())
    return data, errors
