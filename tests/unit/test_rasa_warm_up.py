"""Rasa's model answers its first message warm (issue 13): the tracker store, created while the
server loads the model, schedules one parse and one prediction as soon as the model is loaded."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from rasa.shared.core.events import UserUttered

from xiaoan import rasa_stores


class FakeAgent:
    def __init__(self):
        self.domain = SimpleNamespace(slots=[])
        self.calls = []
        self.processor = SimpleNamespace(predict_next_with_tracker=self.predict)

    def is_ready(self):
        return True

    async def parse_message(self, text):
        self.calls.append(("parse", text))
        return {"text": text, "intent": {"name": "ask_business_registration", "confidence": 0.9}, "entities": []}

    def predict(self, tracker):
        user = [e for e in tracker.events if isinstance(e, UserUttered)]
        self.calls.append(("predict", user[-1].intent_name))


def test_the_warm_up_waits_for_the_model_then_parses_and_predicts():
    app = SimpleNamespace(ctx=SimpleNamespace())
    agent = FakeAgent()

    async def scenario():
        task = asyncio.create_task(rasa_stores.warm_up_rasa(app, timeout=5))
        await asyncio.sleep(0.2)
        assert not task.done() and agent.calls == []  # no model yet
        app.ctx.agent = agent
        return await task

    assert asyncio.run(scenario()) is not None
    assert agent.calls == [("parse", rasa_stores.WARM_UP_TEXT), ("predict", "ask_business_registration")]


def test_a_failing_warm_up_is_logged_not_raised(caplog):
    agent = FakeAgent()

    async def broken(text):
        raise RuntimeError("graph error")

    agent.parse_message = broken
    app = SimpleNamespace(ctx=SimpleNamespace(agent=agent))
    assert asyncio.run(rasa_stores.warm_up_rasa(app, timeout=1)) is None
    assert "warm-up failed" in caplog.text


def test_the_store_schedules_it_only_inside_a_starting_rasa_server(tmp_path, monkeypatch):
    monkeypatch.setenv("XIAOAN_TRACKER_STORE_URL", f"sqlite:///{tmp_path / 't.db'}")
    assert rasa_stores.schedule_rasa_warm_up() is False  # no running loop: the CLI, tests
    app = SimpleNamespace(ctx=SimpleNamespace(agent=FakeAgent()))
    monkeypatch.setattr(rasa_stores, "_rasa_app", lambda: app)

    async def inside_rasa():
        rasa_stores.EnvSQLTrackerStore()  # what Rasa does while it loads the model
        return await app.ctx.xiaoan_warm_up

    assert asyncio.run(inside_rasa()) is not None
    assert [c[0] for c in app.ctx.agent.calls] == ["parse", "predict"]


def test_the_warm_up_also_opens_the_stores_the_first_message_needs(tmp_path, monkeypatch, db_url):
    """The tracker store's connection, the rate limiter (connection, purge, compiled read; nothing
    counted) and the action-answer validator are ready before the first message (issue 13)."""
    from sqlalchemy import event, func, select

    from xiaoan.db import get_engine, session_scope
    from xiaoan.ratelimit import RateLimitCounter, get_rate_limiter, limit_settings

    monkeypatch.setenv("XIAOAN_TRACKER_STORE_URL", f"sqlite:///{tmp_path / 't.db'}")
    rasa_stores._validator_cache.clear()
    store = rasa_stores.EnvSQLTrackerStore()
    opened = []
    event.listen(store.engine, "connect", lambda conn, record: opened.append("tracker"))
    event.listen(get_engine(db_url, durable=False), "connect", lambda conn, record: opened.append("project"))
    app = SimpleNamespace(ctx=SimpleNamespace(agent=FakeAgent()))
    assert asyncio.run(rasa_stores.warm_up_rasa(app, timeout=5, store=store)) is not None
    assert sorted(opened) == ["project", "tracker"]
    assert "validator" in rasa_stores._validator_cache
    limiter = get_rate_limiter()
    assert limiter._last_purge is not None  # the first message does not purge again
    with session_scope(db_url) as session:
        assert session.execute(select(func.count()).select_from(RateLimitCounter.__table__)).scalar_one() == 0
    with store.session_scope() as session:
        assert store._latest_id(session, rasa_stores.WARM_UP_SENDER) is None  # nothing stored

    # the first message now opens nothing new
    opened.clear()
    with store.session_scope() as session:
        store._latest_id(session, "citizen-1")
    assert limiter.hit(limit_settings().rest_sender, "citizen-1").allowed
    assert opened == []


def test_a_part_that_cannot_be_warmed_is_logged_and_the_rest_still_is(monkeypatch, caplog):
    import xiaoan.ratelimit as ratelimit

    monkeypatch.setattr(ratelimit, "get_rate_limiter", lambda: (_ for _ in ()).throw(RuntimeError("no store")))
    assert rasa_stores.warm_up_stores() == ["validator"]
    assert "rate limiter could not be prepared" in caplog.text
