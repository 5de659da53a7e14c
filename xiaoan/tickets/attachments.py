"""Evidence attached to complaints and reports (issue 15): checking, cleaning and storing files.

A citizen attaches photos and PDFs while a complaint or report form runs (the web chat's attach
button, `xiaoan.web.uploads`; WeChat image messages, `xiaoan.channels.wechat_media`). Every file:

* is at most `MAX_BYTES` (10 MB), and a ticket takes at most `MAX_PER_TICKET` (9);
* has its type sniffed from its first bytes (`sniff`), never from its name or the browser's
  Content-Type: JPEG, PNG, GIF, WebP, BMP images and PDF documents;
* is cleaned (`clean`): images are decoded and re-encoded by Pillow (EXIF orientation applied,
  then EXIF, GPS, comments and text chunks dropped; lossy formats become JPEG, lossless PNG;
  a decompression bomb or a truncated file is refused); a PDF must open in pdfium;
* is stored outside the web root (`attachments_dir`: `XIAOAN_ATTACHMENTS_DIR`, default
  `var/attachments`) under a random name, with one `TicketAttachment` row. The file is written
  first and removed again when the row cannot be committed: nothing is half-stored.

Until the ticket exists an attachment belongs to the conversation; `link_pending` (called by
`TicketService.create` in the ticket's transaction) hands every pending attachment of the
conversation to the new ticket; a cancelled form drops them (`discard_pending`).

Refusals raise `AttachmentRejected`, whose `message()` is the Chinese text of the domain response
`utter_attach_<reason>` (domain.yml, forms section), read through `xiaoan.texts`.

Usage::

    store = AttachmentStore(settings)
    info = store.add("web-1f2e…", "web", "收据.jpg", data)       # AttachmentInfo, or AttachmentRejected
    store.pending("web-1f2e…")                                  # [AttachmentInfo, ...]
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import logging
import os
import re
import secrets
import threading
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from xiaoan import services
from xiaoan import texts
from xiaoan.config import VAR_DIR, Settings
from xiaoan.db import session_scope, utcnow
from xiaoan.tickets.models import Ticket, TicketAttachment

logger = logging.getLogger(__name__)

MAX_BYTES = 10 * 1024 * 1024
"""Largest file accepted (as uploaded, before cleaning)."""
MAX_PER_TICKET = 9
MAX_PIXELS = 50_000_000
"""Largest image (width × height) decoded; bigger ones are refused as unreadable (decompression bombs)."""
MAX_NAME_CHARS = 80
FORMS = ("complaint_form", "report_form")
"""The forms during which files may be attached."""

JPEG, PNG, GIF, WEBP, BMP, PDF = ("image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp",
                                  "application/pdf")
EXTENSIONS = {JPEG: ".jpg", PNG: ".png", PDF: ".pdf"}
"""Extension of each stored type (after cleaning only these three remain)."""

#: Reasons of a refusal -> the domain response that explains it to the citizen.
REASONS = {
    "too_big": "utter_attach_too_big",
    "wrong_type": "utter_attach_wrong_type",
    "too_many": "utter_attach_too_many",
    "corrupt": "utter_attach_corrupt",
    "empty": "utter_attach_empty",
    "no_form": "utter_attach_no_form",
    "failed": "utter_attach_failed",
}

_pdfium_lock = threading.Lock()  # pdfium is not thread-safe


class AttachmentRejected(Exception):
    """A file that is not attached, and why (`reason`, one of REASONS).

    Attributes:
        reason: Key of REASONS.
        name: The file's name as given (shown in the message), or "".
    """

    def __init__(self, reason: str, name: str = "") -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown attachment refusal {reason!r}")
        super().__init__(f"attachment refused: {reason}")
        self.reason = reason
        self.name = name

    @property
    def response(self) -> str:
        """The domain response explaining the refusal."""
        return REASONS[self.reason]

    def message(self) -> str:
        """The citizen's Chinese explanation (domain.yml), with the file name and the limits filled in."""
        return fill(texts.text(self.response), name=self.name or "", limit_mb=MAX_BYTES // (1024 * 1024),
                    limit=MAX_PER_TICKET)


