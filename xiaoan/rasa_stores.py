"""Rasa tracker store, lock store and event broker chosen by environment variables (read once into
the process's settings, `xiaoan.services.settings()`; this module reads no variable itself).

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

import collections
import json
import logging
import threading
from typing import Any, List, NamedTuple, Optional, Tuple
from urllib.parse import unquote, urlsplit

from rasa.core.brokers.broker import EventBroker
from rasa.core.lock_store import InMemoryLockStore, LockStore, RedisLockStore
import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import ActionExecuted, Event, Restarted, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from xiaoan import services
from xiaoan.config import VAR_DIR, positive_number
from xiaoan.nlu.incremental import snapshot

logger = logging.getLogger(__name__)


def tracker_store_url() -> str:
    """The SQLAlchemy URL of Rasa's tracker store."""
    return services.settings().tracker_store_url or f"sqlite:///{VAR_DIR / 'rasa_tracker.db'}"


#: The custom actions that create a ticket (actions/forms.py), and the slot value that says the
#: citizen confirmed the read-back (cleared by the action once the citizen was told the number).
SUBMIT_ACTIONS = ("action_submit_complaint", "action_submit_report")
CONFIRMED = "confirmed"
ACTION_LISTEN = "action_listen"
ACTION_SESSION_START = "action_session_start"


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


#: Seconds an idle connection to the action server stays open for reuse: below the 5 s after
#: which the action server (Sanic) closes it, so a connection is never reused as it closes.
KEEPALIVE_S = 2.0


class _Borrowed:
    """`async with` over a shared aiohttp session that leaves it open."""

    def __init__(self, session: Any) -> None:
        self._session = session

    async def __aenter__(self) -> Any:
        return self._session

    async def __aexit__(self, *exc: Any) -> bool:
        return False


class ActionCallSerializer:
    """`json.dumps` for Rasa's requests that encodes what an action call repeats only once (issue 13).

    Rasa 3.6 sends its whole domain (about 60 KB of JSON here) and every event of the session
    with every custom action it runs. The domain's text is kept with the dict it was made from
    (Rasa hands over the same cached dict each time; a new model brings a new dict, encoded anew).
    The events' texts are kept per conversation, by position: an event whose dict equals the one
    encoded at that position last time (same type, timestamp and content) reuses its text, any
    other is encoded; so a call encodes only the turn's new events, not the whole session again.
    The pieces are joined into the same JSON object as `json.dumps` would write (keys in the same
    order but ``tracker`` and ``domain``, which come last; ``events`` last within ``tracker``).
    Any other payload is plain `json.dumps`.
    """

    #: Conversations whose event texts are kept (least recently used dropped).
    CONVERSATIONS = 512

    def __init__(self) -> None:
        self._domain: Optional[dict] = None
        self._text = ""
        self._events: "collections.OrderedDict[Any, List[Tuple[dict, str]]]" = collections.OrderedDict()

    def __call__(self, payload: Any) -> str:
        domain = payload.get("domain") if isinstance(payload, dict) else None
        if type(domain) is not dict or len(payload) < 2:
            return json.dumps(payload)
        if domain is not self._domain:  # (called on the event loop only)
            self._text = json.dumps(domain)
            self._domain = domain
        parts = [f"{json.dumps(key)}: {json.dumps(value)}" for key, value in payload.items()
                 if key not in ("domain", "tracker")]
        if "tracker" in payload:
            parts.append(f'"tracker": {self._tracker_text(payload["tracker"])}')
        parts.append(f'"domain": {self._text}')
        return "{" + ", ".join(parts) + "}"

    def _tracker_text(self, tracker: Any) -> str:
        events = tracker.get("events") if isinstance(tracker, dict) else None
        if type(events) is not list:
            return json.dumps(tracker)
        parts = [f"{json.dumps(key)}: {json.dumps(value)}" for key, value in tracker.items() if key != "events"]
        parts.append(f'"events": [{", ".join(self._event_texts(tracker.get("sender_id"), events))}]')
        return "{" + ", ".join(parts) + "}"

    def _event_texts(self, sender_id: Any, events: List[Any]) -> List[str]:
        key = sender_id if isinstance(sender_id, str) else None
        known = self._events.get(key, []) if key is not None else []
        encoded: List[Tuple[dict, str]] = []
        for index, event in enumerate(events):
            if index < len(known) and type(event) is dict and known[index][0] == event:
                encoded.append(known[index])
            else:
                encoded.append((event, json.dumps(event)))
        if key is not None:
            self._events[key] = encoded
            self._events.move_to_end(key)
            while len(self._events) > self.CONVERSATIONS:
                self._events.popitem(last=False)
        return [text for _, text in encoded]


