"""Per-client HTTP-level rate limits of the Rasa input channels (REST, socket.io, WeChat).

The counters are the ones of :mod:`xiaoan.ratelimit` (Redis at ``XIAOAN_REDIS_URL`` or the project
database), so every Rasa replica and the web app share them. The dialogue's own limits (status
look-ups, tickets, hand-offs) stay where they are; these stop a client from flooding a channel
before any work is done:

============  ======================================  ==========================================
channel        keys                                     refused with
============  ======================================  ==========================================
REST           source address (``rest_ip``), sender     429 + Retry-After, JSON with a Chinese
               (``rest_sender``)                        ``message``
socket.io      client address on connect and per        connection refused / a bot message in
               message (``socketio_ip``), conversation   Chinese (socket.io has no HTTP status)
               (``socketio_conversation``)
WeChat         source address before the signature      ``success`` (WeChat must never see a 5xx or
               (``wechat_ip``), openid after it          a retry-worthy answer); over the openid
               (``wechat_openid``)                       limit a polite passive reply in Chinese
============  ======================================  ==========================================

The limiter call touches the store (a database upsert or a Redis script), so the Sanic handlers run
it in a worker thread (:func:`first_refusal`); the limits of one request go to the store in one round
trip (one transaction or one script call, :meth:`RateLimiter.hit_many`).
"""

from __future__ import annotations

import asyncio
from typing import Any, Optional

from xiaoan import texts
from xiaoan.ratelimit import (
    Decision, Limit, LimitSettings, client_address, get_rate_limiter, limit_settings, trusted_proxy_hops,
)

#: What a client over its limit is told (responses of domain.yml, read by xiaoan.texts on use):
#: RATE_LIMITED for the REST channel (its only caller is the web app, which shows its own message).
TEXTS = {
    "RATE_LIMITED": "utter_channel_rest_rate_limited",
    "SOCKETIO_RATE_LIMITED": "utter_channel_socketio_rate_limited",
    "SOCKETIO_CONNECT_REFUSED": "utter_channel_socketio_refused",
    "WECHAT_RATE_LIMITED": "utter_channel_wechat_rate_limited",
}


__getattr__ = texts.module_texts(__name__, TEXTS)  # limits.WECHAT_RATE_LIMITED: the domain's current text


# a malformed limit or proxy count stops Rasa at start-up with the variable's name
LimitSettings.from_env()
trusted_proxy_hops()


def settings() -> LimitSettings:
    """The process's limits (`XIAOAN_LIMIT_<NAME>`)."""
    return limit_settings()


def sanic_client(request: Any) -> str:
    """The client's address of a Sanic request (`XIAOAN_TRUSTED_PROXY_HOPS` proxies trusted)."""
    peer = getattr(request, "ip", None) or ""
    return client_address(peer, request.headers.get("X-Forwarded-For"), trusted_proxy_hops())


def environ_client(environ: dict) -> str:
    """The client's address of a socket.io connection (its WSGI-like environ)."""
    # python-engineio's Sanic driver writes REMOTE_ADDR as a constant 127.0.0.1: the Sanic request
    # it keeps in the environ knows the real peer
    request = environ.get("sanic.request")
    peer = (getattr(request, "ip", "") if request is not None else "") or environ.get("REMOTE_ADDR") or ""
    forwarded = environ.get("HTTP_X_FORWARDED_FOR")
    return client_address(peer, forwarded, trusted_proxy_hops())


def first_refusal_now(*checks: tuple[Limit, str]) -> Optional[Decision]:
    """Count the uses in order, in one round trip to the store, and return the first refusal
    (later checks are then not counted); blocking."""
    return get_rate_limiter().first_refusal(checks)


async def first_refusal(*checks: tuple[Limit, str]) -> Optional[Decision]:
    """`first_refusal_now` in a worker thread (the store is a database or Redis)."""
    return await asyncio.to_thread(first_refusal_now, *checks)
