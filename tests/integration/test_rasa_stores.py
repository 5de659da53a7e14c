"""The tracker store, lock store and event broker that endpoints.yml selects from the environment,
against the real PostgreSQL, Redis and RabbitMQ on loopback (skipped with a reason elsewhere, never in CI)."""

from __future__ import annotations

import asyncio
import json
import os
import uuid

import pytest
from rasa.core.lock_store import InMemoryLockStore, RedisLockStore
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from tests.conftest import service_unavailable
from tests.integration.locking import two_workers
from xiaoan.lock_store import AtomicRedisLockStore
from xiaoan.rasa_stores import EnvEventBroker, EnvLockStore, EnvSQLTrackerStore

AMQP_URL = os.environ.get("XIAOAN_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672")
DOMAIN = Domain.from_dict({"intents": ["greet"], "responses": {"utter_greet": [{"text": "您好"}]}})


def _roundtrip(store: SQLTrackerStore) -> None:
    sender = f"test-{uuid.uuid4().hex}"
    tracker = DialogueStateTracker(sender, DOMAIN.slots)
    tracker.update(UserUttered("你好", {"name": "greet", "confidence": 0.99}))
    tracker.update(ActionExecuted("utter_greet"))
    tracker.update(BotUttered("您好"))
    asyncio.run(store.save(tracker))
    loaded = asyncio.run(store.retrieve(sender))
    assert loaded is not None
    assert [e.as_dict()["event"] for e in loaded.events] == ["user", "action", "bot"]
    assert loaded.latest_message.text == "你好"


def test_tracker_store_defaults_to_sqlite_in_var(tmp_path, monkeypatch):
    monkeypatch.delenv("XIAOAN_TRACKER_STORE_URL", raising=False)
    monkeypatch.setattr("xiaoan.rasa_stores.VAR_DIR", tmp_path)
    store = EnvSQLTrackerStore(domain=DOMAIN)
    assert store.engine.url.get_backend_name() == "sqlite"
    assert str(tmp_path) in str(store.engine.url)
    _roundtrip(store)


@pytest.mark.postgres
def test_tracker_store_on_postgres(postgres_url, monkeypatch):
    monkeypatch.setenv("XIAOAN_TRACKER_STORE_URL", postgres_url.replace("postgresql+psycopg2", "postgresql"))
    store = EnvSQLTrackerStore(domain=DOMAIN)
    assert store.engine.url.get_backend_name() == "postgresql"
    _roundtrip(store)
    store.engine.dispose()


def test_lock_store_defaults_to_in_memory(monkeypatch):
    monkeypatch.delenv("XIAOAN_LOCK_STORE_URL", raising=False)
    assert isinstance(EnvLockStore(endpoint_config=None), InMemoryLockStore)


def test_lock_store_kind_rasa_selects_rasas_own_redis_store(monkeypatch):
    monkeypatch.setenv("XIAOAN_LOCK_STORE_URL", "redis://127.0.0.1:6379/3")
    monkeypatch.setenv("XIAOAN_LOCK_STORE_KIND", "rasa")
    assert isinstance(EnvLockStore(endpoint_config=None), RedisLockStore)


def test_lock_store_rejects_a_non_redis_url(monkeypatch):
    monkeypatch.setenv("XIAOAN_LOCK_STORE_URL", "http://127.0.0.1:6379")
    with pytest.raises(ValueError, match="redis://"):
        EnvLockStore(endpoint_config=None)


@pytest.mark.redis
def test_lock_store_on_redis_serialises_a_conversation(redis_url, monkeypatch):
    monkeypatch.setenv("XIAOAN_LOCK_STORE_URL", redis_url)
    store = EnvLockStore(endpoint_config=None)
    assert isinstance(store, AtomicRedisLockStore)  # race-free between replicas (tests/integration/test_lock_store.py)
    order = two_workers(store, f"c-{uuid.uuid4().hex}", hold=0.2, wait_time_in_seconds=0.05)
    # the second worker only enters after the first left: no interleaving
    assert order[0].endswith("-in") and order[1] == order[0].replace("-in", "-out")
    assert order[2].endswith("-in") and order[3] == order[2].replace("-in", "-out")


def test_event_broker_is_off_without_url(monkeypatch):
    monkeypatch.delenv("XIAOAN_EVENT_BROKER_URL", raising=False)
    assert asyncio.run(EnvEventBroker.from_endpoint_config(None)) is None


