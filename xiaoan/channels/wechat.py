"""小安 on the bureau's WeChat Official Account (公众号): a Rasa input and output channel.

Mounted by Rasa at ``/webhooks/wechat/webhook`` (docs/interfaces.md §1) from ``credentials.yml``::

    xiaoan.channels.wechat.WeChatInput:

with the values from the environment (docs/interfaces.md §2): ``XIAOAN_WECHAT_TOKEN`` (unset: the
channel is off and its webhook answers 404), ``XIAOAN_WECHAT_APPID``,
``XIAOAN_WECHAT_SECRET``, ``XIAOAN_WECHAT_AES_KEY`` (set: safe mode), ``XIAOAN_WECHAT_API_URL``.

How a message is answered (docs/domain.md §6): WeChat waits 5 seconds for the HTTP answer and
otherwise retries the same ``MsgId`` up to three times. Each message is claimed once in the
database (``wechat_processed_messages``), so a retry, also one reaching another process,
never starts a second run. The assistant gets about 4 seconds: if it answers in time, its
messages for the turn go back merged into one passive XML reply; if not, WeChat gets
``success`` at once and the answer follows through the customer-service message API, within
WeChat's budget of 5 messages in 48 hours (see :mod:`xiaoan.channels.wechat_api`); that
machinery, and the output channel, is :mod:`xiaoan.channels.wechat_replies`. Buttons
become numbered choices; a reply that picks one (its number, its title, a part of it: the
resolver all channels share, :mod:`xiaoan.understanding.choices`) sends the button's payload. The conversation id of a WeChat conversation is the citizen's openid.

An image sent while a complaint or report form runs is evidence: fetched through the media API and
attached to the coming ticket (:mod:`xiaoan.channels.wechat_media`, issue 15); other images, and
other message types, get the "unsupported" text.

Texts the channel sends by itself (unsupported message types, unrecognised voice, the
choice hint, an apology when the assistant fails, the notice on an over-long message) live in
the wechat section of ``domain.yml``, read by :mod:`xiaoan.texts`.

What the webhook refuses (security issue 12; docs/wechat.md, "Security"):

- a bad or missing signature, or a ``timestamp`` more than :data:`TIMESTAMP_WINDOW` seconds
  from the server's clock (403);
- a signed query string already used (``wechat_nonces``, shared by every process): with another
  body it is a replay (403); byte for byte the same request is WeChat retrying and is answered
  ``success`` without running anything (a passive reply that was lost goes through the API);
- a body over :data:`~xiaoan.channels.wechat_xml.MAX_BODY_BYTES` (413, before it is read whole);
- plaintext while ``XIAOAN_WECHAT_AES_KEY`` is set: ``encrypt_type=aes`` is required (403);
- malformed XML or fields (:mod:`xiaoan.channels.wechat_xml`: DTDs, entities, nesting,
  non-numeric ``MsgId``, nested or empty ``FromUserName``, ``CreateTime`` out of range, NUL
  bytes, lone surrogates ...) (400);
- too many requests (:mod:`xiaoan.channels.limits`, counters shared by every replica): from one
  source address, counted before the signature check (``XIAOAN_LIMIT_WECHAT_IP``), answered
  ``success`` and dropped; from one citizen (openid), counted once the message is read
  (``XIAOAN_LIMIT_WECHAT_OPENID``), answered with a polite passive reply in Chinese and not passed
  to the assistant. Never a 5xx or an answer WeChat would retry.

A message longer than :data:`MAX_USER_TEXT` characters is cut at a sentence end and the citizen
is told how much was read; typed text never reaches Rasa as a ``/intent`` command.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.shared.exceptions import RasaException
from sanic import Blueprint, response
from sanic.exceptions import PayloadTooLarge
from sanic.request import Request
from sanic.response import HTTPResponse
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.replies import TextReply
from wechatpy.utils import WeChatSigner

from xiaoan.channels import limits as channel_limits
from xiaoan.channels import wechat_api, wechat_media
from xiaoan import services
from xiaoan.channels import wechat_store as store
from xiaoan.channels import wechat_xml
from xiaoan.channels.wechat_xml import MalformedMessage
from xiaoan.channels.wechat_api import mask_openid
from xiaoan import texts as domain_texts
from xiaoan.channels.wechat_replies import DeferredReplies, Exchange, WeChatOutput
from xiaoan.config import PROJECT_ROOT, Settings
from xiaoan.notify.surveys import wechat_reply as survey_reply_for
from xiaoan.understanding.choices import as_choices, resolve_choice

logger = logging.getLogger(__name__)

MAX_USER_TEXT = 2000  # characters of a citizen's message passed to the assistant
DEFAULT_API_URL = "https://api.weixin.qq.com"
SUBSCRIBE_EVENTS = frozenset({"subscribe", "subscribe_scan", "subscribe_scan_product"})
WELCOME_PAYLOAD = "/greet"  # the domain's greeting (utter_greet) is the welcome
PRUNE_EVERY_SECONDS = 3600.0
KEEP_PROCESSED = dt.timedelta(days=2)  # WeChat retries within seconds; keep dedupe keys well beyond
TIMESTAMP_WINDOW = 300  # seconds a signed request's timestamp may differ from the server's clock
NONCE_MARGIN = 60  # seconds a nonce is kept beyond the window (clocks of several processes differ)
NONCE_PRUNE_EVERY_SECONDS = 60.0
CUT_SEARCH = 300  # an over-long message is cut at a sentence end within its last this many characters

_TIMESTAMP = re.compile(r"[0-9]{1,10}", re.ASCII)
_NONCE = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)
_SIGNATURE = re.compile(r"[0-9A-Fa-f]{40}", re.ASCII)
_ECHOSTR = re.compile(r"[A-Za-z0-9+/=_-]{1,256}", re.ASCII)
_SENTENCE_END = re.compile(r"[。！？!?；;…\n]")


# ---------------------------------------------------------------- texts from the domain


@dataclass(frozen=True)
class ChannelTexts:
    """Texts the channel sends without a dialogue turn (wechat responses of ``domain.yml``)."""

    unsupported: str
    voice_unrecognized: str
    choice_hint: str
    error: str
    too_long: str
    """Template with ``{total}``, ``{limit}``, ``{kept}``, ``{rest}`` and ``{tail}``."""

    _RESPONSES = {
        "unsupported": "utter_wechat_unsupported",
        "voice_unrecognized": "utter_wechat_voice_unrecognized",
        "choice_hint": "utter_wechat_choice_hint",
        "error": "utter_wechat_error",
        "too_long": "utter_wechat_message_too_long",
    }

    @classmethod
    def load(cls, path: Optional[Path] = None) -> "ChannelTexts":
        """Read the texts from the domain file (default ``domain.yml``); a missing file or
        response is a clear start-up error."""
        try:
            values = domain_texts.load(cls._RESPONSES, path)
        except domain_texts.TextsError as exc:
            raise RasaException(f"WeChat channel: cannot read its texts: {exc}") from exc
        return cls(**{attr: value.strip() for attr, value in values.items()})


# ---------------------------------------------------------------- helpers


def match_choice(text: str, choices: List[Dict[str, str]]) -> Optional[str]:
    """The payload of the numbered choice a citizen picked, or None.

    A thin wrapper around the resolver every channel shares
    (:func:`xiaoan.understanding.choices.resolve_choice`): a number (full-width digits,
    "2." / "2、" / ② accepted, even for a lone choice since WeChat shows them numbered), the
    title with or without fillers (我要转人工), a unique part of it, a synonym, an ordinal word
    (第二个, 最后一个) or yes/no for a two-way offer.

    Args:
        text: The citizen's message.
        choices: The choices last shown, in numbering order (``{"title", "payload"}``).
    """
    choice = resolve_choice(text or "", as_choices(choices), numbered=True)
    return choice.payload if choice is not None else None


def _cdata_safe(text: str) -> str:
    """Text safe inside wechatpy's CDATA sections (a literal ``]]>`` would end them)."""
    return text.replace("]]>", "]]]]><![CDATA[>")