class AttachmentUnavailable(Exception):
    """A stored attachment's file is missing or no longer matches its checksum."""


def fill(template: str, **values: Any) -> str:
    """`template` with its `{name}` variables filled in; unknown variables stay as they are."""
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), template)


# ---------------------------------------------------------------- sniffing and cleaning


def sniff(data: bytes) -> str | None:
    """The content type read from the first bytes (magic numbers), or None when not accepted.

    Only what can be checked: a file named .jpg that starts like a PNG is a PNG; a text file
    named .pdf is nothing. PDF may have up to 1 KB of junk before `%PDF-`, as readers allow.
    """
    head = data[:1024]
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head.startswith(b"BM") and len(head) >= 26:
        return BMP
    if b"%PDF-" in head:
        return PDF
    return None


@dataclass(frozen=True)
class CleanFile:
    """A file ready to store: the bytes, their type and the extension that goes with it."""

    data: bytes
    content_type: str
    extension: str


def clean(data: bytes, name: str = "") -> CleanFile:
    """Check and clean one uploaded file (see the module docstring).

    Raises:
        AttachmentRejected: empty, too big, not an accepted type, or unreadable.
    """
    if not data:
        raise AttachmentRejected("empty", name)
    if len(data) > MAX_BYTES:
        raise AttachmentRejected("too_big", name)
    kind = sniff(data)
    if kind is None:
        raise AttachmentRejected("wrong_type", name)
    if kind == PDF:
        _check_pdf(data, name)
        return CleanFile(data, PDF, EXTENSIONS[PDF])
    return _reencode(data, kind, name)


def _check_pdf(data: bytes, name: str) -> None:
    import pypdfium2

    try:
        with _pdfium_lock:
            document = pypdfium2.PdfDocument(data)
            try:
                pages = len(document)
            finally:
                document.close()
    except Exception as exc:  # noqa: BLE001 - pdfium raises its own errors for broken or locked files
        logger.info("PDF attachment refused: %s", exc.__class__.__name__)
        raise AttachmentRejected("corrupt", name) from exc
    if pages < 1:
        raise AttachmentRejected("corrupt", name)


def _reencode(data: bytes, kind: str, name: str) -> CleanFile:
    """Decode the image fully and write it anew: only pixels (and the colour profile) survive."""
    from PIL import Image, ImageOps

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width < 1 or height < 1 or width * height > MAX_PIXELS:
                    raise AttachmentRejected("corrupt", name)
                image.load()
                icc = image.info.get("icc_profile")
                upright = ImageOps.exif_transpose(image)  # the photo as the citizen saw it
                lossy = kind in (JPEG, WEBP)
                out = io.BytesIO()
                if lossy:
                    if upright.mode in ("RGBA", "LA", "P", "PA"):
                        rgba = upright.convert("RGBA")
                        background = Image.new("RGB", rgba.size, (255, 255, 255))
                        background.paste(rgba, mask=rgba.getchannel("A"))
                        upright = background
                    elif upright.mode not in ("RGB", "L"):
                        upright = upright.convert("RGB")
                    options = {"quality": 90, "optimize": True}
                    if icc:
                        options["icc_profile"] = icc
                    upright.save(out, format="JPEG", **options)
                    content_type = JPEG
                else:
                    if upright.mode not in ("RGB", "RGBA", "L", "LA"):
                        upright = upright.convert("RGBA")
                    options = {"icc_profile": icc} if icc else {}
                    upright.save(out, format="PNG", **options)
                    content_type = PNG
    except AttachmentRejected:
        raise
    except (Exception, Image.DecompressionBombError) as exc:  # noqa: BLE001 - truncated, bombs, bad data
        logger.info("image attachment refused: %s", exc.__class__.__name__)
        raise AttachmentRejected("corrupt", name) from exc
    return CleanFile(out.getvalue(), content_type, EXTENSIONS[content_type])


