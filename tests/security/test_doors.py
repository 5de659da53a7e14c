"""Issue 12, item 1: only the doors that must be public are public.

Fast checks (no servers but small in-process ones) and probes against the whole running assistant
(`stack`, marked e2e): the REST channel refuses callers without the web app's secret, socket.io is
off, the action server refuses an unauthenticated ``/webhook`` call with a forged tracker, typed
``/intent{...}`` commands reach NLU as plain text on every channel, and every process listens on
loopback by default.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

from xiaoan.config import ACTION_SECRET_HEADER, LOOPBACK, REST_SECRET_HEADER

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REGEX_HANDLER = "RegexMessageHandler"
FORGED_COMMAND = '/complain_prepaid{"amount": 99999, "respondent_name": "伪造商家"}'


def rasa_reads_as_command(text: str) -> bool:
    """Whether Rasa's own command parser (RegexMessageHandler) would turn `text` into an intent."""
    from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
    from rasa.shared.nlu.constants import INTENT, TEXT
    from rasa.shared.nlu.training_data.message import Message

    return YAMLStoryReader.unpack_regex_message(Message({TEXT: text})).get(INTENT) is not None


# ================================================================ fast: the shared command screen


def test_rasa_reads_the_probe_command_as_an_intent():
    # the premise of the checks below: unscreened, this text sets an intent and slots
    assert rasa_reads_as_command(FORGED_COMMAND)
    assert rasa_reads_as_command("  \u3000/greet")


@pytest.mark.parametrize("typed, offered, expected", [
    ("/greet", [], "greet"),
    (FORGED_COMMAND, [], 'complain_prepaid{"amount": 99999, "respondent_name": "伪造商家"}'),
    (" // /restart", [], "restart"),
    ("\u3000\t/session_start\n", [], "session_start"),
    ("/", [], "／"),
    ("///", ["/affirm"], "／"),
    ("/affirm", ["/affirm", "/deny"], "/affirm"),  # exactly an offered payload: a click
    ("  /affirm ", ["/affirm"], "/affirm"),
    ('/affirm{"x": 1}', ["/affirm"], 'affirm{"x": 1}'),  # more than the offered payload
    ("/affirm", ["/affirm "], "/affirm"),
    ("/deny", ["/affirm"], "deny"),
    ("我要投诉/举报", [], "我要投诉/举报"),  # not a command: untouched
    ("网址 http://example.com/a", [], "网址 http://example.com/a"),
])
def test_screen_command(typed, offered, expected):
    from xiaoan.channels.choices import screen_command

    assert screen_command(typed, offered) == expected


def test_no_screened_text_is_read_as_a_command_by_rasa():
    """A property check over generated texts: whatever a citizen types, Rasa reads plain text
    unless it is exactly an offered payload."""
    from xiaoan.channels.choices import screen_command

    rng = random.Random(12)
    blanks = [" ", "\t", "\n", "\u3000", "\u00a0", "\x1c", "\x85", "\u2028", ""]
    heads = ["/", "//", "/ /", "／", ""]
    bodies = ["greet", 'inform{"phone": "13800000000"}', "restart", "complain_general@1.0", "", "/", "你好"]
    for _ in range(2000):
        typed = "".join(rng.choice(blanks) for _ in range(rng.randint(0, 3)))
        typed += "".join(rng.choice(heads) for _ in range(rng.randint(1, 3)))
        typed += rng.choice(blanks) + rng.choice(bodies) + rng.choice(blanks)
        screened = screen_command(typed, ["/affirm"])
        if screened != "/affirm":
            assert not rasa_reads_as_command(screened), repr(typed)
            assert not screened.strip().startswith("/"), repr(typed)


def test_the_web_app_can_use_the_screen_without_loading_rasa():
    code = "import sys, xiaoan.channels.choices, xiaoan.web.chat; print(any(m.startswith('rasa') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


# ================================================================ fast: the REST channel's secret


class RecordingAgent:
    """Rasa's agent as the channels see it: an empty tracker store and a recorder of messages."""

    def __init__(self) -> None:
        from rasa.core.tracker_store import InMemoryTrackerStore
        from rasa.shared.core.domain import Domain

        self.tracker_store = InMemoryTrackerStore(Domain.empty())
        self.messages: list = []

    async def handle_message(self, message) -> None:
        self.messages.append(message)
        await message.output_channel.send_text_message(message.sender_id, f"收到：{message.text}")