def _through_event_queue(monkeypatch, publish, read, **env: str) -> dict:
    """Publish with `publish(broker)` through the broker `EnvEventBroker` builds (on a queue of
    its own, `env` set), then `await read(queue)`; skips when RabbitMQ is not reachable."""
    import aio_pika

    queue_name = f"xiaoan_test_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("XIAOAN_EVENT_BROKER_URL", AMQP_URL)
    monkeypatch.setenv("XIAOAN_EVENT_BROKER_QUEUE", queue_name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    async def scenario() -> dict:
        try:
            connection = await aio_pika.connect_robust(AMQP_URL, timeout=5)
        except Exception as exc:  # noqa: BLE001
            return {"unavailable": f"{exc.__class__.__name__}"}
        broker = await EnvEventBroker.from_endpoint_config(None)
        try:
            publish(broker)
            channel = await connection.channel()
            queue = await channel.declare_queue(queue_name, passive=True)  # declared bounded by the broker
            return await read(queue)
        finally:
            await broker.close()
            channel = await connection.channel()
            await channel.queue_delete(queue_name)
            await connection.close()

    received = asyncio.run(scenario())
    if "unavailable" in received:
        service_unavailable(f"RabbitMQ not reachable at {AMQP_URL}: {received['unavailable']}")
    return received


@pytest.mark.rabbitmq
def test_event_broker_publishes_to_rabbitmq(monkeypatch):
    async def first(queue) -> dict:
        for _ in range(50):
            message = await queue.get(no_ack=True, fail=False)
            if message:
                return json.loads(message.body)
            await asyncio.sleep(0.1)
        return {}

    received = _through_event_queue(
        monkeypatch, lambda broker: broker.publish({"event": "user", "sender_id": "web-test", "text": "你好"}), first)
    assert received == {"event": "user", "sender_id": "web-test", "text": "你好"}


@pytest.mark.rabbitmq
def test_event_queue_is_bounded(monkeypatch):
    """Nothing consumes the event queue: it keeps the newest N events (x-max-length, drop-head)
    and none older than the TTL, so citizens' messages do not pile up forever."""

    def publish(broker) -> None:
        for n in range(12):
            broker.publish({"event": "user", "sender_id": "web-test", "text": f"消息{n}"})

    async def everything(queue) -> dict:
        bodies = []
        while True:
            message = await queue.get(no_ack=True, fail=False, timeout=5)
            if message is None:
                break
            bodies.append(json.loads(message.body)["text"])
        return {"bodies": bodies, "arguments": queue.arguments}

    received = _through_event_queue(monkeypatch, publish, everything, XIAOAN_EVENT_QUEUE_MAX_LENGTH="5",
                                    XIAOAN_EVENT_QUEUE_TTL_HOURS="2")
    assert received["bodies"] == [f"消息{n}" for n in range(7, 12)]


def test_bad_event_queue_bounds_fail_before_connecting(monkeypatch):
    monkeypatch.setenv("XIAOAN_EVENT_BROKER_URL", "amqp://guest:guest@127.0.0.1:1")
    monkeypatch.setenv("XIAOAN_EVENT_QUEUE_MAX_LENGTH", "lots")
    with pytest.raises(ValueError, match="XIAOAN_EVENT_QUEUE_MAX_LENGTH"):
        asyncio.run(EnvEventBroker.from_endpoint_config(None))


@pytest.mark.postgres
def test_tracker_store_survives_dropped_connections(postgres_url, monkeypatch):
    """What a PostgreSQL restart does to a replica's pool: every pooled connection is dead.
    The store pings before use, so the next conversation turn works."""
    from sqlalchemy import create_engine, text

    monkeypatch.setenv("XIAOAN_TRACKER_STORE_URL", postgres_url.replace("postgresql+psycopg2", "postgresql"))
    store = EnvSQLTrackerStore(domain=DOMAIN)
    _roundtrip(store)  # leaves a pooled connection
    admin = create_engine(postgres_url, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        dropped = conn.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                    "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar()
    admin.dispose()
    assert dropped >= 1
    _roundtrip(store)
    store.engine.dispose()


@pytest.mark.postgres
def test_a_save_cut_off_by_a_database_restart_is_saved_again(postgres_url, monkeypatch):
    """The connection dies in the middle of saving a turn (PostgreSQL restarted): the turn is
    saved on the next attempt, once."""
    from sqlalchemy.exc import OperationalError

    monkeypatch.setenv("XIAOAN_TRACKER_STORE_URL", postgres_url.replace("postgresql+psycopg2", "postgresql"))
    store = EnvSQLTrackerStore(domain=DOMAIN)
    store.SAVE_PAUSE = 0.01
    real_commit = None
    failures = []

    def failing_sessionmaker(original=store.sessionmaker):
        session = original()
        nonlocal real_commit
        real_commit = session.commit

        def commit():
            if not failures:
                failures.append(1)
                raise OperationalError("COMMIT", {}, Exception("server closed the connection"),
                                       connection_invalidated=True)
            return real_commit()

        session.commit = commit
        return session

    store.sessionmaker = failing_sessionmaker
    _roundtrip(store)  # would raise without the retry
    assert failures == [1]
    store.engine.dispose()


@pytest.mark.postgres
def test_a_save_while_the_database_is_starting_up_is_saved_when_it_is_back(postgres_url, monkeypatch):
    """No connection can be had for a moment (PostgreSQL shutting down or starting up: an
    OperationalError when connecting, no pooled connection invalidated): the save waits and the
    turn is saved once the server answers; a database error of another kind is not retried."""
    from sqlalchemy.exc import IntegrityError, OperationalError

    monkeypatch.setenv("XIAOAN_TRACKER_STORE_URL", postgres_url.replace("postgresql+psycopg2", "postgresql"))
    store = EnvSQLTrackerStore(domain=DOMAIN)
    store.SAVE_PAUSE = 0.01
    refusals = []

    def starting_up(original=store.sessionmaker):
        if len(refusals) < 2:
            refusals.append(1)
            raise OperationalError("connect", {}, Exception("FATAL: the database system is starting up"))
        return original()

    store.sessionmaker = starting_up
    _roundtrip(store)  # would raise without waiting for the server
    assert refusals == [1, 1]

    attempts = []

    def constraint(*_args, **_kwargs):
        attempts.append(1)
        raise IntegrityError("INSERT", {}, Exception("duplicate key"))

    store.sessionmaker = constraint
    tracker = DialogueStateTracker(f"constraint-{uuid.uuid4().hex}", DOMAIN.slots)
    tracker.update(UserUttered("你好", {"name": "greet", "confidence": 0.99}))
    with pytest.raises(IntegrityError):
        asyncio.run(store.save(tracker))
    assert attempts == [1]
    store.engine.dispose()
