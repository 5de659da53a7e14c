"""Rasa tracker store, lock store and event broker chosen by environment variables.

`endpoints.yml` names these classes, so an operator switches from the embedded defaults to the
production services by setting variables, without touching code or YAML:

| variable | default | production example |
| --- | --- | --- |
| `XIAOAN_TRACKER_STORE_URL` | `sqlite:///var/rasa_tracker.db` | `postgresql://rasa:***@db:5432/rasa` |
| `XIAOAN_LOCK_STORE_URL` | unset = in-memory lock store (one Rasa process) | `redis://redis:6379/1` |
| `XIAOAN_EVENT_BROKER_URL` | unset = no event broker | `amqp://user:***@rabbitmq:5672` |
| `XIAOAN_EVENT_BROKER_QUEUE` | `xiaoan_events` | |
"""

from __future__ import annotations

import logging
import os
from typing import Any, Optional
from urllib.parse import unquote, urlsplit

from rasa.core.brokers.broker import EventBroker
from rasa.core.lock_store import InMemoryLockStore, LockStore, RedisLockStore
from rasa.core.tracker_store import SQLTrackerStore

from xiaoan.config import VAR_DIR

logger = logging.getLogger(__name__)


def tracker_store_url() -> str:
    """The SQLAlchemy URL of Rasa's tracker store."""
    return os.environ.get("XIAOAN_TRACKER_STORE_URL") or f"sqlite:///{VAR_DIR / 'rasa_tracker.db'}"


class EnvSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store on `XIAOAN_TRACKER_STORE_URL` (SQLite file by default)."""

    def __init__(self, domain=None, host: Optional[str] = None, event_broker=None, **kwargs: Any) -> None:
        url = tracker_store_url()
        if url.startswith("sqlite:///"):
            VAR_DIR.mkdir(parents=True, exist_ok=True)
        kwargs.pop("url", None)
        super().__init__(domain=domain, host=url, event_broker=event_broker, **kwargs)


class EnvLockStore(LockStore):
    """A factory in the shape of a lock store: Redis when `XIAOAN_LOCK_STORE_URL` is set, else in-memory.

    Several Rasa replicas must share a Redis lock store, or two of them may process messages of
    one conversation at the same time.
    """

    def __new__(cls, endpoint_config=None, **_: Any) -> LockStore:  # type: ignore[misc]
        url = os.environ.get("XIAOAN_LOCK_STORE_URL")
        if not url:
            return InMemoryLockStore()
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss"):
            raise ValueError(f"XIAOAN_LOCK_STORE_URL must be a redis:// URL, got scheme {parts.scheme!r}")
        db = int(parts.path.strip("/") or 1)
        return RedisLockStore(
            host=parts.hostname or "localhost",
            port=parts.port or 6379,
            db=db,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_ssl=parts.scheme == "rediss",
            key_prefix="xiaoan",
        )


class EnvEventBroker(EventBroker):
    """A factory in the shape of an event broker: RabbitMQ when `XIAOAN_EVENT_BROKER_URL` is set."""

    @classmethod
    async def from_endpoint_config(cls, broker_config, event_loop=None) -> Optional[EventBroker]:
        url = os.environ.get("XIAOAN_EVENT_BROKER_URL")
        if not url:
            return None
        from rasa.core.brokers.pika import PikaEventBroker

        parts = urlsplit(url)
        if parts.scheme not in ("amqp", "amqps"):
            raise ValueError(f"XIAOAN_EVENT_BROKER_URL must be an amqp:// URL, got scheme {parts.scheme!r}")
        broker = PikaEventBroker(
            host=f"{parts.scheme}://{parts.hostname}{parts.path if parts.path not in ('', '/') else ''}",
            username=unquote(parts.username or "guest"),
            password=unquote(parts.password or "guest"),
            port=parts.port or 5672,
            queues=[os.environ.get("XIAOAN_EVENT_BROKER_QUEUE", "xiaoan_events")],
            event_loop=event_loop,
            connection_attempts=3,
            retry_delay_in_seconds=2,
        )
        await broker.connect()
        return broker
