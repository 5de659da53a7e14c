"""xiaoan.rasa_client.RasaClient against a real local fake Rasa server."""

from __future__ import annotations

import socket

import pytest

from xiaoan.config import REST_SECRET_HEADER, Settings
from xiaoan.rasa_client import RasaClient, RasaError, RasaUnavailable
from tests.fakes.rasa_server import FakeRasa

TOKEN = "client-test-token"
REST_SECRET = "client-test-rest-secret"


@pytest.fixture()
def rasa():
    fake = FakeRasa(token=TOKEN, rest_secret=REST_SECRET).start()
    yield fake
    fake.stop()


@pytest.fixture()
def client(rasa):
    return RasaClient(Settings(rasa_url=rasa.url + "/"), token=TOKEN, rest_secret=REST_SECRET,
                      message_timeout=2, api_timeout=2)


def test_send_message_uses_the_rest_channel(client, rasa):
    replies = client.send_message("web-abc", "你好", {"channel": "web"})
    assert replies == [{"recipient_id": "web-abc", "text": "您好，我是小安，请问有什么可以帮您？",
                        "buttons": [{"title": "咨询问题", "payload": "/ask_regulation"},
                                    {"title": "我要投诉", "payload": "/complain_general"}]}]
    (call,) = rasa.calls
    assert (call["method"], call["path"]) == ("POST", "/webhooks/rest/webhook")
    assert call["json"] == {"sender": "web-abc", "message": "你好", "metadata": {"channel": "web"}}
    assert "token" not in call["query"]  # the REST channel needs none; keep it out of more URLs
    assert call["headers"][REST_SECRET_HEADER.lower()] == REST_SECRET  # its own secret, in a header


def test_the_rest_secret_comes_from_the_environment_and_a_wrong_one_is_refused(rasa, monkeypatch):
    monkeypatch.setenv("XIAOAN_REST_SECRET", REST_SECRET)
    assert RasaClient(Settings(rasa_url=rasa.url), token=TOKEN).send_message("web-abc", "嗯")
    wrong = RasaClient(Settings(rasa_url=rasa.url), token=TOKEN, rest_secret="not-the-secret")
    with pytest.raises(RasaError) as refused:
        wrong.send_message("web-abc", "嗯")
    assert not isinstance(refused.value, RasaUnavailable)
    assert "401" in str(refused.value)


def test_send_message_without_metadata_and_with_no_reply(client, rasa):
    rasa.reply = lambda sender, text, metadata: []
    assert client.send_message("web-abc", "嗯") == []
    assert rasa.calls[0]["json"] == {"sender": "web-abc", "message": "嗯"}


def test_get_tracker_sends_the_token_and_quotes_the_id(client, rasa):
    client.send_message("wx/o6_b-Z?x", "你好")
    tracker = client.get_tracker("wx/o6_b-Z?x")
    assert tracker["sender_id"] == "wx/o6_b-Z?x"
    assert [e["event"] for e in tracker["events"] if e["event"] in ("user", "bot")] == ["user", "bot"]
    call = rasa.calls[-1]
    assert call["method"] == "GET"
    assert call["path"] == "/conversations/wx%2Fo6_b-Z%3Fx/tracker"
    assert call["query"] == {"token": TOKEN}


def test_append_events_with_and_without_output_channel(client, rasa):
    event = {"event": "bot", "text": "您好，我是人工坐席。", "data": {}}
    tracker = client.append_events("web-abc", [event])
    assert tracker["events"][-1]["text"] == "您好，我是人工坐席。"
    call = rasa.calls[-1]
    assert (call["method"], call["path"], call["query"]) == (
        "POST", "/conversations/web-abc/tracker/events", {"token": TOKEN})
    assert call["json"] == [event]

    client.append_events("web-abc", [event], output_channel="latest")
    assert rasa.calls[-1]["query"] == {"token": TOKEN, "output_channel": "latest", "execute_side_effects": "true"}


def test_wrong_token_is_a_rasa_error_not_unavailability(rasa):
    client = RasaClient(Settings(rasa_url=rasa.url), token="wrong")
    with pytest.raises(RasaError) as info:
        client.get_tracker("web-abc")
    assert not isinstance(info.value, RasaUnavailable)
    assert "wrong" not in str(info.value)  # the token never shows up in messages


def test_token_defaults_to_the_project_token(rasa, monkeypatch):
    monkeypatch.setenv("XIAOAN_RASA_TOKEN", TOKEN)
    client = RasaClient(Settings(rasa_url=rasa.url))
    assert client.get_tracker("web-abc")["sender_id"] == "web-abc"


def test_unreachable_timeout_and_server_errors_are_unavailable(rasa):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free_port = sock.getsockname()[1]
    down = RasaClient(Settings(rasa_url=f"http://127.0.0.1:{free_port}"), token=TOKEN, rest_secret=REST_SECRET)
    with pytest.raises(RasaUnavailable):
        down.send_message("web-abc", "你好")

    slow = RasaClient(Settings(rasa_url=rasa.url), token=TOKEN, rest_secret=REST_SECRET, message_timeout=0.2,
                      api_timeout=0.2)
    rasa.delay = 0.6
    with pytest.raises(RasaUnavailable):
        slow.send_message("web-abc", "你好")
    with pytest.raises(RasaUnavailable):
        slow.get_tracker("web-abc")
    rasa.delay = 0

    rasa.fail_status = 503
    with pytest.raises(RasaUnavailable):
        slow.append_events("web-abc", [{"event": "bot", "text": "x"}])
