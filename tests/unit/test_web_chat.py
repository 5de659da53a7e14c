"""The web app core and the citizen chat API, against a real local fake Rasa server."""

from __future__ import annotations

import logging
import re
import textwrap

import pytest
from click.testing import CliRunner

from xiaoan import config
from xiaoan.config import Settings
from xiaoan.rasa_client import RasaClient
from xiaoan.web import app as web_app
from xiaoan.web import messages
from xiaoan.web.app import ConfigurationError, create_app
from tests.fakes.rasa_server import FakeRasa

TOKEN = "test-token"
CONV_RE = re.compile(r"^web-[0-9a-f]{32}$")


@pytest.fixture()
def fake_rasa(monkeypatch):
    monkeypatch.setenv("XIAOAN_RASA_TOKEN", TOKEN)
    rasa = FakeRasa(token=TOKEN).start()
    yield rasa
    rasa.stop()


def make_settings(db_url: str, rasa_url: str, **overrides) -> Settings:
    values = dict(database_url=db_url, rasa_url=rasa_url, web_secret_key="k" * 20 + "0123456789abcdef")
    values.update(overrides)
    return Settings(**values)


@pytest.fixture()
def app(db_url, fake_rasa):
    return create_app(make_settings(db_url, fake_rasa.url), testing=True)


def csrf_token(client) -> str:
    page = client.get("/")
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text).group(1)


class Browser:
    """A test client that behaves like the chat page: gets the page, sends the CSRF header."""

    def __init__(self, app):
        self.client = app.test_client()
        self.token = csrf_token(self.client)

    def say(self, text: str | None = None, **body):
        if text is not None:
            body["text"] = text
        return self.client.post("/api/chat/message", json=body, headers={"X-CSRFToken": self.token})

    def history(self):
        return self.client.get("/api/chat/history")

    def updates(self, after):
        return self.client.get(f"/api/chat/updates?after={after}")


def webhook_calls(rasa: FakeRasa) -> list[dict]:
    return [c for c in rasa.calls if c["path"] == "/webhooks/rest/webhook"]


# --- the page --------------------------------------------------------------------------------

def test_chat_page_has_header_csrf_meta_and_a_signed_httponly_cookie(app):
    client = app.test_client()
    page = client.get("/")
    assert page.status_code == 200
    assert "小安 · 上海市市场监管局智能客服" in page.text
    assert re.search(r'<meta name="csrf-token" content="[^"]+">', page.text)
    assert "/static/js/chat.js" in page.text and "<script>" not in page.text  # no inline script (CSP)
    cookie = page.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert "web-" not in cookie  # the id is inside the signed payload, not a readable cookie value


def test_static_files_are_served(app):
    client = app.test_client()
    assert client.get("/static/js/chat.js").status_code == 200
    assert client.get("/static/css/chat.css").status_code == 200


