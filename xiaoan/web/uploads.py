"""Evidence uploads of the chat page and their downloads by staff (issue 15).

Citizens (same conventions as `xiaoan.web.chat`: the conversation from the signed session cookie,
CSRF token in the `X-CSRFToken` header, the chat's rate limits per client IP and conversation):

* `GET /api/chat/attachments`: whether the attach button applies now (a complaint or report form is
  running in the Rasa tracker), the files attached so far, the limits;
* `POST /api/chat/attachments`: one file (multipart field `file`); checked, cleaned and stored by
  `xiaoan.tickets.attachments`; 201 with the updated list, else 400 / 413 with a Chinese `error`
  from domain.yml (`utter_attach_*`). Nothing is stored on a refusal.

The app allows 1 MB request bodies; this blueprint raises the limit for the upload route alone,
in a hook that runs before the CSRF check (which reads the form), and refuses a body announced
larger than a file may be before reading it.

Staff: `GET /console/inbox/<session id>/attachments/<public id>` downloads an attachment of that
hand-off conversation, for whoever may open the conversation in the inbox (`may_open`), after
an audit row `attachment_download` is written (fail closed). The inbox page lists the
conversation's attachments through the template global `inbox_attachments(view)`
(templates/inbox/_attachments.html).
"""

from __future__ import annotations

import io
import logging
from typing import Any, Optional
from urllib.parse import unquote

from flask import Blueprint, abort, jsonify, request, send_file, session, url_for

from xiaoan import privacy_audit, texts
from xiaoan.channels.names import WEB
from xiaoan.rasa_client import RasaError
from xiaoan.tickets import attachments as evidence
from xiaoan.tickets.attachments import AttachmentRejected, AttachmentStore, AttachmentUnavailable
from xiaoan.web import messages
from xiaoan.web.auth import INBOX_ROLES, current_user, login_required
from xiaoan.web.chat import STARTED_KEY, conversation_id
from xiaoan.web.deps import db_session, get_rasa_client, get_settings
from xiaoan.web.limits import chat_rate_limit, chat_read_rate_limit

logger = logging.getLogger(__name__)

bp = Blueprint("uploads", __name__)

UPLOAD_PATH = "/api/chat/attachments"
#: The largest upload request: one file of MAX_BYTES plus the multipart envelope.
MAX_UPLOAD_REQUEST = evidence.MAX_BYTES + 64 * 1024
NAME_HEADER = "X-Attachment-Name"
"""The page sends the file's name here too (URL-encoded), so that a refusal before the body is
read can still name the file."""
ACCEPT = "image/jpeg,image/png,image/gif,image/webp,image/bmp,application/pdf,.jpg,.jpeg,.png,.gif,.webp,.bmp,.pdf"


@bp.record_once
def _install_limit_hook(state) -> None:
    # first of the app's before-request hooks: before CSRFProtect parses the form
    state.app.before_request_funcs.setdefault(None, []).insert(0, _upload_size_limit)


def _upload_size_limit():
    """Raise the body limit for the upload route only; refuse an announced body that is too big."""
    if request.path != UPLOAD_PATH or request.method != "POST":
        return None
    request.max_content_length = MAX_UPLOAD_REQUEST
    if request.content_length is not None and request.content_length > MAX_UPLOAD_REQUEST:
        name = unquote(request.headers.get(NAME_HEADER, ""))[:evidence.MAX_NAME_CHARS]
        return jsonify(error=AttachmentRejected("too_big", evidence.given_name(name)).message()), 413
    return None


def _store() -> AttachmentStore:
    return AttachmentStore(get_settings())


def _listed(items) -> list[dict[str, Any]]:
    return [{"name": i.name, "content_type": i.content_type, "size": i.size} for i in items]


def _form_running(conv: str) -> bool:
    """Whether the conversation's Rasa tracker has a complaint or report form active.

    Raises:
        RasaError: Rasa cannot be asked.
    """
    tracker = get_rasa_client().get_tracker(conv)
    return ((tracker.get("active_loop") or {}).get("name")) in evidence.FORMS


