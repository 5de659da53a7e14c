"""A local fake of WeChat's servers, for end-to-end tests of the WeChat channel.

Two sides:

- :class:`FakeWeChatServer` is WeChat's API (a real HTTP server in a thread):
  ``POST /cgi-bin/stable_token`` (counts fetches; a token can be expired on demand so that
  calls with it get 40001), ``POST /cgi-bin/message/custom/send`` (records messages; can
  answer 45015 or any error, or fail with HTTP 500, on demand) and
  ``POST /cgi-bin/message/subscribe/bizsend`` (subscribe messages: records them, checks the field
  limits like WeChat (thing ≤ 20, phrase ≤ 5, character_string ≤ 32 characters: 47003), answers
  43101 for citizens who did not accept the template).
- :class:`WeChatPusher` is WeChat calling the bureau's server: it signs the query string
  (signature, timestamp, nonce; in safe mode also encrypts the message and adds
  ``encrypt_type=aes`` and ``msg_signature``), posts it, and decrypts the passive reply.

:func:`serve_sanic` runs a Sanic app (the channel's blueprint) in a thread on a free port.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable, Iterator, Optional
from urllib.parse import parse_qs, urlparse

import requests
import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

from tests.fakes.clock import Clock
from tests.fakes.http import ServedFake, send_json

APPID = "wx5f3c0ffee0000001"
SECRET = "fake-app-secret-0123456789abcdef"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, like an EncodingAESKey
TOKEN = "xiaoanServerToken"
ACCOUNT = "gh_0123456789ab"  # the Official Account's original id (ToUserName)


@dataclass
class SentMessage:
    """A customer-service message the fake accepted."""

    touser: str
    msgtype: str
    content: str
    access_token: str


@dataclass
class _State:
    tokens: dict[str, bool] = field(default_factory=dict)  # token -> still valid
    current: Optional[str] = None
    token_fetches: list[dict] = field(default_factory=list)
    legacy_token_fetches: int = 0
    messages: list[SentMessage] = field(default_factory=list)
    send_attempts: int = 0
    send_failures: list[Any] = field(default_factory=list)  # next answers: errcode (int) or "http500"
    reject_openids: dict[str, int] = field(default_factory=dict)  # openid -> errcode, always
    stable_token_delay: float = 0.0
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # media_id -> (bytes, Content-Type)
    media_fetches: list[str] = field(default_factory=list)
    send_rejects: set[str] = field(default_factory=set)  # tokens the send API rejects, stable_token still returns
    subscribe_messages: list[dict] = field(default_factory=list)  # {"touser", "template_id", "data"}
    subscribe_refused: set[str] = field(default_factory=set)  # openids that did not accept the template (43101)


class FakeWeChatServer(ServedFake):
    """WeChat's API on 127.0.0.1; use as a context manager. ``url`` is the base URL."""

    def __init__(self, appid: str = APPID, secret: str = SECRET) -> None:
        self.appid = appid
        self.secret = secret
        self.state = _State()
        self._lock = threading.Condition()

    # ------------------------------------------------------------ life cycle

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                parsed = urlparse(self.path)
                path = parsed.path
                if path == "/cgi-bin/media/get":
                    query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
                    found = fake._media_get(query.get("access_token", ""), query.get("media_id", ""))
                    if isinstance(found, dict):
                        self._json(found)
                    else:
                        data, content_type = found
                        self.send_response(200)
                        self.send_header("Content-Type", content_type)
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
                elif path == "/cgi-bin/token":
                    with fake._lock:
                        fake.state.legacy_token_fetches += 1
                    self._json({"errcode": 40164, "errmsg": "use the stable token endpoint (fake)"})
                else:
                    self._json({"errcode": 404, "errmsg": "not found"}, status=404)

            def do_POST(self) -> None:  # noqa: N802
                parsed = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw.decode("utf-8")) if raw else {}
                except ValueError:
                    self._json({"errcode": 47001, "errmsg": "data format error"})
                    return
                if parsed.path == "/cgi-bin/stable_token":
                    self._json(fake._stable_token(body))
                elif parsed.path == "/cgi-bin/message/custom/send":
                    status, answer = fake._custom_send(query.get("access_token", ""), body)
                    self._json(answer, status=status)
                elif parsed.path == "/cgi-bin/message/subscribe/bizsend":
                    self._json(fake._subscribe_send(query.get("access_token", ""), body))
                else:
                    self._json({"errcode": 404, "errmsg": "not found"}, status=404)

            def _json(self, data: dict, status: int = 200) -> None:
                send_json(self, data, status)

        return Handler

    @property
    def url(self) -> str:
        return self.base_url

    # ------------------------------------------------------------ behaviour

    def add_media(self, media_id: str, data: bytes, content_type: str = "image/jpeg") -> None:
        """A temporary media file (an image a citizen sent) that ``GET /cgi-bin/media/get`` returns."""
        with self._lock:
            self.state.media[media_id] = (data, content_type)

    @property
    def media_fetches(self) -> list[str]:
        """The media ids fetched so far."""
        with self._lock:
            return list(self.state.media_fetches)

    def _media_get(self, access_token: str, media_id: str):
        with self._lock:
            self.state.media_fetches.append(media_id)
            if not self.state.tokens.get(access_token):
                return {"errcode": 40001, "errmsg": "invalid credential (fake)"}
            found = self.state.media.get(media_id)
        if found is None:
            return {"errcode": 40007, "errmsg": "invalid media_id (fake)"}
        return found

    def _stable_token(self, body: dict) -> dict:
        if self.state.stable_token_delay:
            time.sleep(self.state.stable_token_delay)
        if body.get("grant_type") != "client_credential":
            return {"errcode": 40002, "errmsg": "invalid grant_type"}
        if body.get("appid") != self.appid:
            return {"errcode": 40013, "errmsg": "invalid appid"}
        if body.get("secret") != self.secret:
            return {"errcode": 40125, "errmsg": "invalid appsecret"}
        with self._lock:
            force = bool(body.get("force_refresh"))
            self.state.token_fetches.append({"force_refresh": force})
            current = self.state.current
            if force or current is None or not self.state.tokens.get(current):
                if current is not None:
                    self.state.tokens[current] = False  # a new token invalidates the old one
                current = f"TOKEN-{uuid.uuid4().hex}"
                self.state.tokens[current] = True
                self.state.current = current
            return {"access_token": current, "expires_in": 7200}

    def _custom_send(self, access_token: str, body: dict) -> tuple[int, dict]:
        with self._lock:
            self.state.send_attempts += 1
            if not self.state.tokens.get(access_token) or access_token in self.state.send_rejects:
                code = 42001 if access_token in self.state.tokens else 40001
                return 200, {"errcode": code, "errmsg": "invalid credential, access_token is invalid or not latest"}
            if self.state.send_failures:
                failure = self.state.send_failures.pop(0)
                if failure == "http500":
                    return 500, {"errcode": -1, "errmsg": "internal error"}
                return 200, {"errcode": failure, "errmsg": f"fake error {failure}"}
            touser = body.get("touser", "")
            if touser in self.state.reject_openids:
                code = self.state.reject_openids[touser]
                return 200, {"errcode": code, "errmsg": "response out of time limit or subscription is canceled"}
            content = (body.get("text") or {}).get("content", "")
            if body.get("msgtype") != "text" or not content:
                return 200, {"errcode": 40008, "errmsg": "invalid message type"}
            if len(content.encode("utf-8")) > 2048:
                return 200, {"errcode": 45002, "errmsg": "content size out of limit"}
            self.state.messages.append(SentMessage(touser, body["msgtype"], content, access_token))
            self._lock.notify_all()
            return 200, {"errcode": 0, "errmsg": "ok"}

    _SUBSCRIBE_LIMITS = {"thing": 20, "character_string": 32, "phrase": 5, "time": 64, "number": 32}

    def _subscribe_send(self, access_token: str, body: dict) -> dict:
        with self._lock:
            if not self.state.tokens.get(access_token):
                return {"errcode": 40001, "errmsg": "invalid credential"}
            touser = body.get("touser", "")
            if touser in self.state.subscribe_refused:
                return {"errcode": 43101, "errmsg": "user refuse to accept the msg"}
            data = body.get("data")
            if not body.get("template_id") or not isinstance(data, dict) or not data:
                return {"errcode": 47003, "errmsg": "argument invalid! data is empty"}
            for key, item in data.items():
                kind = key.rstrip("0123456789")
                value = item.get("value") if isinstance(item, dict) else None
                if not isinstance(value, str) or not value or len(value) > self._SUBSCRIBE_LIMITS.get(kind, 20):
                    return {"errcode": 47003, "errmsg": f"argument invalid! data.{key}.value invalid"}
            self.state.subscribe_messages.append(
                {"touser": touser, "template_id": body["template_id"],
                 "data": {k: v["value"] for k, v in data.items()}})
            self._lock.notify_all()
            return {"errcode": 0, "errmsg": "ok"}

    # ------------------------------------------------------------ test controls

    @property
    def subscribe_messages(self) -> list[dict]:
        """Subscribe messages accepted so far: ``{"touser", "template_id", "data": {key: value}}``."""
        with self._lock:
            return list(self.state.subscribe_messages)

    def refuse_subscribe(self, openid: str) -> None:
        """`openid` did not accept the template: subscribe messages to it get 43101."""
        with self._lock:
            self.state.subscribe_refused.add(openid)

    @property
    def messages(self) -> list[SentMessage]:
        """Customer-service messages accepted so far."""
        with self._lock:
            return list(self.state.messages)

    @property
    def token_fetches(self) -> int:
        """How many times a token was fetched through the stable-token endpoint."""
        with self._lock:
            return len(self.state.token_fetches)

    @property
    def forced_fetches(self) -> int:
        """How many of those fetches forced a new token."""
        with self._lock:
            return sum(1 for f in self.state.token_fetches if f["force_refresh"])

    @property
    def current_token(self) -> Optional[str]:
        with self._lock:
            return self.state.current

    def expire_token(self) -> None:
        """Invalidate the current token: calls with it get 40001 until a new one is fetched."""
        with self._lock:
            if self.state.current:
                self.state.tokens[self.state.current] = False

    def revoke_token_silently(self) -> None:
        """The send API rejects the current token (40001) while a normal stable_token fetch still
        returns it: only a forced refresh gets a working token."""
        with self._lock:
            if self.state.current:
                self.state.send_rejects.add(self.state.current)

    def fail_next_sends(self, *failures: Any) -> None:
        """The next message sends answer these errcodes (or ``"http500"``), in order."""
        with self._lock:
            self.state.send_failures.extend(failures)

    def reject_openid(self, openid: str, errcode: int = 45015) -> None:
        """Every message to `openid` gets `errcode` (45015: outside the 48-hour window)."""
        with self._lock:
            self.state.reject_openids[openid] = errcode

    def slow_token_endpoint(self, seconds: float) -> None:
        """The stable-token endpoint takes `seconds` to answer (concurrent refresh tests)."""
        self.state.stable_token_delay = seconds

    def wait_for_messages(self, count: int, timeout: float = 10.0) -> list[SentMessage]:
        """Wait until at least `count` messages were accepted; the messages (maybe fewer on timeout)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.state.messages) < count and time.monotonic() < deadline:
                self._lock.wait(timeout=max(0.0, deadline - time.monotonic()))
            return list(self.state.messages)


# ---------------------------------------------------------------- WeChat calling the bureau


def sign(token: str, timestamp: str, nonce: str) -> str:
    """WeChat's request signature: SHA-1 of the sorted token, timestamp and nonce."""
    signer = WeChatSigner()
    signer.add_data(token, timestamp, nonce)
    return signer.signature


