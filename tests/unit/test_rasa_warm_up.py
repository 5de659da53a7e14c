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
