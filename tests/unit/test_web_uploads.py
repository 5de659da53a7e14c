"""The chat page's evidence uploads and the inbox's downloads (issue 15), against the fake Rasa."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image
from sqlalchemy import func, select

from tests.console_app import add_user, sign_in
from tests.fakes.rasa_server import FakeRasa
from xiaoan.config import Settings
from xiaoan.db import session_scope
from xiaoan.handoff.service import HandoffService
from xiaoan.privacy_audit import ATTACHMENT_DOWNLOAD, PersonalDataView
from xiaoan.rasa_client import RasaClient
from xiaoan.tickets import attachments as evidence
from xiaoan.tickets.attachments import AttachmentRejected
from xiaoan.tickets.models import TicketAttachment
from xiaoan.web.app import create_app

TOKEN = "uploads-test-token"
PASSWORD = "agent-password-1"


def starts_complaint(sender_id, text, metadata):
    """Rasa as scripted here: 我要投诉 starts the complaint form, 算了 ends it."""
    if text == "/complain_general":
        return [{"text": "好的，请简要描述您遇到的问题。", "active_loop": "complaint_form"}]
    if text == "算了":
        return [{"text": "好的，已取消。", "active_loop": None}]
    if "你好" in text:
        return [{"text": "您好", "buttons": [{"title": "我要投诉", "payload": "/complain_general"}]}]
    return [{"text": f"收到：{text}"}]


@pytest.fixture()
def rasa(monkeypatch):
    monkeypatch.setenv("XIAOAN_RASA_TOKEN", TOKEN)
    with FakeRasa(token=TOKEN, reply=starts_complaint) as fake:
        yield fake


@pytest.fixture()
def settings(db_url, rasa, tmp_path) -> Settings:
    return Settings(database_url=db_url, rasa_url=rasa.url, web_secret_key="uploads-tests-0123456789abcdefghijkl",
                    attachments_dir=str(tmp_path / "evidence"))


@pytest.fixture()
def app(settings):
    return create_app(settings, testing=True)


def jpeg(size=(30, 20)) -> bytes:
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (31.0, 14.0, 1.0)}
    Image.new("RGB", size, (10, 200, 10)).save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


class Citizen:
    """The chat page: its cookie, its CSRF header."""

    def __init__(self, app):
        self.client = app.test_client()
        self.token = re.search(r'<meta name="csrf-token" content="([^"]+)"', self.client.get("/").text).group(1)

    def say(self, text=None, **body):
        if text is not None:
            body["text"] = text
        return self.client.post("/api/chat/message", json=body, headers={"X-CSRFToken": self.token})

    def start_complaint(self):
        self.say("你好")
        assert self.say(payload="/complain_general").status_code == 200

    def upload(self, data: bytes, name: str = "收据.jpg", *, csrf: bool = True, content_type="image/jpeg"):
        headers = {"X-CSRFToken": self.token} if csrf else {}
        return self.client.post("/api/chat/attachments", headers=headers, content_type="multipart/form-data",
                                data={"file": (io.BytesIO(data), name, content_type)})

    def state(self):
        return self.client.get("/api/chat/attachments").get_json()


def rows(db_url) -> int:
    with session_scope(db_url) as session:
        return session.execute(select(func.count(TicketAttachment.id))).scalar_one()


def files(settings) -> list:
    root = evidence.attachments_dir(settings)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_attach_only_while_a_complaint_or_report_form_runs(app, settings, db_url):
    citizen = Citizen(app)
    assert citizen.state()["enabled"] is False  # nothing said yet: Rasa is not even asked
    citizen.say("你好")
    assert citizen.state()["enabled"] is False
    refused = citizen.upload(jpeg())
    assert refused.status_code == 400
    assert refused.get_json()["error"] == AttachmentRejected("no_form").message()
    assert rows(db_url) == 0 and files(settings) == []

    citizen.start_complaint()
    state = citizen.state()
    assert state["enabled"] is True and state["attachments"] == []
    assert (state["max_bytes"], state["max_count"]) == (10 * 1024 * 1024, 9)
    assert "{name}" in state["too_big"] and "application/pdf" in state["accept"]

    answer = citizen.upload(jpeg(), "收据.jpg")
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert body["attachments"] == [{"name": "收据.jpg", "content_type": "image/jpeg", "size": body["attachment"]["size"]}]
    assert "收据.jpg" in body["message"] and "1" in body["message"]
    assert citizen.state()["attachments"][0]["name"] == "收据.jpg"
    assert rows(db_url) == 1 and len(files(settings)) == 1
    assert b"Exif" not in files(settings)[0].read_bytes()

    citizen.say("算了")  # the form ends: no more attaching
    assert citizen.state()["enabled"] is False
    assert citizen.upload(jpeg()).status_code == 400


def test_uploads_need_the_csrf_token(app, db_url):
    citizen = Citizen(app)
    citizen.start_complaint()
    assert citizen.upload(jpeg(), csrf=False).status_code == 400
    assert rows(db_url) == 0


@pytest.mark.parametrize("data, name, reason, status", [
    (b"MZ\x90\0" + b"\0" * 200, "照片.jpg", "wrong_type", 400),   # a program renamed .jpg
    (b"\xff\xd8\xff\xe0" + b"x" * 300, "坏的.jpg", "corrupt", 400),
    (b"", "空.jpg", "empty", 400),
])
def test_bad_files_get_a_chinese_message_and_nothing_is_stored(app, settings, db_url, data, name, reason, status):
    citizen = Citizen(app)
    citizen.start_complaint()
    answer = citizen.upload(data, name)
    assert answer.status_code == status
    assert answer.get_json()["reason"] == reason
    assert answer.get_json()["error"] == AttachmentRejected(reason, name).message()
    assert rows(db_url) == 0 and files(settings) == []


def test_a_file_over_10_mb_is_refused_with_its_name(app, settings, db_url):
    citizen = Citizen(app)
    citizen.start_complaint()
    big = b"\xff\xd8\xff" + b"\0" * (10 * 1024 * 1024)  # just over the limit: read, then refused
    answer = citizen.upload(big, "大照片.jpg")
    assert answer.status_code == 413
    assert answer.get_json()["error"] == AttachmentRejected("too_big", "大照片.jpg").message()
    huge = b"\xff\xd8\xff" + b"\0" * (11 * 1024 * 1024)  # over the request limit: refused unread
    answer = citizen.client.post("/api/chat/attachments", data={"file": (io.BytesIO(huge), "巨大.jpg")},
                                 headers={"X-CSRFToken": citizen.token, "X-Attachment-Name": "%E5%B7%A8%E5%A4%A7.jpg"},
                                 content_type="multipart/form-data")
    assert answer.status_code == 413
    assert answer.get_json()["error"] == AttachmentRejected("too_big", "巨大.jpg").message()
    assert rows(db_url) == 0 and files(settings) == []
    # other routes keep the app's 1 MB limit
    assert citizen.client.post("/api/chat/message", data=b"x" * (2 * 1024 * 1024),
                               headers={"X-CSRFToken": citizen.token, "Content-Type": "application/json"}
                               ).status_code == 413


def test_the_tenth_file_is_refused(app, db_url):
    citizen = Citizen(app)
    citizen.start_complaint()
    for n in range(9):
        assert citizen.upload(jpeg(), f"{n}.jpg").status_code == 201
    answer = citizen.upload(jpeg(), "第十张.jpg")
    assert answer.status_code == 400
    assert answer.get_json()["error"] == AttachmentRejected("too_many", "第十张.jpg").message()
    assert rows(db_url) == 9


def test_uploads_count_against_the_chat_rate_limit(app, db_url):
    from xiaoan import ratelimit

    ratelimit.set_rate_limiter(None, ratelimit.LimitSettings.from_env({"XIAOAN_LIMIT_CHAT_CONVERSATION": "3/60"}))
    try:
        _three_then_limited(app, db_url)
    finally:
        ratelimit.set_rate_limiter(None, None)


def _three_then_limited(app, db_url):
    citizen = Citizen(app)
    citizen.start_complaint()  # two messages
    assert citizen.upload(jpeg()).status_code == 201
    limited = citizen.upload(jpeg())
    assert limited.status_code == 429 and limited.headers["Retry-After"]
    assert rows(db_url) == 1


# --- the inbox -----------------------------------------------------------------------------------

def test_inbox_lists_attachments_with_downloads_for_staff_only(app, settings, rasa, db_url):
    citizen = Citizen(app)
    citizen.start_complaint()
    assert citizen.upload(jpeg(), "现场照片.jpg").status_code == 201
    conv = next(iter(rasa.trackers))
    service = HandoffService(settings, rasa=RasaClient(settings, token=TOKEN))
    session_id = service.enqueue(conv, "web", "requested", input_channel="rest", intent="complain_general",
                                 active_form="complaint_form", slots={}).session_id
    add_user("wangfang")
    agent = sign_in(app, "wangfang")
    page = agent.get(f"/console/inbox/{session_id}")
    assert page.status_code == 200 and "证据附件" in page.text and "现场照片.jpg" in page.text
    [url] = re.findall(r'href="(/console/inbox/\d+/attachments/[0-9a-f]{32})"', page.text)

    download = agent.get(url)
    assert download.status_code == 200
    assert download.headers["Content-Type"] == "image/jpeg"
    assert "attachment" in download.headers["Content-Disposition"]
    assert download.data == files(settings)[0].read_bytes()
    with session_scope(db_url) as db:
        audit = db.execute(select(PersonalDataView)).scalars().all()
        assert [(a.actor, a.action) for a in audit] == [("wangfang", ATTACHMENT_DOWNLOAD)]

    # the citizen, someone signed out, another conversation's session: nothing
    assert citizen.client.get(url).status_code in (302, 401, 403)
    assert app.test_client().get(url).status_code in (302, 401, 403)
    assert agent.get(url.replace(f"/{session_id}/", f"/{session_id + 1}/")).status_code == 404
    assert agent.get(url[:-4] + "0000").status_code == 404


def test_an_agent_not_assigned_gets_404(app, settings, rasa):
    citizen = Citizen(app)
    citizen.start_complaint()
    citizen.upload(jpeg(), "现场照片.jpg")
    conv = next(iter(rasa.trackers))
    service = HandoffService(settings, rasa=RasaClient(settings, token=TOKEN))
    session_id = service.enqueue(conv, "web", "requested", input_channel="rest", intent="complain_general",
                                 active_form="complaint_form", slots={}).session_id
    holder = add_user("holder")
    add_user("other")
    service.take(session_id, holder, "holder")
    page = sign_in(app, "holder").get(f"/console/inbox/{session_id}")
    [url] = re.findall(r'href="(/console/inbox/\d+/attachments/[0-9a-f]{32})"', page.text)
    assert sign_in(app, "other").get(url).status_code == 404