def neutralize_command(text: str) -> str:
    """Typed text is never a Rasa command: ``/intent{...}`` comes only from button payloads.

    Rasa treats a message as a command when it starts with ``/`` after ``str.strip()``; every
    leading slash (also the full-width ``／``) and the whitespace around it is dropped, so the
    rest reaches the NLU as the words the citizen typed.
    """
    cleaned = (text or "").strip()
    while cleaned.startswith(("/", "／")):
        cleaned = cleaned[1:].strip()
    return cleaned


def cut_long_text(text: str, limit: int = MAX_USER_TEXT) -> str:
    """The part of an over-long message the assistant reads: at most `limit` characters,
    ending at a sentence end (。！？; line break) when there is one near the limit."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    ends = [m.end() for m in _SENTENCE_END.finditer(head, max(0, limit - CUT_SEARCH))]
    kept = head[: ends[-1]] if ends else head
    return kept.rstrip()


def too_long_notice(template: str, text: str, kept: str) -> str:
    """The citizen's notice that a message was cut: how long it was and where reading stopped."""
    tail = " ".join(kept[-12:].split())
    return template.format(
        total=len(text), limit=MAX_USER_TEXT, kept=len(kept), rest=len(text) - len(kept), tail=tail
    )


def _not_configured() -> HTTPResponse:
    return response.json({"error": "wechat channel not configured"}, status=404)