@pytest.fixture()
def rest_channel(monkeypatch):
    from rasa.core.run import configure_app
    from sanic import Sanic

    from tests.fakes.wechat_server import serve_sanic
    from xiaoan.channels.rest import ChoiceRestInput

    monkeypatch.setattr(Sanic, "test_mode", True)
    app = configure_app(input_channels=[ChoiceRestInput("rest-door-secret")], enable_api=False,
                        route="/webhooks/", use_uvloop=False)
    agent = RecordingAgent()
    app.ctx.agent = agent
    with serve_sanic(app) as (base_url, _loop):
        yield f"{base_url}/webhooks/rest", agent


def test_the_rest_channel_refuses_callers_without_the_secret(rest_channel):
    url, agent = rest_channel
    body = {"sender": "wx-o6_bmjrPTlm6_2sgVt7hMZOPfL2M", "message": "你好"}
    for headers in ({}, {REST_SECRET_HEADER: ""}, {REST_SECRET_HEADER: "rest-door-secre"},
                    {REST_SECRET_HEADER: "REST-DOOR-SECRET"}, {"Authorization": "Bearer rest-door-secret"}):
        for path in ("/webhook", "/webhook/", "/"):
            method = requests.get if path == "/" else requests.post
            refused = method(url + path, json=body, headers=headers, timeout=10)
            assert refused.status_code == 401, (path, headers)
            assert refused.json()["reason"] == "NotAuthenticated"
            assert "未授权" in refused.json()["message"]
    assert agent.messages == []  # nothing reached Rasa
    ok = requests.post(url + "/webhook", json=body, headers={REST_SECRET_HEADER: "rest-door-secret"}, timeout=10)
    assert ok.status_code == 200 and ok.json()[0]["text"] == "收到：你好"


def test_the_rest_channel_screens_typed_commands(rest_channel):
    url, agent = rest_channel
    reply = requests.post(url + "/webhook", json={"sender": "web-1", "message": FORGED_COMMAND},
                          headers={REST_SECRET_HEADER: "rest-door-secret"}, timeout=10)
    assert reply.status_code == 200
    (message,) = agent.messages
    assert not rasa_reads_as_command(message.text)
    assert message.metadata["display_text"] == FORGED_COMMAND


def test_the_rest_secret_is_generated_once_into_var_for_rasa_and_the_web_app(tmp_path, monkeypatch):
    from xiaoan import config
    from xiaoan.channels.rest import ChoiceRestInput
    from xiaoan.rasa_client import RasaClient

    monkeypatch.delenv("XIAOAN_REST_SECRET", raising=False)
    monkeypatch.setattr(config, "VAR_DIR", tmp_path)
    channel_side = ChoiceRestInput.from_credentials(None).secret
    assert len(channel_side) >= 32
    assert RasaClient(config.Settings()).rest_secret == channel_side
    assert (tmp_path / "rest_secret").stat().st_mode & 0o077 == 0  # readable by the owner only
    monkeypatch.setenv("XIAOAN_REST_SECRET", "from-the-environment")
    assert ChoiceRestInput.from_credentials(None).secret == "from-the-environment"


# ================================================================ fast: socket.io is off unless configured


def test_socketio_is_off_unless_configured(monkeypatch):
    from rasa.core.run import configure_app, create_http_input_channels
    from sanic import Sanic

    from tests.fakes.wechat_server import serve_sanic

    monkeypatch.setattr(Sanic, "test_mode", True)
    monkeypatch.delenv("XIAOAN_SOCKETIO_ENABLED", raising=False)
    channels = create_http_input_channels(None, str(ROOT / "credentials.yml"))
    (sio,) = [c for c in channels if c.name() == "socketio"]
    assert sio.enabled is False and sio.get_output_channel() is None
    app = configure_app(input_channels=[sio], enable_api=False, route="/webhooks/", use_uvloop=False)
    app.ctx.agent = RecordingAgent()
    with serve_sanic(app) as (base_url, _loop):
        assert requests.get(f"{base_url}/socket.io/", params={"EIO": "4", "transport": "polling"},
                            timeout=10).status_code == 404
        assert requests.get(f"{base_url}/webhooks/socketio/", timeout=10).status_code == 404

    for value, enabled in (("true", True), ("1", True), ("on", True), ("false", False), ("", False), ("no", False)):
        monkeypatch.setenv("XIAOAN_SOCKETIO_ENABLED", value)
        channels = create_http_input_channels(None, str(ROOT / "credentials.yml"))
        assert [c.enabled for c in channels if c.name() == "socketio"] == [enabled], value


