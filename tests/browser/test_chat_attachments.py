"""Attaching evidence in the chat page (issue 15), in a real Chromium against the web app and a fake
Rasa whose script starts a complaint form. Screenshots: tests/browser/artifacts/ and the README's
docs/img/chat-attachment.png."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select
from werkzeug.serving import make_server

from tests.browser.conftest import RASA_TOKEN, LiveServer
from tests.fakes.rasa_server import FakeRasa
from xiaoan.config import Settings
from xiaoan.db import session_scope
from xiaoan.tickets.attachments import AttachmentRejected, AttachmentStore
from xiaoan.tickets.models import TicketAttachment
from xiaoan.web.app import create_app

pytestmark = pytest.mark.browser

README_IMAGE = Path(__file__).resolve().parents[2] / "docs" / "img" / "chat-attachment.png"
OPENING = "网上买的羽绒服有质量问题，商家不给退货，我要投诉"


def scripted(sender_id, text, metadata):
    if text == OPENING:
        return [{"text": "好的，我来帮您登记投诉。您可以点输入框左边的“＋”上传购物凭证、商品照片等证据。请问您怎么称呼？",
                 "active_loop": "complaint_form"}]
    if text == "张伟":
        return [{"text": "张伟您好，请问您的联系电话是多少？"}]
    return [{"text": f"收到：{text}"}]


@pytest.fixture()
def evidence_server(db_url, monkeypatch, tmp_path):
    """The web app (attachments under tmp_path) with the scripted fake Rasa."""
    monkeypatch.setenv("XIAOAN_RASA_TOKEN", RASA_TOKEN)
    rasa = FakeRasa(token=RASA_TOKEN, reply=scripted).start()
    settings = Settings(database_url=db_url, rasa_url=rasa.url, attachments_dir=str(tmp_path / "evidence"),
                        web_secret_key="browser-tests-0123456789abcdefghijkl")
    app = create_app(settings, testing=True)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield LiveServer(url=f"http://127.0.0.1:{server.server_port}", rasa=rasa), settings
    server.shutdown()
    thread.join(timeout=5)
    server.server_close()
    rasa.stop()


def photo(fmt: str = "JPEG", color=(200, 80, 40)) -> bytes:
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {1: "N", 2: (31.0, 14.0, 1.0), 3: "E", 4: (121.0, 28.0, 2.0)}
    Image.new("RGB", (320, 240), color).save(out, format=fmt, exif=exif.tobytes())
    return out.getvalue()


def test_attaching_photos_while_filing_a_complaint(page, evidence_server, artifacts):
    from playwright.sync_api import expect

    live, settings = evidence_server
    page.goto(live.url + "/")
    attach = page.locator("#attach")
    expect(attach).to_be_hidden()  # no form yet

    page.locator("#input").fill(OPENING)
    page.locator("#send").click()
    expect(page.locator(".msg-bot .bubble-text").last).to_contain_text("请问您怎么称呼")
    expect(attach).to_be_visible()  # the complaint form runs
    expect(attach).to_have_accessible_name("上传照片或 PDF 作为证据")

    status, names = page.locator("#attach-status"), page.locator("#attach-list li")
    page.locator("#attach-input").set_input_files([
        {"name": "购物凭证.jpg", "mimeType": "image/jpeg", "buffer": photo()},
        {"name": "商品照片.png", "mimeType": "image/png", "buffer": photo("PNG", (40, 90, 200))},
    ])
    expect(names).to_have_text(["购物凭证.jpg", "商品照片.png"])
    expect(status).to_contain_text("商品照片.png")
    expect(status).to_contain_text("共 2 个")
    page.screenshot(path=str(artifacts / "chat-attachment.png"))
    page.screenshot(path=str(README_IMAGE))
    page.locator("#input").fill("张伟")
    page.locator("#send").click()
    expect(page.locator(".msg-bot .bubble-text").last).to_contain_text("联系电话")
    expect(names).to_have_count(2)  # still listed after the next turn
    expect(status).to_be_empty()     # the "received" line is gone once the conversation moved on

    with session_scope(settings.database_url) as session:
        rows = session.execute(select(TicketAttachment).order_by(TicketAttachment.id)).scalars().all()
        assert [(r.name, r.content_type) for r in rows] == [("购物凭证.jpg", "image/jpeg"), ("商品照片.png", "image/png")]
        public_ids = [r.public_id for r in rows]
    stored = AttachmentStore(settings).read(public_ids[0])[1]
    assert b"PhoneMaker" not in stored and dict(Image.open(io.BytesIO(stored)).getexif()) == {}

    # a text file named like a photo: a clear message, nothing stored
    page.locator("#attach-input").set_input_files(
        {"name": "发票.jpg", "mimeType": "image/jpeg", "buffer": "这不是图片".encode() * 20})
    expect(status).to_have_text(AttachmentRejected("wrong_type", "发票.jpg").message())
    expect(status).to_have_class("attach-status error")
    # too big: refused in the page before sending, with the server's wording
    page.locator("#attach-input").set_input_files(
        {"name": "大视频截图.jpg", "mimeType": "image/jpeg", "buffer": b"\xff\xd8\xff" + b"\0" * (10 * 1024 * 1024)})
    expect(status).to_have_text(AttachmentRejected("too_big", "大视频截图.jpg").message())
    page.screenshot(path=str(artifacts / "chat-attachment-refused.png"))
    expect(names).to_have_count(2)
    assert len(AttachmentStore(settings).pending(next(iter(live.rasa.trackers)))) == 2

    assert not [e for e in page.console_errors if "Content Security Policy" in e]


def test_the_agent_sees_and_downloads_the_evidence_in_the_inbox(page, evidence_server, playwright,
                                                                chromium_executable, artifacts):
    from playwright.sync_api import expect

    from tests.browser.conftest import CHROMIUM_ARGS
    from xiaoan.handoff.service import HandoffService
    from xiaoan.privacy_audit import ATTACHMENT_DOWNLOAD, PersonalDataView
    from xiaoan.rasa_client import RasaClient
    from xiaoan.web.accounts import create_user

    live, settings = evidence_server
    page.goto(live.url + "/")
    page.locator("#input").fill(OPENING)
    page.locator("#send").click()
    expect(page.locator("#attach")).to_be_visible()
    page.locator("#attach-input").set_input_files({"name": "购物凭证.jpg", "mimeType": "image/jpeg", "buffer": photo()})
    expect(page.locator("#attach-list li")).to_have_text(["购物凭证.jpg"])
    (conversation_id,) = live.rasa.trackers
    service = HandoffService(settings, rasa=RasaClient(settings, token=live.rasa.token))
    session_id = service.enqueue(conversation_id, "web", "requested", input_channel="rest",
                                 intent="complain_general", active_form="complaint_form", slots={}).session_id
    with session_scope(settings.database_url) as db:
        create_user(db, "wangfang", "agent-password-1", "agent", "王芳")

    browser = playwright.chromium.launch(executable_path=chromium_executable, headless=True, args=CHROMIUM_ARGS)
    try:
        context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai",
                                      viewport={"width": 1280, "height": 900}, accept_downloads=True)
        context.set_default_timeout(10_000)
        agent = context.new_page()
        agent.goto(f"{live.url}/console/inbox/{session_id}")
        agent.locator("#username").fill("wangfang")
        agent.locator("#password").fill("agent-password-1")
        agent.get_by_role("button", name="登录").click()
        section = agent.locator("#attachments")
        expect(section.get_by_role("link")).to_have_text(["购物凭证.jpg"])
        expect(section).to_contain_text("待随工单提交")
        section.scroll_into_view_if_needed()
        agent.screenshot(path=str(artifacts / "inbox-attachments.png"))
        with agent.expect_download() as caught:
            section.get_by_role("link", name="购物凭证.jpg").click()
        download = caught.value
        assert download.suggested_filename == "购物凭证.jpg"
        assert Path(download.path()).read_bytes()[:3] == b"\xff\xd8\xff"
    finally:
        browser.close()
    with session_scope(settings.database_url) as db:
        assert [(v.actor, v.action) for v in db.execute(select(PersonalDataView)).scalars()] == [
            ("wangfang", ATTACHMENT_DOWNLOAD)]