def _forbidden() -> HTTPResponse:
    return response.text("forbidden", status=403)


def _bad_request() -> HTTPResponse:
    return response.text("bad request", status=400)


def _too_large() -> HTTPResponse:
    return response.text("payload too large", status=413)


def _digest(*parts: Any) -> str:
    raw = b"\0".join(p if isinstance(p, bytes) else str(p or "").encode("utf-8", "surrogatepass") for p in parts)
    return hashlib.sha256(raw).hexdigest()


# ---------------------------------------------------------------- input channel


class WeChatInput(InputChannel):
    """The Official Account's server URL (服务器配置): verification, messages, replies."""

    @classmethod
    def name(cls) -> Text:
        return "wechat"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "WeChatInput":
        """Build the channel from ``credentials.yml`` (keys token, appid, secret, aes_key,
        api_url), falling back to the environment for each value (docs/interfaces.md §2).

        Raises:
            RasaException: Safe mode (AES key set) without appid or secret, or a malformed
                AES key; the message names the variable.
        """
        settings = services.settings()
        credentials = credentials or {}
        token = credentials.get("token") or settings.wechat_token
        if not token:
            logger.warning("WeChat channel is off: XIAOAN_WECHAT_TOKEN is not set (its webhook answers 404)")
            return cls(token=None, database_url=settings.database_url)
        return cls(
            token=token,
            appid=credentials.get("appid") or settings.wechat_appid,
            secret=credentials.get("secret") or settings.wechat_secret,
            aes_key=credentials.get("aes_key") or settings.wechat_aes_key,
            api_url=credentials.get("api_url") or settings.wechat_api_url,
            database_url=settings.database_url,
        )

    def __init__(
        self,
        token: Optional[str],
        appid: Optional[str] = None,
        secret: Optional[str] = None,
        aes_key: Optional[str] = None,
        api_url: str = DEFAULT_API_URL,
        database_url: Optional[str] = None,
        *,
        reply_budget: float = 4.0,
        push_delay: float = 0.3,
        poll_interval: float = 0.2,
        texts: Optional[ChannelTexts] = None,
        clock: Callable[[], float] = time.time,
        max_body_bytes: int = wechat_xml.MAX_BODY_BYTES,
    ) -> None:
        """Create the channel.

        Args:
            token: The server token (令牌) set in the Official Account; None: channel off.
            appid: AppID (开发者ID), for the API and safe mode.
            secret: AppSecret (开发者密码), for the API.
            aes_key: EncodingAESKey (消息加解密密钥, 43 characters): safe mode.
            api_url: Base URL of WeChat's API.
            database_url: The project database (default ``DATABASE_URL``).
            reply_budget: Seconds the assistant gets before WeChat is answered ``success``
                and the answer goes through the customer-service API (WeChat waits 5).
            push_delay: Seconds messages pushed outside a turn are gathered before sending.
            poll_interval: Seconds between checks while a retry waits for the first delivery.
            texts: The channel's own texts (default: read from the wechat section of ``domain.yml``).
            clock: Seconds since 1970 (tests pass a fake clock): the timestamp window and
                the expiry of nonces.
            max_body_bytes: Largest body accepted (413 above).
        """
        self.token = token or None
        self.enabled = self.token is not None
        self.crypto: Optional[WeChatCrypto] = None
        self._last_prune = 0.0
        self.clock = clock
        self.max_body_bytes = max_body_bytes
        self._last_nonce_prune: Optional[float] = None
        self.settings = Settings(
            database_url=database_url or services.settings().database_url,
            wechat_token=self.token,
            wechat_appid=appid or None,
            wechat_secret=secret or None,
            wechat_aes_key=aes_key or None,
            wechat_api_url=(api_url or DEFAULT_API_URL).rstrip("/"),
        )
        timing = {"reply_budget": reply_budget, "push_delay": push_delay, "poll_interval": poll_interval}
        if not self.enabled:
            self.texts = texts
            self.replies = DeferredReplies(self.settings, texts, **timing)
            return
        if aes_key:
            for variable, value in (("XIAOAN_WECHAT_APPID", appid), ("XIAOAN_WECHAT_SECRET", secret)):
                if not value:
                    raise RasaException(
                        f"WeChat channel: {variable} is required in safe mode (XIAOAN_WECHAT_AES_KEY is set)"
                    )
            if len(aes_key) != 43:
                raise RasaException("WeChat channel: XIAOAN_WECHAT_AES_KEY must be the 43-character EncodingAESKey")
            try:
                self.crypto = WeChatCrypto(self.token, aes_key, appid)
            except Exception as exc:  # binascii.Error / AssertionError from a malformed key
                raise RasaException("WeChat channel: XIAOAN_WECHAT_AES_KEY is not a valid EncodingAESKey") from exc
        elif not (appid and secret):
            logger.warning(
                "WeChat channel: XIAOAN_WECHAT_APPID / XIAOAN_WECHAT_SECRET unset: only passive replies; "
                "answers slower than %.0fs cannot be delivered",
                reply_budget,
            )
        self.texts = texts or ChannelTexts.load()
        self.replies = DeferredReplies(self.settings, self.texts, **timing)
        """The turn within the reply budget, late answers through the API (`wechat_replies`)."""
        logger.info("WeChat channel on (%s mode)", "safe" if self.crypto else "plaintext")

    @property
    def database_url(self) -> str:
        """The project database the channel keeps its state in."""
        return self.settings.database_url

    # ------------------------------------------------------------ plumbing

    async def idle(self, timeout: float = 10.0) -> None:
        """Wait until the background work (late answers, pushes) is finished (tests, shutdown)."""
        await self.replies.idle(timeout)

    async def db(self, function: Callable[..., Any], *args: Any) -> Any:
        """Call a :mod:`wechat_store` function on the channel's database in a worker thread."""
        return await self.replies.db(function, *args)

    def get_output_channel(self) -> Optional[OutputChannel]:
        """The channel for messages Rasa sends outside a turn (``output_channel=wechat``)."""
        return WeChatOutput(self.replies, push=True) if self.enabled else None

    # ------------------------------------------------------------ signatures

    def _signature_ok(self, args: Any) -> bool:
        signature, timestamp, nonce = args.get("signature"), args.get("timestamp"), args.get("nonce")
        if not (signature and timestamp and nonce):
            return False
        signer = WeChatSigner()
        signer.add_data(self.token, timestamp, nonce)
        return hmac.compare_digest(signer.signature.encode(), signature.lower().encode("utf-8", "replace"))

    def _check_signed(self, args: Any) -> Optional[str]:
        """None when the query string is signed with our token and fresh, else why not (for the log)."""
        signature, timestamp, nonce = args.get("signature"), args.get("timestamp"), args.get("nonce")
        if not (signature and timestamp and nonce):
            return "missing signature, timestamp or nonce"
        if not (_SIGNATURE.fullmatch(signature) and _TIMESTAMP.fullmatch(timestamp) and _NONCE.fullmatch(nonce)):
            return "malformed signature, timestamp or nonce"
        if not self._signature_ok(args):
            return "bad signature"
        if abs(self.clock() - int(timestamp)) > TIMESTAMP_WINDOW:
            return f"timestamp outside the {TIMESTAMP_WINDOW} s window"
        return None

    async def _claim_nonce(self, args: Any, *content: Any) -> str:
        """Record this signed query string (shared by every process): new, a repeat or a replay."""
        signature, timestamp, nonce = args.get("signature").lower(), args.get("timestamp"), args.get("nonce")
        expires = dt.datetime.fromtimestamp(int(timestamp) + TIMESTAMP_WINDOW + NONCE_MARGIN, tz=dt.timezone.utc)
        now = dt.datetime.fromtimestamp(self.clock(), tz=dt.timezone.utc)
        return await self.db(store.claim_nonce, _digest(signature, timestamp, nonce), _digest(*content), expires, now)

    def _decrypt(self, body: bytes, msg_signature: Optional[str], timestamp: str, nonce: str) -> str:
        """The plaintext XML of a safe-mode message.

        Raises:
            InvalidSignatureException: msg_signature missing or wrong, or the envelope unreadable
                (nothing in it can be trusted before the signature is checked).
        """
        if not msg_signature:
            raise InvalidSignatureException()
        try:
            encrypt = wechat_xml.read_envelope(body)
        except MalformedMessage as exc:
            raise InvalidSignatureException() from exc
        return self.crypto.decrypt_message({"Encrypt": encrypt}, msg_signature, timestamp, nonce)

    async def _read_body(self, request: Request) -> Optional[bytes]:
        """The body, read in chunks; None when it is larger than :attr:`max_body_bytes`."""
        limit = self.max_body_bytes
        declared = (request.headers.get("content-length") or "").strip()
        if declared.isascii() and declared.isdigit() and int(declared) > limit:
            return None
        stream = request.stream
        if stream is None or not hasattr(stream, "read"):  # not a streaming route (tests of the handler)
            body = request.body or b""
            return None if len(body) > limit else body
        chunks: List[bytes] = []
        size = 0
        try:
            while True:
                chunk = await stream.read()
                if chunk is None:
                    break
                size += len(chunk)
                if size > limit:
                    return None
                chunks.append(chunk)
        except PayloadTooLarge:
            return None
        return b"".join(chunks)

    def _cap_body(self, request: Request) -> None:
        """After the answer Sanic reads what is left of the body: never more than the cap."""
        stream = request.stream
        if stream is not None and hasattr(stream, "request_max_size"):
            stream.request_max_size = self.max_body_bytes

    # ------------------------------------------------------------ routes

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """GET ``/webhook`` answers WeChat's server verification, POST ``/webhook`` takes messages."""
        wechat_webhook = Blueprint("wechat_webhook", __name__)

        @wechat_webhook.route("/", methods=["GET"])
        async def health(_request: Request) -> HTTPResponse:
            """Health check."""
            if not self.enabled:
                return _not_configured()
            return response.json({"status": "ok"})

        @wechat_webhook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            """Server verification: the signed echostr is echoed."""
            if not self.enabled:
                return _not_configured()
            reason = self._check_signed(request.args)
            if reason:
                logger.warning("WeChat verification rejected: %s", reason)
                return _forbidden()
            echostr = request.args.get("echostr") or ""
            if not _ECHOSTR.fullmatch(echostr):
                return _bad_request()
            if await self._claim_nonce(request.args, "verify", echostr) != store.NONCE_NEW:
                logger.warning("WeChat verification rejected: signed query string used before")
                return _forbidden()
            return response.text(echostr)

        @wechat_webhook.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            """A message or event from WeChat (the body is read here, capped)."""
            self._cap_body(request)
            if not self.enabled:
                return _not_configured()
            return await self._receive(request, on_new_message)

        return wechat_webhook

    async def _receive(self, request: Request, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> HTTPResponse:
        args = request.args
        refused = await channel_limits.first_refusal(
            (channel_limits.settings().wechat_ip, channel_limits.sanic_client(request)))
        if refused is not None:
            logger.warning("WeChat request dropped: rate limit %s reached by its source address", refused.limit.name)
            return response.text("success")
        reason = self._check_signed(args)
        if reason:
            logger.warning("WeChat message rejected: %s", reason)
            return _forbidden()
        self._maybe_prune()
        timestamp, nonce = args.get("timestamp"), args.get("nonce")
        encrypted = (args.get("encrypt_type") or "raw").lower() == "aes"
        if encrypted and self.crypto is None:
            logger.error("WeChat sent an encrypted message but XIAOAN_WECHAT_AES_KEY is not set (safe mode)")
            return response.text("safe mode not configured", status=400)
        if self.crypto is not None and not encrypted:
            logger.warning("WeChat message rejected: plaintext while safe mode is on (encrypt_type=aes required)")
            return _forbidden()
        body = await self._read_body(request)
        if body is None:
            logger.warning("WeChat message rejected: body over %d bytes", self.max_body_bytes)
            return _too_large()
        msg_signature = args.get("msg_signature") or ""
        claim = await self._claim_nonce(args, body, msg_signature)
        if claim == store.NONCE_REPLAY:
            logger.warning("WeChat message rejected: signed query string used before with another body (replay)")
            return _forbidden()
        if encrypted:
            try:
                xml = self._decrypt(body, msg_signature, timestamp, nonce)
            except InvalidSignatureException:
                logger.warning("WeChat message rejected: bad or missing msg_signature")
                return _forbidden()
            except Exception as exc:  # noqa: BLE001 - wrong AppID inside, bad padding, not UTF-8
                logger.warning("WeChat message rejected: cannot decrypt (%s)", exc.__class__.__name__)
                return _forbidden()
        else:
            xml = body
        try:
            message = wechat_xml.to_wechatpy(wechat_xml.read_message(xml))
        except MalformedMessage as exc:
            logger.warning("WeChat message rejected: %s", exc)
            return _bad_request()
        if claim == store.NONCE_REPEAT:
            logger.info("WeChat repeated a request from %s: answered without running anything", mask_openid(message.source))
            await self._answer_repeat(message)
            return response.text("success")
        refused = await channel_limits.first_refusal((channel_limits.settings().wechat_openid, message.source))
        if refused is not None:
            logger.warning("WeChat message from %s not passed on: rate limit %s", mask_openid(message.source),
                           refused.limit.name)
            if message.type == "event":
                return response.text("success")
            return self._passive_reply(message, channel_limits.WECHAT_RATE_LIMITED, encrypted, nonce, timestamp)

        # The work runs in its own task: when WeChat hangs up, Sanic cancels this handler, and
        # the answer must then still be produced, and go through the API instead.
        exchange = Exchange()
        agent = getattr(request.app.ctx, "agent", None)  # its tracker store: is a form running? (images)
        work = self.replies.spawn(self._handle(message, on_new_message, exchange, agent=agent))
        try:
            reply = await asyncio.shield(work)
        except asyncio.CancelledError:
            exchange.abandoned = True
            logger.warning("WeChat hung up before the answer to %s; it follows through the API", mask_openid(message.source))
            raise
        if reply is None:
            return response.text("success")
        return self._passive_reply(message, reply, encrypted, nonce, timestamp)

    def _passive_reply(self, message: Any, text: str, encrypted: bool, nonce: str, timestamp: str) -> HTTPResponse:
        """The XML answer carrying `text` to the message's sender (encrypted in safe mode)."""
        xml_reply = TextReply(message=message, content=_cdata_safe(text)).render()
        if encrypted:
            xml_reply = self.crypto.encrypt_message(xml_reply, nonce, timestamp)
        return response.text(xml_reply, content_type="application/xml; charset=utf-8")

    # ------------------------------------------------------------ message handling

    @staticmethod
    def _dedupe_key(message: Any) -> Optional[str]:
        """The key a message or answered event is claimed under (None: an event not answered)."""
        if message.type == "event":
            event = (message.event or "").lower()
            if event not in SUBSCRIBE_EVENTS and event != "unsubscribe":
                return None
            return f"evt:{message.source}:{message.time}"
        return f"msg:{message.id}" if message.id else f"msg:{message.source}:{message.time}"

    async def _answer_repeat(self, message: Any) -> None:
        """A request repeated byte for byte: see `DeferredReplies.answer_repeat`."""
        key = self._dedupe_key(message)
        if key is not None:
            await self.replies.answer_repeat(key, message.source)

    async def _handle(
        self, message: Any, on_new_message: Callable[[UserMessage], Awaitable[Any]], exchange: Exchange,
        agent: Any = None,
    ) -> Optional[str]:
        """The passive reply text for a message, or None to answer ``success``."""
        openid = message.source
        if message.type == "event":
            return await self._handle_event(message, on_new_message, exchange)
        key = self._dedupe_key(message)
        if not await self.db(store.claim_message, key, openid, message.type):
            logger.info("WeChat retry of a %s message from %s: not processed again", message.type, mask_openid(openid))
            return await self.replies.answer_retry(key)
        logger.info("WeChat %s message from %s", message.type, mask_openid(openid))
        await self.db(store.record_citizen_message, openid)

        if message.type == "text":
            text = message.content or ""
        elif message.type == "voice":
            text = (message.recognition or "").strip()
            if not text:
                return await self.replies.reply_fixed(key, self.texts.voice_unrecognized)
        else:  # image, location, link, video, shortvideo, file, stickers and unknown types
            if message.type == "image":  # evidence while a complaint or report form runs (issue 15)
                attached = await wechat_media.attach_image(self, message, agent)
                if attached is not None:
                    return await self.replies.reply_fixed(key, attached)
            return await self.replies.reply_fixed(key, self.texts.unsupported)

        # the satisfaction question of a closed ticket is answered here, before the assistant (xiaoan.notify)
        survey_reply = await self.db(survey_reply_for, openid, text)
        if survey_reply is not None:
            return await self.replies.reply_fixed(key, survey_reply)

        choices = await self.db(store.load_choices, openid)
        payload = match_choice(text, choices)
        metadata: Dict[str, Any] = {"wechat": {"msg_type": message.type, "msg_id": str(message.id or "")}}
        notice = None
        if payload is not None:
            metadata["display_text"] = text[:MAX_USER_TEXT]
            text = payload
        else:
            text = neutralize_command(text)
            if len(text) > MAX_USER_TEXT:  # never cut silently: the citizen is told what was read
                kept = cut_long_text(text)
                notice = too_long_notice(self.texts.too_long, text, kept)
                metadata["wechat"]["cut"] = {"total": len(text), "kept": len(kept)}
                logger.info("WeChat message from %s cut from %d to %d characters", mask_openid(openid), len(text), len(kept))
                text = kept
        if not text:
            return await self.replies.reply_fixed(key, self.texts.unsupported)
        return await self.replies.run_turn(key, openid, text, on_new_message, metadata, exchange, notice=notice)

    async def _handle_event(
        self, message: Any, on_new_message: Callable[[UserMessage], Awaitable[Any]], exchange: Exchange
    ) -> Optional[str]:
        openid = message.source
        event = (message.event or "").lower()
        key = self._dedupe_key(message)
        if key is None:
            return None  # menu clicks, scans, location reports...: nothing to answer
        if not await self.db(store.claim_message, key, openid, f"event:{event}"[:32]):
            return await self.replies.answer_retry(key)
        event_time = dt.datetime.fromtimestamp(int(message.time or 0), tz=dt.timezone.utc)
        if event == "unsubscribe":
            logger.info("WeChat unsubscribe from %s", mask_openid(openid))
            await self.db(store.record_subscription_event, openid, "unsubscribe", event_time)
            await self.db(store.transition_message, key, store.STATUS_PROCESSING, store.STATUS_DONE)
            return None
        logger.info("WeChat subscribe from %s", mask_openid(openid))
        await self.db(store.record_subscription_event, openid, "subscribe", event_time)
        await self.db(store.record_citizen_message, openid)
        metadata = {"wechat": {"msg_type": "event", "event": event}}
        return await self.replies.run_turn(key, openid, WELCOME_PAYLOAD, on_new_message, metadata, exchange)

    def _maybe_prune(self) -> None:
        now = time.monotonic()
        if now - self._last_prune >= PRUNE_EVERY_SECONDS:
            self._last_prune = now
            self.replies.spawn(self.db(store.prune_processed_messages, KEEP_PROCESSED))
        wall = self.clock()
        if self._last_nonce_prune is None or wall - self._last_nonce_prune >= NONCE_PRUNE_EVERY_SECONDS:
            self._last_nonce_prune = wall
            self.replies.spawn(self.db(store.prune_nonces, dt.datetime.fromtimestamp(wall, tz=dt.timezone.utc)))