def test_socketio_screens_typed_commands_when_on(monkeypatch):
    import threading

    import socketio
    from rasa.core.run import configure_app
    from sanic import Sanic

    from tests.fakes.wechat_server import serve_sanic
    from xiaoan.channels.socketio_secure import SecureSocketIOInput

    monkeypatch.setenv("XIAOAN_WEB_SECRET_KEY", "doors-socketio-secret-0123456789abcdef")
    monkeypatch.setattr(Sanic, "test_mode", True)
    app = configure_app(input_channels=[SecureSocketIOInput(enabled=True)], enable_api=False,
                        route="/webhooks/", use_uvloop=False)
    agent = RecordingAgent()
    app.ctx.agent = agent
    with serve_sanic(app) as (base_url, _loop):
        client = socketio.Client(reconnection=False)
        confirmed, answered = threading.Event(), threading.Event()
        client.on("session_confirm", lambda _token: confirmed.set())
        client.on("bot_uttered", lambda _data: answered.set())
        client.connect(base_url, socketio_path="/socket.io", transports=["polling"], wait_timeout=10)
        try:
            client.emit("session_request", {})
            assert confirmed.wait(10)
            client.emit("user_uttered", {"message": FORGED_COMMAND})
            assert answered.wait(10)
        finally:
            client.eio.disconnect(abort=True)
    (message,) = agent.messages
    assert not rasa_reads_as_command(message.text)
    assert message.input_channel == "socketio"


# ================================================================ fast: the action server's guard


@pytest.fixture()
def action_server(monkeypatch):
    """rasa-sdk's app for the project's actions, with the plugins rasa-sdk would start."""
    from rasa_sdk.endpoint import create_app
    from rasa_sdk.plugin import plugin_manager
    from sanic import Sanic

    from tests.fakes.wechat_server import serve_sanic

    monkeypatch.setattr(Sanic, "test_mode", True)
    monkeypatch.setenv("XIAOAN_ACTION_SECRET", "action-door-secret")
    monkeypatch.setenv("SANIC_HOST", "0.0.0.0")  # restored afterwards; the plugin overrides it
    monkeypatch.delenv("XIAOAN_ACTIONS_HOST", raising=False)
    app = create_app("actions")  # imports the actions package, which registers the guard
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    assert os.environ["SANIC_HOST"] == LOOPBACK
    with serve_sanic(app) as (base_url, _loop):
        yield base_url


def forged_call(action: str = "action_submit_complaint") -> dict:
    slots = {"complainant_name": "伪造者", "phone": "13800000000", "complainant_address": "伪造路1号",
             "respondent_name": "伪造商家", "respondent_address": "伪造路2号", "facts": "伪造", "claim": "退款",
             "amount": 99999}
    return {"next_action": action, "sender_id": "wx-victim", "version": "3.6.21", "domain": {},
            "tracker": {"sender_id": "wx-victim", "slots": slots, "latest_message": {}, "events": [],
                        "paused": False, "followup_action": None, "active_loop": {},
                        "latest_action_name": "action_listen"}}


