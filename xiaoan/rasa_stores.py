"""Rasa tracker store, lock store and event broker chosen by environment variables.

`endpoints.yml` names these classes, so an operator switches from the embedded defaults to the
production services by setting variables, without touching code or YAML:

| variable | default | production example |
| --- | --- | --- |
| `XIAOAN_TRACKER_STORE_URL` | `sqlite:///var/rasa_tracker.db` | `postgresql://rasa:***@db:5432/rasa` |
| `XIAOAN_LOCK_STORE_URL` | unset = in-memory lock store (one Rasa process) | `redis://redis:6379/1` |
| `XIAOAN_EVENT_BROKER_URL` | unset = no event broker | `amqp://user:***@rabbitmq:5672` |
| `XIAOAN_EVENT_BROKER_QUEUE` | `xiaoan_events` | |
| `XIAOAN_EVENT_QUEUE_MAX_LENGTH` | `100000` events (oldest dropped) | |
| `XIAOAN_EVENT_QUEUE_TTL_HOURS` | `168` (7 days) | |
"""

from __future__ import annotations

import logging
import os
from typing import Any, Optional
from urllib.parse import unquote, urlsplit

from rasa.core.brokers.broker import EventBroker
from rasa.core.lock_store import InMemoryLockStore, LockStore, RedisLockStore
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import ActionExecuted, Event, Restarted, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from xiaoan.config import VAR_DIR

logger = logging.getLogger(__name__)


def tracker_store_url() -> str:
    """The SQLAlchemy URL of Rasa's tracker store."""
    return os.environ.get("XIAOAN_TRACKER_STORE_URL") or f"sqlite:///{VAR_DIR / 'rasa_tracker.db'}"


#: The custom actions that create a ticket (actions/forms.py), and the slot value that says the
#: citizen confirmed the read-back (cleared by the action once the citizen was told the number).
SUBMIT_ACTIONS = ("action_submit_complaint", "action_submit_report")
CONFIRMED = "confirmed"
ACTION_LISTEN = "action_listen"


def interrupted_submission(tracker: DialogueStateTracker) -> Optional[str]:
    """The submit action to run again because the action server died while running it, or None.

    When the action server is killed mid-request, Rasa logs the action with no events at all
    ("the actions events are lost"), so the read-back stays confirmed and nobody told the citizen
    the ticket number. A submission that finished always returns events (the receipt and the
    cleared slots, or `utter_ticket_failed` and `ticket_retry`), so "the latest submit action is
    directly followed by the next action or user message, and the form is still confirmed" means
    exactly: interrupted.
    """
    if tracker.active_loop_name or tracker.get_slot("confirmation") != CONFIRMED:
        return None
    if tracker.get_slot("ticket_retry"):
        return None  # a failure the action reported itself: the retry rule handles it
    events = list(tracker.events)
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        if isinstance(event, (SessionStarted, Restarted)):
            return None
        if isinstance(event, ActionExecuted) and event.action_name in SUBMIT_ACTIONS:
            following = events[index + 1] if index + 1 < len(events) else None
            if following is None or isinstance(following, (ActionExecuted, UserUttered)):
                return event.action_name
            return None
    return None


