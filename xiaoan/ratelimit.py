"""Rate limits shared by every process and replica: Redis when configured, else the project database.

Usage::

    from xiaoan.ratelimit import get_rate_limiter, limit_settings

    limits = limit_settings()
    decision = get_rate_limiter().hit(limits.chat_conversation, conversation_id)
    if not decision.allowed:
        ...  # HTTP 429 with Retry-After: decision.retry_after (seconds)

Three operations, all keyed by a `Limit` (name, count, period) and a caller-chosen key (a client IP,
a conversation id, a ticket number; stored only as a SHA-256 digest):

- `hit`: count one use and say whether it was allowed; a refused use is not counted, so a client
  that waits the `retry_after` it was told gets through.
- `peek`: whether one more use would be allowed now, without counting (checks made before
  expensive work whose outcome decides whether it counts, e.g. a password hash).
- `record`: count one use unconditionally (a failure that already happened) and return the new state.

`hit_many` applies several limits to one request in one round trip to the store (one database
transaction, one Redis script call): in order, each counted if it fits; the first refusal ends it and
the limits after it are not counted (those before it stay counted, as with consecutive `hit` calls).

The window is a *sliding window counter*: two fixed windows per key (the current one and the
previous one, the previous weighted by how much of it still overlaps the sliding window). It
allows no double burst at a window boundary, needs two integers per key, and every counter
expires by itself two periods after its window started (Redis key TTL; in the database an
`expires_at` column, purged by the limiter itself at most once a minute per process).

Backend: `XIAOAN_REDIS_URL` (e.g. ``redis://redis:6379/2``) set = Redis, atomic in one Lua
script (both keys of one counter share a hash tag; `hit_many` passes several counters to one
script, which Redis Cluster would refuse, and the client is a plain single-server `redis.Redis`); unset = the table
`rate_limit_counters` of `DATABASE_URL`, one upsert per counted limit, one transaction per call. When the store
fails, the limiter lets the request through and logs a warning (limits protect the service; an
outage of the limiter must not shut citizens out).

Settings (`XIAOAN_LIMIT_<NAME>`, ``COUNT/PERIOD``, period in seconds or with s/m/h/d, e.g.
``30/1m``): see `LimitSettings` and docs/security/limits.md.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import ipaddress
import logging
import math
import os
import re
import threading
import time
from dataclasses import dataclass
from typing import Callable, NamedTuple, Protocol, Sequence

from sqlalchemy import Column, Integer, String, delete, select, update
from sqlalchemy.exc import IntegrityError

from xiaoan import services
from xiaoan.db import Base, UTCDateTime, session_scope

logger = logging.getLogger(__name__)

REDIS_URL_ENV = "XIAOAN_REDIS_URL"
"""Where the counters live when set (``redis://host:6379/N``); unset = the project database."""

PURGE_INTERVAL_SECONDS = 60.0
_KEY_PREFIX = "xiaoan:rl"


# --- limits and decisions ---------------------------------------------------------------------

_PERIOD_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_LIMIT_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Limit:
    """At most `count` uses per `period` seconds (sliding), counted per key under `name`."""

    name: str
    count: int
    period: float

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z0-9_]{1,40}", self.name):
            raise ValueError(f"limit name {self.name!r}: 1-40 characters a-z, 0-9, _")
        if self.count < 1 or not (1 <= self.period <= 7 * 86400):
            raise ValueError(f"limit {self.name}: count must be >= 1 and period 1 s to 7 days")

    @classmethod
    def parse(cls, name: str, text: str) -> "Limit":
        """A limit from ``COUNT/PERIOD`` ("30/60", "30/1m", "5/1h", "10/1d").

        Raises:
            ValueError: not in that form, or out of range.
        """
        match = _LIMIT_RE.match(text or "")
        if not match:
            raise ValueError(f"limit {name}: {text!r} is not COUNT/PERIOD, e.g. 30/1m or 5/3600")
        count, amount, unit = int(match.group(1)), float(match.group(2)), match.group(3).lower()
        return cls(name, count, amount * _PERIOD_UNITS[unit])

    def __str__(self) -> str:
        return f"{self.count}/{self.period:g}s"


