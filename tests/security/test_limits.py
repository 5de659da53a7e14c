"""Issue 12, item 3: rate limits. Probes for every limit, with fake clocks.

The limiter itself runs on a real SQLite file, on PostgreSQL (marker `postgres`) and on the
loopback Redis (skipped with the reason when Redis is not reachable; never skipped in CI).
Several processes share one counter: probed with real subprocesses. The web routes go through
Flask's test client, the dialogue limits through the actions with trackers built in code.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import ConversationPaused, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import create_engine, func, select

import actions.tickets as ticket_actions
import xiaoan.tickets.service as ticket_service_module
from actions.handoff import ActionHandoff, ActionSubmitCallback
from actions.limits import handoff_allowed, ticket_filing_allowed
from tests.fakes.clock import Clock
from tests.conftest import REDIS_URL, service_unavailable
from xiaoan.config import Settings
from xiaoan.db import Base, session_scope
from xiaoan.handoff.service import get_handoff_service, reset_handoff_service
from xiaoan.ratelimit import (
    DatabaseBackend, Limit, LimitSettings, RateLimitCounter, RateLimiter, RedisBackend, build_rate_limiter,
    set_rate_limiter,
)
from xiaoan.web import messages
from xiaoan.web.app import create_app
from xiaoan.web.accounts import create_user
from xiaoan.web.limits import LIMITER_KEY

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_800_000_000.0  # a multiple of every period used below: window boundaries are predictable


@pytest.fixture()
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture()
def loopback_redis() -> str:
    """The loopback Redis (XIAOAN_TEST_REDIS_URL); keys are unique per test, never flushed."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means no server here
        service_unavailable(f"Redis not reachable at {REDIS_URL}: {exc.__class__.__name__}")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "redis"])
def store(request) -> tuple[str, str]:
    """(kind, url) of a store for the counters: a fresh database with the schema, or Redis."""
    if request.param == "redis":
        return "redis", request.getfixturevalue("loopback_redis")
    if request.param == "sqlite":
        return "database", request.getfixturevalue("db_url")
    url = request.getfixturevalue("postgres_url")
    engine = create_engine(url, future=True)
    Base.metadata.create_all(engine)
    engine.dispose()
    return "database", url


def limiter_on(store: tuple[str, str], clock) -> RateLimiter:
    kind, url = store
    return build_rate_limiter(url if kind == "redis" else None, url if kind == "database" else None, clock=clock)


def fresh_key() -> str:
    return f"probe-{uuid.uuid4().hex}"


@pytest.fixture(autouse=True)
def no_leftover_override():
    yield
    set_rate_limiter(None)


# =============================================================================================
# The limiter
# =============================================================================================

def test_hits_up_to_the_limit_then_429_style_refusal_with_retry_after(store, clock):
    limiter, limit, key = limiter_on(store, clock), Limit("probe", 5, 60), fresh_key()
    assert [limiter.hit(limit, key).allowed for _ in range(5)] == [True] * 5
    refused = limiter.hit(limit, key)
    # all five at the window's start; the sliding window counter spreads them over the window, so
    # in the next one they weigh 5 * (1 - t/60): room for one more once that is 4, at t = 12 s
    assert not refused.allowed and refused.retry_after == 60 + 12
    assert refused.retry_after_minutes == 2
    # refused uses are not counted: hammering does not push the wait further
    for _ in range(20):
        assert limiter.hit(limit, key).retry_after == 72
    # other keys are not affected
    assert limiter.hit(limit, fresh_key()).allowed


def test_retry_after_is_exact_within_a_second(store, clock):
    limiter, limit, key = limiter_on(store, clock), Limit("probe", 4, 100), fresh_key()
    clock.advance(30)
    for _ in range(4):
        assert limiter.hit(limit, key).allowed
    clock.advance(40)  # 70 s into the window: 4 uses, full
    refused = limiter.peek(limit, key)
    assert not refused.allowed and refused.retry_after > 0
    clock.advance(refused.retry_after - 1)
    assert not limiter.peek(limit, key).allowed
    clock.advance(1)
    assert limiter.peek(limit, key).allowed
    assert limiter.hit(limit, key).allowed