_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


def given_name(original: str | None) -> str:
    """The file's name as the citizen gave it, for messages: without any path or control
    characters, at most MAX_NAME_CHARS (the extension kept as it was)."""
    base = re.split(r"[/\\]", unicodedata.normalize("NFC", str(original or "")))[-1]
    return _UNSAFE_NAME.sub("_", base).strip(" _")[:MAX_NAME_CHARS]


def display_name(original: str | None, extension: str, fallback: str = "attachment") -> str:
    """The name shown for a file: the citizen's name without any path or control characters,
    at most MAX_NAME_CHARS, with the extension of its real type (a PNG named x.jpg is x.png)."""
    base = unicodedata.normalize("NFC", str(original or ""))
    base = re.split(r"[/\\]", base)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base.lstrip(".") else base
    stem = _UNSAFE_NAME.sub("_", stem).strip(" ._") or fallback
    return stem[:MAX_NAME_CHARS - len(extension)] + extension


# ---------------------------------------------------------------- storage


def attachments_dir(settings: Settings | None = None) -> Path:
    """The directory of stored attachments: `XIAOAN_ATTACHMENTS_DIR`, else `var/attachments`."""
    settings = settings or services.settings()
    return Path(settings.attachments_dir) if settings.attachments_dir else VAR_DIR / "attachments"


@dataclass(frozen=True)
class AttachmentInfo:
    """One stored attachment as the rest of the project sees it."""

    public_id: str
    conversation_id: str
    ticket_id: int | None
    name: str
    content_type: str
    size: int
    sha256: str
    created_at: Any

    def contract_json(self) -> dict[str, Any]:
        """The docs/interfaces.md §6 shape: `{name, content_type, size, sha256}`."""
        return contract_json(self)


def contract_json(item: Any) -> dict[str, Any]:
    """`{name, content_type, size, sha256}` of an attachment row or info (docs/interfaces.md §6)."""
    return {"name": item.name, "content_type": item.content_type, "size": item.size, "sha256": item.sha256}


def _info(row: TicketAttachment) -> AttachmentInfo:
    return AttachmentInfo(public_id=row.public_id, conversation_id=row.conversation_id, ticket_id=row.ticket_id,
                          name=row.name, content_type=row.content_type, size=row.size, sha256=row.sha256,
                          created_at=row.created_at)


