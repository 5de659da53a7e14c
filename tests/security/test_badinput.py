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
from xiaoan.web.accounts import LoginFailed, UserError, authenticate, create_user
from tests import console_app
from tests.console_app import TOKEN, rasa  # noqa: F401  (fixture)
from tests.fakes.rasa_server import FakeRasa

PASSWORD = "badinput-password-0123"
CJK_RE = re.compile(r"[\u4e00-\u9fff]")
TRACE_MARKERS = ("Traceback (most recent call last)", 'File "/', "werkzeug.debug", "RecursionError",
                 "UnicodeEncodeError", "psycopg2", "sqlalchemy")
PROPERTY_SETTINGS = settings(max_examples=120, deadline=None, derandomize=True,
                             suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                                    HealthCheck.data_too_large])


# --- fixtures --------------------------------------------------------------------------------------

@pytest.fixture()
def fake_rasa(rasa):
    """The console tests' fake Rasa (tests/console_app.py)."""
    return rasa


@pytest.fixture()
def generous_limits():
    """Rate limits out of the way: the probes send hundreds of requests from one address."""
    big = {name: Limit(name, 1_000_000, 60) for name in ("chat_ip", "chat_conversation", "login_ip_attempts",
                                                         "login_ip_failures", "chat_read_ip", "chat_read_conversation",
                                                         "rest_ip", "rest_sender")}
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


def sign_in(app, username: str = "admin"):
    return console_app.sign_in(app, username, PASSWORD)


@pytest.fixture()
def any_db_app(database_url, fake_rasa, generous_limits):
    """The web app on SQLite and (marker `postgres`) PostgreSQL, with an admin account."""
    with session_scope() as db:
        create_user(db, "admin", PASSWORD, "admin", "管理员")
    return make_app(database_url, fake_rasa)


def test_a_nul_in_the_login_form_is_a_400_with_a_chinese_page(any_db_app):
    client = any_db_app.test_client()
    for field in ("username", "password"):
        data = {"username": "admin", "password": PASSWORD, "csrf_token": console_app.login_form_token(client)}
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


# --- property-based: the chat API of the web app -----------------------------------------------------

SPECIAL_TEXTS = ["\x00", "a\x00", "\ud800", "你\udfff好", "😀🙏🏻", "مرحبا بالعالم", "\u202e反转\u202c", "\ufeff", " \t\n ",
                 "/greet", '/complain_prepaid{"amount": 99999}', "/", "//", "你" * 500, "你" * 501, "x" * 100_000,
                 "\u0000\u0000", "\\ud800", "<script>alert(1)</script>", "' OR 1=1 --", "%00", "\r\n\r\n"]
texts = st.one_of(
    st.text(alphabet=st.characters(exclude_categories=()), max_size=40),  # every code point, surrogates too
    st.text(alphabet=st.sampled_from("你好投诉商家退款😀\u200f\x00\ud800 /{}\"'"), max_size=600),
    st.sampled_from(SPECIAL_TEXTS),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                    st.floats(allow_nan=True, allow_infinity=True), texts)
json_values = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(texts, children, max_size=4)), max_leaves=12)
chat_bodies = st.one_of(
    st.fixed_dictionaries({}, optional={"text": json_values, "payload": json_values, "sender": json_values,
                                        "metadata": json_values}),
    st.fixed_dictionaries({"text": texts}),
    json_values,
)
CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "application/json; charset=utf-16",
                 "text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "application/xml", ""]


def encoded_body(draw_value: Any, how: str) -> bytes:
    if how == "json":
        return json.dumps(draw_value).encode()  # ASCII: lone surrogates and NUL arrive escaped
    if how == "json_utf8":
        return json.dumps(draw_value, ensure_ascii=False).encode("utf-8", "surrogatepass")  # raw, invalid UTF-8
    if how == "truncated":
        return json.dumps(draw_value).encode()[:-1]
    return repr(draw_value).encode("utf-8", "surrogatepass")