@dataclass(frozen=True)
class Decision:
    """The answer of the limiter for one key.

    Attributes:
        allowed: whether the use may go ahead (for `record`: whether the key is still under its limit).
        limit: the limit applied.
        used: the estimated uses in the sliding window, this one included when counted.
        retry_after: whole seconds until one more use would be allowed (0 when it would be now).
    """

    allowed: bool
    limit: Limit
    used: float
    retry_after: int

    @property
    def retry_after_minutes(self) -> int:
        """`retry_after` in whole minutes, at least 1 (for messages to citizens)."""
        return max(1, math.ceil(self.retry_after / 60))

    @property
    def uses(self) -> int:
        """`used` as a whole number (partial uses of the previous window rounded down)."""
        return int(math.floor(self.used + 1e-9))


def _retry_after(prev: int, curr: int, elapsed: float, period: float, limit: int, cost: int) -> int:
    """Whole seconds until `prev * (1 - t/period) + curr + cost <= limit` (t from the window start)."""
    if prev * (1 - elapsed / period) + curr + cost <= limit:
        return 0
    room = limit - curr - cost
    if prev > 0 and room >= 0:  # the previous window's share fades within the current window
        wait = period * (1 - room / prev) - elapsed
    else:  # only in the next window, where the current window becomes the previous one
        room_next = limit - cost
        if room_next < 0:
            return int(math.ceil(2 * period))
        at = period * (1 - room_next / curr) if curr > 0 else 0.0
        wait = (period - elapsed) + max(0.0, at)
    return max(1, int(math.ceil(wait - 1e-9)))


# --- backends ----------------------------------------------------------------------------------

class Backend(Protocol):
    """Stores the two counters of a key; every call is atomic."""

    def add(self, key: str, index: int, period: float, now: float, cost: int,
            ceiling: float | None) -> tuple[bool, int, int]:
        """Add `cost` to window `index` of `key` unless `ceiling` is given and
        ``prev * weight + curr + cost`` would exceed it (weight from `now`).

        Returns:
            (added, count of window index-1, count of window index after the call).
        """

    def add_many(self, items: Sequence["Addition"]) -> list[tuple[bool, int, int]]:
        """`add` each item in order, atomically as one call; stops after the first item not added.

        Returns:
            One `add` result per item up to and including the first one not added.
        """

    def counts(self, key: str, index: int) -> tuple[int, int]:
        """(count of window index-1, count of window index)."""

    def clear(self, key: str, index: int) -> None:
        """Forget both counters of `key` around window `index`."""

    def purge(self, now: float) -> int:
        """Delete counters expired at `now`; how many were deleted (0 where the store expires them)."""


class Addition(NamedTuple):
    """The arguments of one `Backend.add` (an item of `Backend.add_many`)."""

    key: str
    index: int
    period: float
    now: float
    cost: int
    ceiling: float | None


def _weight(index: int, period: float, now: float) -> float:
    return max(0.0, 1.0 - (now - index * period) / period)


class RateLimitCounter(Base):
    """One fixed window's count of uses of a rate-limited key (database backend of xiaoan.ratelimit)."""

    __tablename__ = "rate_limit_counters"

    bucket = Column(String(120), primary_key=True)
    """``<limit name>:<sha256 of the key, 32 hex>:<window index>``: no IP or id in clear."""
    count = Column(Integer, nullable=False, default=0)
    expires_at = Column(UTCDateTime, nullable=False, index=True)
    """End of the window after this one: the counter is still read as the previous window until then."""


def _utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)