class AttachmentStore:
    """Attachments of the project database and their files.

    Args:
        settings: Database URL and `attachments_dir` (default: the process's settings).
        clock: Current time (UTC, aware).
    """

    def __init__(self, settings: Settings | None = None, *, clock: Callable[[], Any] = utcnow) -> None:
        self.settings = settings or services.settings()
        self.root = attachments_dir(self.settings)
        self.clock = clock

    def _session(self):
        return session_scope(self.settings.database_url)

    def path_of(self, storage_key: str) -> Path:
        """Where the file of `storage_key` lives (two levels of fan-out by its first characters)."""
        if not re.fullmatch(r"[0-9a-f]{32}", storage_key or ""):
            raise ValueError("not a storage key")
        return self.root / storage_key[:2] / storage_key

    def pending_count(self, conversation_id: str) -> int:
        """How many attachments wait for this conversation's ticket."""
        with self._session() as session:
            return _pending_count(session, conversation_id)

    def add(self, conversation_id: str, channel: str, filename: str | None, data: bytes) -> AttachmentInfo:
        """Check, clean and store one file for the conversation's coming ticket.

        Raises:
            AttachmentRejected: too big, wrong type, unreadable, or the ticket has its 9 already
                ("failed" when the file cannot be written). Nothing is stored then.
        """
        shown = given_name(filename)
        if self.pending_count(conversation_id) >= MAX_PER_TICKET:
            raise AttachmentRejected("too_many", shown)
        cleaned = clean(data, shown)
        name = display_name(filename, cleaned.extension)
        key = secrets.token_hex(16)
        path = self.path_of(key)
        try:
            _write_file(path, cleaned.data)
        except OSError as exc:
            logger.error("attachment file could not be written (%s)", exc.__class__.__name__)
            raise AttachmentRejected("failed", shown) from exc
        try:
            with self._session() as session:
                row = TicketAttachment(
                    public_id=secrets.token_hex(16), conversation_id=conversation_id, channel=channel,
                    name=name, content_type=cleaned.content_type, size=len(cleaned.data),
                    sha256=hashlib.sha256(cleaned.data).hexdigest(), storage_key=key, created_at=self.clock(),
                )
                session.add(row)
                session.flush()
                if _pending_count(session, conversation_id) > MAX_PER_TICKET:  # two uploads raced
                    raise AttachmentRejected("too_many", shown)
                info = _info(row)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        logger.info("attachment stored for conversation %s: %s, %d bytes", _short(conversation_id),
                    info.content_type, info.size)
        return info

    def pending(self, conversation_id: str) -> list[AttachmentInfo]:
        """The attachments waiting for this conversation's ticket, oldest first."""
        with self._session() as session:
            rows = session.execute(
                select(TicketAttachment)
                .where(TicketAttachment.conversation_id == conversation_id, TicketAttachment.ticket_id.is_(None))
                .order_by(TicketAttachment.id)).scalars()
            return [_info(row) for row in rows]

    def for_conversation(self, conversation_id: str) -> list[AttachmentInfo]:
        """Every attachment uploaded in the conversation (pending or on a ticket), oldest first."""
        with self._session() as session:
            rows = session.execute(select(TicketAttachment).where(TicketAttachment.conversation_id == conversation_id)
                                   .order_by(TicketAttachment.id)).scalars()
            return [_info(row) for row in rows]

    def get(self, public_id: str) -> AttachmentInfo | None:
        """The attachment with this public id, or None."""
        with self._session() as session:
            row = session.execute(select(TicketAttachment).where(TicketAttachment.public_id == public_id)
                                  ).scalar_one_or_none()
            return _info(row) if row is not None else None

    def read(self, public_id: str) -> tuple[AttachmentInfo, bytes]:
        """The attachment and its bytes, checked against the stored SHA-256.

        Raises:
            LookupError: no such attachment.
            AttachmentUnavailable: its file is missing or altered.
        """
        with self._session() as session:
            row = session.execute(select(TicketAttachment).where(TicketAttachment.public_id == public_id)
                                  ).scalar_one_or_none()
            if row is None:
                raise LookupError(public_id)
            info, key = _info(row), row.storage_key
        return info, self._read_checked(key, info.sha256)

    def _read_checked(self, storage_key: str, sha256: str) -> bytes:
        try:
            data = self.path_of(storage_key).read_bytes()
        except OSError as exc:
            raise AttachmentUnavailable(f"attachment file {storage_key[:6]}… is missing") from exc
        if hashlib.sha256(data).hexdigest() != sha256:
            raise AttachmentUnavailable(f"attachment file {storage_key[:6]}… does not match its checksum")
        return data

    def discard_pending(self, conversation_id: str) -> int:
        """Drop the attachments waiting for this conversation's ticket (a cancelled form); their
        files are removed after the rows. Returns how many."""
        with self._session() as session:
            keys = list(session.execute(
                select(TicketAttachment.storage_key)
                .where(TicketAttachment.conversation_id == conversation_id, TicketAttachment.ticket_id.is_(None))
            ).scalars())
            if keys:
                session.execute(delete(TicketAttachment).where(TicketAttachment.storage_key.in_(keys))
                                .execution_options(synchronize_session=False))
        for key in keys:
            self.path_of(key).unlink(missing_ok=True)
        if keys:
            logger.info("%d pending attachment(s) of conversation %s discarded", len(keys), _short(conversation_id))
        return len(keys)

    def with_content(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The outbox body of a ticket with each attachment's bytes added as `content_base64`.

        The body stored in the outbox carries the metadata only (`attachments`, as the ticket JSON);
        the files are read when the body is sent (docs/tickets-interface.md, "Attachments").

        Raises:
            AttachmentUnavailable: a file is missing or altered (the delivery fails for good; an
                operator looks at it).
        """
        listed = payload.get("attachments")
        if not listed:
            return payload
        with self._session() as session:
            rows = session.execute(
                select(TicketAttachment.sha256, TicketAttachment.storage_key).join(Ticket)
                .where(Ticket.ticket_no == payload.get("ticket_no")).order_by(TicketAttachment.id)).all()
        keys = {sha: key for sha, key in rows}
        out = []
        for item in listed:
            key = keys.get(item.get("sha256"))
            if key is None:
                raise AttachmentUnavailable(f"attachment {item.get('sha256', '')[:8]}… of {payload.get('ticket_no')} "
                                            "is not stored")
            data = self._read_checked(key, item["sha256"])
            out.append({**item, "content_base64": base64.b64encode(data).decode("ascii")})
        return {**payload, "attachments": out}


def purge(settings: Settings, *, pending_before: Any, closed_before: Any, dry_run: bool = False) -> dict[str, int]:
    """Retention (`xiaoan.retention`): delete the attachments (rows, then files) that never reached a
    ticket and were uploaded before `pending_before` (an abandoned form), and those of tickets closed
    (last status change) before `closed_before` — the evidence is personal data like the complainant's.

    Returns:
        {"attachments_abandoned": n, "attachments_of_closed_tickets": n} (counted only with `dry_run`).
    """
    store = AttachmentStore(settings)
    with store._session() as session:
        abandoned = list(session.execute(select(TicketAttachment.id, TicketAttachment.storage_key).where(
            TicketAttachment.ticket_id.is_(None), TicketAttachment.created_at < pending_before)).all())
        closed = list(session.execute(
            select(TicketAttachment.id, TicketAttachment.storage_key).join(Ticket)
            .where(Ticket.status == "closed", Ticket.updated_at < closed_before)).all())
        if not dry_run:
            ids = [row_id for row_id, _ in abandoned + closed]
            for start in range(0, len(ids), 500):
                session.execute(delete(TicketAttachment).where(TicketAttachment.id.in_(ids[start:start + 500]))
                                .execution_options(synchronize_session=False))
    if not dry_run:
        for _, key in abandoned + closed:
            store.path_of(key).unlink(missing_ok=True)
    return {"attachments_abandoned": len(abandoned), "attachments_of_closed_tickets": len(closed)}


def _pending_count(session: Session, conversation_id: str) -> int:
    return session.execute(
        select(func.count(TicketAttachment.id))
        .where(TicketAttachment.conversation_id == conversation_id, TicketAttachment.ticket_id.is_(None))
    ).scalar_one()


def link_pending(session: Session, ticket: Ticket) -> list[TicketAttachment]:
    """Give the new `ticket` every attachment pending in its conversation, in the caller's
    transaction (`TicketService.create`): the ticket and its attachments commit together."""
    rows = list(session.execute(
        select(TicketAttachment)
        .where(TicketAttachment.conversation_id == ticket.conversation_id, TicketAttachment.ticket_id.is_(None))
        .order_by(TicketAttachment.id).limit(MAX_PER_TICKET)).scalars())
    for row in rows:
        row.ticket = ticket
    return rows


def _write_file(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically (a temporary file renamed into place), readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _short(conversation_id: str) -> str:
    return f"{conversation_id[:10]}…" if len(conversation_id) > 10 else conversation_id


def readback_text(items: Iterable[AttachmentInfo]) -> str:
    """The read-back's attachment line: "2 个（收据.jpg、现场.png）", or the domain's "无"."""
    items = list(items)
    if not items:
        return texts.text("utter_label_attachments_none")
    return fill(texts.text("utter_label_attachments"), count=len(items), names="、".join(i.name for i in items))


def settings_for(database_url: str) -> Settings:
    """The process's settings on another database (channels built with their own database URL)."""
    return dataclasses.replace(services.settings(), database_url=database_url)