def test_the_action_server_refuses_calls_without_the_secret(action_server):
    for headers in ({}, {ACTION_SECRET_HEADER: "wrong"}, {ACTION_SECRET_HEADER: ""}):
        for path in ("/webhook", "/webhook/", "/webhook?token=action-door-secret"):
            refused = requests.post(action_server + path, json=forged_call(), headers=headers, timeout=10)
            assert refused.status_code == 401, (path, headers)
            assert refused.json()["reason"] == "NotAuthenticated"
        assert requests.get(action_server + "/actions", headers=headers, timeout=10).status_code == 401
    assert requests.get(action_server + "/health", timeout=10).status_code == 200
    # with the secret the call reaches rasa-sdk (an unknown action: its 404, nothing runs)
    passed = requests.post(action_server + "/webhook", json=forged_call("action_no_such_thing"),
                           headers={ACTION_SECRET_HEADER: "action-door-secret"}, timeout=10)
    assert passed.status_code == 404 and passed.json()["action_name"] == "action_no_such_thing"
    listed = requests.get(action_server + "/actions", headers={ACTION_SECRET_HEADER: "action-door-secret"}, timeout=10)
    assert {"name": "action_submit_complaint"} in listed.json()


def test_the_guard_is_registered_once_by_the_actions_package():
    import importlib

    from rasa_sdk.plugin import plugin_manager

    import actions
    from xiaoan.action_server import PLUGIN_NAME, ActionServerGuard, install

    importlib.reload(actions)
    install()
    guards = [p for p in plugin_manager().get_plugins() if isinstance(p, ActionServerGuard)]
    assert len(guards) == 1 and plugin_manager().get_plugin(PLUGIN_NAME) is guards[0]


def test_the_action_server_binds_to_loopback_unless_told_otherwise():
    from xiaoan.action_server import bind_host

    env: dict = {}
    assert bind_host(env) == LOOPBACK and env["SANIC_HOST"] == LOOPBACK
    env = {"SANIC_HOST": "0.0.0.0"}  # rasa-sdk's own variable does not open the door
    assert bind_host(env) == LOOPBACK and env["SANIC_HOST"] == LOOPBACK
    env = {"XIAOAN_ACTIONS_HOST": " 10.0.0.5 "}
    assert bind_host(env) == "10.0.0.5" and env["SANIC_HOST"] == "10.0.0.5"


def test_rasa_sends_the_action_secret_from_endpoints_yml(monkeypatch):
    from rasa.utils.endpoints import read_endpoint_config

    monkeypatch.setenv("XIAOAN_ACTION_URL", "http://127.0.0.1:5055/webhook")
    monkeypatch.setenv("XIAOAN_ACTION_SECRET", "action-door-secret")
    endpoint = read_endpoint_config(str(ROOT / "endpoints.yml"), "action_endpoint")
    assert endpoint.headers == {ACTION_SECRET_HEADER: "action-door-secret"}
    assert endpoint.token is None  # a header, never a query parameter (URLs end up in logs)


# ================================================================ fast: bind addresses and settings


def procfile_commands(env: dict) -> dict[str, list[str]]:
    """Each Procfile process's arguments and environment as the shell would expand them under `env`."""
    shell = shutil.which("bash")
    show = "sh -c 'echo \"XIAOAN_ACTIONS_HOST=${XIAOAN_ACTIONS_HOST-}\"; printf \"%s\\n\" \"$@\"' _"
    out = {}
    for line in (ROOT / "Procfile").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, command = line.split(":", 1)
        command = re.sub(r"\.venv/bin/(rasa|xiaoan)", show + r" \1", command, count=1)
        result = subprocess.run([shell, "-c", command], env={"PATH": os.environ["PATH"], **env},
                                capture_output=True, text=True, timeout=30, check=True)
        out[name.strip()] = result.stdout.splitlines()
    return out


def test_every_process_binds_to_loopback_by_default():
    commands = procfile_commands({})
    rasa, actions, web = commands["rasa"], commands["actions"], commands["web"]
    assert rasa[rasa.index("-i") + 1] == LOOPBACK
    assert web[web.index("--host") + 1] == LOOPBACK
    assert actions[0] == f"XIAOAN_ACTIONS_HOST={LOOPBACK}" and "--enable-api" not in actions
    assert "--auth-token=" in " ".join(rasa)
    chosen = procfile_commands({"XIAOAN_HOST": "10.0.0.7", "XIAOAN_ACTIONS_HOST": "10.0.0.8"})
    assert chosen["rasa"][chosen["rasa"].index("-i") + 1] == "10.0.0.7"
    assert chosen["web"][chosen["web"].index("--host") + 1] == "10.0.0.7"
    assert chosen["actions"][0] == "XIAOAN_ACTIONS_HOST=10.0.0.8"