class ResumingTracker(DialogueStateTracker):
    """A tracker that runs `resume_action` first when the next user message is logged.

    Rasa clears any pending follow-up action when a user message arrives; this tracker sets the
    follow-up right after it, so the processor runs the interrupted action before the policies
    predict anything (`MessageProcessor._predict_next_with_tracker`). Once that action is logged
    the turn ends (follow-up `action_listen`): the policies were never trained on "a submission
    right after any message" and would answer it with the fallback, whose rewind would undo the
    receipt. Copies made by the processor (`tracker.copy()`) are plain trackers, so the action
    is resumed once.
    """

    resume_action: Optional[str] = None
    _resumed: Optional[str] = None

    def update(self, event: Event, domain=None) -> None:
        super().update(event, domain)
        if isinstance(event, (SessionStarted, Restarted)):
            # the session expired before the citizen came back: the form's slots are gone
            # (carry_over_slots_to_new_session: false), so there is nothing to resume
            self.resume_action = None
        elif self.resume_action and isinstance(event, UserUttered):
            action, self.resume_action = self.resume_action, None
            logger.warning("conversation %s: %s was interrupted (action server crash); running it again "
                           "before answering", self.sender_id, action)
            self._resumed = action
            self.trigger_followup_action(action)
        elif self._resumed and isinstance(event, ActionExecuted) and event.action_name == self._resumed:
            self._resumed = None
            self.trigger_followup_action(ACTION_LISTEN)


class EnvSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store on `XIAOAN_TRACKER_STORE_URL` (SQLite file by default).

    It also makes ticket creation crash-safe: a conversation whose ticket submission was cut
    off by an action-server crash comes back as a `ResumingTracker`, so the citizen's next
    message first re-runs the submission, which finds the ticket by its idempotency key (or
    creates it, if the crash came before the commit) and tells the number.
    """

    def __init__(self, domain=None, host: Optional[str] = None, event_broker=None, **kwargs: Any) -> None:
        from xiaoan.production_checks import enforce

        enforce("rasa")
        url = tracker_store_url()
        if url.startswith("sqlite:///"):
            VAR_DIR.mkdir(parents=True, exist_ok=True)
        kwargs.pop("url", None)
        super().__init__(domain=domain, host=url, event_broker=event_broker, **kwargs)
        self._ping_before_use()

    def _ping_before_use(self) -> None:
        """Test pooled connections before use (server-based databases): after a PostgreSQL
        restart a replica's pool holds dead connections, and without the ping the next message
        of each one fails (docs/deploy/replicas.md, faults)."""
        if self.engine.url.get_backend_name() == "sqlite":
            return
        from sqlalchemy import create_engine
        from sqlalchemy.orm import sessionmaker

        url = self.engine.url
        self.engine.dispose()
        self.engine = create_engine(url, pool_pre_ping=True)
        self.sessionmaker = sessionmaker(bind=self.engine)

    #: Attempts and pause (s) of `save` when the database connection is lost (PostgreSQL restarted).
    SAVE_ATTEMPTS, SAVE_PAUSE = 6, 0.5

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Rasa's save, tried again when the connection to the database was lost meanwhile.

        A PostgreSQL restart in the middle of a turn otherwise drops the turn from the tracker
        store although the citizen already got the answer. Saving again is safe: Rasa writes
        only the events beyond the number already stored (the event broker may get a turn's
        events twice).
        """
        import asyncio

        from sqlalchemy.exc import DBAPIError

        for attempt in range(1, self.SAVE_ATTEMPTS + 1):
            try:
                return await super().save(tracker)
            except DBAPIError as exc:
                if not exc.connection_invalidated or attempt == self.SAVE_ATTEMPTS:
                    raise
                logger.warning("conversation %s: database connection lost while saving (%s); trying again",
                               tracker.sender_id, exc.__class__.__name__)
                await asyncio.sleep(self.SAVE_PAUSE * attempt)

    async def retrieve(self, sender_id: str) -> Optional[DialogueStateTracker]:
        """The conversation's tracker; a `ResumingTracker` after an interrupted ticket submission."""
        tracker = await super().retrieve(sender_id)
        if tracker is None:
            return None
        action = interrupted_submission(tracker)
        if action is None:
            return tracker
        resuming = ResumingTracker.from_events(sender_id, list(tracker.events),
                                               self.domain.slots if self.domain else None)
        resuming.resume_action = action
        return resuming