def test_sliding_window_allows_no_double_burst_at_a_window_boundary(store, clock):
    limiter, limit, key = limiter_on(store, clock), Limit("probe", 10, 60), fresh_key()
    clock.advance(59)
    assert all(limiter.hit(limit, key).allowed for _ in range(10))
    clock.advance(2)  # 1 s into the next window: a fixed window would allow 10 more
    allowed = sum(limiter.hit(limit, key).allowed for _ in range(10))
    assert allowed == 0
    clock.advance(30)  # half the previous window has slid out: about half the budget is back
    allowed = sum(limiter.hit(limit, key).allowed for _ in range(10))
    assert 4 <= allowed <= 6
    clock.advance(120)  # two periods later everything is forgotten
    assert sum(limiter.hit(limit, key).allowed for _ in range(10)) == 10


def test_peek_does_not_count_and_record_always_counts(store, clock):
    limiter, limit, key = limiter_on(store, clock), Limit("probe", 2, 60), fresh_key()
    for _ in range(5):
        assert limiter.peek(limit, key).allowed
    first = limiter.record(limit, key)
    assert first.allowed and first.uses == 1 and first.retry_after == 0
    second = limiter.record(limit, key)
    assert second.allowed and second.uses == 2 and second.retry_after > 0  # no room for one more
    third = limiter.record(limit, key)
    assert not third.allowed and third.uses == 3
    assert not limiter.peek(limit, key).allowed


def test_two_processes_share_one_counter(store, clock):
    """Two limiters on one store (two replicas, or a restart) see the same count."""
    a, b = limiter_on(store, clock), limiter_on(store, clock)
    limit, key = Limit("probe", 5, 60), fresh_key()
    for _ in range(3):
        assert a.hit(limit, key).allowed
    assert [b.hit(limit, key).allowed for _ in range(3)] == [True, True, False]
    assert not limiter_on(store, clock).hit(limit, key).allowed  # a "restarted" process too


_WORKER = """
import json, sys
from xiaoan.ratelimit import Limit, build_rate_limiter
kind, url, key = sys.argv[1], sys.argv[2], sys.argv[3]
limiter = build_rate_limiter(url if kind == "redis" else None, url if kind == "database" else None,
                             clock=lambda: 1_800_000_010.0)
print(json.dumps(sum(limiter.hit(Limit("probe", 30, 60), key).allowed for _ in range(20))))
"""