def test_security_headers_and_no_cors(app):
    client = app.test_client()
    for response in (client.get("/", headers={"Origin": "https://evil.example"}),
                     client.get("/api/chat/history", headers={"Origin": "https://evil.example"}),
                     client.options("/api/chat/message", headers={
                         "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})):
        assert not [h for h in response.headers.keys() if h.lower().startswith("access-control-")]
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"


# --- conversation ids ------------------------------------------------------------------------

def test_conversation_id_is_issued_by_the_server_and_client_ids_are_ignored(app, fake_rasa):
    browser = Browser(app)
    resp = browser.say("你好", sender="victim-id", conversation_id="victim-id", sender_id="victim-id")
    assert resp.status_code == 200
    browser.client.post("/api/chat/message?sender=victim-id", json={"text": "再问一下"},
                        headers={"X-CSRFToken": browser.token})
    senders = {c["json"]["sender"] for c in webhook_calls(fake_rasa)}
    assert len(senders) == 1
    (sender,) = senders
    assert CONV_RE.match(sender)
    assert "victim-id" not in fake_rasa.trackers


def test_each_browser_gets_its_own_conversation_and_cannot_read_another(app, fake_rasa):
    alice, bob = Browser(app), Browser(app)
    assert alice.say("你好，我想投诉一家健身房").status_code == 200
    assert bob.say("你好，营业执照怎么办").status_code == 200
    alice_id, bob_id = (c["json"]["sender"] for c in webhook_calls(fake_rasa))
    assert alice_id != bob_id

    bob_texts = [m["text"] for m in bob.history().json["messages"]]
    assert "你好，营业执照怎么办" in bob_texts
    assert not any("健身房" in t for t in bob_texts)

    fake_rasa.add_bot_message(alice_id, "人工坐席：您好，我来帮您处理。")
    bob_updates = bob.updates(0).json["messages"]
    assert bob_updates and not any("人工坐席" in m["text"] for m in bob_updates)
    assert any("人工坐席" in m["text"] for m in alice.updates(0).json["messages"])


def test_a_new_visitor_costs_rasa_nothing(app, fake_rasa):
    browser = Browser(app)
    assert browser.history().json == {"messages": [], "cursor": None}
    assert browser.updates(0).json == {"messages": [], "cursor": None}
    assert fake_rasa.calls == []


# --- messages, buttons, history ----------------------------------------------------------------

def test_message_is_proxied_and_replies_carry_buttons(app, fake_rasa):
    browser = Browser(app)
    resp = browser.say("  你好  ")
    assert resp.status_code == 200
    assert resp.json["messages"] == [{
        "text": "您好，我是小安，请问有什么可以帮您？",
        "buttons": [{"title": "咨询问题", "payload": "/ask_regulation"},
                    {"title": "我要投诉", "payload": "/complain_general"}],
        "image": None,
    }]
    assert isinstance(resp.json["cursor"], float)
    (call,) = webhook_calls(fake_rasa)
    assert call["method"] == "POST"
    assert call["json"]["message"] == "你好"
    assert call["json"]["metadata"] == {"channel": "web"}


def test_button_payload_is_sent_with_its_title_and_shown_in_history(app, fake_rasa):
    browser = Browser(app)
    browser.say("你好")
    resp = browser.say(payload="/complain_general", title="随便写的标题")
    assert resp.status_code == 200
    assert resp.json["messages"][0]["text"] == "好的，请简要描述您遇到的问题。"
    call = webhook_calls(fake_rasa)[-1]
    assert call["json"]["message"] == "/complain_general"
    # the title shown is the one the bot offered, not whatever the client sent
    assert call["json"]["metadata"] == {"channel": "web", "display_text": "我要投诉"}

    history = browser.history().json["messages"]
    assert [(m["sender"], m["text"]) for m in history] == [
        ("user", "你好"),
        ("bot", "您好，我是小安，请问有什么可以帮您？"),
        ("user", "我要投诉"),
        ("bot", "好的，请简要描述您遇到的问题。"),
    ]
    assert history[1]["buttons"][1] == {"title": "我要投诉", "payload": "/complain_general"}


def test_only_payloads_the_bot_just_offered_are_accepted(app, fake_rasa):
    browser = Browser(app)
    resp = browser.say(payload="/greet")  # nothing offered yet
    assert (resp.status_code, resp.json) == (400, {"error": messages.STALE_BUTTON})
    browser.say("你好")
    resp = browser.say(payload='/inform{"phone": "13800000000"}')  # never offered
    assert (resp.status_code, resp.json) == (400, {"error": messages.STALE_BUTTON})
    browser.say("随便说点什么")  # the citizen moved on: the old buttons expire
    resp = browser.say(payload="/complain_general")
    assert (resp.status_code, resp.json) == (400, {"error": messages.STALE_BUTTON})
    assert [c["json"]["message"] for c in webhook_calls(fake_rasa)] == ["你好", "随便说点什么"]


def test_typed_text_never_becomes_an_intent_payload(app, fake_rasa):
    browser = Browser(app)
    assert browser.say('/inform{"anonymous": true}').status_code == 200
    call = webhook_calls(fake_rasa)[0]["json"]
    assert call["message"] == 'inform{"anonymous": true}'
    assert call["metadata"]["display_text"] == '/inform{"anonymous": true}'  # the transcript shows what was typed
    browser.say("你好")  # offers /ask_regulation and /complain_general
    for typed in (' // /complain_general{"amount": 1}', "/ask_regulation@0.99", "/greet", "/"):
        browser.say(typed)
        browser.say("你好")
    sent = [c["json"]["message"] for c in webhook_calls(fake_rasa)][2::2]
    assert sent == ['complain_general{"amount": 1}', "ask_regulation@0.99", "greet", "／"]
    assert not any(m.strip().startswith("/") for m in sent)


def test_typed_payload_of_an_offered_button_is_passed_as_the_command(app, fake_rasa):
    browser = Browser(app)
    browser.say("你好")
    assert browser.say("/complain_general").json["messages"][0]["text"] == "好的，请简要描述您遇到的问题。"
    call = webhook_calls(fake_rasa)[-1]["json"]
    assert call["message"] == "/complain_general" and "display_text" not in call["metadata"]
    browser.say("/complain_general")  # no longer offered: plain text
    assert webhook_calls(fake_rasa)[-1]["json"]["message"] == "complain_general"


def test_the_chat_cookie_lasts_for_the_browser_session_only(app, fake_rasa):
    browser = Browser(app)
    resp = browser.say("你好")
    for cookie in [c for c in resp.headers.getlist("Set-Cookie") if c.startswith("xiaoan_session=")] or [""]:
        assert cookie and "Expires" not in cookie and "Max-Age" not in cookie
    page = app.test_client().get("/")
    assert "Expires" not in page.headers["Set-Cookie"] and "Max-Age" not in page.headers["Set-Cookie"]


def test_ending_the_conversation_forgets_it(app, fake_rasa):
    browser = Browser(app)
    browser.say("我叫张三，电话13812345678")
    assert len(browser.history().json["messages"]) == 2
    first = webhook_calls(fake_rasa)[-1]["json"]["sender"]
    resp = browser.client.post("/api/chat/end", json={}, headers={"X-CSRFToken": browser.token})
    assert (resp.status_code, resp.json) == (200, {"ended": True})
    assert browser.history().json == {"messages": [], "cursor": None}
    page = browser.client.get("/?ended=1")
    assert "对话已结束" in page.text
    browser.say("你好")
    assert webhook_calls(fake_rasa)[-1]["json"]["sender"] not in (first, None)
    assert [m["text"] for m in browser.history().json["messages"]] == ["你好", "您好，我是小安，请问有什么可以帮您？"]
    # without the CSRF token nothing is ended
    refused = browser.client.post("/api/chat/end", json={})
    assert refused.status_code == 400
    assert len(browser.history().json["messages"]) == 2


def test_history_survives_a_reload_with_the_same_cookie(app, fake_rasa):
    browser = Browser(app)
    browser.say("你好")
    browser.say("网购的衣服不给退")
    reloaded = browser.client.get("/")  # a reload: new request, same cookie jar
    assert reloaded.status_code == 200
    data = browser.history().json
    assert [(m["sender"], m["text"]) for m in data["messages"]] == [
        ("user", "你好"), ("bot", "您好，我是小安，请问有什么可以帮您？"),
        ("user", "网购的衣服不给退"), ("bot", "收到：网购的衣服不给退"),
    ]
    assert all(isinstance(m["ts"], float) for m in data["messages"])
    assert data["cursor"] >= data["messages"][-1]["ts"]


def test_updates_return_only_bot_messages_appended_after_the_cursor(app, fake_rasa):
    browser = Browser(app)
    cursor = browser.say("转人工").json["cursor"]
    conv = webhook_calls(fake_rasa)[0]["json"]["sender"]
    assert browser.updates(cursor).json["messages"] == []

    fake_rasa.add_bot_message(conv, "您好，我是人工坐席小王。", metadata={"agent": "小王"})
    fake_rasa.add_bot_message(conv, "请问您的订单号是多少？", buttons=[{"title": "稍后再说", "payload": "/deny"}])
    data = browser.updates(cursor).json
    assert [(m["sender"], m["text"], m["agent"]) for m in data["messages"]] == [
        ("bot", "您好，我是人工坐席小王。", "小王"), ("bot", "请问您的订单号是多少？", None)]
    assert data["messages"][1]["buttons"] == [{"title": "稍后再说", "payload": "/deny"}]
    assert browser.history().json["messages"][-2]["agent"] == "小王"
    assert data["cursor"] > cursor
    assert browser.updates(data["cursor"]).json["messages"] == []


@pytest.mark.parametrize("after", ["abc", "nan", "inf", "-1"])
def test_updates_reject_a_bad_cursor(app, fake_rasa, after):
    browser = Browser(app)
    browser.say("你好")
    resp = browser.updates(after)
    assert (resp.status_code, resp.json) == (400, {"error": messages.BAD_CURSOR})


# --- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("body,message", [
    ({"text": ""}, messages.EMPTY_MESSAGE),
    ({"text": "   \n "}, messages.EMPTY_MESSAGE),
    ({"text": "投" * 501}, messages.MESSAGE_TOO_LONG.format(limit=500)),
    ({"text": 42}, messages.BAD_MESSAGE_REQUEST),
    ({}, messages.BAD_MESSAGE_REQUEST),
    ({"payload": ""}, messages.BAD_MESSAGE_REQUEST),
])
def test_bad_messages_get_a_chinese_400_and_never_reach_rasa(app, fake_rasa, body, message):
    browser = Browser(app)
    resp = browser.say(**body)
    assert (resp.status_code, resp.json) == (400, {"error": message})
    assert webhook_calls(fake_rasa) == []


def test_a_message_of_exactly_500_characters_is_accepted(app, fake_rasa):
    assert Browser(app).say("投" * 500).status_code == 200


def test_non_json_body_is_rejected(app, fake_rasa):
    browser = Browser(app)
    resp = browser.client.post("/api/chat/message", data="text=hi", headers={"X-CSRFToken": browser.token},
                               content_type="application/x-www-form-urlencoded")
    assert (resp.status_code, resp.json) == (400, {"error": messages.BAD_MESSAGE_REQUEST})


# --- CSRF ------------------------------------------------------------------------------------

def test_csrf_is_required_for_messages(app, fake_rasa):
    browser = Browser(app)
    other = Browser(app)
    for headers in ({}, {"X-CSRFToken": "forged"}, {"X-CSRFToken": other.token}):
        resp = browser.client.post("/api/chat/message", json={"text": "你好"}, headers=headers)
        assert (resp.status_code, resp.json) == (400, {"error": messages.CSRF_FAILED})
    assert webhook_calls(fake_rasa) == []


# --- Rasa down -------------------------------------------------------------------------------

def test_rasa_down_gives_503_with_the_hotline_message(db_url, monkeypatch):
    monkeypatch.setenv("XIAOAN_RASA_TOKEN", TOKEN)
    rasa = FakeRasa(token=TOKEN).start()
    app = create_app(make_settings(db_url, rasa.url), testing=True)
    browser = Browser(app)
    assert browser.say("你好").status_code == 200
    rasa.stop()
    for resp in (browser.say("还在吗"), browser.history(), browser.updates(0)):
        assert (resp.status_code, resp.json) == (503, {"error": "小安暂时无法连接，请稍后再试，或拨打12345热线。"})


def test_rasa_timeout_and_server_error_give_503(app, fake_rasa):
    app.extensions["xiaoan"]["rasa_client"] = RasaClient(
        app.extensions["xiaoan"]["settings"], message_timeout=0.3, api_timeout=0.3)
    browser = Browser(app)
    fake_rasa.delay = 1.0
    resp = browser.say("你好")
    assert (resp.status_code, resp.json) == (503, {"error": messages.RASA_UNAVAILABLE})
    fake_rasa.delay = 0
    fake_rasa.fail_status = 500
    resp = browser.say("你好")
    assert (resp.status_code, resp.json) == (503, {"error": messages.RASA_UNAVAILABLE})


def test_message_text_is_not_logged_unmasked(app, fake_rasa, caplog):
    caplog.set_level(logging.DEBUG, logger="xiaoan")
    Browser(app).say("我的电话是13812345678，请联系我")
    assert "13812345678" not in caplog.text
    assert "138****5678" in caplog.text


# --- errors ----------------------------------------------------------------------------------

def test_errors_are_chinese_json_for_api_and_a_page_otherwise(app):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    @app.get("/api/boom")
    def api_boom():
        raise RuntimeError("secret internals")

    client = app.test_client()
    resp = client.get("/api/nothing-here")
    assert (resp.status_code, resp.json) == (404, {"error": messages.http_error(404)})
    resp = client.get("/api/chat/message")
    assert resp.status_code == 405 and resp.json == {"error": messages.http_error(405)}
    resp = client.get("/api/boom")
    assert (resp.status_code, resp.json) == (500, {"error": messages.http_error(500)})

    page = client.get("/no-such-page")
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert messages.http_error(404) in page.text and "12345" in page.text
    page = client.get("/boom")
    assert page.status_code == 500 and messages.http_error(500) in page.text
    assert "Traceback" not in page.text and "secret internals" not in page.text


def test_healthz(app):
    assert app.test_client().get("/healthz").json == {"status": "ok"}


# --- settings and start-up -------------------------------------------------------------------

def test_production_refuses_a_missing_or_placeholder_secret(db_url):
    for key in (None, "change-me", "changeme-please-this-is-long-enough-0123456789",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "short-but-random-Q9z"):
        with pytest.raises(ConfigurationError):
            create_app(make_settings(db_url, "http://127.0.0.1:5005", web_secret_key=key, environment="production"))


def test_production_with_a_real_secret_sets_secure_cookies(db_url):
    key = "Zr8c2KqL0vX9mJ3wT6yB1nH5pD7sF4gA2uE8oI0"
    app = create_app(make_settings(db_url, "http://127.0.0.1:5005", web_secret_key=key, environment="production"))
    assert app.config["SECRET_KEY"] == key and app.config["SESSION_COOKIE_SECURE"] is True
    resp = app.test_client().get("/")
    assert "Secure" in resp.headers["Set-Cookie"] and "HttpOnly" in resp.headers["Set-Cookie"]
    assert resp.headers["Strict-Transport-Security"].startswith("max-age=")


def test_development_generates_a_secret_once_into_var(db_url, tmp_path, monkeypatch):
    monkeypatch.delenv("XIAOAN_WEB_SECRET_KEY", raising=False)
    monkeypatch.setattr(config, "VAR_DIR", tmp_path / "var")
    first = create_app(make_settings(db_url, "http://127.0.0.1:5005", web_secret_key=None))
    second = create_app(make_settings(db_url, "http://127.0.0.1:5005", web_secret_key=None))
    stored = (tmp_path / "var" / "web_secret").read_text().strip()
    assert len(stored) >= 32
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"] == stored


def test_blueprints_are_imported_lazily_from_the_registry(db_url, tmp_path, monkeypatch):
    (tmp_path / "xiaoan_test_extra_bp.py").write_text(textwrap.dedent("""
        from flask import Blueprint
        bp = Blueprint("extra", __name__)

        @bp.get("/console/extra")
        def extra():
            return "extra area"
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(web_app, "BLUEPRINTS", [*web_app.BLUEPRINTS, "xiaoan_test_extra_bp:bp"])
    app = create_app(make_settings(db_url, "http://127.0.0.1:5005"), testing=True)
    assert app.test_client().get("/console/extra").text == "extra area"
    assert "xiaoan.web.chat:bp" in web_app.BLUEPRINTS and "xiaoan.web.auth:bp" in web_app.BLUEPRINTS


def test_web_command_serves_with_waitress_on_loopback_8000(monkeypatch, db_url):
    import waitress

    from xiaoan.cli import cli

    served = {}
    monkeypatch.setattr(waitress, "serve", lambda app, **kw: served.update(kw, app=app))
    monkeypatch.setenv("XIAOAN_WEB_SECRET_KEY", "Zr8c2KqL0vX9mJ3wT6yB1nH5pD7sF4gA2uE8oI0")
    result = CliRunner().invoke(cli, ["web"])
    assert result.exit_code == 0, result.output
    assert (served["host"], served["port"]) == ("127.0.0.1", 8000)
    assert served["app"].name == "xiaoan.web.app"
    result = CliRunner().invoke(cli, ["web", "--host", "0.0.0.0", "--port", "8123"])
    assert (served["host"], served["port"]) == ("0.0.0.0", 8123)


def test_web_command_refuses_production_without_secret(monkeypatch):
    import waitress

    from xiaoan.cli import cli

    monkeypatch.setattr(waitress, "serve", lambda *a, **kw: pytest.fail("must not serve"))
    monkeypatch.setenv("XIAOAN_ENV", "production")
    monkeypatch.delenv("XIAOAN_WEB_SECRET_KEY", raising=False)
    result = CliRunner().invoke(cli, ["web"])
    assert result.exit_code != 0
    assert "XIAOAN_WEB_SECRET_KEY" in result.output
