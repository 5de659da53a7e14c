"""Rate limits of the web app's public routes: the client's address and the 429 answer.

The chat routes call one hook each (`chat_read_rate_limit` for the history and updates reads)::

    limited = chat_rate_limit(conversation_id())
    if limited is not None:
        return limited            # 429 JSON {"error": "<中文>"} with Retry-After

Behind a reverse proxy every request comes from the proxy's address: set
`XIAOAN_TRUSTED_PROXY_HOPS` to the number of proxies in front of the app (1 for one nginx) so
that the client is read from `X-Forwarded-For`; leave it 0 (the default) when the app is
reached directly, or clients could forge the header.
"""

from __future__ import annotations

import os

from flask import current_app, request

from xiaoan.ratelimit import (
    REDIS_URL_ENV, TRUSTED_PROXY_HOPS_ENV, Decision,  # noqa: F401 (TRUSTED_PROXY_HOPS_ENV: kept importable here)
    LimitSettings, RateLimiter, build_rate_limiter, client_address,
    limit_settings,
)
from xiaoan.ratelimit import trusted_proxy_hops as _trusted_proxy_hops
from xiaoan.web import messages
from xiaoan.web.deps import get_settings
from xiaoan.web.errors import error_response

LIMITER_KEY = "xiaoan_rate_limiter"
"""Key of the app's `RateLimiter` in `app.extensions` (tests put one with a fake clock there)."""


def web_rate_limiter() -> RateLimiter:
    """The app's limiter: Redis at `XIAOAN_REDIS_URL` if set, else the app's database; built on first use."""
    limiter = current_app.extensions.get(LIMITER_KEY)
    if limiter is None:
        redis_url = (os.environ.get(REDIS_URL_ENV) or "").strip() or None
        limiter = build_rate_limiter(redis_url, get_settings().database_url)
        current_app.extensions[LIMITER_KEY] = limiter
    return limiter


def trusted_proxy_hops() -> int:
    """How many reverse proxies stand in front of the app (`XIAOAN_TRUSTED_PROXY_HOPS`, default 0)."""
    return _trusted_proxy_hops()


def client_ip() -> str:
    """The client's IP address of this request (IPv6 clients by their /64: one household or phone)."""
    return client_address(request.remote_addr, request.headers.get("X-Forwarded-For"), trusted_proxy_hops())


# a misconfigured limit or proxy count stops the app at start-up with the variable's name,
# rather than failing every request later
LimitSettings.from_env()
trusted_proxy_hops()


def too_many_requests(decision: Decision, message: str):
    """A 429 answer (JSON or page, as the request wants) with Retry-After in seconds."""
    body, status = error_response(429, message)
    return body, status, {"Retry-After": str(max(1, decision.retry_after))}


def chat_rate_limit(conversation_id: str):
    """None when this chat message may go to Rasa, else the 429 answer.

    Checked per client IP first (a flood from one address, also with fresh cookies), then per
    conversation. A refused message is not counted.
    """
    limits = limit_settings()
    return _ip_then_conversation(limits.chat_ip, limits.chat_conversation, conversation_id,
                                 "CHAT_RATE_LIMITED_IP", "CHAT_RATE_LIMITED")


def chat_read_rate_limit(conversation_id: str):
    """None when this history or updates read may go to Rasa, else the 429 answer.

    The page polls `/api/chat/updates` every 2.5 s and reads `/api/chat/history` on load; each
    read fetches the whole tracker from Rasa, so reads have their own, wider limits (per client IP
    first, then per conversation), apart from the message limits: a page that polls never uses up
    the citizen's messages.
    """
    limits = limit_settings()
    return _ip_then_conversation(limits.chat_read_ip, limits.chat_read_conversation, conversation_id,
                                 "CHAT_READ_RATE_LIMITED_IP", "CHAT_READ_RATE_LIMITED")


def _ip_then_conversation(ip_limit, conversation_limit, conversation_id: str, ip_text: str, conversation_text: str):
    """The client IP's limit first, then the conversation's: None, or the 429 answer with the
    message named `ip_text` / `conversation_text` (xiaoan.web.messages). A refused hit is not counted,
    nor is the conversation's when the IP's was refused; both go to the store in one round trip."""
    refused = web_rate_limiter().first_refusal(((ip_limit, client_ip()), (conversation_limit, conversation_id)))
    if refused is None:
        return None
    name = ip_text if refused.limit == ip_limit else conversation_text
    return too_many_requests(refused, getattr(messages, name).format(seconds=refused.retry_after))
