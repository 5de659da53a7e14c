"""Client of WeChat's Official Account API: the shared access_token and customer-service messages.

wechatpy (1.8.18) covers signatures, parsing, replies and crypto, and the channel uses it for
those. Its ``WeChatClient`` is not used for the API calls: it fetches tokens through the old
``/cgi-bin/token`` endpoint (a new fetch invalidates the token every other process holds), keeps
the token per process, and retries an invalid-token error without bound. Here:

- :class:`AccessTokenHolder` keeps one token per Official Account in the database, fetched
  through the stable-token endpoint (``POST /cgi-bin/stable_token``), refreshed about 5
  minutes before it expires by one process at a time (a lease taken by compare-and-swap);
- :class:`WeChatApiClient` sends customer-service messages with timeouts, bounded retries
  with backoff, and one token refresh on errors 40001 / 40014 / 42001;
- :func:`deliver_texts` and :func:`send_customer_service_text` apply WeChat's budget (5
  messages within 48 h of the citizen's last message) and record what could not be sent.

Usage (the human agents' inbox)::

    from xiaoan.channels.wechat_api import send_customer_service_text
    delivered = send_customer_service_text(openid, "您好，我是人工客服小王……")
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import requests
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from xiaoan import services
from xiaoan.channels import wechat_store as store
from xiaoan.config import Settings
from xiaoan.db import session_scope, utcnow

logger = logging.getLogger(__name__)

TEXT_LIMIT_BYTES = 2048  # WeChat's limit for one text message (UTF-8 bytes)
TOKEN_REFRESH_MARGIN = dt.timedelta(minutes=5)  # refresh this long before the 7200 s expiry
INVALID_TOKEN_ERRCODES = frozenset({40001, 40014, 42001})  # invalid credential / token, expired token
SYSTEM_BUSY_ERRCODE = -1

SOURCE_ASSISTANT = "assistant"
SOURCE_PUSH = "push"
SOURCE_AGENT = "agent"


def mask_openid(openid: Optional[str]) -> str:
    """An openid for logs: the first 6 characters and ``****``."""
    if not openid:
        return "****"
    return f"{openid[:6]}****"


class WeChatApiError(Exception):
    """WeChat answered a call with an error code (``errcode`` != 0)."""

    def __init__(self, errcode: int, errmsg: str = "") -> None:
        super().__init__(f"WeChat API error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class WeChatTransportError(Exception):
    """WeChat's API could not be reached (after the retries) or answered something unreadable."""


# ---------------------------------------------------------------- text splitting

_SENTENCE_END = re.compile(r"(?<=[。！？；!?;])")


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def _hard_split(text: str, limit: int) -> list[str]:
    """Split a text without line breaks: after sentence ends when possible, else by characters."""
    pieces: list[str] = []
    current = ""
    for sentence in (s for s in _SENTENCE_END.split(text) if s):
        while _utf8_len(sentence) > limit:  # one sentence longer than the limit: cut by characters
            if current:
                pieces.append(current)
                current = ""
            cut = len(sentence.encode("utf-8")[:limit].decode("utf-8", "ignore"))
            pieces.append(sentence[:cut])
            sentence = sentence[cut:]
        if _utf8_len(current + sentence) > limit:
            pieces.append(current)
            current = sentence
        else:
            current += sentence
    if current:
        pieces.append(current)
    return pieces


def split_text(text: str, limit: int = TEXT_LIMIT_BYTES) -> list[str]:
    """Split a text into pieces of at most `limit` UTF-8 bytes, at line breaks where possible.

    Args:
        text: The text to send.
        limit: The most UTF-8 bytes one message may hold.

    Returns:
        The pieces in order, without empty ones (an empty or blank text gives ``[]``).
    """
    text = text.strip()
    if not text:
        return []
    if _utf8_len(text) <= limit:
        return [text]
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if _utf8_len(candidate) <= limit:
            current = candidate
            continue
        if current.strip():
            pieces.append(current.strip("\n"))
        if _utf8_len(line) <= limit:
            current = line
        else:
            *full, current = _hard_split(line, limit)
            pieces.extend(full)
    if current.strip():
        pieces.append(current.strip("\n"))
    return pieces


def merge_texts(texts: Sequence[str], limit: int = TEXT_LIMIT_BYTES) -> list[str]:
    """Merge the texts of one turn into as few messages as fit `limit` (blank line between)."""
    return split_text("\n\n".join(t.strip() for t in texts if t and t.strip()), limit)


# ---------------------------------------------------------------- HTTP