def _race(worker_script: str, store, key: str, processes: int = 4) -> list:
    """Run `worker_script` (argv: kind, url, key) in `processes` real processes at once; what each printed."""
    kind, url = store
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SQLALCHEMY_SILENCE_UBER_WARNING": "1"}
    workers = [subprocess.Popen([sys.executable, "-c", worker_script, kind, url, key], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(processes)]
    printed = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        printed.append(json.loads(out))
    return printed


def test_concurrent_processes_never_exceed_the_limit(store):
    """Four real processes race 80 hits at a limit of 30: exactly 30 are allowed (atomic upsert / Lua)."""
    key = fresh_key()
    allowed = _race(_WORKER, store, key)
    assert sum(allowed) == 30, allowed


def test_hit_many_counts_in_order_and_stops_at_the_first_refusal(store, clock):
    """Several limits of one request: each counted if it fits; the first refusal wins, the limits
    after it are not counted and those before it stay counted."""
    limiter = limiter_on(store, clock)
    first, second, third = Limit("probe_a", 3, 60), Limit("probe_b", 2, 60), Limit("probe_c", 5, 60)
    a, b, c = fresh_key(), fresh_key(), fresh_key()
    checks = [(first, a), (second, b), (third, c)]
    for _ in range(2):
        decisions = limiter.hit_many(checks)
        assert [d.allowed for d in decisions] == [True, True, True]
        assert [d.limit for d in decisions] == [first, second, third]
    refused = limiter.hit_many(checks)
    assert [d.allowed for d in refused] == [True, False]  # the second refuses; the third is not asked
    assert refused[-1].limit == second and refused[-1].retry_after > 0
    assert limiter.peek(first, a).uses == 3  # counted before the refusal (a fourth time: over)
    assert limiter.peek(second, b).uses == 2  # refused uses are not counted
    assert limiter.peek(third, c).uses == 2  # after the refusal: not counted
    # the first limit full now: nothing after it is counted
    blocked = limiter.hit_many([(first, a), (third, c)])
    assert [d.allowed for d in blocked] == [False] and limiter.peek(third, c).uses == 2
    assert limiter.first_refusal(checks).limit == first and limiter.peek(second, b).uses == 2
    assert limiter.first_refusal([(third, c)]) is None and limiter.peek(third, c).uses == 3
    assert limiter.hit_many([]) == [] and limiter.first_refusal([]) is None


def test_hit_many_decides_as_consecutive_hits(store, clock):
    """Same decisions (allowed, uses, retry_after) as `hit` one limit after the other, stopping at
    the first refusal, over a minute and a half of bursts across window boundaries."""
    limiter = limiter_on(store, clock)
    ip, sender = Limit("probe_ip", 7, 20), Limit("probe_sender", 4, 10)
    batched, single = (fresh_key(), fresh_key()), (fresh_key(), fresh_key())
    refusals = 0
    for step in range(90):
        clock.advance(0.5 + (step % 4) * 0.25)
        expected = []
        for limit, key in ((ip, single[0]), (sender, single[1])):
            expected.append(limiter.hit(limit, key))
            if not expected[-1].allowed:
                break
        got = limiter.hit_many([(ip, batched[0]), (sender, batched[1])])
        assert got == expected, step
        refusals += not got[-1].allowed
    assert 10 < refusals < 80  # both limits refused at times


def test_hit_many_is_one_round_trip_to_the_store(store, clock, monkeypatch):
    """The limits of one request cost one database transaction or one Redis script call."""
    limiter = limiter_on(store, clock)
    checks = [(Limit("probe_a", 5, 60), fresh_key()), (Limit("probe_b", 5, 60), fresh_key())]
    limiter.hit_many(checks)  # the first call also purges expired counters (at most once a minute)
    calls: list = []
    if isinstance(limiter.backend, RedisBackend):
        client = limiter.backend.client
        command = client.execute_command
        monkeypatch.setattr(client, "execute_command", lambda *a, **kw: calls.append(a[0]) or command(*a, **kw))
        decisions = limiter.hit_many(checks)
        assert calls == ["EVALSHA"]
    else:
        from sqlalchemy import event

        from xiaoan.db import get_engine

        engine = get_engine(limiter.backend.database_url, durable=False)  # the counters' engine
        listener = lambda conn: calls.append("begin")  # noqa: E731
        event.listen(engine, "begin", listener)
        try:
            decisions = limiter.hit_many(checks)
        finally:
            event.remove(engine, "begin", listener)
        assert calls == ["begin"]
    assert [d.uses for d in decisions] == [2, 2]


def test_hit_many_with_an_unavailable_store_lets_the_request_through(tmp_path, clock, caplog):
    limiter = RateLimiter(DatabaseBackend(f"sqlite:///{tmp_path / 'no-tables.db'}"), clock=clock)
    checks = [(Limit("probe_a", 1, 60), "k"), (Limit("probe_b", 1, 60), "k")]
    for _ in range(3):
        assert [d.allowed for d in limiter.hit_many(checks)] == [True, True]
        assert limiter.first_refusal(checks) is None
    assert "probe_a, probe_b not checked, store unavailable" in caplog.text


_MANY_WORKER = """
import json, sys
from xiaoan.ratelimit import Limit, build_rate_limiter
kind, url, key = sys.argv[1], sys.argv[2], sys.argv[3]
limiter = build_rate_limiter(url if kind == "redis" else None, url if kind == "database" else None,
                             clock=lambda: 1_800_000_010.0)
checks = [(Limit("probe_ip", 30, 60), key), (Limit("probe_sender", 1000, 60), key)]
print(json.dumps(sum(limiter.first_refusal(checks) is None for _ in range(20))))
"""


def test_concurrent_processes_with_several_limits_never_exceed_them(store, clock):
    """Four real processes race 80 two-limit requests: exactly 30 pass the first limit, and the
    second counts exactly those (a refusal by the first is undone and leaves the second alone)."""
    key = fresh_key()
    allowed = _race(_MANY_WORKER, store, key)
    assert sum(allowed) == 30, allowed
    clock.now = 1_800_000_010.0
    limiter = limiter_on(store, clock)
    assert limiter.peek(Limit("probe_ip", 30, 60), key).uses == 30
    assert limiter.peek(Limit("probe_sender", 1000, 60), key).uses == 30


def test_database_counters_expire_and_are_purged(database_url, clock):
    limiter = RateLimiter(DatabaseBackend(database_url), clock=clock)
    limit = Limit("probe", 3, 60)
    engine = create_engine(database_url, future=True)

    def rows() -> int:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(RateLimitCounter.__table__)).scalar_one()

    try:
        # a new client every second for 10 minutes: without expiry the table would grow to 600 rows
        for _ in range(600):
            limiter.hit(limit, fresh_key())
            clock.advance(1)
        assert rows() <= 3 * 60 + 1  # at most the live windows (this one and the previous one)
        clock.advance(121)
        limiter.purge_expired()
        assert rows() == 0
    finally:
        engine.dispose()