def reuse_endpoint_connections() -> None:
    """Make Rasa keep its connections to the action server open between calls (issue 13).

    Rasa 3.6's `EndpointConfig.request` opens a new aiohttp session, so a new TCP connection,
    for every custom action it runs, and closes it afterwards. This replaces
    `EndpointConfig.session` so that each endpoint keeps one session per event loop, with the
    same headers, authentication and timeout, whose idle connections are reused for
    `KEEPALIVE_S`, and whose JSON bodies encode an action call's domain once
    (`ActionCallSerializer`). Called once when Rasa creates its tracker store (this module is
    Rasa's only entry point for the project's code).
    """
    import asyncio

    import aiohttp
    from rasa.utils import endpoints

    if getattr(endpoints.EndpointConfig.session, "_xiaoan_shared", False):
        return

    def session(self: Any) -> _Borrowed:
        loop = asyncio.get_running_loop()
        cached = self.__dict__.get("_xiaoan_session")
        if cached is None or cached[0] is not loop or cached[1].closed:
            auth = (aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"])
                    if self.basic_auth else None)
            shared = aiohttp.ClientSession(
                headers=self.headers, auth=auth,
                timeout=aiohttp.ClientTimeout(total=endpoints.DEFAULT_REQUEST_TIMEOUT),
                connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_S),
                json_serialize=ActionCallSerializer(),
            )
            self.__dict__["_xiaoan_session"] = cached = (loop, shared)
        return _Borrowed(cached[1])

    session._xiaoan_shared = True  # type: ignore[attr-defined]
    endpoints.EndpointConfig.session = session


_validator_cache: dict[str, Any] = {}
_validator_lock = threading.Lock()


def action_result_validator() -> Any:
    """The validator of Rasa's action-server response schema, built (and the schema checked) once
    per process; the Rasa warm-up builds it, so the first custom action does not (about 50 ms)."""
    validator = _validator_cache.get("validator")
    if validator is None:
        from jsonschema import validators
        from rasa.core.actions.action import RemoteAction

        with _validator_lock:
            validator = _validator_cache.get("validator")
            if validator is None:
                schema = RemoteAction.action_response_format_spec()
                cls = validators.validator_for(schema)
                cls.check_schema(schema)
                validator = _validator_cache["validator"] = cls(schema)
    return validator


def validate_action_results_once() -> None:
    """Make Rasa check the action server's answers with one prepared validator (issue 13).

    Rasa 3.6's `RemoteAction._validate_action_result` calls `jsonschema.validate`, which first
    validates Rasa's own (large, constant) response schema against the JSON-Schema metaschema,
    on every custom action: a py-spy profile of the Rasa server under load showed 58 % of its
    time there. This builds the validator once (the schema is still checked, once) and raises
    the same `ValidationError` (the best match, with Rasa's explanation appended).
    """
    from jsonschema.exceptions import best_match
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    if getattr(RemoteAction._validate_action_result, "_xiaoan_cached", False):
        return

    def _validate_action_result(self: Any, result: dict) -> bool:
        error = best_match(action_result_validator().iter_errors(result))
        if error is not None:
            error.message += (
                f". Failed to validate Action server response from API, "
                f"make sure your response from the Action endpoint is valid. "
                f"For more information about the format visit "
                f"{DOCS_BASE_URL}/custom-actions"
            )
            raise error
        return True

    _validate_action_result._xiaoan_cached = True  # type: ignore[attr-defined]
    RemoteAction._validate_action_result = _validate_action_result


#: Rasa's Sanic apps (`rasa run --enable-api`, and without the API).
RASA_APPS = ("rasa_server", "rasa_core_no_api")
WARM_UP_TEXT = "个体户营业执照怎么办理"


def _rasa_app() -> Any:
    from sanic import Sanic
    from sanic.exceptions import SanicException

    for name in RASA_APPS:
        try:
            return Sanic.get_app(name)
        except SanicException:
            continue
    return None