raw_bodies = st.one_of(
    st.tuples(chat_bodies, st.sampled_from(["json", "json_utf8", "truncated", "repr"])).map(lambda t: encoded_body(*t)),
    st.binary(max_size=200),
    st.integers(min_value=1, max_value=20_000).map(lambda n: ("[" * n + "]" * n).encode()),
    st.integers(min_value=1, max_value=20_000).map(lambda n: ('{"text":' + '{"a":' * n + "1" + "}" * n + "}").encode()),
)


def quote_any(value: str) -> str:
    from urllib.parse import quote

    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def assert_4xx_is_explained(response) -> None:
    assert response.status_code < 500, (response.status_code, response.get_data(as_text=True)[:300])
    assert_no_trace(response)
    if response.status_code >= 400:
        assert_chinese_error(response)


@PROPERTY_SETTINGS
@given(body=raw_bodies, content_type=st.sampled_from(CONTENT_TYPES), with_csrf=st.booleans())
def test_property_chat_message_never_fails_and_stores_nothing_it_refuses(app, fake_rasa, body, content_type,
                                                                          with_csrf):
    browser = getattr(app, "_badinput_browser", None) or Browser(app)
    app._badinput_browser = browser
    before = len(webhook_calls(fake_rasa))
    headers = {"X-CSRFToken": browser.token} if with_csrf else {}
    response = browser.client.post("/api/chat/message", data=body, content_type=content_type or None,
                                   headers=headers)
    assert_4xx_is_explained(response)
    calls = webhook_calls(fake_rasa)
    if response.status_code != 200:
        assert len(calls) == before  # refused: Rasa never saw it
    else:
        assert len(calls) == before + 1
        sent = calls[-1]["json"]["message"]
        assert isinstance(sent, str) and sent and len(sent) <= 500
        assert not re.search("[\x00\ud800-\udfff]", sent + json.dumps(calls[-1]["json"].get("metadata"),
                                                                      ensure_ascii=False))
    history = browser.client.get("/api/chat/history")  # the conversation always reads back
    assert history.status_code == 200
    for message in history.get_json()["messages"]:
        assert not re.search("[\x00\ud800-\udfff]", message["text"] or "")


@PROPERTY_SETTINGS
@given(route=st.sampled_from(["/api/chat/history", "/api/chat/updates", "/api/chat/end", "/api/chat/message"]),
       method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
       query=st.lists(st.tuples(st.sampled_from(["after", "after", "sender", "text", "x\x00", "\ud800"]),
                                texts | st.sampled_from(["nan", "inf", "-1", "1e999", "0x10", "", "1" * 400])),
                      max_size=3),
       body=raw_bodies, content_type=st.sampled_from(CONTENT_TYPES), with_csrf=st.booleans())
def test_property_every_chat_route_answers_any_request_without_a_5xx(app, fake_rasa, route, method, query, body,
                                                                     content_type, with_csrf):
    browser = getattr(app, "_badinput_browser", None) or Browser(app)
    app._badinput_browser = browser
    url = route + ("?" + "&".join(f"{quote_any(k)}={quote_any(v)}" for k, v in query) if query else "")
    headers = {"X-CSRFToken": browser.token} if with_csrf else {}
    response = browser.client.open(url, method=method, data=body if method != "GET" else None,
                                   content_type=content_type or None, headers=headers)
    assert_4xx_is_explained(response)
    if response.status_code == 200 and route != "/api/chat/end":
        assert isinstance(response.get_json(), dict)


# --- property-based: the Rasa REST channel's webhook -------------------------------------------------

REST_SECRET = "badinput-rest-secret-0123456789abcdef"


class RecordingAgent:
    """Rasa's agent as the channel sees it: an in-memory tracker store; records each message and
    stores it in the tracker as Rasa would (a tracker that cannot be serialised fails here)."""

    def __init__(self) -> None:
        from rasa.core.tracker_store import InMemoryTrackerStore
        from rasa.shared.core.domain import Domain

        self.tracker_store = InMemoryTrackerStore(Domain.empty())
        self.messages: list = []

    async def handle_message(self, message) -> None:
        from rasa.shared.core.events import UserUttered

        tracker = await self.tracker_store.get_or_create_tracker(message.sender_id)
        tracker.update(UserUttered(message.text, metadata=message.metadata, input_channel=message.input_channel))
        await self.tracker_store.save(tracker)  # serialises the events as JSON
        self.messages.append(message)
        await message.output_channel.send_text_message(message.sender_id, "收到")


