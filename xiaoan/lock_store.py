"""A race-free Redis lock store for several Rasa replicas (Rasa's lock-store extension point).

Rasa Open Source 3.6's `RedisLockStore` keeps a conversation's ticket lock as one JSON value and
changes it by read-modify-write from Python (`get_lock` → `issue_ticket` → `save_lock`). Two
replicas that take messages of the same conversation at the same moment both read the same
value, both append "their" ticket and the second write erases the first: both believe they are
first in line and process the conversation at the same time, and the SQL tracker store then
drops the events of one of them (it appends only the events beyond the number already stored).
`cleanup` has the same race and can delete a waiting replica's ticket.

This store keeps Rasa's semantics (first come, first served per conversation; a ticket that is
not renewed expires) but every change is one Lua script that Redis runs atomically:

- one hash per conversation, ``<prefix>:lock2:<conversation id>``: field ``n`` the last ticket
  issued (`HINCRBY`), fields ``t:<ticket>`` the ticket's lease deadline (Redis server time, ms);
- a replica holds the lock while its ticket is the smallest live one; the holder and every
  waiter renew their lease while they hold or wait (a thread of the replica, every
  ``min(lease / 4, 5 s)``: the event loop may be busy with the model), so a replica that is
  killed loses its place within one lease (`XIAOAN_LOCK_LEASE_SECONDS`, default 60 s, Rasa's
  lock lifetime) while a message that takes long is never overtaken. Renewals from the event
  loop were seen to be more than 15 s late on an overloaded machine (load 14 on 2 cores);
- waiting is bounded by Rasa's `lock_lifetime` (60 s, `TICKET_LOCK_LIFETIME`) plus one lease,
  then `LockError`; a Redis call that times out is retried, never taken for an outage.

Within a replica the messages of a conversation first queue on an in-process lock, then on
Redis. When Redis refuses connections the replica goes on with the in-process lock alone for
that message (logged as an error; Redis is tried again on every message): conversations go on
during a Redis outage, serialised within each replica. Two messages of one conversation sent at the same
moment to two different replicas during the outage are then not serialised — the router keeps a
conversation on one replica (`xiaoan.router`, consistent hashing), so that needs a replica
failover during a Redis outage. docs/deploy/replicas.md explains the choice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncGenerator, Optional

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, LockStore

from xiaoan.config import positive_number

logger = logging.getLogger(__name__)

LEASE_ENV = "XIAOAN_LOCK_LEASE_SECONDS"
DEFAULT_LEASE_SECONDS = 60.0
POLL_SECONDS = 0.02
"""How often a waiting replica asks whether its turn has come (Rasa's own store waits 1 s)."""
MAX_POLL_SECONDS = 0.1

# KEYS[1] the conversation's hash; ARGV[1] lease ms. Returns the new ticket.
_ISSUE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
redis.call('HSET', KEYS[1], 't:' .. n, now + tonumber(ARGV[1]))
redis.call('PEXPIRE', KEYS[1], 4 * tonumber(ARGV[1]) + 60000)
return n
"""

# KEYS[1] the hash; ARGV[1] ticket, ARGV[2] lease ms. Drops expired tickets, renews this one.
# Returns 1 = this ticket holds the lock, 0 = wait, -1 = this ticket expired (lost its place).
_POLL = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local mine = tonumber(ARGV[1])
local fields = redis.call('HGETALL', KEYS[1])
local head = nil
local alive = false
for i = 1, #fields, 2 do
  local f = fields[i]
  if string.sub(f, 1, 2) == 't:' then
    local ticket = tonumber(string.sub(f, 3))
    if tonumber(fields[i + 1]) < now then
      redis.call('HDEL', KEYS[1], f)
    else
      if ticket == mine then alive = true end
      if head == nil or ticket < head then head = ticket end
    end
  end
end
if not alive then return -1 end
redis.call('HSET', KEYS[1], 't:' .. mine, now + tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], 4 * tonumber(ARGV[2]) + 60000)
if head == mine then return 1 end
return 0
"""

# KEYS[1] the hash; ARGV[1] ticket. Removes the ticket; the hash goes when no ticket is left.
_RELEASE = """
redis.call('HDEL', KEYS[1], 't:' .. ARGV[1])
if redis.call('HLEN', KEYS[1]) <= 1 then redis.call('DEL', KEYS[1]) end
return 1
"""


# KEYS[1] the hash; ARGV[1] ticket, ARGV[2] lease ms. Extends a live ticket; 0 when it is gone.
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('HEXISTS', KEYS[1], 't:' .. ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 't:' .. ARGV[1], now + tonumber(ARGV[2]))
  redis.call('PEXPIRE', KEYS[1], 4 * tonumber(ARGV[2]) + 60000)
  return 1
end
return 0
"""


class _Renewer(threading.Thread):
    """Renews every ticket this process holds or waits with, from a thread of its own.

    Renewing from the event loop is not enough: Rasa runs the model inside the loop, and on an
    overloaded machine a renewal scheduled there came more than 15 s late (docs/deploy/replicas.md).
    """

    def __init__(self, url: str, lease: float, socket_timeout: float) -> None:
        super().__init__(name="xiaoan-lock-renewer", daemon=True)
        self.url, self.lease, self.socket_timeout = url, lease, socket_timeout
        self.tickets: set[tuple[str, int]] = set()
        self.guard = threading.Lock()

    def add(self, key: str, ticket: int) -> None:
        with self.guard:
            self.tickets.add((key, ticket))

    def remove(self, key: str, ticket: int) -> None:
        with self.guard:
            self.tickets.discard((key, ticket))

    def run(self) -> None:
        import redis

        client = redis.Redis.from_url(self.url, socket_timeout=self.socket_timeout,
                                      socket_connect_timeout=self.socket_timeout)
        renew = client.register_script(_RENEW)
        lease_ms = int(self.lease * 1000)
        while True:
            time.sleep(min(self.lease / 4, 5.0))
            with self.guard:
                tickets = list(self.tickets)
            for key, ticket in tickets:
                try:
                    if not renew(keys=[key], args=[ticket, lease_ms]):
                        self.remove(key, ticket)
                        logger.error("a conversation lock ticket expired before it was renewed (lease %.0f s)",
                                     self.lease)
                except Exception as exc:  # noqa: BLE001 - Redis down: the lock store falls back
                    logger.warning("could not renew a conversation lock: %s", exc.__class__.__name__)
                    break


def _unreachable() -> tuple:
    """Redis is down (refused or reset), as opposed to slow (`redis.exceptions.TimeoutError`)."""
    import redis.exceptions

    return (redis.exceptions.ConnectionError, ConnectionError)


_UNREACHABLE = _unreachable()


def lease_seconds() -> float:
    """The lease of a ticket (`XIAOAN_LOCK_LEASE_SECONDS`, default 60 s, at least 1 s)."""
    return positive_number(LEASE_ENV, os.environ.get(LEASE_ENV), DEFAULT_LEASE_SECONDS, parse=float,
                           what="a number of seconds", unit=" second")


class AtomicRedisLockStore(LockStore):
    """Per-conversation first-come-first-served locks in Redis, changed only by atomic scripts.

    Args:
        url: The Redis URL (``redis://host:port/db``).
        key_prefix: Prefix of every key (``<prefix>:lock2:<conversation id>``).
        lease: Seconds a ticket lives without renewal (default `lease_seconds()`).
        fallback: Use an in-process lock when Redis cannot be reached (default True).
    """

    def __init__(self, url: str, key_prefix: str = "xiaoan", lease: Optional[float] = None,
                 fallback: bool = True, socket_timeout: float = 10.0) -> None:
        super().__init__()
        self.url = url
        self.key_prefix = key_prefix
        self.lease = lease if lease is not None else lease_seconds()
        self.fallback = fallback
        self.socket_timeout = socket_timeout
        self._clients: dict[int, Any] = {}
        self._local_locks: dict[str, list] = {}
        self._redis_down_since: Optional[float] = None
        self._renewer: Optional[_Renewer] = None

    @property
    def renewer(self) -> _Renewer:
        if self._renewer is None or not self._renewer.is_alive():
            self._renewer = _Renewer(self.url, self.lease, self.socket_timeout)
            self._renewer.start()
        return self._renewer

    # --- Redis access: one asyncio client per event loop (Sanic's, or a test's asyncio.run) ---
    def _client(self):
        import redis.asyncio as aioredis

        loop = asyncio.get_running_loop()
        client = self._clients.get(id(loop))
        if client is None or getattr(client, "_xiaoan_loop", None) is not loop:
            client = aioredis.Redis.from_url(self.url, socket_timeout=self.socket_timeout,
                                             socket_connect_timeout=self.socket_timeout)
            client._xiaoan_loop = loop
            client._xiaoan_scripts = {name: client.register_script(body) for name, body in
                                      (("issue", _ISSUE), ("poll", _POLL), ("release", _RELEASE))}
            self._clients[id(loop)] = client
        return client

    def key(self, conversation_id: str) -> str:
        return f"{self.key_prefix}:lock2:{conversation_id}"

    async def _run(self, script: str, conversation_id: str, *args: Any) -> int:
        """Run one script; a timeout (a slow Redis or a starved event loop) is retried, up to 3 times."""
        import redis.exceptions

        client = self._client()
        for attempt in range(3):
            try:
                return int(await client._xiaoan_scripts[script](keys=[self.key(conversation_id)], args=list(args)))
            except redis.exceptions.TimeoutError:
                if attempt == 2:
                    raise
                logger.warning("Redis lock store slow (timeout); trying again")
        raise AssertionError("unreachable")

    # --- the lock Rasa uses: `async with lock_store.lock(conversation_id): ...` ---
    @asynccontextmanager
    async def lock(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME,
                   wait_time_in_seconds: float = 1) -> AsyncGenerator[TicketLock, None]:
        """Hold the conversation's lock; waits in line at most `lock_lifetime` seconds."""
        async with self._in_process(conversation_id, float(lock_lifetime) + self.lease):
            lease_ms = int(self.lease * 1000)
            ticket: Optional[int] = None
            key = self.key(conversation_id)
            try:
                ticket = await self._run("issue", conversation_id, lease_ms)
                self.renewer.add(key, ticket)
                await self._wait_for_turn(conversation_id, ticket, lease_ms, lock_lifetime)
            except _UNREACHABLE as exc:
                await self._release(conversation_id, ticket)
                if not self.fallback:
                    raise LockError(f"Redis lock store unreachable: {exc.__class__.__name__}") from exc
                self._note_down(exc)
                yield TicketLock(conversation_id)  # serialised by the in-process lock only
                return
            except BaseException:
                await self._release(conversation_id, ticket)
                raise
            if self._redis_down_since is not None:
                logger.warning("Redis lock store reachable again after %.1f s",
                               time.monotonic() - self._redis_down_since)
                self._redis_down_since = None
            try:
                yield TicketLock(conversation_id)
            finally:
                await self._release(conversation_id, ticket)

    @asynccontextmanager
    async def _in_process(self, conversation_id: str, limit: float) -> AsyncGenerator[None, None]:
        """One message of a conversation at a time within this replica (asyncio.Lock: first come,
        first served), before Redis is asked: so a message that falls back during a Redis outage
        never runs beside one of the same replica that still holds the Redis lock."""
        entry = self._local_locks.get(conversation_id)
        if entry is None:
            entry = self._local_locks[conversation_id] = [asyncio.Lock(), 0]
        entry[1] += 1
        try:
            try:
                await asyncio.wait_for(entry[0].acquire(), timeout=limit)
            except asyncio.TimeoutError:
                raise LockError(f"Could not acquire lock for conversation_id '{conversation_id}'.") from None
            try:
                yield
            finally:
                entry[0].release()
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                self._local_locks.pop(conversation_id, None)

    async def _release(self, conversation_id: str, ticket: Optional[int]) -> None:
        if ticket is None:
            return
        self.renewer.remove(self.key(conversation_id), ticket)
        try:
            await self._run("release", conversation_id, ticket)
        except Exception as exc:  # noqa: BLE001 - the ticket expires with its lease anyway
            logger.warning("could not release the lock of a conversation (%s); it expires in %.0f s",
                           exc.__class__.__name__, self.lease)

    async def _wait_for_turn(self, conversation_id: str, ticket: int, lease_ms: int, lock_lifetime: float) -> None:
        deadline = time.monotonic() + float(lock_lifetime) + self.lease
        pause = POLL_SECONDS
        while True:
            state = await self._run("poll", conversation_id, ticket, lease_ms)
            if state == 1:
                return
            if state == -1:
                raise LockError(f"Lock ticket of conversation '{conversation_id}' expired while waiting.")
            if time.monotonic() > deadline:
                raise LockError(f"Could not acquire lock for conversation_id '{conversation_id}'.")
            await asyncio.sleep(pause)
            pause = min(pause * 1.5, MAX_POLL_SECONDS)

    def _note_down(self, exc: Exception) -> None:
        if self._redis_down_since is None:
            self._redis_down_since = time.monotonic()
        logger.error("Redis lock store unreachable (%s): this message is serialised by this replica only",
                     exc.__class__.__name__)

    # --- the rest of Rasa's LockStore interface (not used by Rasa's message handling) ---
    def get_lock(self, conversation_id: str) -> Optional[TicketLock]:
        return None

    def save_lock(self, lock: TicketLock) -> None:
        raise NotImplementedError("AtomicRedisLockStore changes locks only through lock()")

    def delete_lock(self, conversation_id: str) -> None:
        import redis

        redis.Redis.from_url(self.url, socket_timeout=self.socket_timeout).delete(self.key(conversation_id))