async def warm_up_rasa(app: Any, timeout: float = 900.0, store: Optional["EnvSQLTrackerStore"] = None
                       ) -> Optional[float]:
    """Run one message through the model as soon as the Rasa server has loaded it (issue 13).

    TensorFlow builds the NLU and policy graphs on their first call, which made the first
    citizen's answer after a start take seconds. The warm-up parses a question and predicts the
    next action on a scratch tracker that is never stored. It starts while the server opens its
    port and holds the event loop, so the first request waits for it rather than paying again.
    It also opens what the first message would otherwise open (:func:`warm_up_stores`): the
    tracker store's connection (`store`), the channels' rate limiter, the validator of the
    action server's answers.

    Returns:
        The seconds it took, or None when no model was loaded in time or it failed (logged).
    """
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    agent = None
    while time.monotonic() < deadline:
        agent = getattr(app.ctx, "agent", None)
        if agent is not None and agent.is_ready():
            break
        await asyncio.sleep(0.05)
    else:
        return None
    started = time.perf_counter()
    try:
        parse = await agent.parse_message(WARM_UP_TEXT)
        # shaped as a new conversation's first message: the policies' graphs are traced for the
        # dialogue length the first citizen brings (another length would trace them again)
        tracker = DialogueStateTracker.from_events(
            WARM_UP_SENDER,
            [ActionExecuted(ACTION_SESSION_START), SessionStarted(), ActionExecuted(ACTION_LISTEN),
             UserUttered(WARM_UP_TEXT, parse.get("intent"), parse.get("entities"), parse)],
            agent.domain.slots,
        )
        agent.processor.predict_next_with_tracker(tracker)
    except Exception:  # noqa: BLE001 - a cold first answer is better than none
        logger.exception("Rasa warm-up failed; the first message will load the model's graphs instead")
        return None
    warm_up_stores(store)
    elapsed = time.perf_counter() - started
    logger.info("Rasa warmed up in %.1f s", elapsed)
    return elapsed


#: The conversation id the warm-up looks up (never stored: only its latest event id is read).
WARM_UP_SENDER = "xiaoan-warm-up"


def warm_up_stores(store: Optional["EnvSQLTrackerStore"] = None) -> list[str]:
    """Open and prepare what the first message of a Rasa process would (issue 13): the tracker
    store's pooled connection and its latest-event query (`store`; a new SQLite file is switched
    to WAL here), the channels' rate limiter (its store connection, expired counters purged, its
    read compiled; nothing counted) and the validator of the action server's answers.

    Returns:
        What was warmed; a part that fails is logged and left to the first message.
    """
    warmed = []
    parts: list[tuple[str, Any]] = [("validator", action_result_validator)]
    if store is not None:
        def tracker_store() -> None:
            with store.session_scope() as session:
                store._latest_id(session, WARM_UP_SENDER)

        parts.insert(0, ("tracker store", tracker_store))

    def rate_limiter() -> None:
        from xiaoan.ratelimit import get_rate_limiter, limit_settings

        limiter, limits = get_rate_limiter(), limit_settings()
        limiter.purge_expired()
        limiter.peek(limits.rest_sender, WARM_UP_SENDER)

    parts.append(("rate limiter", rate_limiter))
    for name, warm in parts:
        try:
            warm()
            warmed.append(name)
        except Exception:  # noqa: BLE001 - the first message opens it instead
            logger.warning("Rasa warm-up: the %s could not be prepared; the first message will", name, exc_info=True)
    return warmed


def schedule_rasa_warm_up(store: Optional["EnvSQLTrackerStore"] = None) -> bool:
    """Start `warm_up_rasa` when called inside a starting Rasa server (its tracker store is created
    while the server loads the model); elsewhere (tests, the CLI) do nothing."""
    import asyncio

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return False
    app = _rasa_app()
    if app is None:
        return False
    task = loop.create_task(warm_up_rasa(app, store=store))
    app.ctx.xiaoan_warm_up = task  # keep a reference until it finishes
    return True


#: Conversations whose latest tracker each Rasa process keeps in memory (least recently used out).
TRACKER_CACHE_SIZE = 1000


class _CachedTracker(NamedTuple):
    last_id: int            # the conversation's highest stored event id when this was cached
    stored: int             # how many of `tracker.events` are stored (the latest session's rows)
    tracker: DialogueStateTracker


class EnvSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store on `XIAOAN_TRACKER_STORE_URL` (SQLite file by default).

    It also makes ticket creation crash-safe: a conversation whose ticket submission was cut
    off by an action-server crash comes back as a `ResumingTracker`, so the citizen's next
    message first re-runs the submission, which finds the ticket by its idempotency key (or
    creates it, if the crash came before the commit) and tells the number.

    A turn costs the same at turn 60 as at turn 1 (issue 13): Rasa's store reads and replays
    every event of the session on each retrieve and counts them on each save. This store keeps
    the latest tracker of recently active conversations in memory (`TRACKER_CACHE_SIZE`) with the
    highest event id it has seen; a retrieve reads only that id (one indexed query) and, when no
    other process wrote since, returns a copy (`snapshot`) without reading the events; a save
    inserts only the new events. When another replica wrote in between, the ids differ and the
    conversation is read in full, as Rasa does.
    """

    def __init__(self, domain=None, host: Optional[str] = None, event_broker=None, **kwargs: Any) -> None:
        from xiaoan.production_checks import enforce

        enforce("rasa")
        reuse_endpoint_connections()
        validate_action_results_once()
        url = tracker_store_url()
        if url.startswith("sqlite:///"):
            VAR_DIR.mkdir(parents=True, exist_ok=True)
        kwargs.pop("url", None)
        super().__init__(domain=domain, host=url, event_broker=event_broker, **kwargs)
        if url.startswith("sqlite"):
            self._pool_sqlite(url)
        else:
            self._ping_before_use()
        self._cache: "collections.OrderedDict[str, _CachedTracker]" = collections.OrderedDict()
        self._cache_lock = threading.Lock()
        schedule_rasa_warm_up(self)

    def _pool_sqlite(self, url: str) -> None:
        """Rasa opens a new SQLite connection for every query (SQLAlchemy 1.4's NullPool) with the
        default rollback journal (several fsyncs per commit). The embedded store keeps a few
        connections open instead, pooled and in WAL mode like the project database (xiaoan/db.py),
        with `synchronous=NORMAL` like its rate-limit counters (the project's other data keeps
        FULL): readers never block the writer, a process crash loses nothing (a power cut may
        lose the latest turns)."""
        from sqlalchemy.orm import sessionmaker
        from sqlalchemy.pool import QueuePool

        from xiaoan.db import set_sqlite_pragmas

        self.engine.dispose()
        engine = sa.create_engine(url, poolclass=QueuePool, pool_size=2, max_overflow=8,
                                  connect_args={"check_same_thread": False, "timeout": 30})
        set_sqlite_pragmas(engine, durable=False, foreign_keys=False)
        self.engine = engine
        self.sessionmaker = sessionmaker(bind=engine)

    # --- the cache -----------------------------------------------------------------------------

    def _latest_id(self, session: Any, sender_id: str) -> Optional[int]:
        """The id of the conversation's newest stored event (None: nothing stored).

        A Core statement built once per store: asked twice a turn, an ORM query spent more time
        being built and keyed for SQLAlchemy's statement cache than in the database."""
        statement = self.__dict__.get("_latest_id_statement")
        if statement is None:
            table = self.SQLEvent.__table__
            statement = sa.select(sa.func.max(table.c.id)).where(table.c.sender_id == sa.bindparam("sender_id"))
            self._latest_id_statement = statement
        return session.execute(statement, {"sender_id": sender_id}).scalar()

    def _cached(self, sender_id: str, last_id: Optional[int]) -> Optional[_CachedTracker]:
        with self._cache_lock:
            entry = self._cache.get(sender_id)
            if entry is None or last_id is None or entry.last_id != last_id:
                return None
            self._cache.move_to_end(sender_id)
            return entry

    def _remember(self, sender_id: str, last_id: Optional[int], stored: int, tracker: DialogueStateTracker) -> None:
        if last_id is None:
            return
        with self._cache_lock:
            self._cache[sender_id] = _CachedTracker(last_id, stored, snapshot(tracker))
            self._cache.move_to_end(sender_id)
            while len(self._cache) > TRACKER_CACHE_SIZE:
                self._cache.popitem(last=False)

    def _forget(self, sender_id: str) -> None:
        with self._cache_lock:
            self._cache.pop(sender_id, None)

    # --- Rasa's interface ----------------------------------------------------------------------

    async def _retrieve(self, sender_id: str, fetch_events_from_all_sessions: bool) -> Optional[DialogueStateTracker]:
        if fetch_events_from_all_sessions:
            return await super()._retrieve(sender_id, fetch_events_from_all_sessions)
        with self.session_scope() as session:
            last_id = self._latest_id(session, sender_id)
        if last_id is None:
            return None
        entry = self._cached(sender_id, last_id)
        if entry is not None:
            return snapshot(entry.tracker)
        tracker = await super()._retrieve(sender_id, fetch_events_from_all_sessions=False)
        if tracker is not None:
            # rows written after `last_id` was read make the next look a miss: never stale
            self._remember(sender_id, last_id, len(tracker.events), tracker)
        return tracker

    async def _save_once(self, tracker: DialogueStateTracker) -> None:
        """Store the events of the tracker that are not stored yet (Rasa's `save`, without the count
        of every stored event when this process knows it)."""
        await self.stream_events(tracker)
        sender_id = tracker.sender_id
        with self.session_scope() as session:
            last_id = self._latest_id(session, sender_id)
            entry = self._cached(sender_id, last_id)
            if entry is not None and entry.stored <= len(tracker.events):
                stored = entry.stored
            else:
                stored = self._event_query(session, sender_id, fetch_events_from_all_sessions=False).count()
            rows, new_session = [], False
            for event in list(tracker.events)[stored:]:
                new_session = new_session or isinstance(event, SessionStarted)
                data = event.as_dict()
                rows.append(self.SQLEvent(
                    sender_id=sender_id,
                    type_name=event.type_name,
                    timestamp=data.get("timestamp"),
                    intent_name=data.get("parse_data", {}).get("intent", {}).get("name"),
                    action_name=data.get("name"),
                    data=json.dumps(data),
                ))
            session.add_all(rows)
            session.flush()
            new_last = rows[-1].id if rows else last_id
            session.commit()
        if new_session:
            # Rasa reads a conversation from its latest SessionStarted on: the next retrieve reads
            # the new session from the database, so the cache never holds more than Rasa would
            self._forget(sender_id)
        else:
            self._remember(sender_id, new_last, len(tracker.events), tracker)
        logger.debug("Tracker with sender_id '%s' stored to database", sender_id)

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

        from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

        for attempt in range(1, self.SAVE_ATTEMPTS + 1):
            try:
                return await self._save_once(tracker)
            except DBAPIError as exc:
                # a connection lost while saving, or none to be had while the server restarts
                # ("the database system is shutting down / starting up", connection refused);
                # any other database error (a constraint, bad SQL) is raised at once
                lost = exc.connection_invalidated or isinstance(exc, (OperationalError, InterfaceError))
                if not lost or attempt == self.SAVE_ATTEMPTS:
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
        settings = services.settings()
        url = settings.lock_store_url
        if not url:
            return InMemoryLockStore()
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss"):
            raise ValueError(f"XIAOAN_LOCK_STORE_URL must be a redis:// URL, got scheme {parts.scheme!r}")
        db = int(parts.path.strip("/") or 1)
        if settings.lock_store_kind != "rasa":
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


def event_queue_arguments() -> dict[str, Any]:
    """The x-arguments the event queue is declared with (`XIAOAN_EVENT_QUEUE_MAX_LENGTH`,
    `XIAOAN_EVENT_QUEUE_TTL_HOURS`): a bounded queue that drops its oldest events."""
    settings = services.settings()
    return {
        "x-max-length": positive_number("XIAOAN_EVENT_QUEUE_MAX_LENGTH", settings.event_queue_max_length,
                                        DEFAULT_QUEUE_MAX_LENGTH),
        "x-message-ttl": positive_number("XIAOAN_EVENT_QUEUE_TTL_HOURS", settings.event_queue_ttl_hours,
                                         DEFAULT_QUEUE_TTL_HOURS) * 3600 * 1000,
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
        settings = services.settings()
        url = settings.event_broker_url
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
            queues=[settings.event_broker_queue],
            event_loop=event_loop,
            connection_attempts=3,
            retry_delay_in_seconds=2,
        )
        await broker.connect()
        return broker