@pytest.fixture(scope="module")
def rest_channel():
    """`ChoiceRestInput` mounted in Rasa's Sanic app as `rasa run` mounts it, on a free loopback port."""
    from rasa.core.run import configure_app
    from sanic import Sanic

    from tests.fakes.wechat_server import serve_sanic
    from xiaoan.channels.rest import ChoiceRestInput

    patch = pytest.MonkeyPatch()
    patch.setattr(Sanic, "test_mode", True)
    app = configure_app(input_channels=[ChoiceRestInput(REST_SECRET)], enable_api=False, route="/webhooks/",
                        use_uvloop=False)
    agent = RecordingAgent()
    app.ctx.agent = agent
    try:
        with serve_sanic(app) as (base_url, _loop):
            yield f"{base_url}/webhooks/rest/webhook", agent
    finally:
        patch.undo()


rest_bodies = st.one_of(
    st.fixed_dictionaries({}, optional={"sender": json_values, "message": json_values, "metadata": json_values,
                                        "input_channel": json_values}),
    st.fixed_dictionaries({"sender": st.sampled_from(["web-" + "a" * 32, "web-" + "b" * 32]), "message": texts},
                          optional={"metadata": json_values, "input_channel": texts}),
    json_values,
)
rest_raw_bodies = st.one_of(
    st.tuples(rest_bodies, st.sampled_from(["json", "json_utf8", "truncated", "repr"])).map(lambda t: encoded_body(*t)),
    st.binary(max_size=200),
    st.integers(min_value=1, max_value=20_000).map(lambda n: ("[" * n + "]" * n).encode()),
    st.integers(min_value=1, max_value=5_000).map(
        lambda n: ('{"sender": "web-x", "message": "hi", "metadata": ' + '{"a":' * n + "1" + "}" * n + "}").encode()),
)


def assert_rest_4xx_is_explained(response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:300])
    assert not any(marker in response.text for marker in TRACE_MARKERS), response.text[:300]
    if response.status_code >= 400:
        body = response.json()
        assert body["code"] == response.status_code and CJK_RE.search(body["message"]), body


@PROPERTY_SETTINGS
@given(body=rest_raw_bodies, content_type=st.sampled_from(CONTENT_TYPES), with_secret=st.booleans(),
       stream=st.sampled_from(["", "?stream=false", "?stream=true", "?stream=%00"]))
def test_property_rest_webhook_never_fails_and_refused_messages_reach_no_tracker(rest_channel, body, content_type,
                                                                                   with_secret, stream):
    url, agent = rest_channel
    before = len(agent.messages)
    headers = {"Content-Type": content_type} if content_type else {}
    if with_secret:
        headers[REST_SECRET_HEADER] = REST_SECRET
    response = requests.post(url + stream, data=body, headers=headers, timeout=30)
    assert_rest_4xx_is_explained(response)
    if not with_secret:
        assert response.status_code == 401
    if response.status_code != 200:
        assert len(agent.messages) == before
        return
    assert len(agent.messages) == before + 1
    message = agent.messages[-1]
    assert isinstance(message.text, str) and isinstance(message.sender_id, str) and message.sender_id.strip()
    assert json_problem_free(message.text, message.sender_id, message.metadata)


def json_problem_free(*values: Any) -> bool:
    from xiaoan.input_checks import json_problem

    return json_problem(list(values)) is None