class EnvLockStore(LockStore):
    """A factory in the shape of a lock store: Redis when `XIAOAN_LOCK_STORE_URL` is set, else in-memory.

    Several Rasa replicas must share a Redis lock store, or two of them may process messages of
    one conversation at the same time. The Redis store is `xiaoan.lock_store.AtomicRedisLockStore`
    (Rasa OSS's `RedisLockStore` races between replicas); `XIAOAN_LOCK_STORE_KIND=rasa` selects
    Rasa's own store instead (only to reproduce the race: bench/replicas_bench.py).
    """

    def __new__(cls, endpoint_config=None, **_: Any) -> LockStore:  # type: ignore[misc]
        url = os.environ.get("XIAOAN_LOCK_STORE_URL")
        if not url:
            return InMemoryLockStore()
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss"):
            raise ValueError(f"XIAOAN_LOCK_STORE_URL must be a redis:// URL, got scheme {parts.scheme!r}")
        db = int(parts.path.strip("/") or 1)
        if os.environ.get("XIAOAN_LOCK_STORE_KIND", "").strip().lower() != "rasa":
            from xiaoan.lock_store import AtomicRedisLockStore

            return AtomicRedisLockStore(parts._replace(path=f"/{db}").geturl(), key_prefix="xiaoan")
        return RedisLockStore(
            host=parts.hostname or "localhost",
            port=parts.port or 6379,
            db=db,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_ssl=parts.scheme == "rediss",
            key_prefix="xiaoan",
        )


#: Bounds of the RabbitMQ event queue: nothing consumes it in this project, and every event
#: carries a citizen's full message, so the queue keeps at most this many events (the oldest are
#: dropped first) and none longer than the TTL.
DEFAULT_QUEUE_MAX_LENGTH = 100_000
DEFAULT_QUEUE_TTL_HOURS = 168


def _positive_int(name: str, default: int) -> int:
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return value


def event_queue_arguments() -> dict[str, Any]:
    """The x-arguments the event queue is declared with (`XIAOAN_EVENT_QUEUE_MAX_LENGTH`,
    `XIAOAN_EVENT_QUEUE_TTL_HOURS`): a bounded queue that drops its oldest events."""
    return {
        "x-max-length": _positive_int("XIAOAN_EVENT_QUEUE_MAX_LENGTH", DEFAULT_QUEUE_MAX_LENGTH),
        "x-message-ttl": _positive_int("XIAOAN_EVENT_QUEUE_TTL_HOURS", DEFAULT_QUEUE_TTL_HOURS) * 3600 * 1000,
        "x-overflow": "drop-head",
    }


def _bounded_pika_broker():
    from rasa.core.brokers.pika import PikaEventBroker

    class BoundedPikaEventBroker(PikaEventBroker):
        """Rasa's RabbitMQ broker whose queues are declared bounded (`event_queue_arguments`).

        A queue that already exists with other arguments makes RabbitMQ refuse the declaration
        (PRECONDITION_FAILED): delete it once, or bound it with a policy instead
        (docs/security/crash.md).
        """

        @staticmethod
        async def _bind_queue(queue_name, channel, exchange) -> None:
            queue = await channel.declare_queue(queue_name, durable=True, arguments=event_queue_arguments())
            await queue.bind(exchange, "")

    return BoundedPikaEventBroker


class EnvEventBroker(EventBroker):
    """A factory in the shape of an event broker: RabbitMQ when `XIAOAN_EVENT_BROKER_URL` is set,
    publishing to a bounded queue (`event_queue_arguments`)."""

    @classmethod
    async def from_endpoint_config(cls, broker_config, event_loop=None) -> Optional[EventBroker]:
        url = os.environ.get("XIAOAN_EVENT_BROKER_URL")
        if not url:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("amqp", "amqps"):
            raise ValueError(f"XIAOAN_EVENT_BROKER_URL must be an amqp:// URL, got scheme {parts.scheme!r}")
        event_queue_arguments()  # bad bounds fail here, before connecting
        broker = _bounded_pika_broker()(
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
