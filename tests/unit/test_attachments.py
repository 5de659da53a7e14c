"""Evidence attachments (issue 15): sniffing, re-encoding without EXIF, limits, storage, the ticket
JSON and the body sent to the work-order platform (against the fake platform)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
from decimal import Decimal

import pytest
from PIL import Image
from sqlalchemy import func, select

from tests.fakes.ticket_platform import FakePlatform
from xiaoan import texts
from xiaoan.config import Settings
from xiaoan.db import session_scope
from xiaoan.tickets import attachments as evidence
from xiaoan.tickets.attachments import AttachmentRejected, AttachmentStore, clean, display_name, sniff
from xiaoan.tickets.models import OutboxMessage, TicketAttachment
from xiaoan.tickets.outbox import OutboxDeliverer
from xiaoan.tickets.routing import Router
from xiaoan.tickets.service import TicketDraft, TicketService
from xiaoan.tickets.views import CONTRACT_FIELDS

UTC = dt.timezone.utc
CONV = "web-" + "a" * 32
GPS_TAG, ORIENTATION_TAG, MAKE_TAG = 0x8825, 0x0112, 0x010F


# ---------------------------------------------------------------- files made for the tests


def photo(size=(40, 20), *, exif_orientation: int | None = None, gps: bool = True, fmt: str = "JPEG",
          mode: str = "RGB") -> bytes:
    """An image with camera EXIF (maker, GPS position, orientation) like a phone photo."""
    image = Image.new(mode, size, (200, 30, 30) if mode == "RGB" else None)
    if mode == "RGB":
        for x in range(size[0] // 2):  # left half blue: the orientation is visible in the pixels
            for y in range(size[1]):
                image.putpixel((x, y), (20, 20, 220))
    exif = Image.Exif()
    exif[MAKE_TAG] = "PhoneMaker"
    if exif_orientation:
        exif[ORIENTATION_TAG] = exif_orientation
    if gps:
        exif[GPS_TAG] = {1: "N", 2: (31.0, 14.0, 1.0), 3: "E", 4: (121.0, 28.0, 2.0)}
    out = io.BytesIO()
    image.save(out, format=fmt, exif=exif.tobytes())
    return out.getvalue()


def minimal_pdf() -> bytes:
    """A one-page PDF written by pdfium itself."""
    import pypdfium2

    document = pypdfium2.PdfDocument.new()
    document.new_page(200, 100)
    out = io.BytesIO()
    document.save(out)
    document.close()
    return out.getvalue()


def store_for(db_url, tmp_path) -> AttachmentStore:
    return AttachmentStore(Settings(database_url=db_url, attachments_dir=str(tmp_path / "files")))


# ---------------------------------------------------------------- sniffing


@pytest.mark.parametrize("data, expected", [
    (b"\xff\xd8\xff\xe0" + b"\0" * 30, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 30, "image/png"),
    (b"GIF89a" + b"\0" * 30, "image/gif"),
    (b"RIFF\0\0\0\0WEBPVP8 " + b"\0" * 30, "image/webp"),
    (b"BM" + b"\0" * 40, "image/bmp"),
    (b"%PDF-1.7\n" + b"\0" * 30, "application/pdf"),
    (b"\xef\xbb\xbf\n%PDF-1.4\n", "application/pdf"),  # junk before the header, as readers allow
    (b"MZ\x90\0" + b"\0" * 60, None),                    # a Windows program named photo.jpg
    ("收据.jpg".encode() * 5, None),                      # text
    (b"\0\0\0\x18ftypheic" + b"\0" * 30, None),          # HEIC: not accepted
    (b"PK\x03\x04" + b"\0" * 30, None),                  # a zip / docx
])
def test_type_is_sniffed_from_the_content_never_the_name(data, expected):
    assert sniff(data) == expected


def test_a_png_named_jpg_is_stored_as_png_and_named_after_its_real_type():
    png = photo(fmt="PNG")
    cleaned = clean(png, "收据.jpg")
    assert cleaned.content_type == "image/png"
    assert display_name("收据.jpg", cleaned.extension) == "收据.png"


@pytest.mark.parametrize("original, expected", [
    ("C:\\Users\\张三\\Desktop\\发票.JPG", "发票.jpg"),
    ("../../etc/passwd", "passwd.jpg"),
    ("a\x00b<script>.png", "a_b_script.jpg"),
    ("", "attachment.jpg"),
    (".hidden", "hidden.jpg"),  # a dot file keeps its name, not as an extension
    ("长" * 200 + ".jpg", "长" * 76 + ".jpg"),
])
def test_display_names_lose_paths_and_control_characters(original, expected):
    assert display_name(original, ".jpg") == expected


# ---------------------------------------------------------------- re-encoding


def test_jpeg_is_reencoded_without_exif_and_turned_upright():
    original = photo(size=(40, 20), exif_orientation=6)  # the camera was held sideways
    assert Image.open(io.BytesIO(original)).getexif()[GPS_TAG]
    cleaned = clean(original, "现场.jpg")
    assert cleaned.content_type == "image/jpeg"
    image = Image.open(io.BytesIO(cleaned.data))
    assert image.format == "JPEG"
    assert dict(image.getexif()) == {}
    assert b"PhoneMaker" not in cleaned.data and b"Exif" not in cleaned.data
    assert image.size == (20, 40)  # orientation 6 applied to the pixels, then dropped


def test_png_with_text_chunks_and_exif_is_rewritten_as_plain_png():
    from PIL import PngImagePlugin

    image = Image.new("RGBA", (10, 10), (0, 128, 0, 128))
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "张三 13812345678")
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info, exif=Image.Exif().tobytes())
    cleaned = clean(out.getvalue(), "截图.png")
    assert cleaned.content_type == "image/png"
    assert b"13812345678" not in cleaned.data and b"tEXt" not in cleaned.data and b"eXIf" not in cleaned.data
    again = Image.open(io.BytesIO(cleaned.data))
    assert again.mode == "RGBA" and again.getpixel((5, 5)) == (0, 128, 0, 128)


def test_webp_and_gif_and_bmp_are_accepted_and_reencoded():
    assert clean(photo(fmt="WEBP"), "a.webp").content_type == "image/jpeg"  # lossy stays lossy
    gif = io.BytesIO()
    Image.new("P", (8, 8)).save(gif, format="GIF")
    assert clean(gif.getvalue(), "a.gif").content_type == "image/png"
    bmp = io.BytesIO()
    Image.new("RGB", (8, 8)).save(bmp, format="BMP")
    assert clean(bmp.getvalue(), "a.bmp").content_type == "image/png"


def test_pdf_is_kept_as_it_is_when_it_opens():
    pdf = minimal_pdf()
    cleaned = clean(pdf, "合同.pdf")
    assert (cleaned.content_type, cleaned.data, cleaned.extension) == ("application/pdf", pdf, ".pdf")


@pytest.mark.parametrize("make, reason", [
    (lambda: b"", "empty"),
    (lambda: b"\xff\xd8\xff" + b"\0" * (evidence.MAX_BYTES - 2), "too_big"),
    (lambda: b"MZ" + b"\0" * 100, "wrong_type"),
    (lambda: photo()[:200], "corrupt"),                         # a truncated photo
    (lambda: b"\xff\xd8\xff\xe0" + b"garbage" * 50, "corrupt"),   # JPEG magic, nothing after it
    (lambda: b"%PDF-1.4\n" + b"not really a pdf" * 20, "corrupt"),
])
def test_bad_files_are_refused_with_their_reason(make, reason):
    with pytest.raises(AttachmentRejected) as refused:
        clean(make(), "文件.jpg")
    assert refused.value.reason == reason


def test_a_decompression_bomb_is_refused_before_it_is_decoded(monkeypatch):
    monkeypatch.setattr(evidence, "MAX_PIXELS", 100)
    with pytest.raises(AttachmentRejected) as refused:
        clean(photo(size=(20, 20)), "炸弹.jpg")
    assert refused.value.reason == "corrupt"


def test_every_refusal_has_a_chinese_message_from_the_domain():
    for reason, response in evidence.REASONS.items():
        message = AttachmentRejected(reason, "发票.jpg").message()
        assert message and "{" not in message, reason
        assert texts.text(response)  # a domain.yml response
    assert "发票.jpg" in AttachmentRejected("too_big", "发票.jpg").message()
    assert "10 MB" in AttachmentRejected("too_big", "x").message()
    assert "9" in AttachmentRejected("too_many", "x").message()


# ---------------------------------------------------------------- storage


def test_stored_under_a_random_name_outside_the_web_root_with_a_row(db_url, tmp_path):
    store = store_for(db_url, tmp_path)
    info = store.add(CONV, "web", "收据.jpg", photo())
    with session_scope(db_url) as session:
        row = session.execute(select(TicketAttachment)).scalar_one()
        key = row.storage_key
    path = store.path_of(key)
    assert path.is_file() and path.parent.parent == tmp_path / "files"
    assert "收据" not in str(path) and not path.suffix
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    data = path.read_bytes()
    assert (info.name, info.content_type, info.size, info.sha256) == (
        "收据.jpg", "image/jpeg", len(data), hashlib.sha256(data).hexdigest())
    assert info.ticket_id is None and [i.public_id for i in store.pending(CONV)] == [info.public_id]
    assert store.read(info.public_id)[1] == data


def test_default_directory_is_under_var(db_url):
    from xiaoan.config import VAR_DIR

    assert evidence.attachments_dir(Settings(database_url=db_url)) == VAR_DIR / "attachments"
    assert Settings.from_env().attachments_dir is None


def test_the_tenth_file_is_refused_and_nothing_of_it_is_stored(db_url, tmp_path):
    store = store_for(db_url, tmp_path)
    for n in range(evidence.MAX_PER_TICKET):
        store.add(CONV, "web", f"{n}.jpg", photo())
    with pytest.raises(AttachmentRejected) as refused:
        store.add(CONV, "web", "10.jpg", photo())
    assert refused.value.reason == "too_many"
    assert store.pending_count(CONV) == 9
    assert len(list((tmp_path / "files").rglob("*"))) - len(list((tmp_path / "files").glob("*"))) == 9
    assert store.pending_count("web-other") == 0  # per conversation


def test_a_refused_file_leaves_neither_row_nor_file(db_url, tmp_path):
    store = store_for(db_url, tmp_path)
    with pytest.raises(AttachmentRejected):
        store.add(CONV, "web", "坏.jpg", photo()[:100])
    assert store.pending(CONV) == [] and not (tmp_path / "files").exists()


def test_a_database_failure_removes_the_written_file(db_url, tmp_path, monkeypatch):
    store = store_for(db_url, tmp_path)

    def broken(*args, **kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr(evidence, "_info", broken)  # fails inside the transaction, after the flush
    with pytest.raises(RuntimeError):
        store.add(CONV, "web", "收据.jpg", photo())
    assert [p for p in (tmp_path / "files").rglob("*") if p.is_file()] == []
    with session_scope(db_url) as session:
        assert session.execute(select(func.count(TicketAttachment.id))).scalar_one() == 0


def test_an_unwritable_directory_is_a_clear_refusal(db_url, tmp_path):
    (tmp_path / "files").write_text("not a directory")
    with pytest.raises(AttachmentRejected) as refused:
        store_for(db_url, tmp_path).add(CONV, "web", "收据.jpg", photo())
    assert refused.value.reason == "failed"


def test_discard_pending_removes_rows_and_files(db_url, tmp_path):
    store = store_for(db_url, tmp_path)
    store.add(CONV, "web", "a.jpg", photo())
    store.add(CONV, "web", "b.jpg", photo())
    kept = store.add("web-other", "web", "c.jpg", photo())
    assert store.discard_pending(CONV) == 2
    assert store.pending(CONV) == []
    assert [p.name for p in (tmp_path / "files").rglob("*") if p.is_file()] == [
        store.path_of(_key(db_url, kept.public_id)).name]


def _key(db_url, public_id):
    with session_scope(db_url) as session:
        return session.execute(select(TicketAttachment.storage_key)
                               .where(TicketAttachment.public_id == public_id)).scalar_one()


def test_readback_text_counts_and_names(db_url, tmp_path):
    store = store_for(db_url, tmp_path)
    assert evidence.readback_text([]) == texts.text("utter_label_attachments_none")
    store.add(CONV, "web", "收据.jpg", photo())
    store.add(CONV, "web", "合同.pdf", minimal_pdf())
    assert evidence.readback_text(store.pending(CONV)) == "2 个（收据.jpg、合同.pdf）"


# ---------------------------------------------------------------- tickets


def draft(**overrides) -> TicketDraft:
    fields = dict(
        kind="complaint", intent="complain_refund", channel="web", conversation_id=CONV,
        complainant_name="张三丰", phone="13812345678", complainant_address="上海市静安区康定路1号",
        respondent_name="某某旅行社", respondent_address="上海市黄浦区四川中路1号", district="huangpu",
        facts="疫情取消旅游，旅行社不退团费", claim="退还团费", amount=Decimal("5800"),
    )
    fields.update(overrides)
    return TicketDraft(**fields)


def make_service(db_url, tmp_path, url=None) -> TicketService:
    settings = Settings(database_url=db_url, ticket_api_url=url, attachments_dir=str(tmp_path / "files"))
    clock = lambda: dt.datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # noqa: E731
    return TicketService(settings, clock=clock, router=Router(resolve_district=lambda t: None),
                         deliverer=OutboxDeliverer(settings, clock=clock, rng=lambda: 0.0))


def test_ticket_json_has_an_empty_attachments_list_when_none(db_url, tmp_path):
    service = make_service(db_url, tmp_path)
    receipt = service.create(draft(), "key-1")
    shown = service.show(receipt.ticket_no)
    assert shown["attachments"] == []
    assert list(service.list_tickets()[0]) == list(CONTRACT_FIELDS)
    assert service.list_tickets()[0]["attachments"] == []


def test_the_ticket_takes_the_conversations_pending_attachments(db_url, tmp_path):
    service = make_service(db_url, tmp_path)
    store = AttachmentStore(service.settings)
    a = store.add(CONV, "web", "收据.jpg", photo())
    b = store.add(CONV, "web", "合同.pdf", minimal_pdf())
    other = store.add("web-other", "web", "别人的.jpg", photo())
    receipt = service.create(draft(), "key-1")
    shown = service.show(receipt.ticket_no)
    assert shown["attachments"] == [
        {"name": "收据.jpg", "content_type": "image/jpeg", "size": a.size, "sha256": a.sha256},
        {"name": "合同.pdf", "content_type": "application/pdf", "size": b.size, "sha256": b.sha256},
    ]
    assert service.list_tickets()[0]["attachments"] == shown["attachments"]
    assert store.pending(CONV) == [] and store.pending("web-other")[0].public_id == other.public_id
    # the same key again: the same ticket, nothing moved twice
    assert service.create(draft(), "key-1").ticket_no == receipt.ticket_no
    # a later ticket of the same conversation starts without evidence
    second = service.create(draft(facts="另一件事，商家不开发票"), "key-2")
    assert service.show(second.ticket_no)["attachments"] == []


def test_tickets_cli_prints_attachments(db_url, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from xiaoan.cli import cli

    service = make_service(db_url, tmp_path)
    AttachmentStore(service.settings).add(CONV, "web", "收据.jpg", photo())
    receipt = service.create(draft(), "key-1")
    monkeypatch.setenv("DATABASE_URL", db_url)
    result = CliRunner().invoke(cli, ["tickets", "list", "--json"])
    assert result.exit_code == 0, result.output
    [listed] = json.loads(result.output)
    assert [a["name"] for a in listed["attachments"]] == ["收据.jpg"]
    assert listed["ticket_no"] == receipt.ticket_no


def test_masked_listings_mask_the_citizens_name_in_file_names(db_url, tmp_path):
    from xiaoan.tickets.views import masked_ticket_json

    service = make_service(db_url, tmp_path)
    AttachmentStore(service.settings).add(CONV, "web", "张三丰身份证13812345678.jpg", photo())
    receipt = service.create(draft(), "key-1")
    shown = service.show(receipt.ticket_no)
    [masked] = masked_ticket_json(shown)["attachments"]
    assert "张三丰" not in masked["name"] and "13812345678" not in masked["name"]
    assert masked["sha256"] == shown["attachments"][0]["sha256"]


def test_the_outbox_body_carries_metadata_and_content_and_the_row_only_metadata(db_url, tmp_path):
    with FakePlatform() as fake:
        service = make_service(db_url, tmp_path, fake.url)
        info = AttachmentStore(service.settings).add(CONV, "web", "收据.jpg", photo())
        receipt = service.create(draft(), "key-1")
        assert receipt.forwarded
        [request] = fake.requests
        [sent] = request.body["attachments"]
        assert {k: sent[k] for k in ("name", "content_type", "size", "sha256")} == info.contract_json()
        data = base64.b64decode(sent["content_base64"])
        assert hashlib.sha256(data).hexdigest() == info.sha256
        assert fake.files[fake.orders[request.headers["Idempotency-Key"]]] == [("收据.jpg", data)]
        with session_scope(db_url) as session:
            stored = session.execute(select(OutboxMessage)).scalar_one().payload
        assert stored["attachments"] == [info.contract_json()]  # no file bytes in the database row


def test_a_missing_file_fails_the_delivery_for_good(db_url, tmp_path):
    with FakePlatform() as fake:
        service = make_service(db_url, tmp_path, fake.url)
        info = AttachmentStore(service.settings).add(CONV, "web", "收据.jpg", photo())
        AttachmentStore(service.settings).path_of(_key(db_url, info.public_id)).unlink()
        receipt = service.create(draft(), "key-1")
        assert not receipt.forwarded and fake.requests == []
        with session_scope(db_url) as session:
            row = session.execute(select(OutboxMessage)).scalar_one()
            assert row.state == "failed" and "missing" in row.last_error


def test_retention_deletes_abandoned_evidence_and_that_of_long_closed_tickets(db_url, tmp_path):
    from xiaoan.retention import RetentionPeriods, run_all

    service = make_service(db_url, tmp_path)
    store = AttachmentStore(service.settings)
    store.add(CONV, "web", "已结案.jpg", photo())
    closed = service.create(draft(), "key-1").ticket_no
    service.set_status(closed, "closed", "张科长")           # closed at the service clock, 2026-11-25
    store.add("web-open", "web", "未结案.jpg", photo())
    still_open = service.create(draft(conversation_id="web-open"), "key-2").ticket_no
    abandoned = store.add("web-gone", "web", "放弃的.jpg", photo())  # uploaded now, form never finished
    with session_scope(db_url) as session:
        session.execute(TicketAttachment.__table__.update()
                        .where(TicketAttachment.public_id == abandoned.public_id)
                        .values(created_at=dt.datetime(2026, 1, 1, tzinfo=UTC)))
    periods = RetentionPeriods(tracker_events=180, handoff=180, unanswered_questions=365, closed_tickets=30)
    now = dt.datetime(2027, 1, 10, tzinfo=UTC)
    dry = run_all(service.settings, periods=periods, tracker_url=f"sqlite:///{tmp_path / 'tracker.db'}", now=now,
                  dry_run=True)
    assert (dry["counts"]["attachments_abandoned"], dry["counts"]["attachments_of_closed_tickets"]) == (1, 1)
    assert len([p for p in (tmp_path / "files").rglob("*") if p.is_file()]) == 3
    run_all(service.settings, periods=periods, tracker_url=f"sqlite:///{tmp_path / 'tracker.db'}", now=now)
    assert service.show(closed)["attachments"] == []
    assert [a["name"] for a in service.show(still_open)["attachments"]] == ["未结案.jpg"]
    assert store.get(abandoned.public_id) is None
    assert len([p for p in (tmp_path / "files").rglob("*") if p.is_file()]) == 1


# ---------------------------------------------------------------- the form actions


def test_the_read_back_names_the_attachments_and_a_cancel_drops_them(db_url, tmp_path, monkeypatch):
    import yaml
    from rasa_sdk import Tracker
    from rasa_sdk.executor import CollectingDispatcher

    import actions.forms as forms
    from xiaoan.config import PROJECT_ROOT

    monkeypatch.setenv("XIAOAN_ATTACHMENTS_DIR", str(tmp_path / "files"))  # the action server's settings
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
    store = store_for(db_url, tmp_path)

    def tracker(**slots):
        return Tracker(CONV, slots, {}, [], False, None, {"name": "complaint_form"}, None)

    assert forms.readback_values(tracker(), domain)["attachments_text"] == "无"
    store.add(CONV, "web", "收据.jpg", photo())
    store.add(CONV, "web", "合同.pdf", minimal_pdf())
    values = forms.readback_values(tracker(), domain)
    assert values["attachments_text"] == "2 个（收据.jpg、合同.pdf）"
    template = domain["responses"]["utter_confirm_complaint"][0]["text"]
    assert "{attachments_text}" in template and "{attachments_text}" in domain["responses"]["utter_confirm_report"][0]["text"]

    dispatcher = CollectingDispatcher()
    forms.ActionCancelForm().run(dispatcher, tracker(respondent_name="某某商店"), domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_confirm_cancel"]
    assert len(store.pending(CONV)) == 2  # asked to confirm first: the evidence stays until then

    dispatcher = CollectingDispatcher()
    forms.ActionCancelForm().run(dispatcher, tracker(), domain)  # nothing filled: cancelled at once
    assert [m["response"] for m in dispatcher.messages] == ["utter_form_cancelled"]
    assert store.pending(CONV) == [] and not [p for p in (tmp_path / "files").rglob("*") if p.is_file()]