@bp.get(UPLOAD_PATH)
def attachment_state():
    """Whether files may be attached now, those attached so far, and the limits."""
    conv = conversation_id()
    limited = chat_read_rate_limit(conv)
    if limited is not None:
        return limited
    enabled = False
    if session.get(STARTED_KEY):
        try:
            enabled = _form_running(conv)
        except RasaError as exc:
            logger.warning("web chat %s: attachment state unavailable: %s", conv, exc)
            return jsonify(error=messages.RASA_UNAVAILABLE), 503
    items = _store().pending(conv) if enabled else []
    return jsonify(
        enabled=enabled, attachments=_listed(items), accept=ACCEPT,
        max_bytes=evidence.MAX_BYTES, max_count=evidence.MAX_PER_TICKET,
        # the page checks the size before sending; "{name}" is filled in by the page
        too_big=AttachmentRejected("too_big", "{name}").message(),
        too_many=AttachmentRejected("too_many", "{name}").message(),
    )


@bp.post(UPLOAD_PATH)
def upload_attachment():
    """Attach one photo or PDF to the complaint or report being filled in."""
    conv = conversation_id()
    limited = chat_rate_limit(conv)
    if limited is not None:
        return limited
    upload = request.files.get("file")
    filename = (upload.filename if upload is not None else "") or ""
    shown = evidence.given_name(filename)
    if not session.get(STARTED_KEY):
        return _refused(AttachmentRejected("no_form", shown))
    try:
        if not _form_running(conv):
            return _refused(AttachmentRejected("no_form", shown))
    except RasaError as exc:
        logger.warning("web chat %s: no tracker for an upload: %s", conv, exc)
        return jsonify(error=messages.RASA_UNAVAILABLE), 503
    if upload is None:
        return _refused(AttachmentRejected("empty"))
    data = upload.stream.read(evidence.MAX_BYTES + 1)
    store = _store()
    try:
        info = store.add(conv, WEB, filename, data)
    except AttachmentRejected as refusal:
        return _refused(refusal)
    items = store.pending(conv)
    logger.info("web chat %s: attachment %d of %d stored", conv, len(items), evidence.MAX_PER_TICKET)
    message = evidence.fill(texts.text("utter_attach_received"), name=info.name, count=len(items))
    return jsonify(message=message, attachment=_listed([info])[0], attachments=_listed(items)), 201


def _refused(refusal: AttachmentRejected):
    logger.info("web chat upload refused: %s", refusal.reason)
    return jsonify(error=refusal.message(), reason=refusal.reason), 413 if refusal.reason == "too_big" else 400


# --- staff: the inbox's list and downloads -------------------------------------------------------

def _handoff_service():
    from xiaoan.handoff.service import HandoffService

    return HandoffService(get_settings(), rasa=get_rasa_client())


@bp.app_template_global("inbox_attachments")
def inbox_attachments(view) -> Optional[list[dict[str, Any]]]:
    """The attachments of a hand-off conversation for the inbox page (None when unreadable)."""
    try:
        items = _store().for_conversation(view.conversation_id)
    except Exception:  # noqa: BLE001 - the inbox page must still open
        logger.exception("attachments of hand-off %s not readable", view.id)
        return None
    return [{"name": i.name, "content_type": i.content_type, "size_text": _size_text(i.size),
             "on_ticket": i.ticket_id is not None,
             "url": url_for("uploads.download", session_id=view.id, public_id=i.public_id)} for i in items]


def _size_text(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    return f"{max(1, round(size / 1024))} KB"


@bp.get("/console/inbox/<int:session_id>/attachments/<public_id>")
@login_required(*INBOX_ROLES)
def download(session_id: int, public_id: str):
    """Download one attachment of a conversation the signed-in staff member may open."""
    from xiaoan.handoff.inbox import may_open
    from xiaoan.handoff.service import HandoffError

    user = current_user()
    try:
        view = _handoff_service().get(session_id)
    except HandoffError:
        abort(404)
    if not may_open(user, view):
        abort(404)
    store = _store()
    info = store.get(public_id) if len(public_id) == 32 else None
    if info is None or info.conversation_id != view.conversation_id:
        abort(404)
    with db_session() as db:  # written first: no audit row, no file
        privacy_audit.record_view(db, actor=user.username, actor_id=user.id, actor_role=user.role,
                                  action=privacy_audit.ATTACHMENT_DOWNLOAD, subject=f"attachment:{public_id}",
                                  source="console", remote_addr=request.remote_addr)
    try:
        info, data = store.read(public_id)
    except (LookupError, AttachmentUnavailable) as exc:
        logger.error("attachment of hand-off %s unavailable: %s", session_id, exc)
        abort(404)
    response = send_file(io.BytesIO(data), mimetype=info.content_type, as_attachment=True,
                         download_name=info.name, max_age=0)
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response
