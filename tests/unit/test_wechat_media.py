"""WeChat image messages as evidence (issue 15): WeChat (the signing fake) → the channel in Rasa's
Sanic app → the media fetched from the fake WeChat API → stored like a web upload."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from tests.fakes.wechat_server import (
    AES_KEY,
    APPID,
    SECRET,
    TOKEN,
    FakeWeChatServer,
    StubAgent,
    WeChatPusher,
    image_xml,
    running_channel,
)
from xiaoan import texts
from xiaoan.channels.wechat import ChannelTexts, WeChatInput
from xiaoan.config import Settings
from xiaoan.db import session_scope
from xiaoan.tickets import attachments as evidence
from xiaoan.tickets.attachments import AttachmentRejected
from xiaoan.tickets.models import TicketAttachment
from xiaoan.tickets.routing import Router
from xiaoan.tickets.service import TicketDraft, TicketService

OPENID = "oXiaoAn_citizen_000000000077"


@pytest.fixture()
def fake():
    with FakeWeChatServer() as server:
        yield server


@pytest.fixture()
def evidence_dir(tmp_path, monkeypatch):
    folder = tmp_path / "evidence"
    monkeypatch.setenv("XIAOAN_ATTACHMENTS_DIR", str(folder))
    return folder


@pytest.fixture()
def make_channel(db_url, fake, evidence_dir):
    def make(**kwargs: Any) -> WeChatInput:
        options = dict(token=TOKEN, appid=APPID, secret=SECRET, api_url=fake.url, database_url=db_url,
                       reply_budget=3.0, poll_interval=0.05, push_delay=0.05)
        options.update(kwargs)
        return WeChatInput(**options)

    return make


def phone_photo() -> bytes:
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {1: "N", 2: (31.0, 14.0, 1.0)}
    Image.new("RGB", (60, 40), (120, 90, 30)).save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


def stored(db_url) -> list[TicketAttachment]:
    with session_scope(db_url) as session:
        rows = session.execute(select(TicketAttachment).order_by(TicketAttachment.id)).scalars().all()
        session.expunge_all()
        return rows


@pytest.mark.parametrize("aes_key", [None, AES_KEY], ids=["plaintext", "safe"])
def test_an_image_during_a_complaint_is_fetched_and_attached(make_channel, fake, monkeypatch, db_url,
                                                             evidence_dir, aes_key):
    fake.add_media("media-receipt", phone_photo())
    agent = StubAgent()
    agent.active_forms[OPENID] = "complaint_form"
    with running_channel(make_channel(aes_key=aes_key), agent, monkeypatch) as (url, _):
        reply = WeChatPusher(url, aes_key=aes_key).post(image_xml(OPENID, 7201, media_id="media-receipt"))
    assert reply.content == evidence.fill(texts.text("utter_attach_received"), name="wechat-7201.jpg", count=1)
    assert agent.received == []  # the form keeps waiting for its answer: nothing went to Rasa
    assert fake.media_fetches == ["media-receipt"]
    [row] = stored(db_url)
    assert (row.conversation_id, row.channel, row.name, row.content_type, row.ticket_id) == (
        OPENID, "wechat", "wechat-7201.jpg", "image/jpeg", None)
    data = evidence.AttachmentStore(Settings(database_url=db_url, attachments_dir=str(evidence_dir))
                                    ).read(row.public_id)[1]
    assert b"PhoneMaker" not in data and dict(Image.open(io.BytesIO(data)).getexif()) == {}

    # the ticket of that conversation takes it
    service = TicketService(Settings(database_url=db_url, attachments_dir=str(evidence_dir)),
                            clock=lambda: dt.datetime(2026, 11, 25, 10, tzinfo=dt.timezone.utc),
                            router=Router(resolve_district=lambda t: None))
    receipt = service.create(TicketDraft(
        kind="complaint", intent="complain_refund", channel="wechat", conversation_id=OPENID,
        complainant_name="李四", phone="13912345678", complainant_address="上海市徐汇区漕溪北路1号",
        respondent_name="某某超市", respondent_address="上海市徐汇区虹桥路1号", district="xuhui",
        facts="买到过期牛奶，超市不给退", claim="退款", amount=Decimal("30")), "wx-key-1")
    assert [a["name"] for a in service.show(receipt.ticket_no)["attachments"]] == ["wechat-7201.jpg"]


def test_outside_a_form_an_image_is_still_unsupported(make_channel, fake, monkeypatch, db_url):
    fake.add_media("media-receipt", phone_photo())
    agent = StubAgent()
    agent.active_forms[OPENID] = "ticket_status_form"  # not a complaint or report
    with running_channel(make_channel(), agent, monkeypatch) as (url, _):
        reply = WeChatPusher(url).post(image_xml(OPENID, 7202, media_id="media-receipt"))
    assert reply.content == ChannelTexts.load().unsupported
    assert fake.media_fetches == [] and stored(db_url) == []


@pytest.mark.parametrize("media, reason", [
    ((b"%PDF-1.4 not really" * 10, "image/jpeg"), "corrupt"),
    ((b"this is text, not a photo" * 10, "image/jpeg"), "wrong_type"),
    ((b"\xff\xd8\xff" + b"\0" * (10 * 1024 * 1024), "image/jpeg"), "too_big"),
], ids=["corrupt", "wrong-type", "too-big"])
def test_bad_images_get_the_reason_and_nothing_is_stored(make_channel, fake, monkeypatch, db_url, evidence_dir,
                                                         media, reason):
    fake.add_media("media-bad", *media)
    agent = StubAgent()
    agent.active_forms[OPENID] = "report_form"
    with running_channel(make_channel(), agent, monkeypatch) as (url, _):
        reply = WeChatPusher(url).post(image_xml(OPENID, 7203, media_id="media-bad"))
    assert reply.content == AttachmentRejected(reason, "wechat-7203").message()
    assert stored(db_url) == [] and not [p for p in evidence_dir.rglob("*") if p.is_file()]


def test_a_media_id_wechat_does_not_know_gets_a_retry_hint(make_channel, fake, monkeypatch, db_url):
    agent = StubAgent()
    agent.active_forms[OPENID] = "complaint_form"
    with running_channel(make_channel(), agent, monkeypatch) as (url, _):
        reply = WeChatPusher(url).post(image_xml(OPENID, 7204, media_id="media-expired"))
    assert reply.content == texts.text("utter_attach_wechat_fetch_failed")
    assert fake.media_fetches == ["media-expired"] and stored(db_url) == []


def test_the_tenth_image_is_refused(make_channel, fake, monkeypatch, db_url):
    fake.add_media("media-receipt", phone_photo())
    agent = StubAgent()
    agent.active_forms[OPENID] = "complaint_form"
    with running_channel(make_channel(), agent, monkeypatch) as (url, _):
        pusher = WeChatPusher(url)
        replies = [pusher.post(image_xml(OPENID, 7300 + n, media_id="media-receipt")) for n in range(10)]
    assert "共 9 个" in replies[8].content
    assert replies[9].content == AttachmentRejected("too_many", "wechat-7309").message()
    assert len(stored(db_url)) == 9 and len(fake.media_fetches) == 9  # the tenth is not even fetched