@pytest.mark.parametrize("body", [
    b"", b"null", b"[]", b'"text"', b"{}", b'{"sender": "web-x"}', b'{"message": "hi"}',
    b'{"sender": 1, "message": "hi"}', b'{"sender": "web-x", "message": ["hi"]}',
    b'{"sender": "web-x", "message": "hi", "metadata": []}', b'{"sender": "web-x", "message": "hi\\u0000"}',
    b'{"sender": "web-x", "message": "\\ud800"}', b'{"sender": "web-\\ud800", "message": "hi"}',
    b'{"sender": "web-x", "message": "hi", "metadata": {"display_text": "\\udc00"}}',
    b"[" * 50_000 + b"]" * 50_000, b'{"sender": "web-x", "message": "hi"',
])
def test_rest_webhook_regressions_are_400_with_a_chinese_message(rest_channel, body):
    url, agent = rest_channel
    before = len(agent.messages)
    response = requests.post(url, data=body, headers={REST_SECRET_HEADER: REST_SECRET,
                                                      "Content-Type": "application/json"}, timeout=30)
    assert response.status_code == 400, (response.status_code, response.text[:200])
    assert_rest_4xx_is_explained(response)
    assert len(agent.messages) == before
    good = requests.post(url, json={"sender": "web-x", "message": "你好😀"},
                         headers={REST_SECRET_HEADER: REST_SECRET}, timeout=30)
    assert good.status_code == 200 and good.json() == [{"recipient_id": "web-x", "text": "收到"}]


# --- a schemathesis-like walk over every route of the web app ----------------------------------------

PARAM_RE = re.compile(r"<(?:(?P<converter>[a-z]+):)?(?P<name>\w+)>")
BAD_PATH_VALUES = ["%00", "x%00y", "%ED%A0%80", "%F0%9F%98%80", "..%2F..%2Fetc%2Fpasswd", "a" * 3000, "%FF%FE",
                   "%E2%80%AE", "-1", "99999999999999999999999", "1.5", "%20", "'%3B--"]
VALID_PATH_VALUES = {"entry_id": "consumer.seven-day-return", "version": "1", "session_id": "1", "callback_id": "1",
                     "ticket_no": "XA-261126-0042", "filename": "js/chat.js"}
BAD_QUERIES = ["after=nan", "after=-inf", "after=1e999", "after=%00", "q=%00", "q=%ED%A0%80", "q=" + "测" * 5000,
               "window=%00", "window=999999d", "area=nope&status=nope&intent=%00", "next=%2F%2Fevil.example",
               "next=%00", "version=abc&to_version=-1", "actor=%00&action=%ED%A0%80", "ended=%00", "%00=%00",
               "a[]=1&a[]=2", "page=-1&page=99999999999999999999"]
FORM_FIELDS = ["username", "password", "next", "text", "title", "answer", "phrasings", "phrasing", "tags", "basis",
               "agency", "effective_from", "expires_on", "version", "to_version", "entry_id", "kind",
               "complainant_name", "phone", "complainant_address", "respondent_name", "respondent_address", "facts",
               "claim", "amount", "anonymous", "note", "part", "status", "id"]
ODD_FORM_VALUES = ["", "-1", "99999999999999999999999", "nan", "2026-02-30", "<script>", "/", " "]
BAD_BODIES: list[tuple[str, bytes | dict]] = [
    ("application/json", b'{"text": "\\u4f60\\u597d"}'),
    ("application/json", b'{"text"'),
    ("application/json", b"[" * 60_000 + b"]" * 60_000),
    ("application/json", b'{"text": "\\ud800"}'),
    ("application/json", b'{"text": "a\\u0000b", "payload": "\\u0000"}'),
    ("application/json", b"[]"),
    ("application/json", b"null"),
    ("application/json", b'{"text": 1, "payload": {"a": [1]}}'),
    ("application/json", "{\"text\": \"\xff\xfe\"}".encode("latin-1")),
    ("application/json; charset=utf-16", '{"text": "你好"}'.encode("utf-16")),
    ("text/plain", b"hello"),
    ("application/xml", b"<?xml version='1.0'?><!DOCTYPE a [<!ENTITY x SYSTEM 'file:///etc/passwd'>]><a>&x;</a>"),
    ("application/x-www-form-urlencoded", {f: "x\x00y" for f in FORM_FIELDS}),
    ("application/x-www-form-urlencoded", {f: "测" * 20_000 for f in FORM_FIELDS[:8]}),
    ("application/x-www-form-urlencoded", dict(zip(FORM_FIELDS, ODD_FORM_VALUES * 4))),
    ("application/x-www-form-urlencoded", b"%ZZ=%ZZ&&&==&a=%ED%A0%80"),
    ("multipart/form-data", {"file": (b"\x00" * 100, "a\x00.txt"), "text": "x"}),
    ("multipart/form-data; boundary=zzz", b"--zzz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb"),
    ("application/octet-stream", b"\x00" * (1024 * 1024 + 10)),  # over MAX_CONTENT_LENGTH
]