class DatabaseBackend:
    """Counters in the table `rate_limit_counters` of the project database.

    On SQLite the counters' commits skip the fsync (`xiaoan.db.get_engine(durable=False)`): a
    power cut may forget the last seconds of counts, which only lets a few more uses through.
    """

    def __init__(self, database_url: str | None = None) -> None:
        self.database_url = database_url

    def _increment(self, session, bucket: str, cost: int, expires_at: dt.datetime) -> None:
        dialect = session.get_bind().dialect.name
        table = RateLimitCounter.__table__
        if dialect in ("sqlite", "postgresql"):
            if dialect == "sqlite":
                from sqlalchemy.dialects.sqlite import insert
            else:
                from sqlalchemy.dialects.postgresql import insert
            stmt = insert(table).values(bucket=bucket, count=cost, expires_at=expires_at)
            session.execute(stmt.on_conflict_do_update(
                index_elements=[table.c.bucket], set_={"count": table.c.count + cost}))
            return
        updated = session.execute(update(table).where(table.c.bucket == bucket)
                                  .values(count=table.c.count + cost)).rowcount
        if not updated:
            try:
                with session.begin_nested():
                    session.execute(table.insert().values(bucket=bucket, count=cost, expires_at=expires_at))
            except IntegrityError:  # inserted by another process meanwhile
                session.execute(update(table).where(table.c.bucket == bucket).values(count=table.c.count + cost))

    @staticmethod
    def _read(session, buckets: tuple[str, str]) -> tuple[int, int]:
        table = RateLimitCounter.__table__
        rows = dict(session.execute(select(table.c.bucket, table.c.count)
                                    .where(table.c.bucket.in_(buckets))).all())
        return int(rows.get(buckets[0]) or 0), int(rows.get(buckets[1]) or 0)

    def _add(self, session, item: Addition) -> tuple[bool, int, int]:
        key, index, period, now, cost, ceiling = item
        prev_bucket, bucket = f"{key}:{index - 1}", f"{key}:{index}"
        # the write comes first: it takes the row (PostgreSQL) or database (SQLite) lock, so
        # the read below and the undo are not interleaved with another process's use
        self._increment(session, bucket, cost, _utc((index + 2) * period))
        prev, curr = self._read(session, (prev_bucket, bucket))
        if ceiling is not None and prev * _weight(index, period, now) + curr > ceiling:
            table = RateLimitCounter.__table__
            session.execute(update(table).where(table.c.bucket == bucket).values(count=table.c.count - cost))
            return False, prev, curr - cost
        return True, prev, curr

    def add(self, key, index, period, now, cost, ceiling):
        return self.add_many([Addition(key, index, period, now, cost, ceiling)])[0]

    def add_many(self, items):
        """One transaction for every item (PostgreSQL locks the rows in the order given: callers
        pass their limits in one fixed order, as the channels do)."""
        results: list[tuple[bool, int, int]] = []
        with session_scope(self.database_url, durable=False) as session:
            for item in items:
                results.append(self._add(session, item))
                if not results[-1][0]:
                    break
        return results

    def counts(self, key, index):
        with session_scope(self.database_url, durable=False) as session:
            return self._read(session, (f"{key}:{index - 1}", f"{key}:{index}"))

    def clear(self, key, index):
        table = RateLimitCounter.__table__
        with session_scope(self.database_url, durable=False) as session:
            session.execute(delete(table).where(table.c.bucket.in_((f"{key}:{index - 1}", f"{key}:{index}"))))

    def purge(self, now):
        table = RateLimitCounter.__table__
        with session_scope(self.database_url, durable=False) as session:
            return session.execute(delete(table).where(table.c.expires_at <= _utc(now))).rowcount or 0