def test_redis_counters_carry_a_ttl_of_at_most_two_periods(loopback_redis, clock):
    import redis

    limiter = RateLimiter(RedisBackend(loopback_redis), clock=clock)
    limit, key = Limit("probe", 3, 60), fresh_key()
    limiter.hit(limit, key)
    client = redis.Redis.from_url(loopback_redis)
    try:
        keys = client.keys(f"xiaoan:rl:{{{RateLimiter.storage_key(limit, key)}}}:*")
        assert len(keys) == 1
        assert 0 < client.pttl(keys[0]) <= 120_000
    finally:
        client.close()


def test_keys_are_stored_as_digests_not_in_clear(db_url, clock):
    limiter = RateLimiter(DatabaseBackend(db_url), clock=clock)
    limiter.hit(Limit("chat_ip", 3, 60), "203.0.113.7")
    with session_scope(db_url) as session:
        buckets = session.execute(select(RateLimitCounter.bucket)).scalars().all()
    assert len(buckets) == 1 and "203.0.113.7" not in buckets[0]
    assert re.fullmatch(r"chat_ip:[0-9a-f]{32}:\d+", buckets[0])


def test_an_unavailable_store_lets_requests_through_and_logs(tmp_path, clock, caplog):
    limiter = RateLimiter(DatabaseBackend(f"sqlite:///{tmp_path / 'no-tables.db'}"), clock=clock)
    limit = Limit("probe", 1, 60)
    assert all(limiter.hit(limit, "k").allowed for _ in range(3))
    assert limiter.peek(limit, "k").allowed
    assert "store unavailable" in caplog.text


def test_settings_parse_and_refuse_bad_values():
    assert Limit.parse("x", "30/1m") == Limit("x", 30, 60)
    assert Limit.parse("x", "5 / 3600") == Limit("x", 5, 3600)
    assert Limit.parse("x", "10/1d") == Limit("x", 10, 86400)
    settings = LimitSettings.from_env({"XIAOAN_LIMIT_CHAT_CONVERSATION": "20/30s"})
    assert settings.chat_conversation == Limit("chat_conversation", 20, 30)
    assert settings.chat_ip == LimitSettings().chat_ip
    for bad in ("30", "0/60", "30/0", "-1/60", "ten/minute", "30/60x"):
        with pytest.raises(ValueError, match="XIAOAN_LIMIT_LOGIN_IP_FAILURES"):
            LimitSettings.from_env({"XIAOAN_LIMIT_LOGIN_IP_FAILURES": bad})


def test_default_limits_fit_a_citizen_typing_fast_and_a_shared_office():
    defaults = LimitSettings()
    # one message every 2 s for a whole minute is fine
    assert defaults.chat_conversation.count / defaults.chat_conversation.period >= 0.5
    # one public IP (office NAT, carrier-grade NAT) carries many citizens: 100 at a usual pace of a
    # message every 10 s, or 20 typing flat out
    assert defaults.chat_ip.count / defaults.chat_ip.period >= 100 / 10
    assert defaults.chat_ip.count >= 20 * defaults.chat_conversation.count * defaults.chat_ip.period / 60
    assert defaults.status_ticket_misses.count <= 10  # guessing four digits stays hopeless


# =============================================================================================
# Web app: chat route and staff sign-in
# =============================================================================================