def seed_records(app, fake_rasa) -> None:
    """A KB entry, a handoff session held by the admin and a callback request, so valid ids reach the views."""
    from xiaoan.handoff.service import HandoffService
    from xiaoan.kb.loader import read_dir
    from xiaoan.kb.service import get_repository
    from xiaoan.rasa_client import RasaClient

    entries = [e for e in read_dir().entries if e.id in ("consumer.seven-day-return", "biz.annual-report")]
    get_repository().import_entries(entries, "badinput")
    settings_ = app.extensions["xiaoan"]["settings"]
    service = HandoffService(settings_, rasa=RasaClient(settings_, token=TOKEN))
    view = service.enqueue("web-" + "c" * 32, "web", "requested", input_channel="rest")
    with session_scope() as db:
        from sqlalchemy import select

        from xiaoan.web.auth_models import StaffUser

        admin = db.execute(select(StaffUser).where(StaffUser.username == "admin")).scalar_one()
        admin_id, admin_name = admin.id, admin.display_name
    service.take(view.session_id, admin_id, admin_name)
    service.add_callback("web-" + "d" * 32, "web", "13812345678", "明天上午")


def fill(rule: str, values: dict[str, str]) -> str:
    return PARAM_RE.sub(lambda m: values.get(m.group("name"), VALID_PATH_VALUES.get(m.group("name"), "1")), rule)


def walk_requests(app):
    """(method, url, content_type, body) for every route: bad path values, bad queries, bad bodies."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        methods = sorted(rule.methods - {"OPTIONS"}) + ["PUT", "DELETE"]
        names = [m.group("name") for m in PARAM_RE.finditer(rule.rule)]
        valid = fill(rule.rule, {})
        for method in methods:
            yield method, valid, None, None
            for name in names:
                for bad in BAD_PATH_VALUES:
                    yield method, fill(rule.rule, {name: bad}), None, None
            if method in ("GET", "HEAD"):
                for query in BAD_QUERIES:
                    yield method, f"{valid}?{query}", None, None
            elif method == "POST":
                for query in BAD_QUERIES[:4]:
                    yield method, f"{valid}?{query}", "application/json", b'{"text": "\\u4f60"}'
                for content_type, body in BAD_BODIES:
                    yield method, valid, content_type, body


def walk_and_collect(app) -> list[str]:
    """Send every walk request as a visitor and as the admin; the failures found, described."""
    anonymous = app.test_client()
    admin = sign_in(app)
    failures: list[str] = []
    count = 0
    for who, client in (("anonymous", anonymous), ("admin", admin)):
        token = csrf_token(client)
        for method, url, content_type, body in walk_requests(app):
            for with_csrf in ((False, True) if method == "POST" else (False,)):
                headers = {"X-CSRFToken": token} if with_csrf else {}
                data = body
                if isinstance(body, dict) and with_csrf:
                    data = {**body, "csrf_token": token}
                response = client.open(url, method=method, data=data, content_type=content_type,
                                       headers=headers)
                count += 1
                text = response.get_data(as_text=True)
                if response.status_code >= 500 or any(marker in text for marker in TRACE_MARKERS):
                    failures.append(f"{who} csrf={with_csrf} {method} {url[:120]} [{content_type}] "
                                    f"-> {response.status_code} {text[:160]!r}")
                elif response.status_code >= 400 and "text/html" in response.content_type and method != "HEAD":
                    if not CJK_RE.search(text):
                        failures.append(f"{who} {method} {url[:120]} -> {response.status_code} without Chinese")
                if who == "admin" and url.startswith("/console/logout") and response.status_code == 302:
                    client = sign_in(app)  # signed out by the walk: the rest of the walk is signed in again
                    token = csrf_token(client)
    assert count > 3000, count  # the walk really covers every route
    assert client.get("/console/api/inbox/queue").status_code == 200  # still signed in at the end
    return failures


def test_every_route_answers_malformed_requests_without_a_5xx(any_db_app, fake_rasa):
    seed_records(any_db_app, fake_rasa)
    failures = walk_and_collect(any_db_app)
    assert failures == [], "\n".join(failures[:40]) + f"\n... {len(failures)} in all"


class SurrogateTracker:
    """The app's Rasa client, but every tracker read back holds a lone surrogate in a user and a bot event."""

    def __init__(self, client) -> None:
        self._client = client

    def __getattr__(self, name: str):
        return getattr(self._client, name)

    def get_tracker(self, conversation_id: str, *args, **kwargs) -> dict:
        tracker = self._client.get_tracker(conversation_id, *args, **kwargs)
        tracker["events"] = list(tracker.get("events") or []) + json.loads(
            '[{"event": "user", "timestamp": 5.0, "text": "\\u6295\\u8bc9\\ud800", "parse_data": {}},'
            ' {"event": "bot", "timestamp": 6.0, "text": "\\u65e7\\udfff", "data": {}, "metadata": {}}]')
        return tracker