# KEYS: (previous window, current window) per item; ARGV: (cost, weight, ceiling or '', TTL ms)
# per item. Items are applied in order until one is not added; returns {added, prev, curr} per
# item applied.
_REDIS_SCRIPT = """
local results = {}
for i = 1, #KEYS / 2 do
  local k, a = 2 * i - 1, 4 * (i - 1)
  local cost = tonumber(ARGV[a + 1])
  local curr = redis.call('INCRBY', KEYS[k + 1], cost)
  local prev = tonumber(redis.call('GET', KEYS[k])) or 0
  local added = 1
  if ARGV[a + 3] ~= '' and prev * tonumber(ARGV[a + 2]) + curr > tonumber(ARGV[a + 3]) then
    curr = redis.call('DECRBY', KEYS[k + 1], cost)
    added = 0
  end
  redis.call('PEXPIRE', KEYS[k + 1], ARGV[a + 4])
  results[i] = {added, prev, curr}
  if added == 0 then
    break
  end
end
return results
"""


class RedisBackend:
    """Counters as Redis keys with a TTL, updated by one Lua script (atomic across replicas)."""

    def __init__(self, url: str, client=None) -> None:
        import redis

        self.client = client or redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._script = self.client.register_script(_REDIS_SCRIPT)

    @staticmethod
    def _keys(key: str, index: int) -> list[str]:
        # the hash tag {key} keeps both windows of a counter on one Redis Cluster slot
        return [f"{_KEY_PREFIX}:{{{key}}}:{index - 1}", f"{_KEY_PREFIX}:{{{key}}}:{index}"]

    def add(self, key, index, period, now, cost, ceiling):
        return self.add_many([Addition(key, index, period, now, cost, ceiling)])[0]

    def add_many(self, items):
        """One script call for every item (atomic: no other client's use in between)."""
        keys: list[str] = []
        args: list = []
        for key, index, period, now, cost, ceiling in items:
            # the counter lives until its window and the next one have passed (it is "previous" then)
            ttl_ms = int(min(2 * period, max(1.0, (index + 2) * period - now)) * 1000)
            keys += self._keys(key, index)
            args += [cost, repr(_weight(index, period, now)), "" if ceiling is None else repr(float(ceiling)), ttl_ms]
        return [(bool(added), int(prev), int(curr)) for added, prev, curr in self._script(keys=keys, args=args)]

    def counts(self, key, index):
        prev, curr = self.client.mget(self._keys(key, index))
        return int(prev or 0), int(curr or 0)

    def clear(self, key, index):
        self.client.delete(*self._keys(key, index))

    def purge(self, now):
        return 0  # keys expire by their TTL


# --- the limiter -------------------------------------------------------------------------------