class StubRasa:
    """The Rasa client's interface, counting the messages that reached it."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send_message(self, conversation_id, text, metadata=None):
        self.sent.append(text)
        return [{"recipient_id": conversation_id, "text": "您好"}]

    def get_tracker(self, conversation_id):
        return {"events": []}


def make_app(db_url, clock, **limits):
    app = create_app(Settings(database_url=db_url, rasa_url="http://127.0.0.1:9",
                              web_secret_key="w" * 16 + "0123456789abcdefXYZ"), testing=True)
    rasa = StubRasa()
    app.extensions["xiaoan"]["rasa_client"] = rasa
    app.extensions[LIMITER_KEY] = RateLimiter(DatabaseBackend(db_url), clock=clock)
    set_rate_limiter(None, LimitSettings(**{name: Limit(name, *value) for name, value in limits.items()}))
    return app, rasa


def csrf(client) -> str:
    page = client.get("/")
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text).group(1)


def say(client, token, text="你好", ip="198.51.100.20", **headers):
    return client.post("/api/chat/message", json={"text": text},
                       headers={"X-CSRFToken": token, **headers}, environ_base={"REMOTE_ADDR": ip})


def test_chat_per_conversation_limit_answers_429_with_retry_after(db_url, clock):
    app, rasa = make_app(db_url, clock, chat_conversation=(3, 60))
    client = app.test_client()
    token = csrf(client)
    assert [say(client, token).status_code for _ in range(3)] == [200, 200, 200]
    refused = say(client, token)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) == 80  # next window, once 3 * (1 - t/60) <= 2: t = 20 s
    assert refused.get_json() == {"error": messages.CHAT_RATE_LIMITED.format(seconds=80)}
    assert "秒后再发" in refused.get_json()["error"]
    assert len(rasa.sent) == 3  # the refused message never reached Rasa
    # another citizen on the same network is not affected
    other = app.test_client()
    assert say(other, csrf(other)).status_code == 200
    clock.advance(int(refused.headers["Retry-After"]))
    assert say(client, token).status_code == 200


def test_chat_per_ip_limit_stops_a_flood_with_fresh_cookies(db_url, clock):
    app, rasa = make_app(db_url, clock, chat_ip=(5, 60))
    statuses = []
    for _ in range(7):  # every request a new browser: new cookie, new conversation
        client = app.test_client()
        statuses.append(say(client, csrf(client), ip="203.0.113.9").status_code)
    assert statuses == [200] * 5 + [429] * 2
    client = app.test_client()
    refused = say(client, csrf(client), ip="203.0.113.9")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "12345" in refused.get_json()["error"]
    assert say(client, csrf(client), ip="192.0.2.44").status_code == 200  # another address
    assert len(rasa.sent) == 6


def test_a_forged_forwarded_for_header_is_ignored_unless_a_proxy_is_trusted(db_url, clock, monkeypatch):
    app, _ = make_app(db_url, clock, chat_ip=(2, 60))
    client = app.test_client()
    token = csrf(client)
    forged = [say(client, token, ip="203.0.113.9", **{"X-Forwarded-For": f"10.0.0.{i}"}).status_code
              for i in range(3)]
    assert forged == [200, 200, 429]  # with no trusted proxy the header changes nothing

    monkeypatch.setenv("XIAOAN_TRUSTED_PROXY_HOPS", "1")
    app, _ = make_app(db_url, Clock(T0 + 10_000), chat_ip=(2, 60))
    behind_proxy = []
    for client_ip in ("198.51.100.1", "198.51.100.1", "198.51.100.1", "198.51.100.2"):
        client = app.test_client()  # the proxy's address is the same for everyone
        behind_proxy.append(say(client, csrf(client), ip="127.0.0.1",
                                **{"X-Forwarded-For": f"6.6.6.6, {client_ip}"}).status_code)
    assert behind_proxy == [200, 200, 429, 200]


class CountingRasa(StubRasa):
    """Also counts the tracker reads (each history/updates read fetches the whole tracker)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get_tracker(self, conversation_id):
        self.reads += 1
        return {"events": [{"event": "bot", "text": "您好", "timestamp": 1.0}]}


def read(client, path, ip="198.51.100.20"):
    return client.get(path, environ_base={"REMOTE_ADDR": ip})


@pytest.mark.parametrize("path", ["/api/chat/history", "/api/chat/updates?after=0"])
def test_history_and_updates_reads_are_limited_per_conversation(db_url, clock, path):
    app, _ = make_app(db_url, clock, chat_read_conversation=(4, 60))
    rasa = app.extensions["xiaoan"]["rasa_client"] = CountingRasa()
    client = app.test_client()
    token = csrf(client)
    assert say(client, token).status_code == 200  # the conversation has started: reads go to Rasa
    reads_before = rasa.reads
    assert [read(client, path).status_code for _ in range(4)] == [200] * 4
    refused = read(client, path)
    assert refused.status_code == 429
    wait = int(refused.headers["Retry-After"])
    assert wait > 0
    assert refused.get_json() == {"error": messages.CHAT_READ_RATE_LIMITED.format(seconds=wait)}
    assert rasa.reads - reads_before == 4  # the refused read never reached Rasa
    # polling does not use up the citizen's messages
    assert say(client, token).status_code == 200
    # another browser on the same network reads on
    other = app.test_client()
    assert read(other, path).status_code == 200
    clock.advance(wait)
    assert read(client, path).status_code == 200


