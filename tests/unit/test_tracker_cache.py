"""The tracker store's per-process cache (issue 13): a turn costs the same at turn 60 as at turn 1,
and nothing is lost, duplicated or stale when another replica writes the same conversation."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered

from xiaoan import rasa_stores
from xiaoan.rasa_stores import EnvSQLTrackerStore, snapshot

DOMAIN = Domain.from_dict({
    "intents": ["greet", "ask"],
    "slots": {"district": {"type": "text", "mappings": [{"type": "custom"}]}},
    "responses": {"utter_greet": [{"text": "您好"}]},
})


@pytest.fixture()
def url(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    monkeypatch.setenv("XIAOAN_TRACKER_STORE_URL", url)
    return url


def run(coro):
    return asyncio.run(coro)


def turn(tracker, n: int, district: str | None = None) -> None:
    tracker.update(UserUttered(f"第{n}句", {"name": "ask", "confidence": 0.9}))
    tracker.update(ActionExecuted("utter_greet"))
    tracker.update(BotUttered(f"答{n}"))
    if district:
        tracker.update(SlotSet("district", district))
    tracker.update(ActionExecuted("action_listen"))


def take_turn(store, sender: str, n: int, district: str | None = None) -> None:
    """One turn of the conversation as Rasa runs it: retrieve, add the turn, save."""
    tracker = run(store.retrieve(sender))
    turn(tracker, n, district)
    run(store.save(tracker))


def start(store, sender: str):
    tracker = run(store.get_or_create_tracker(sender))
    tracker.update(SessionStarted())
    tracker.update(ActionExecuted("action_listen"))
    run(store.save(tracker))


def event_reads(store) -> list[str]:
    """Statements that read the events' data (a full read of a conversation)."""
    seen: list[str] = []

    def record(conn, cursor, statement, *_):
        if "events.data" in statement and statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", record)
    return seen


def texts(tracker) -> list[str]:
    return [e.text for e in tracker.events if isinstance(e, UserUttered)]


def test_warm_turns_read_no_events_and_keep_every_event(url):
    store = EnvSQLTrackerStore(domain=DOMAIN)
    start(store, "c1")
    reads = event_reads(store)
    for n in range(60):
        take_turn(store, "c1", n, district="浦东" if n == 30 else None)
    # one full read after the session started (not cached), then none for 59 turns
    assert len(reads) == 1
    fresh = EnvSQLTrackerStore(domain=DOMAIN)  # another process: reads the database
    loaded = run(fresh.retrieve("c1"))
    assert texts(loaded) == [f"第{n}句" for n in range(60)]
    assert loaded.get_slot("district") == "浦东"
    cached = run(store.retrieve("c1"))
    assert [e.as_dict() for e in cached.events] == [e.as_dict() for e in loaded.events]


def test_a_retrieved_tracker_changed_but_not_saved_does_not_leak_into_the_next_retrieve(url):
    store = EnvSQLTrackerStore(domain=DOMAIN)
    start(store, "c2")
    take_turn(store, "c2", 1)
    dropped = run(store.retrieve("c2"))
    turn(dropped, 2, district="静安")   # e.g. the turn failed before save
    again = run(store.retrieve("c2"))
    assert texts(again) == ["第1句"] and again.get_slot("district") is None
    assert again is not dropped


def test_another_replica_writing_the_conversation_makes_the_cache_reread(url):
    one, two = EnvSQLTrackerStore(domain=DOMAIN), EnvSQLTrackerStore(domain=DOMAIN)
    start(one, "c3")
    for n, store in enumerate([one, two, one, one, two, one]):
        take_turn(store, "c3", n)
    final = run(EnvSQLTrackerStore(domain=DOMAIN).retrieve("c3"))
    assert texts(final) == [f"第{n}句" for n in range(6)]  # none lost, duplicated or reordered
    assert texts(run(one.retrieve("c3"))) == texts(final)


def test_a_new_session_is_read_as_rasa_reads_it(url):
    store = EnvSQLTrackerStore(domain=DOMAIN)
    start(store, "c4")
    take_turn(store, "c4", 1)
    tracker = run(store.retrieve("c4"))
    tracker.update(ActionExecuted("action_session_start"))
    tracker.update(SessionStarted())
    tracker.update(ActionExecuted("action_listen"))
    turn(tracker, 2)
    run(store.save(tracker))
    ours = run(store.retrieve("c4"))
    rasas = run(rasa_stores.SQLTrackerStore._retrieve(store, "c4", fetch_events_from_all_sessions=False))
    assert [e.as_dict() for e in ours.events] == [e.as_dict() for e in rasas.events]
    assert texts(ours) == ["第2句"]
    full = run(store.retrieve_full_tracker("c4"))
    assert texts(full) == ["第1句", "第2句"]


def test_the_cache_is_bounded(url, monkeypatch):
    monkeypatch.setattr(rasa_stores, "TRACKER_CACHE_SIZE", 3)
    store = EnvSQLTrackerStore(domain=DOMAIN)
    for c in range(5):
        start(store, f"b{c}")
        take_turn(store, f"b{c}", c)
    assert list(store._cache) == ["b2", "b3", "b4"]
    assert texts(run(store.retrieve("b0"))) == ["第0句"]  # evicted: read from the database


def test_snapshot_is_independent_of_the_original():
    from rasa.shared.core.trackers import DialogueStateTracker

    tracker = DialogueStateTracker("s", DOMAIN.slots)
    turn(tracker, 1, district="徐汇")
    clone = snapshot(tracker)
    turn(clone, 2, district="黄浦")
    assert texts(tracker) == ["第1句"] and tracker.get_slot("district") == "徐汇"
    assert texts(clone) == ["第1句", "第2句"] and clone.get_slot("district") == "黄浦"
    assert clone.current_state() != tracker.current_state()


def test_the_embedded_sqlite_store_keeps_connections_open_in_wal_mode(url):
    from sqlalchemy.pool import QueuePool

    store = EnvSQLTrackerStore(domain=DOMAIN)
    assert isinstance(store.engine.pool, QueuePool)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar().lower() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    start(store, "w1")
    assert texts(run(EnvSQLTrackerStore(domain=DOMAIN).retrieve("w1"))) == []