class _Http:
    """JSON calls with timeouts and bounded retries with exponential backoff."""

    def __init__(
        self,
        api_url: str,
        *,
        timeout: tuple[float, float] = (3.05, 8.0),
        attempts: int = 3,
        backoff: float = 0.5,
        session: Optional[requests.Session] = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.session = session or requests.Session()
        self.sleep = sleep

    def post(self, path: str, payload: dict, *, params: Optional[dict] = None, retry_read_timeout: bool = True) -> dict:
        """POST `payload` as JSON and return the JSON answer.

        Retries connection failures, HTTP 5xx/429 and WeChat's "system busy" (-1); a read
        timeout is retried only when `retry_read_timeout` (the request may have been executed).

        Raises:
            WeChatTransportError: No usable answer after the retries.
        """
        url = f"{self.api_url}{path}"
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        last_error = "no attempt"
        for attempt in range(1, self.attempts + 1):
            try:
                resp = self.session.post(
                    url,
                    params=params,
                    data=body,
                    headers={"Content-Type": "application/json; charset=utf-8"},
                    timeout=self.timeout,
                )
            except requests.ConnectTimeout as exc:
                last_error = f"connect timeout: {exc.__class__.__name__}"
            except requests.Timeout as exc:
                if not retry_read_timeout:
                    raise WeChatTransportError(f"read timeout on {path}") from exc
                last_error = f"read timeout: {exc.__class__.__name__}"
            except requests.ConnectionError as exc:
                last_error = f"connection error: {exc.__class__.__name__}"
            else:
                if resp.status_code >= 500 or resp.status_code == 429:
                    last_error = f"HTTP {resp.status_code}"
                elif resp.status_code >= 400:
                    raise WeChatTransportError(f"HTTP {resp.status_code} on {path}")
                else:
                    try:
                        data = resp.json()
                    except ValueError as exc:
                        raise WeChatTransportError(f"not JSON from {path}") from exc
                    if not isinstance(data, dict):
                        raise WeChatTransportError(f"unexpected answer from {path}")
                    if _errcode(data) != SYSTEM_BUSY_ERRCODE:
                        return data
                    last_error = "system busy (-1)"
            if attempt < self.attempts:
                delay = self.backoff * (2 ** (attempt - 1))
                logger.warning("WeChat API %s failed (%s), retry %d in %.1fs", path, last_error, attempt, delay)
                self.sleep(delay)
        raise WeChatTransportError(f"{path}: {last_error} after {self.attempts} attempts")


class MediaTooLarge(Exception):
    """A media file bigger than the caller accepts (its download was stopped)."""


def get_bytes(http: "_Http", path: str, params: dict, max_bytes: int) -> tuple[bytes, str]:
    """GET a binary resource (at most `max_bytes`, streamed); returns (body, Content-Type).

    A JSON answer is WeChat's error (``{"errcode": ...}``) and comes back as such, for the caller.

    Raises:
        MediaTooLarge: the body is longer than `max_bytes`.
        WeChatTransportError: the API could not be reached or answered an HTTP error.
    """
    url = f"{http.api_url}{path}"
    try:
        resp = http.session.get(url, params=params, timeout=http.timeout, stream=True)
    except requests.RequestException as exc:
        raise WeChatTransportError(f"{path}: {exc.__class__.__name__}") from exc
    with resp:
        if resp.status_code >= 400:
            raise WeChatTransportError(f"HTTP {resp.status_code} on {path}")
        declared = resp.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise MediaTooLarge(path)
        chunks, total = [], 0
        try:
            for chunk in resp.iter_content(64 * 1024):
                total += len(chunk)
                if total > max_bytes:
                    raise MediaTooLarge(path)
                chunks.append(chunk)
        except requests.RequestException as exc:
            raise WeChatTransportError(f"{path}: {exc.__class__.__name__}") from exc
        return b"".join(chunks), resp.headers.get("Content-Type", "")


def _errcode(data: dict) -> int:
    try:
        return int(data.get("errcode") or 0)
    except (TypeError, ValueError):
        return 0


# ---------------------------------------------------------------- access token


class AccessTokenHolder:
    """The Official Account's access_token, one for all processes, kept in the database.

    A process that finds the token missing, about to expire (5 minutes before its 7200 s) or
    rejected by WeChat takes a short lease on the row by compare-and-swap (``version``,
    ``refreshing_until``), fetches through the stable-token endpoint and stores the result;
    the others wait for the stored token. The stable-token endpoint returns the same token to
    every normal fetch while it is valid, so even a lease that runs out does no harm; a
    forced refresh (which invalidates the old token) is used only when WeChat rejected the
    token the normal fetch returns.
    """

    def __init__(
        self,
        http: _Http,
        appid: str,
        secret: str,
        *,
        database_url: Optional[str] = None,
        lease: dt.timedelta = dt.timedelta(seconds=15),
        wait_seconds: float = 20.0,
        poll_interval: float = 0.1,
    ) -> None:
        self.http = http
        self.appid = appid
        self._secret = secret
        self.database_url = database_url
        self.lease = lease
        self.wait_seconds = wait_seconds
        self.poll_interval = poll_interval

    def get(self, rejected: Optional[str] = None) -> str:
        """A valid access_token.

        Args:
            rejected: A token WeChat just rejected (40001/42001): never returned again; a
                fresh one is fetched (or the one another process fetched meanwhile).

        Raises:
            WeChatApiError: WeChat refused the credentials (e.g. 40125 wrong secret, 40164
                IP not whitelisted).
            WeChatTransportError: The endpoint could not be reached, or another process held
                the lease longer than `wait_seconds`.
        """
        deadline = time.monotonic() + self.wait_seconds
        while True:
            now = utcnow()
            row = self._read_or_create()
            if self._usable(row, now, rejected):
                return row.access_token
            if row.refreshing_until is None or row.refreshing_until <= now:
                # The same snapshot decides "stale" and takes the lease: if another process
                # refreshed in between, the version changed and the swap fails.
                if self._take_lease(row.version, now):
                    return self._refresh(row.version + 1, rejected)
                continue
            if time.monotonic() >= deadline:
                raise WeChatTransportError("timed out waiting for another process to refresh the access token")
            time.sleep(self.poll_interval)

    def _usable(self, row: store.WeChatAccessToken, now: dt.datetime, rejected: Optional[str]) -> bool:
        return bool(
            row.access_token
            and row.access_token != rejected
            and row.expires_at is not None
            and row.expires_at - TOKEN_REFRESH_MARGIN > now
        )

    def _read_or_create(self) -> store.WeChatAccessToken:
        for _ in range(2):
            with session_scope(self.database_url) as session:
                row = session.execute(
                    select(store.WeChatAccessToken).where(store.WeChatAccessToken.appid == self.appid)
                ).scalar_one_or_none()
            if row is not None:
                return row
            try:
                with session_scope(self.database_url) as session:
                    session.add(store.WeChatAccessToken(appid=self.appid, version=0))
            except IntegrityError:
                pass  # created by another process meanwhile
        raise WeChatTransportError("the access token row could not be created")

    def _take_lease(self, version: int, now: dt.datetime) -> bool:
        """Take the refresh lease by compare-and-swap on `version`; False when another process won."""
        with session_scope(self.database_url) as session:
            result = session.execute(
                update(store.WeChatAccessToken)
                .where(store.WeChatAccessToken.appid == self.appid, store.WeChatAccessToken.version == version)
                .values(version=version + 1, refreshing_until=now + self.lease, updated_at=now)
            )
            return result.rowcount == 1

    def _refresh(self, version: int, rejected: Optional[str]) -> str:
        try:
            token, expires_in = self._fetch(force=False)
            if rejected and token == rejected:
                logger.warning("WeChat returned the rejected access token again; forcing a refresh")
                token, expires_in = self._fetch(force=True)
        except BaseException:
            self._release(version)
            raise
        now = utcnow()
        with session_scope(self.database_url) as session:
            session.execute(
                update(store.WeChatAccessToken)
                .where(store.WeChatAccessToken.appid == self.appid, store.WeChatAccessToken.version == version)
                .values(
                    access_token=token,
                    expires_at=now + dt.timedelta(seconds=expires_in),
                    refreshing_until=None,
                    version=version + 1,
                    updated_at=now,
                )
            )
        logger.info("WeChat access token refreshed (valid %d s)", expires_in)
        return token

    def _release(self, version: int) -> None:
        with session_scope(self.database_url) as session:
            session.execute(
                update(store.WeChatAccessToken)
                .where(store.WeChatAccessToken.appid == self.appid, store.WeChatAccessToken.version == version)
                .values(refreshing_until=None, version=version + 1)
            )

    def _fetch(self, force: bool) -> tuple[str, int]:
        data = self.http.post(
            "/cgi-bin/stable_token",
            {"grant_type": "client_credential", "appid": self.appid, "secret": self._secret, "force_refresh": force},
        )
        if _errcode(data) or not data.get("access_token"):
            raise WeChatApiError(_errcode(data), str(data.get("errmsg", "no access_token in the answer")))
        return str(data["access_token"]), int(data.get("expires_in") or 7200)


# ---------------------------------------------------------------- client


class WeChatApiClient:
    """Calls of the Official Account API that 小安 needs (customer-service messages).

    Build it with :meth:`from_settings` (or :func:`get_client`); tests point ``api_url`` at a
    local fake of WeChat's servers.
    """

    def __init__(
        self,
        api_url: str,
        appid: str,
        secret: str,
        *,
        database_url: Optional[str] = None,
        timeout: tuple[float, float] = (3.05, 8.0),
        attempts: int = 3,
        backoff: float = 0.5,
    ) -> None:
        self.http = _Http(api_url, timeout=timeout, attempts=attempts, backoff=backoff)
        self.tokens = AccessTokenHolder(self.http, appid, secret, database_url=database_url)

    @classmethod
    def from_settings(cls, settings: Settings) -> Optional["WeChatApiClient"]:
        """The client for the configured Official Account; None without appid and secret."""
        if not (settings.wechat_appid and settings.wechat_secret):
            return None
        return cls(settings.wechat_api_url, settings.wechat_appid, settings.wechat_secret, database_url=settings.database_url)

    def call(self, path: str, payload: dict, *, retry_read_timeout: bool = True) -> dict:
        """POST to an API that takes ``?access_token=``; an invalid token is refreshed once and the call repeated.

        Raises:
            WeChatApiError: WeChat answered with an error code.
            WeChatTransportError: The API could not be reached.
        """
        token = self.tokens.get()
        data = self.http.post(path, payload, params={"access_token": token}, retry_read_timeout=retry_read_timeout)
        if _errcode(data) in INVALID_TOKEN_ERRCODES:
            logger.info("WeChat rejected the access token (%s); refreshing once", _errcode(data))
            token = self.tokens.get(rejected=token)
            data = self.http.post(path, payload, params={"access_token": token}, retry_read_timeout=retry_read_timeout)
        if _errcode(data):
            raise WeChatApiError(_errcode(data), str(data.get("errmsg", "")))
        return data

    def send_text(self, openid: str, text: str) -> None:
        """Send one customer-service text message (客服消息), at most 2048 UTF-8 bytes.

        Raises:
            WeChatApiError: e.g. 45015 (outside the 48-hour window), 45047 (too many messages).
            WeChatTransportError: The API could not be reached.
        """
        # A read timeout is not retried: the message may have been sent, and twice is worse.
        self.call(
            "/cgi-bin/message/custom/send",
            {"touser": openid, "msgtype": "text", "text": {"content": text}},
            retry_read_timeout=False,
        )


    def get_media(self, media_id: str, *, max_bytes: int) -> bytes:
        """Download a temporary media file (an image a citizen sent) through ``/cgi-bin/media/get``;
        an invalid token is refreshed once.

        Raises:
            MediaTooLarge: bigger than `max_bytes`.
            WeChatApiError: WeChat answered an error code (e.g. 40007, an invalid media_id).
            WeChatTransportError: The API could not be reached.
        """
        token = self.tokens.get()
        for attempt in (1, 2):
            data, content_type = get_bytes(self.http, "/cgi-bin/media/get",
                                           {"access_token": token, "media_id": media_id}, max_bytes)
            if "json" not in content_type and "text/plain" not in content_type:
                return data
            try:
                answer = json.loads(data.decode("utf-8"))
            except ValueError as exc:
                raise WeChatTransportError("unreadable answer from /cgi-bin/media/get") from exc
            code = _errcode(answer) if isinstance(answer, dict) else -1
            if code in INVALID_TOKEN_ERRCODES and attempt == 1:
                token = self.tokens.get(rejected=token)
                continue
            raise WeChatApiError(code, str(answer.get("errmsg", "")) if isinstance(answer, dict) else "")
        raise WeChatTransportError("/cgi-bin/media/get: no answer")  # pragma: no cover - loop returns or raises

    def send_subscribe_message(self, openid: str, template_id: str, data: dict[str, str]) -> None:
        """Send a subscribe message (订阅通知, ``/cgi-bin/message/subscribe/bizsend``): no 48-hour
        window, but only to a citizen who accepted the template.

        Args:
            openid: The citizen.
            template_id: The template chosen in the Official Account's admin.
            data: Field key -> value (keep each value within the field type's limit, e.g. a
                ``thing`` at most 20 characters: :func:`subscribe_value`).

        Raises:
            WeChatApiError: e.g. 43101 (the citizen did not accept the template), 47003 (bad data).
            WeChatTransportError: The API could not be reached.
        """
        self.call(
            "/cgi-bin/message/subscribe/bizsend",
            {"touser": openid, "template_id": template_id, "data": {k: {"value": v} for k, v in data.items()}},
            retry_read_timeout=False,
        )


#: Longest value of a subscribe message field, by the field type (the key without its number).
SUBSCRIBE_LIMITS = {"thing": 20, "character_string": 32, "phrase": 5, "time": 64, "number": 32}


def subscribe_value(key: str, value: str) -> str:
    """`value` cut to the limit of the subscribe message field `key` (``thing3`` -> 20 characters)."""
    kind = re.sub(r"\d+$", "", key)
    limit = SUBSCRIBE_LIMITS.get(kind, 20)
    value = " ".join(str(value).split())
    return value if len(value) <= limit else value[: limit - 1] + "…"


_clients: dict[tuple, WeChatApiClient] = {}
_clients_lock = threading.Lock()


def get_client(settings: Optional[Settings] = None) -> Optional[WeChatApiClient]:
    """The shared client for `settings` (default: the environment); None when appid/secret are unset."""
    settings = settings or services.settings()
    key = (settings.wechat_api_url, settings.wechat_appid, settings.wechat_secret, settings.database_url)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = WeChatApiClient.from_settings(settings)
            if client is not None:
                _clients[key] = client
        return client


# ---------------------------------------------------------------- delivery with the budget


@dataclass(frozen=True)
class DeliveryResult:
    """What happened to the pieces of one delivery."""

    sent: int
    undelivered: int

    @property
    def ok(self) -> bool:
        """Everything was sent."""
        return self.undelivered == 0


def deliver_texts(
    openid: str,
    texts: Sequence[str],
    *,
    source: str,
    client: Optional[WeChatApiClient] = None,
    settings: Optional[Settings] = None,
) -> DeliveryResult:
    """Send texts to a citizen as customer-service messages within WeChat's budget.

    Each text must already fit one message (see :func:`merge_texts`). A text goes out only
    when the citizen wrote within 48 hours and fewer than 5 messages were sent since;
    everything not sent (budget, 45015 and other API errors, network) is recorded in
    ``wechat_undelivered_messages`` with the reason, and the rest of the texts with it.

    Args:
        openid: The citizen.
        texts: The messages, in order.
        source: ``assistant``, ``push`` or ``agent`` (recorded with undelivered texts).
        client: The API client (default: :func:`get_client`).
        settings: Settings (default: the environment).

    Returns:
        How many texts were sent and how many were recorded as undelivered.
    """
    settings = settings or services.settings()
    url = settings.database_url
    client = client or get_client(settings)
    sent = 0
    texts = [t for t in texts if t and t.strip()]
    for index, text in enumerate(texts):
        reason, detail = None, None
        if client is None:
            reason, detail = store.REASON_NOT_CONFIGURED, "XIAOAN_WECHAT_APPID / XIAOAN_WECHAT_SECRET unset"
        else:
            reason = store.reserve_cs_slot(url, openid)
            if reason is None:
                try:
                    client.send_text(openid, text)
                    sent += 1
                    continue
                except WeChatApiError as exc:
                    store.release_cs_slot(url, openid)
                    reason, detail = store.api_error_reason(exc.errcode), exc.errmsg
                except WeChatTransportError as exc:
                    store.release_cs_slot(url, openid)
                    reason, detail = store.REASON_NETWORK, str(exc)
        # Not sent: record this text and the rest (sending them would fail the same way).
        for rest in texts[index:]:
            store.record_undelivered(url, openid, rest, reason, source, detail)
        logger.warning(
            "WeChat message to %s not delivered (%s): %d piece(s) recorded",
            mask_openid(openid),
            reason,
            len(texts) - index,
        )
        return DeliveryResult(sent=sent, undelivered=len(texts) - index)
    return DeliveryResult(sent=sent, undelivered=0)


def send_customer_service_text(openid: str, text: str, *, settings: Optional[Settings] = None) -> bool:
    """Send a text to a WeChat citizen through the customer-service API (human agents' replies).

    Long texts are split at line breaks into messages of at most 2048 UTF-8 bytes; each
    counts against WeChat's budget of 5 messages within 48 hours of the citizen's last
    message. What cannot be sent is recorded in ``wechat_undelivered_messages``.

    Args:
        openid: The citizen's openid (the Rasa conversation id of a WeChat conversation).
        text: The text.
        settings: Settings (default: the environment).

    Returns:
        True when the whole text was delivered.
    """
    pieces = split_text(text)
    if not pieces:
        return False
    return deliver_texts(openid, pieces, source=SOURCE_AGENT, settings=settings).ok