def _xml(fields: dict[str, Any]) -> str:
    return xmltodict.unparse({"xml": fields}, full_document=False)


def _base(openid: str, msg_type: str, create_time: Optional[int]) -> dict[str, Any]:
    return {
        "ToUserName": ACCOUNT,
        "FromUserName": openid,
        "CreateTime": str(create_time or int(time.time())),
        "MsgType": msg_type,
    }


def text_xml(openid: str, content: str, msg_id: int, create_time: Optional[int] = None) -> str:
    """A text message as WeChat posts it."""
    return _xml({**_base(openid, "text", create_time), "Content": content, "MsgId": str(msg_id)})


def voice_xml(openid: str, msg_id: int, recognition: Optional[str] = None) -> str:
    """A voice message; `recognition` is WeChat's speech-to-text (absent when None)."""
    fields = {**_base(openid, "voice", None), "MediaId": "media-voice", "Format": "amr", "MsgId": str(msg_id)}
    if recognition is not None:
        fields["Recognition"] = recognition
    return _xml(fields)


def image_xml(openid: str, msg_id: int, media_id: str = "m1") -> str:
    """An image message (its file at ``/cgi-bin/media/get?media_id=...``: `FakeWeChatServer.add_media`)."""
    return _xml({**_base(openid, "image", None), "PicUrl": "http://mmbiz.example/pic.jpg", "MediaId": media_id,
                 "MsgId": str(msg_id)})