class RateLimiter:
    """Counts uses per (limit, key) in a sliding window; see the module docstring.

    Args:
        backend: `DatabaseBackend` or `RedisBackend` (or any `Backend`).
        clock: Current time in epoch seconds (tests pass a fake one).
    """

    def __init__(self, backend: Backend, clock: Callable[[], float] = time.time) -> None:
        self.backend = backend
        self.clock = clock
        self._last_purge: float | None = None
        self._purge_lock = threading.Lock()

    @staticmethod
    def storage_key(limit: Limit, key: str) -> str:
        """How `key` is stored: the limit's name and a digest (client IPs and ids stay out of the store)."""
        digest = hashlib.sha256(str(key).encode("utf-8", "surrogatepass")).hexdigest()[:32]
        return f"{limit.name}:{digest}"

    def _addition(self, limit: Limit, key: str, now: float, cost: int, check: bool) -> Addition:
        return Addition(self.storage_key(limit, key), int(now // limit.period), limit.period, now, cost,
                        limit.count if check else None)

    @staticmethod
    def _decision(limit: Limit, now: float, cost: int, result: tuple[bool, int, int]) -> Decision:
        added, prev, curr = result
        index = int(now // limit.period)
        elapsed = now - index * limit.period
        used = prev * _weight(index, limit.period, now) + curr
        if not added:
            logger.info("rate limit %s reached (%s)", limit.name, limit)
            return Decision(False, limit, used, _retry_after(prev, curr, elapsed, limit.period, limit.count, cost))
        return Decision(used <= limit.count, limit, used,
                        _retry_after(prev, curr, elapsed, limit.period, limit.count, 1))

    def _apply(self, limit: Limit, key: str, cost: int, check: bool) -> Decision:
        now = self.clock()
        try:
            self._maybe_purge(now)
            result = self.backend.add(*self._addition(limit, key, now, cost, check))
        except Exception as exc:  # noqa: BLE001 - an outage of the limiter must not shut citizens out
            logger.warning("rate limit %s not checked, store unavailable (%s); allowing", limit.name,
                           exc.__class__.__name__)
            return Decision(True, limit, 0.0, 0)
        return self._decision(limit, now, cost, result)

    def hit(self, limit: Limit, key: str, cost: int = 1) -> Decision:
        """Count `cost` uses of `key` if they fit under `limit`; a refused use is not counted."""
        return self._apply(limit, key, cost, check=True)

    def hit_many(self, checks: Sequence[tuple[Limit, str]], cost: int = 1) -> list[Decision]:
        """`hit` each (limit, key) in order, in one round trip to the store (one transaction, one
        Redis script call), stopping at the first refusal: the limits after it are not counted,
        those before it stay counted (as consecutive `hit` calls would).

        Returns:
            The decisions in order, up to and including the first refusal (all of them allowed
            when the store is unavailable: logged, as for `hit`).
        """
        if not checks:
            return []
        now = self.clock()
        try:
            self._maybe_purge(now)
            results = self.backend.add_many([self._addition(limit, key, now, cost, True) for limit, key in checks])
        except Exception as exc:  # noqa: BLE001 - an outage of the limiter must not shut citizens out
            logger.warning("rate limits %s not checked, store unavailable (%s); allowing",
                           ", ".join(limit.name for limit, _ in checks), exc.__class__.__name__)
            return [Decision(True, limit, 0.0, 0) for limit, _ in checks]
        return [self._decision(limit, now, cost, result) for (limit, _), result in zip(checks, results)]

    def first_refusal(self, checks: Sequence[tuple[Limit, str]], cost: int = 1) -> Decision | None:
        """`hit_many`'s refusal, or None when every limit allowed the use."""
        decisions = self.hit_many(checks, cost)
        return decisions[-1] if decisions and not decisions[-1].allowed else None

    def record(self, limit: Limit, key: str, cost: int = 1) -> Decision:
        """Count `cost` uses unconditionally (e.g. a failure that happened); `allowed` says whether
        the key is still within its limit, `retry_after` when one more use would be allowed."""
        return self._apply(limit, key, cost, check=False)

    def peek(self, limit: Limit, key: str, cost: int = 1) -> Decision:
        """Whether `cost` more uses of `key` would be allowed now, without counting them."""
        now = self.clock()
        index = int(now // limit.period)
        elapsed = now - index * limit.period
        try:
            prev, curr = self.backend.counts(self.storage_key(limit, key), index)
        except Exception as exc:  # noqa: BLE001
            logger.warning("rate limit %s not checked, store unavailable (%s); allowing", limit.name,
                           exc.__class__.__name__)
            return Decision(True, limit, 0.0, 0)
        used = prev * _weight(index, limit.period, now) + curr
        wait = _retry_after(prev, curr, elapsed, limit.period, limit.count, cost)
        return Decision(wait == 0, limit, used, wait)

    def reset(self, limit: Limit, key: str) -> None:
        """Forget the uses of `key` (e.g. an operator unblocks a client)."""
        self.backend.clear(self.storage_key(limit, key), int(self.clock() // limit.period))

    def purge_expired(self) -> int:
        """Delete expired counters now (the next automatic purge comes a full interval later); how
        many were deleted."""
        now = self.clock()
        with self._purge_lock:
            self._last_purge = now
        return self.backend.purge(now)

    def _maybe_purge(self, now: float) -> None:
        with self._purge_lock:
            if self._last_purge is not None and 0 <= now - self._last_purge < PURGE_INTERVAL_SECONDS:
                return
            self._last_purge = now
        try:
            self.backend.purge(now)
        except Exception as exc:  # noqa: BLE001 - purging is housekeeping; the next one catches up
            logger.warning("expired rate-limit counters not purged (%s)", exc.__class__.__name__)


# --- settings ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class LimitSettings:
    """Every limit of 小安 with its default; each is overridden by ``XIAOAN_LIMIT_<NAME upper-case>``.

    Sizing (a real hotline): a citizen types at most about one message every 2 s in a burst and far
    less on average (reading the answer, typing Chinese); one public IP may carry a whole office,
    a school or a mobile carrier's NAT (CGNAT puts thousands of phones behind one address in
    China), so per-IP limits are generous and stop floods, not citizens; per-conversation limits
    are the tight ones.
    """

    chat_ip: Limit = Limit("chat_ip", 600, 60)
    """Web chat messages per client IP: 10/s, about 100 citizens chatting at once behind one NAT."""
    chat_conversation: Limit = Limit("chat_conversation", 30, 60)
    """Web chat messages per conversation: one every 2 s for a whole minute."""
    chat_read_ip: Limit = Limit("chat_read_ip", 3000, 60)
    """Web chat history/updates reads per client IP: the page polls every 2.5 s (24 a minute), so
    about 120 open chat pages behind one NAT address."""
    chat_read_conversation: Limit = Limit("chat_read_conversation", 90, 60)
    """Web chat history/updates reads per conversation: the page's 24 polls a minute, a reload or
    two and a second tab fit; a script hammering the tracker does not."""
    rest_ip: Limit = Limit("rest_ip", 1200, 60)
    """Rasa REST channel calls per source address (normally the web app, which carries every web
    citizen: about what the 2-core server answers in a minute)."""
    rest_sender: Limit = Limit("rest_sender", 60, 60)
    """Rasa REST channel messages per conversation (sender): twice the web chat's own limit."""
    socketio_ip: Limit = Limit("socketio_ip", 600, 60)
    """socket.io connections and messages per client IP (when the channel is on)."""
    socketio_conversation: Limit = Limit("socketio_conversation", 30, 60)
    """socket.io messages per conversation: as the web chat."""
    wechat_ip: Limit = Limit("wechat_ip", 3000, 60)
    """WeChat webhook requests per source address, counted before the signature check. WeChat's
    servers deliver every citizen's message from a small pool of addresses, so this only stops a
    flood from elsewhere."""
    wechat_openid: Limit = Limit("wechat_openid", 20, 60)
    """WeChat messages per citizen (openid): typing on a phone, one every 3 s for a minute."""
    login_ip_attempts: Limit = Limit("login_ip_attempts", 60, 300)
    """Staff sign-in attempts per client IP (each costs a scrypt hash): a whole office signing in at shift start."""
    login_ip_failures: Limit = Limit("login_ip_failures", 30, 900)
    """Failed staff sign-ins per client IP: stops password spraying across usernames; typos of an office fit."""
    status_conversation_misses: Limit = Limit("status_conversation_misses", 5, 3600)
    """Ticket-status look-ups without a match per conversation (starting over does not reset it)."""
    status_conversation_lookups: Limit = Limit("status_conversation_lookups", 20, 3600)
    """Ticket-status look-ups per conversation (a citizen with several tickets fits)."""
    status_ticket_misses: Limit = Limit("status_ticket_misses", 5, 900)
    """Look-ups of one ticket number without a match, from anywhere (guessing 4 digits is 1 in 10,000)."""
    ticket_filing: Limit = Limit("ticket_filing", 5, 3600)
    """Tickets filed per conversation (several merchants in one sitting fit)."""
    handoff: Limit = Limit("handoff", 6, 3600)
    """Requests for a human agent or a callback per conversation."""

    @classmethod
    def from_env(cls, environ: dict | None = None) -> "LimitSettings":
        """The defaults overridden by ``XIAOAN_LIMIT_<NAME>=COUNT/PERIOD``.

        Raises:
            ValueError: a variable is set to something that is not COUNT/PERIOD (names the variable).
        """
        environ = os.environ if environ is None else environ
        values = {}
        for f in dataclasses.fields(cls):
            variable = f"XIAOAN_LIMIT_{f.name.upper()}"
            raw = (environ.get(variable) or "").strip()
            if raw:
                try:
                    values[f.name] = Limit.parse(f.name, raw)
                except ValueError as exc:
                    raise ValueError(f"{variable}: {exc}") from exc
        return cls(**values)


# --- the client's address (web app and Rasa channels) ---------------------------------------------

TRUSTED_PROXY_HOPS_ENV = "XIAOAN_TRUSTED_PROXY_HOPS"


def trusted_proxy_hops(environ: dict | None = None) -> int:
    """How many reverse proxies stand in front of the process (`XIAOAN_TRUSTED_PROXY_HOPS`, default 0).

    Raises:
        ValueError: not a whole number 0-5 (names the variable).
    """
    environ = os.environ if environ is None else environ
    raw = (environ.get(TRUSTED_PROXY_HOPS_ENV) or "0").strip()
    try:
        hops = int(raw)
    except ValueError as exc:
        raise ValueError(f"{TRUSTED_PROXY_HOPS_ENV} must be a whole number, got {raw!r}") from exc
    if not 0 <= hops <= 5:
        raise ValueError(f"{TRUSTED_PROXY_HOPS_ENV} must be 0-5, got {hops}")
    return hops


def client_address(peer: str | None, forwarded_for: str | None, hops: int) -> str:
    """The client's address as a rate-limit key: the peer, or with `hops` trusted proxies the entry
    `hops` from the right of `X-Forwarded-For` (anything further left was written by the client);
    IPv6 clients by their /64 (one household or phone), IPv4-mapped IPv6 as IPv4."""
    address = peer or ""
    if hops:
        chain = [part.strip() for part in (forwarded_for or "").split(",") if part.strip()]
        if len(chain) >= hops:
            address = chain[-hops]
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address[:64] or "unknown"
    if parsed.version == 6:
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


# --- process-wide instances (built on first use from the environment) ---------------------------

_instances_lock = threading.Lock()
_instances: dict[str, object] = {"override": None, "settings": None}
_limiters: dict[tuple, RateLimiter] = {}


def build_rate_limiter(redis_url: str | None = None, database_url: str | None = None,
                       clock: Callable[[], float] = time.time) -> RateLimiter:
    """A limiter on Redis when `redis_url` is given, else on the database at `database_url`."""
    backend: Backend = RedisBackend(redis_url) if redis_url else DatabaseBackend(database_url)
    return RateLimiter(backend, clock=clock)


def get_rate_limiter() -> RateLimiter:
    """The process's limiter: Redis at `XIAOAN_REDIS_URL` if set, else `DATABASE_URL`.

    One per store (the environment is read on each call, so tests that point `DATABASE_URL`
    elsewhere get a limiter there); a forked child builds its own (connections do not
    survive a fork).
    """
    with _instances_lock:
        if _instances["override"] is not None:
            return _instances["override"]  # type: ignore[return-value]
        redis_url = (os.environ.get(REDIS_URL_ENV) or "").strip() or None
        key = (os.getpid(), redis_url, None if redis_url else services.settings().database_url)
        limiter = _limiters.get(key)
        if limiter is None:
            if len(_limiters) >= 8:  # only tests switch stores; never keep more than a few
                _limiters.clear()
            limiter = _limiters[key] = build_rate_limiter(key[1], key[2])
        return limiter


def limit_settings() -> LimitSettings:
    """The process's `LimitSettings.from_env()`, read once."""
    with _instances_lock:
        if _instances["settings"] is None:
            _instances["settings"] = LimitSettings.from_env()
        return _instances["settings"]  # type: ignore[return-value]


def set_rate_limiter(limiter: RateLimiter | None, settings: LimitSettings | None = None) -> None:
    """Use `limiter` and `settings` in this process (tests); None goes back to the environment's."""
    with _instances_lock:
        _instances.update(override=limiter, settings=settings)
        _limiters.clear()
