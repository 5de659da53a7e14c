"""Evidence attached on the chat page travels with the ticket, on the real stack (issue 15 part 1):
the web app stores the upload, the trained model's read-back lists it, the action server hands it to
the ticket, and `xiaoan tickets show --json` lists it with its size and SHA-256."""

from __future__ import annotations

import io
import json
import re

import pytest
import requests

from tests.e2e.test_conversations import COMPLAINT_ANSWERS

pytestmark = pytest.mark.e2e

OPENING = "我在乐活健身办的年卡，健身房突然关门了，我要投诉"


def png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 120, 200)).save(out, format="PNG")
    return out.getvalue()


def chat_session(stack) -> tuple[requests.Session, dict]:
    """A browser-like session on the chat page: its cookie and CSRF header."""
    web = requests.Session()
    page = web.get(stack.web_url + "/", timeout=30)
    page.raise_for_status()
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text).group(1)
    return web, {"X-CSRFToken": token, "Referer": stack.web_url + "/"}


def conversation_of(stack, web: requests.Session) -> str:
    """The conversation id the web app keeps in its signed session cookie."""
    from flask import Flask

    app = Flask("read-session")
    app.secret_key = stack.env["XIAOAN_WEB_SECRET_KEY"]
    data = app.session_interface.get_signing_serializer(app).loads(web.cookies["xiaoan_session"])
    return next(v for v in data.values() if isinstance(v, str) and v.startswith("web-"))


def say(stack, web, headers, text: str) -> str:
    r = web.post(stack.web_url + "/api/chat/message", json={"text": text}, headers=headers, timeout=60)
    r.raise_for_status()
    return "\n".join(m.get("text") or "" for m in r.json()["messages"])


def test_a_photo_attached_on_the_chat_page_reaches_the_ticket(stack):
    web, headers = chat_session(stack)
    say(stack, web, headers, OPENING)
    conv = conversation_of(stack, web)
    assert stack.tracker(conv)["active_loop"]["name"] == "complaint_form"

    photo = png()
    r = web.post(stack.web_url + "/api/chat/attachments", headers=headers, timeout=60,
                 files={"file": ("商品照片.png", photo, "image/png")})
    assert r.status_code == 201, r.text
    assert "商品照片.png" in r.json()["message"]

    readback = ""
    for _ in range(20):
        tracker = stack.tracker(conv)
        requested = tracker["slots"].get("requested_slot")
        if not tracker.get("active_loop", {}).get("name") or requested is None:
            break
        if requested == "confirmation":
            assert "证据附件" in readback and "商品照片.png" in readback, readback
        readback = say(stack, web, headers, COMPLAINT_ANSWERS[requested])
    numbers = re.findall(r"XA-\d{6}-\d{4}", readback)
    assert numbers, readback

    shown = stack.cli("tickets", "show", numbers[0], "--json")
    assert shown.returncode == 0, shown.stderr
    attachments = json.loads(shown.stdout)["attachments"]
    assert [a["name"] for a in attachments] == ["商品照片.png"]
    item = attachments[0]
    assert item["content_type"] == "image/png" and item["size"] > 0
    assert re.fullmatch(r"[0-9a-f]{64}", item["sha256"])