def location_xml(openid: str, msg_id: int) -> str:
    """A location message."""
    return _xml(
        {
            **_base(openid, "location", None),
            "Location_X": "31.2304",
            "Location_Y": "121.4737",
            "Scale": "15",
            "Label": "上海市黄浦区",
            "MsgId": str(msg_id),
        }
    )


def link_xml(openid: str, msg_id: int) -> str:
    """A link message."""
    return _xml(
        {**_base(openid, "link", None), "Title": "文章", "Description": "d", "Url": "http://example.com", "MsgId": str(msg_id)}
    )


def raw_type_xml(openid: str, msg_type: str, msg_id: int) -> str:
    """A message of any type (e.g. ``file`` or a type wechatpy does not know)."""
    return _xml({**_base(openid, msg_type, None), "MsgId": str(msg_id)})


def event_xml(openid: str, event: str, create_time: int, event_key: Optional[str] = None) -> str:
    """An event (subscribe, unsubscribe, CLICK...)."""
    fields = {**_base(openid, "event", create_time), "Event": event}
    if event_key is not None:
        fields["EventKey"] = event_key
    return _xml(fields)


@dataclass
class Reply:
    """The bureau's answer to one push."""

    status: int
    body: str
    content: Optional[str]
    """Content of the passive text reply (decrypted in safe mode); None for "success"/empty."""
    to_user: Optional[str] = None
    encrypted: bool = False