def test_history_and_updates_reads_are_limited_per_client_ip_across_fresh_cookies(db_url, clock):
    app, _ = make_app(db_url, clock, chat_read_ip=(5, 60))
    statuses = [read(app.test_client(), path, ip="203.0.113.7").status_code
                for path in ["/api/chat/history", "/api/chat/updates?after=0"] * 4]
    assert statuses == [200] * 5 + [429] * 3
    refused = read(app.test_client(), "/api/chat/updates?after=0", ip="203.0.113.7")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "12345" in refused.get_json()["error"]
    assert read(app.test_client(), "/api/chat/history", ip="192.0.2.45").status_code == 200


def test_default_read_limits_fit_the_pages_own_polling():
    defaults = LimitSettings()
    polls_per_minute = 60 / 2.5  # chat.js POLL_MS
    assert defaults.chat_read_conversation.count / defaults.chat_read_conversation.period * 60 >= 3 * polls_per_minute
    assert defaults.chat_read_ip.count / defaults.chat_read_ip.period * 60 >= 100 * polls_per_minute


PASSWORD = "correct-horse-42"


def login_form_token(client) -> str:
    page = client.get("/console/login")
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)


def sign_in(client, username, password, ip):
    return client.post("/console/login", data={"username": username, "password": password,
                                                "csrf_token": login_form_token(client)},
                       environ_base={"REMOTE_ADDR": ip})


@pytest.fixture()
def hash_counter(monkeypatch):
    """Counts password hash checks (scrypt) made by sign-in."""
    import xiaoan.web.accounts as auth

    calls = []
    real = auth.check_password_hash

    def counting(stored, password):
        calls.append(1)
        return real(stored, password)

    monkeypatch.setattr(auth, "check_password_hash", counting)
    return calls


def test_password_spraying_across_usernames_is_stopped_per_ip_before_any_hash(db_url, clock, hash_counter):
    app, _ = make_app(db_url, clock, login_ip_failures=(4, 900))
    with session_scope(db_url) as db:
        create_user(db, "wangfang", PASSWORD, "agent")
    client = app.test_client()
    sprayed = [sign_in(client, name, "Spring2026!", "203.0.113.50").status_code
               for name in ("zhangsan", "lisi", "wangwu", "zhaoliu")]
    assert sprayed == [401] * 4  # one failure per username: the per-username lockout never fires
    assert len(hash_counter) == 4
    refused = sign_in(client, "wangfang", PASSWORD, "203.0.113.50")  # even the right password
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "登录尝试过于频繁" in refused.text
    assert len(hash_counter) == 4  # refused before the scrypt hash
    # a colleague at another address signs in normally
    assert sign_in(app.test_client(), "wangfang", PASSWORD, "198.51.100.7").status_code == 302
    clock.advance(int(refused.headers["Retry-After"]))
    assert sign_in(client, "wangfang", PASSWORD, "203.0.113.50").status_code == 302


def test_sign_in_attempts_per_ip_are_counted_before_the_hash(db_url, clock, hash_counter):
    app, _ = make_app(db_url, clock, login_ip_attempts=(3, 300))
    with session_scope(db_url) as db:
        create_user(db, "wangfang", PASSWORD, "agent")
    statuses = [sign_in(app.test_client(), "wangfang", PASSWORD, "192.0.2.1").status_code for _ in range(4)]
    assert statuses == [302, 302, 302, 429]  # successes count too: each cost a hash
    assert len(hash_counter) == 3


def test_the_per_username_lockout_stays_and_says_when(db_url, clock):
    app, _ = make_app(db_url, clock)
    with session_scope(db_url) as db:
        create_user(db, "wangfang", PASSWORD, "agent")
    # from five addresses: the per-IP limits never see more than one; the fifth failure locks the name
    statuses = [sign_in(app.test_client(), "wangfang", "wrong-password", f"192.0.2.{i}").status_code
                for i in range(5)]
    assert statuses == [401] * 4 + [429]
    locked = sign_in(app.test_client(), "wangfang", PASSWORD, "192.0.2.99")
    assert locked.status_code == 429
    assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60
    assert "该账号登录失败次数过多" in locked.text


# =============================================================================================
# Dialogue: status look-ups, filing, handoff (polite domain responses, not HTTP errors)
# =============================================================================================

def user_event(text: str, intent: str) -> dict:
    return {"event": "user", "text": text, "timestamp": 1.0, "input_channel": "rest",
            "parse_data": {"intent": {"name": intent, "confidence": 0.9}, "entities": [], "text": text}}