def test_the_agents_transcript_survives_a_stored_surrogate(any_db_app, fake_rasa):
    """The inbox's page and transcript API read back a conversation stored before the check."""
    seed_records(any_db_app, fake_rasa)
    extensions = any_db_app.extensions["xiaoan"]
    extensions["rasa_client"] = SurrogateTracker(extensions["rasa_client"])
    client = sign_in(any_db_app)
    page = client.get("/console/inbox/1")
    assert page.status_code == 200, page.get_data(as_text=True)[:300]
    assert "投诉\ufffd" in page.get_data(as_text=True)
    api = client.get("/console/api/inbox/1/transcript?after=0")
    assert api.status_code == 200
    assert "旧\ufffd" in api.get_data(as_text=True)


# --- one live check against the running assistant ----------------------------------------------------

@pytest.mark.e2e
def test_live_surrogates_nul_and_nesting_never_reach_the_tracker(stack):
    """The web app and Rasa's REST channel refuse them with 400; the conversation still reads back."""
    import uuid

    web = requests.Session()
    page = web.get(f"{stack.web_url}/", timeout=30)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text).group(1)
    headers = {"X-CSRFToken": token, "Content-Type": "application/json"}
    assert web.post(f"{stack.web_url}/api/chat/message", data=json.dumps({"text": "你好"}), headers=headers,
                    timeout=120).status_code == 200
    for body in (json.dumps({"text": "投诉\ud800"}), json.dumps({"text": "a\x00b"}), "[" * 100_000 + "]" * 100_000):
        refused = web.post(f"{stack.web_url}/api/chat/message", data=body, headers=headers, timeout=60)
        assert refused.status_code == 400 and CJK_RE.search(refused.json()["error"])
    history = web.get(f"{stack.web_url}/api/chat/history", timeout=60)
    assert history.status_code == 200
    assert [m["text"] for m in history.json()["messages"] if m["sender"] == "user"] == ["你好"]

    sender = f"web-{uuid.uuid4().hex}"
    secret = {REST_SECRET_HEADER: stack.env["XIAOAN_REST_SECRET"], "Content-Type": "application/json"}
    assert stack.say(sender, "你好")
    before = len(stack.tracker(sender)["events"])
    for body in (json.dumps({"sender": sender, "message": "投诉\ud800"}),
                 json.dumps({"sender": sender, "message": "\x00"}),
                 "[]", "[" * 100_000 + "]" * 100_000, json.dumps({"sender": sender})):
        refused = requests.post(f"{stack.rasa_url}/webhooks/rest/webhook", data=body, headers=secret, timeout=60)
        assert refused.status_code == 400 and CJK_RE.search(refused.json()["message"])
    assert len(stack.tracker(sender)["events"]) == before
