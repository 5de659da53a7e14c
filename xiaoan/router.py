"""A small HTTP router in front of several Rasa replicas and web apps (no nginx/haproxy needed).

    python -m xiaoan.router --port 8080 \\
        --rasa http://127.0.0.1:5005,http://127.0.0.1:5006 --web http://127.0.0.1:8000,http://127.0.0.1:8001

- Rasa's routes (``/webhooks/``, ``/conversations/``, ``/model``, ``/status``, ``/version``,
  ``/domain``) go to a Rasa replica, everything else to a web app (stateless: its session is a
  signed cookie, so any web app serves any citizen; they reach Rasa through this router too).
- A conversation stays on one replica (rendezvous hashing of the sender id from the webhook's
  body or the ``/conversations/<id>/`` path) while that replica is healthy; it moves only when
  the replica goes down and comes back with it. Correctness does not depend on it — the lock
  store (`xiaoan.lock_store`) serialises a conversation across replicas — but it keeps a
  conversation's messages on a warm replica and keeps them serialised during a Redis outage.
  ``--balance round-robin`` spreads every request instead (the replica test uses it).
- Health: each backend is probed every second (Rasa ``/``, web app ``/healthz``); a backend
  that refuses a connection is taken out at once and the request is sent to the next one (it
  never reached the first, so this is safe for a POST). A backend that fails in the middle of
  a request (killed) answers the client 502 with a Chinese message: the message may or may not
  have been processed, so it is not sent twice.
- ``GET /_router/stats``: requests, failures and health per backend (JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import unquote

from aiohttp import ClientSession, ClientTimeout, TCPConnector, client_exceptions, web

logger = logging.getLogger(__name__)

RASA_PREFIXES = ("/webhooks/", "/conversations/", "/model", "/status", "/version", "/domain")
UNAVAILABLE = "小安暂时无法连接，请稍后再试，或拨打12345热线。"
INTERRUPTED = "小安处理这条消息时中断了，请稍后再发一次，或拨打12345热线。"
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade", "host", "content-length"}
DOWN_SECONDS = 2.0
"""A backend that refused a connection is skipped this long (then probed again)."""


@dataclass
class Backend:
    url: str
    health_path: str
    healthy: bool = True
    down_until: float = 0.0
    requests: int = 0
    failures: int = 0

    def usable(self, now: float) -> bool:
        return self.healthy and now >= self.down_until

    def stats(self) -> dict:
        return {"url": self.url, "healthy": self.healthy and time.monotonic() >= self.down_until,
                "requests": self.requests, "failures": self.failures}


@dataclass
class Pool:
    name: str
    backends: list[Backend]
    _rr: itertools.count = field(default_factory=itertools.count)

    def candidates(self, key: Optional[str]) -> list[Backend]:
        """Usable backends in the order to try: by rendezvous hash of `key`, else round robin."""
        now = time.monotonic()
        usable = [b for b in self.backends if b.usable(now)] or list(self.backends)  # all down: try anyway
        if key is not None:
            return sorted(usable, key=lambda b: hashlib.blake2b(f"{key}|{b.url}".encode(), digest_size=8).digest(),
                          reverse=True)
        start = next(self._rr) % len(usable)
        return usable[start:] + usable[:start]


def conversation_key(path: str, body: bytes) -> Optional[str]:
    """The conversation a Rasa request belongs to: the webhook's ``sender`` or the path's id."""
    if path.startswith("/conversations/"):
        rest = path[len("/conversations/"):]
        return unquote(rest.split("/", 1)[0]) or None
    if path.startswith("/webhooks/") and body:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return None
        sender = data.get("sender") if isinstance(data, dict) else None
        return sender if isinstance(sender, str) and sender else None
    return None


class Router:
    def __init__(self, rasa: list[str], web_apps: list[str], balance: str = "hash", timeout: float = 120) -> None:
        if balance not in ("hash", "round-robin"):
            raise ValueError(f"balance must be 'hash' or 'round-robin', got {balance!r}")
        self.rasa = Pool("rasa", [Backend(u.rstrip("/"), "/") for u in rasa])
        self.web = Pool("web", [Backend(u.rstrip("/"), "/healthz") for u in web_apps])
        self.balance = balance
        self.timeout = timeout
        self._session: Optional[ClientSession] = None
        self._probe: Optional[asyncio.Task] = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_get("/_router/stats", self.stats)
        app.router.add_route("*", "/{tail:.*}", self.forward)
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)
        return app

    async def _start(self, _app) -> None:
        self._session = ClientSession(timeout=ClientTimeout(total=self.timeout, sock_connect=2),
                                      connector=TCPConnector(limit=0, force_close=False), auto_decompress=False)
        self._probe = asyncio.ensure_future(self._probe_loop())

    async def _stop(self, _app) -> None:
        if self._probe:
            self._probe.cancel()
        if self._session:
            await self._session.close()

    async def _probe_loop(self) -> None:
        while True:
            await asyncio.gather(*(self._probe_one(b) for b in self.rasa.backends + self.web.backends))
            await asyncio.sleep(1.0)

    async def _probe_one(self, backend: Backend) -> None:
        try:
            async with self._session.get(backend.url + backend.health_path, timeout=ClientTimeout(total=2)) as r:
                healthy = r.status < 500
        except Exception:  # noqa: BLE001 - any failure means not healthy
            healthy = False
        if healthy != backend.healthy:
            logger.warning("backend %s is %s", backend.url, "healthy again" if healthy else "DOWN")
        backend.healthy = healthy

    async def stats(self, _request: web.Request) -> web.Response:
        return web.json_response({"balance": self.balance, "rasa": [b.stats() for b in self.rasa.backends],
                                  "web": [b.stats() for b in self.web.backends]})

    async def forward(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        path = request.rel_url.path
        is_rasa = path.startswith(RASA_PREFIXES)
        pool = self.rasa if is_rasa else self.web
        key = conversation_key(path, body) if is_rasa and self.balance == "hash" else None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        forwarded = request.headers.get("X-Forwarded-For")
        peer = request.remote or ""
        headers["X-Forwarded-For"] = f"{forwarded}, {peer}" if forwarded else peer
        for backend in pool.candidates(key):
            backend.requests += 1
            try:
                async with self._session.request(request.method, backend.url + str(request.rel_url), data=body,
                                                 headers=headers, allow_redirects=False) as upstream:
                    payload = await upstream.read()
                    out = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
                    return web.Response(body=payload, status=upstream.status, headers=out)
            except (client_exceptions.ClientConnectorError, ConnectionRefusedError) as exc:
                # never reached the backend: take it out and try the next one
                backend.failures += 1
                backend.down_until = time.monotonic() + DOWN_SECONDS
                logger.warning("backend %s refused a connection (%s): trying the next one", backend.url,
                               exc.__class__.__name__)
                continue
            except (client_exceptions.ClientError, asyncio.TimeoutError) as exc:
                backend.failures += 1
                backend.down_until = time.monotonic() + DOWN_SECONDS
                logger.error("backend %s failed during %s %s (%s)", backend.url, request.method, path,
                             exc.__class__.__name__)
                return web.json_response({"error": INTERRUPTED}, status=502)
        return web.json_response({"error": UNAVAILABLE}, status=503)


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description="小安 router: Rasa replicas and web apps behind one port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--rasa", required=True, help="comma-separated Rasa replica URLs")
    parser.add_argument("--web", required=True, help="comma-separated web app URLs")
    parser.add_argument("--balance", default="hash", choices=("hash", "round-robin"),
                        help="hash: a conversation stays on one replica (default); round-robin: every request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    router = Router([u for u in args.rasa.split(",") if u], [u for u in args.web.split(",") if u], args.balance)
    web.run_app(router.app(), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