def test_env_example_documents_every_door_setting():
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    for variable in ("XIAOAN_HOST", "XIAOAN_ACTIONS_HOST", "XIAOAN_REST_SECRET", "XIAOAN_ACTION_SECRET",
                     "XIAOAN_SOCKETIO_ENABLED"):
        assert re.search(rf"^{variable}=$", text, re.M), variable
    for variable in ("XIAOAN_HOST", "XIAOAN_ACTIONS_HOST"):
        comment = text.split(f"\n{variable}=")[0].rsplit("\n", 1)[-1]
        assert "[127.0.0.1]" in comment, variable


def test_make_run_gives_rasa_the_action_secret_the_action_server_uses(tmp_path):
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "XIAOAN_VAR_DIR": str(tmp_path / "var")}
    out = subprocess.run([shutil.which("bash"), "-c", f"source {ROOT / 'scripts' / 'env.sh'} >/dev/null && env -0"],
                         env=env, capture_output=True, check=True, timeout=120).stdout
    exported = dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)
    assert exported["XIAOAN_ACTION_SECRET"] == (tmp_path / "var" / "action_secret").read_text().strip()
    assert len(exported["XIAOAN_ACTION_SECRET"]) >= 32


# ================================================================ live probes against the running stack


def listening_addresses(port: int) -> set[str]:
    """The local addresses with a TCP socket listening on `port` (from /proc/net/tcp and tcp6)."""
    found = set()
    for name, v6 in (("tcp", False), ("tcp6", True)):
        path = Path("/proc/net") / name
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            address, port_hex = local.split(":")
            if state != "0A" or int(port_hex, 16) != port:
                continue
            raw = bytes.fromhex(address)
            if v6:
                raw = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                found.add(socket.inet_ntop(socket.AF_INET6, raw))
            else:
                found.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
    return found


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


def rest_post(stack, sender: str, text: str, secret: str | None) -> requests.Response:
    headers = {REST_SECRET_HEADER: secret} if secret is not None else {}
    return requests.post(f"{stack.rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": text},
                         headers=headers, timeout=60)


def user_events(stack, sender: str) -> list[dict]:
    return [e for e in stack.tracker(sender)["events"] if e["event"] == "user"]


def assert_read_as_text(event: dict, typed: str) -> None:
    assert not event["text"].strip().startswith("/"), event["text"]
    assert (event.get("metadata") or {}).get("display_text") == typed
    entities = (event.get("parse_data") or {}).get("entities") or []
    assert not [e for e in entities if e.get("extractor") == REGEX_HANDLER]
    assert "伪造商家" not in json.dumps(entities, ensure_ascii=False)


@pytest.mark.e2e
def test_live_rest_channel_refuses_callers_without_the_web_apps_secret(stack):
    victim = f"web-{uuid.uuid4().hex}"
    assert rest_post(stack, victim, "你好", stack.env["XIAOAN_REST_SECRET"]).status_code == 200
    before = len(stack.tracker(victim)["events"])
    for secret in (None, "", "guess", stack.token):  # the API token is not the channel's secret
        refused = rest_post(stack, victim, "我要查我的投诉", secret)
        assert refused.status_code == 401
        assert "text" not in refused.text and "recipient_id" not in refused.text
    assert len(stack.tracker(victim)["events"]) == before  # nothing written into the conversation
    assert requests.get(f"{stack.rasa_url}/webhooks/rest/", timeout=10).status_code == 401


@pytest.mark.e2e
def test_live_socketio_is_off(stack):
    polled = requests.get(f"{stack.rasa_url}/socket.io/", params={"EIO": "4", "transport": "polling"}, timeout=10)
    assert polled.status_code == 404
    assert requests.get(f"{stack.rasa_url}/webhooks/socketio/", timeout=10).status_code == 404