def tracker(sender: str, slots: dict | None = None, text: str = "查询", intent: str = "inform") -> Tracker:
    event = user_event(text, intent)
    return Tracker(sender, dict(slots or {}), event["parse_data"] | {"text": text}, [event], False, None, {},
                   "action_listen")


def run(action, t: Tracker) -> tuple[list, list[dict]]:
    dispatcher = CollectingDispatcher()
    return action.run(dispatcher, t, {}), dispatcher.messages


def responses(messages: list[dict]) -> list[str]:
    return [m.get("response") for m in messages]


class FakeStatusService:
    """Matches only ticket XA-261126-0042 with the digits 5678."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def status(self, number, digits):
        self.calls.append((number, digits))
        if (number, digits) == ("XA-261126-0042", "5678"):
            from tests.unit.test_form_actions import VIEW

            return VIEW
        return None


@pytest.fixture()
def dialogue_limits(db_url, clock, monkeypatch):
    """The shared limiter on the test database with a fake clock, the default limits."""
    limiter = RateLimiter(DatabaseBackend(db_url), clock=clock)
    set_rate_limiter(limiter, LimitSettings())
    return limiter


@pytest.fixture()
def status_service(monkeypatch) -> FakeStatusService:
    fake = FakeStatusService()
    monkeypatch.setattr(ticket_service_module, "get_ticket_service", lambda: fake)
    return fake


def look_up(sender: str, digits: str, slots: dict | None = None):
    slots = {"ticket_no": "XA-261126-0042", "phone_last4": digits, **(slots or {})}
    events, messages = run(ticket_actions.ActionCheckTicketStatus(), tracker(sender, slots))
    result = next((e["value"] for e in events if e.get("name") == "ticket_status_result"), None)
    return result, responses(messages), events, messages


def test_status_misses_do_not_reset_when_the_citizen_starts_over(dialogue_limits, status_service, clock):
    conv = "web-" + uuid.uuid4().hex
    assert look_up(conv, "0000")[:2] == ("retry", ["utter_ticket_status_not_found"])
    assert look_up(conv, "1111", {"ticket_status_misses": 1})[:2] == \
        ("give_up", ["utter_ticket_status_not_found", "utter_ticket_status_offer_human"])
    # starting over: a new session, every slot back to its initial value (restart, session expiry)
    result, said, events, _ = look_up(conv, "2222")
    assert (result, said) == ("give_up", ["utter_ticket_status_not_found", "utter_ticket_status_offer_human"])
    assert SlotSet("ticket_status_misses", 3) in events
    assert look_up(conv, "3333")[0] == "give_up"
    # the fifth miss is the last one the limit allows for now: the citizen is told when to come back
    result, said, _, messages = look_up(conv, "4444")
    assert (result, said) == ("give_up", ["utter_ticket_status_not_found", "utter_limit_status_lookups"])
    assert messages[1]["minutes"] == 72  # 5 misses in the hour fade to 4 twelve minutes into the next
    # paused: even the right digits are not looked up
    calls = len(status_service.calls)
    result, said, _, messages = look_up(conv, "5678")
    assert (result, said) == ("give_up", ["utter_limit_status_lookups"])
    assert len(status_service.calls) == calls
    # another conversation is not affected; after the window this one may look up again
    assert look_up("web-" + uuid.uuid4().hex, "5678")[:2] == ("found", ["utter_ticket_status"])
    clock.advance(2 * 3600)
    assert look_up(conv, "5678")[:2] == ("found", ["utter_ticket_status"])


def test_status_look_ups_at_all_are_limited_per_conversation(dialogue_limits, status_service):
    set_rate_limiter(dialogue_limits, LimitSettings(status_conversation_lookups=Limit("status_conversation_lookups",
                                                                                      3, 3600)))
    conv = "wx-openid-" + uuid.uuid4().hex
    assert [look_up(conv, "5678")[0] for _ in range(3)] == ["found"] * 3
    result, said, _, messages = look_up(conv, "5678")
    assert (result, said) == ("give_up", ["utter_limit_status_lookups"])
    assert len(status_service.calls) == 3


def test_wrong_guesses_per_ticket_are_shared_by_replicas_and_survive_a_restart(db_url, clock):
    from tests.unit.test_tickets_service import draft

    set_rate_limiter(None, LimitSettings())

    def replica() -> ticket_service_module.TicketService:
        return ticket_service_module.TicketService(
            Settings(database_url=db_url), clock=lambda: dt.datetime.fromtimestamp(clock(), dt.timezone.utc),
            rate_limiter=RateLimiter(DatabaseBackend(db_url), clock=clock))

    a, b = replica(), replica()
    number = a.create(draft(), "k").ticket_no
    for guess in ("0000", "1111", "2222"):
        assert a.status(number, guess) is None
    for guess in ("3333", "4444"):
        assert b.status(number, guess) is None
    assert a.status(number, "5678") is None and b.status(number, "5678") is None  # locked on both
    assert replica().status(number, "5678") is None  # and after a restart
    clock.advance(1800)
    assert replica().status(number, "5678") is not None


def test_ticket_filing_check_for_the_submit_actions(dialogue_limits):
    set_rate_limiter(dialogue_limits, LimitSettings(ticket_filing=Limit("ticket_filing", 2, 3600)))
    conv = "web-" + uuid.uuid4().hex
    outcomes = []
    for _ in range(3):
        dispatcher = CollectingDispatcher()
        outcomes.append((ticket_filing_allowed(dispatcher, tracker(conv)), responses(dispatcher.messages)))
    assert outcomes == [(True, []), (True, []), (False, ["utter_limit_ticket_filing"])]
    # a retry of a failed submission is the same ticket: checked, not counted
    set_rate_limiter(dialogue_limits, LimitSettings(ticket_filing=Limit("ticket_filing", 1, 3600)))
    other = "web-" + uuid.uuid4().hex
    for _ in range(3):
        assert ticket_filing_allowed(CollectingDispatcher(), tracker(other, {"ticket_retry": "complaint"}))
    assert ticket_filing_allowed(CollectingDispatcher(), tracker(other))
    assert not ticket_filing_allowed(CollectingDispatcher(), tracker(other, {"ticket_retry": "complaint"}))


@pytest.fixture()
def handoff_db(db_url):
    reset_handoff_service()
    yield
    reset_handoff_service()


def test_handoff_requests_are_limited_per_conversation(dialogue_limits, handoff_db, clock):
    set_rate_limiter(dialogue_limits, LimitSettings(handoff=Limit("handoff", 2, 3600)))
    conv = "web-" + uuid.uuid4().hex
    for _ in range(2):
        _, messages = run(ActionHandoff(), tracker(conv, text="转人工", intent="request_human"))
        assert "utter_offer_callback" in responses(messages)  # no agent online: a callback is offered
    events, messages = run(ActionHandoff(), tracker(conv, text="转人工", intent="request_human"))
    assert responses(messages) == ["utter_limit_handoff"]
    assert messages[0]["minutes"] == 90  # 2 requests fade to 1 half an hour into the next window
    assert ConversationPaused() not in events
    assert get_handoff_service().queue() == []
    # an urgent message still hears the emergency numbers first
    _, messages = run(ActionHandoff(), tracker(conv, text="电梯困人了快转人工", intent="request_human"))
    assert responses(messages) == ["utter_emergency", "utter_limit_handoff"]
    # a callback request over the limit records nothing
    _, messages = run(ActionSubmitCallback(), tracker(conv, {"callback_phone": "13812345678",
                                                             "callback_time": "下午"}))
    assert responses(messages) == ["utter_limit_handoff"]
    assert get_handoff_service().callbacks() == []
    # a conversation already held by an agent (Rasa's session expired meanwhile) is paused again, never limited
    held, service = "web-" + uuid.uuid4().hex, get_handoff_service()
    with session_scope() as db:
        agent_id = create_user(db, "wangfang", PASSWORD, "agent").id
    service.heartbeat(agent_id, "wangfang")
    service.take(service.enqueue(held, "web", "requested").session_id, agent_id, "wangfang")
    for _ in range(3):
        assert run(ActionHandoff(), tracker(held, text="转人工", intent="request_human")) == ([ConversationPaused()], [])
    # another conversation still reaches a human
    assert handoff_allowed(CollectingDispatcher(), tracker("web-" + uuid.uuid4().hex))


def test_limit_responses_are_polite_chinese_with_the_wait():
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    for name in ("utter_limit_status_lookups", "utter_limit_ticket_filing", "utter_limit_handoff"):
        text = domain["responses"][name][0]["text"]
        assert set(re.findall(r"{(\w+)}", text)) == {"minutes"}, name
        assert "分钟后再" in text and "12345" in text, name
        assert re.search(r"[\u4e00-\u9fff]", text)