class WeChatPusher:
    """Plays WeChat calling the bureau's server URL, in plaintext or safe mode.

    `clock` gives WeChat's time for the signed timestamps (tests pass the channel's fake clock).
    """

    def __init__(
        self,
        url: str,
        token: str = TOKEN,
        *,
        aes_key: Optional[str] = None,
        appid: str = APPID,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.token = token
        self.clock = clock
        self.crypto = WeChatCrypto(token, aes_key, appid) if aes_key else None

    def signed_params(self, *, timestamp: Optional[str] = None, nonce: Optional[str] = None, **extra: str) -> dict[str, str]:
        """Query parameters with a valid signature (timestamp from the clock, a fresh nonce, unless given)."""
        timestamp = timestamp if timestamp is not None else str(int(self.clock()))
        nonce = nonce if nonce is not None else uuid.uuid4().hex[:10]
        return {"signature": sign(self.token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce, **extra}

    def encrypted(self, xml: str, params: dict[str, str]) -> tuple[dict[str, str], str]:
        """Safe mode: the query (with ``encrypt_type`` and ``msg_signature``) and the body for `xml`."""
        query = dict(params)
        envelope = xmltodict.parse(self.crypto.encrypt_message(xml, query["nonce"], query["timestamp"]))["xml"]
        query.update(encrypt_type="aes", msg_signature=envelope["MsgSignature"])
        return query, _xml({"ToUserName": ACCOUNT, "Encrypt": envelope["Encrypt"]})

    def post_raw(self, body: bytes, params: dict[str, str], *, timeout: float = 10.0, **kwargs: Any) -> requests.Response:
        """Post bytes as they are with the given query (no encryption)."""
        return requests.post(self.url, params=params, data=body, timeout=timeout, **kwargs)

    def verify(self, echostr: str, *, params: Optional[dict] = None) -> requests.Response:
        """The server verification GET."""
        query = params if params is not None else self.signed_params(echostr=echostr)
        return requests.get(self.url, params=query, timeout=10)

    def post(self, xml: str, *, params: Optional[dict] = None, timeout: float = 10.0) -> Reply:
        """Post one message as WeChat does (signed, encrypted in safe mode) and read the reply."""
        query = dict(params) if params is not None else self.signed_params(openid="ignored")
        body = xml
        if self.crypto is not None and params is None:
            query, body = self.encrypted(xml, query)
        resp = requests.post(self.url, params=query, data=body.encode("utf-8"), timeout=timeout)
        return self._reply(resp)

    def reply_of(self, resp: requests.Response) -> "Reply":
        """Read a raw response as :meth:`post` does."""
        return self._reply(resp)

    def _reply(self, resp: requests.Response) -> Reply:
        text = resp.text
        if resp.status_code != 200 or not text.strip().startswith("<xml"):
            return Reply(resp.status_code, text, None)
        encrypted = False
        fields = xmltodict.parse(text)["xml"]
        if "Encrypt" in fields:
            encrypted = True
            plain = self.crypto.decrypt_message(text, fields["MsgSignature"], fields["TimeStamp"], fields["Nonce"])
            fields = xmltodict.parse(plain)["xml"]
        return Reply(resp.status_code, text, fields.get("Content"), fields.get("ToUserName"), encrypted)


# ---------------------------------------------------------------- running the channel


@contextlib.contextmanager
def serve_sanic(app: Any) -> Iterator[tuple[str, asyncio.AbstractEventLoop]]:
    """Run a Sanic app on a free loopback port in a thread; yields its base URL and event loop."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            server = loop.run_until_complete(app.create_server(sock=sock, return_asyncio_server=True, access_log=False))
            loop.run_until_complete(server.startup())
            loop.run_until_complete(server.before_start())
            loop.run_until_complete(server.after_start())
            holder["server"] = server
        except BaseException as exc:  # surface start-up errors to the test
            holder["error"] = exc
            ready.set()
            return
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not ready.wait(15) or "error" in holder:
        raise RuntimeError(f"Sanic app did not start: {holder.get('error')!r}")
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", loop
    finally:
        server = holder["server"]

        async def stop() -> None:
            await server.before_stop()
            server.close()
            await server.wait_closed()
            await server.after_stop()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        sock.close()


# ---------------------------------------------------------------- the channel inside Rasa's app


class FakeClock(Clock):
    """A settable clock (seconds since 1970) for the channel's timestamp window and nonce expiry."""

    def __init__(self, now: float = 1_796_000_000.0) -> None:
        super().__init__(float(now))


class StubAgent:
    """Rasa's agent as the channel sees it: ``handle_message`` answers through the output channel.

    It records the messages and answers (by default it echoes ``小安收到：<text>``; ``/greet``
    gets a greeting with two buttons). A ``gated`` agent holds every answer until the test calls
    ``release()``: a slow assistant without any clock, so "slower than the reply budget" is an
    order of events, not a race of two delays. ``started`` is set once a message arrived.
    """

    GREETING = "您好，我是小安。"
    GREETING_BUTTONS = [
        {"title": "我要投诉", "payload": "/complain_general"},
        {"title": "我要举报", "payload": "/report_violation"},
    ]

    def __init__(self, responder: Optional[Callable[[str], list[dict]]] = None, fail: bool = False,
                 gated: bool = False):
        self.active_forms: dict[str, str] = {}
        """sender id -> the form its tracker has active (what ``tracker_store.retrieve`` reports)."""
        self.tracker_store = _StubTrackerStore(self)
        self.fail = fail
        self.responder = responder or self.default_responder
        self.received: list[Any] = []
        self.started = threading.Event()
        self.answered = threading.Event()
        self._gate = threading.Event()
        if not gated:
            self._gate.set()

    def release(self) -> None:
        """Let the held answers go."""
        self._gate.set()

    def hold(self) -> None:
        """Hold the next answers again (until `release()`)."""
        self._gate.clear()

    @classmethod
    def default_responder(cls, text: str) -> list[dict]:
        if text == "/greet":
            return [{"text": cls.GREETING, "buttons": cls.GREETING_BUTTONS}]
        return [{"text": f"小安收到：{text}"}]

    async def handle_message(self, message: Any) -> None:
        self.received.append(message)
        self.started.set()
        deadline = time.monotonic() + 120          # only against a test that forgot release()
        while not self._gate.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if self.fail:
            raise RuntimeError("model crashed")
        for answer in self.responder(message.text):
            await message.output_channel.send_response(message.sender_id, dict(answer))
        self.answered.set()

    @property
    def texts(self) -> list[str]:
        return [m.text for m in self.received]


class _StubTrackerStore:
    """Rasa's tracker store as the channel reads it: only a tracker's active form."""

    def __init__(self, agent: StubAgent) -> None:
        self.agent = agent

    async def retrieve(self, sender_id: str) -> Any:
        from types import SimpleNamespace

        return SimpleNamespace(sender_id=sender_id, active_loop_name=self.agent.active_forms.get(sender_id))


def wechat_channel(db_url: str, api_url: str, **options: Any):
    """The project's WeChat channel (`xiaoan.channels.wechat.WeChatInput`) with this fake's
    credentials, `db_url`, the fake API at `api_url` and quick timings (2 s reply budget, 50 ms
    polls and pushes); `options` replace any of these."""
    from xiaoan.channels.wechat import WeChatInput

    return WeChatInput(**{"token": TOKEN, "appid": APPID, "secret": SECRET, "api_url": api_url,
                          "database_url": db_url, "reply_budget": 2.0, "poll_interval": 0.05,
                          "push_delay": 0.05, **options})


@contextlib.contextmanager
def running_channel(channel: Any, agent: Any, monkeypatch: Any) -> Iterator[tuple[str, asyncio.AbstractEventLoop]]:
    """Rasa's Sanic app with the channel mounted as `rasa run` does; yields (webhook URL, loop)."""
    from rasa.core.run import configure_app
    from sanic import Sanic

    monkeypatch.setattr(Sanic, "test_mode", True)  # Rasa names every app "rasa_core_no_api"
    app = configure_app(input_channels=[channel], enable_api=False, route="/webhooks/", use_uvloop=False)
    app.ctx.agent = agent
    with serve_sanic(app) as (base_url, loop):
        yield f"{base_url}/webhooks/wechat/webhook", loop