@pytest.mark.e2e
def test_live_action_server_refuses_a_forged_tracker_and_rasa_still_gets_in(stack):
    # the legitimate caller first: a knowledge-base question is answered by a custom action
    sender = f"web-{uuid.uuid4().hex}"
    assert stack.say(sender, "个体户营业执照怎么办")
    ran = [e["name"] for e in stack.tracker(sender)["events"] if e["event"] == "action"]
    assert "action_answer_question" in ran or "action_answer_kb_entry" in ran, ran

    tickets_before = json.loads(stack.cli("tickets", "list", "--json").stdout or "[]")
    for headers in ({}, {ACTION_SECRET_HEADER: "guess"}, {ACTION_SECRET_HEADER: stack.token}):
        refused = requests.post(f"{stack.action_url}/webhook", json=forged_call(), headers=headers, timeout=30)
        assert refused.status_code == 401
        assert requests.get(f"{stack.action_url}/actions", headers=headers, timeout=10).status_code == 401
    tickets_after = json.loads(stack.cli("tickets", "list", "--json").stdout or "[]")
    assert tickets_after == tickets_before
    assert "伪造" not in json.dumps(tickets_after, ensure_ascii=False)


@pytest.mark.e2e
def test_live_typed_commands_are_text_on_the_rest_channel_and_offered_buttons_still_work(stack):
    secret = stack.env["XIAOAN_REST_SECRET"]
    sender = f"web-{uuid.uuid4().hex}"
    assert rest_post(stack, sender, FORGED_COMMAND, secret).status_code == 200
    assert_read_as_text(user_events(stack, sender)[-1], FORGED_COMMAND)
    assert stack.tracker(sender)["slots"].get("respondent_name") != "伪造商家"

    # a button the assistant offered, clicked (its exact payload), is still a command
    sender = f"web-{uuid.uuid4().hex}"
    greeting = stack.say(sender, "你好")
    payloads = [b["payload"] for m in greeting for b in m.get("buttons") or []]
    assert "/complain_general" in payloads
    assert rest_post(stack, sender, "/complain_general", secret).status_code == 200
    clicked = user_events(stack, sender)[-1]
    assert clicked["text"] == "/complain_general"
    assert clicked["parse_data"]["intent"]["name"] == "complain_general"


@pytest.mark.e2e
def test_live_typed_commands_are_text_on_the_web_chat(stack):
    from flask import Flask
    from flask.sessions import SecureCookieSessionInterface

    web = requests.Session()
    page = web.get(f"{stack.web_url}/", timeout=30)
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text).group(1)
    cookie = web.cookies.get("xiaoan_session")
    signer = Flask("probe")
    signer.secret_key = stack.env["XIAOAN_WEB_SECRET_KEY"]
    conversation = SecureCookieSessionInterface().get_signing_serializer(signer).loads(cookie)["chat_conversation_id"]

    sent = web.post(f"{stack.web_url}/api/chat/message", json={"text": FORGED_COMMAND},
                    headers={"X-CSRFToken": csrf}, timeout=60)
    assert sent.status_code == 200
    assert_read_as_text(user_events(stack, conversation)[-1], FORGED_COMMAND)
    history = web.get(f"{stack.web_url}/api/chat/history", timeout=30).json()["messages"]
    assert history[0]["text"] == FORGED_COMMAND  # the citizen sees what they typed
    # the cookie of the chat is a session cookie: no expiry date
    assert all(c.expires is None for c in web.cookies if c.name == "xiaoan_session")


@pytest.mark.e2e
def test_live_processes_listen_on_loopback_only(stack):
    for url in (stack.rasa_url, stack.action_url, stack.web_url):
        addresses = listening_addresses(port_of(url))
        assert addresses and addresses <= {"127.0.0.1", "::ffff:127.0.0.1", "::1"}, (url, addresses)


@pytest.mark.e2e
def test_live_action_server_started_plainly_listens_on_loopback(stack, tmp_path):
    """`rasa run actions` with neither SANIC_HOST nor XIAOAN_ACTIONS_HOST: loopback, not 0.0.0.0."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in stack.env.items() if k not in ("SANIC_HOST", "XIAOAN_ACTIONS_HOST")}
    log = open(tmp_path / "actions.log", "w")
    proc = subprocess.Popen([str(BIN / "rasa"), "run", "actions", "-p", str(port), "--actions", "actions"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while not listening_addresses(port):
            assert proc.poll() is None, (tmp_path / "actions.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the action server did not start"
            time.sleep(0.5)
        assert listening_addresses(port) == {"127.0.0.1"}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
