"""TED's predictions remembered per state history (xiaoan.nlu.compact.CompactTEDPolicy, issue 13).

A tiny core model is trained with the compact TED; its predictions with the cache must be exactly
the predictions without it, for every tracker, however often it is asked.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from xiaoan.nlu.compact import CompactTEDPolicy, PredictionCache, frozen_states

DOMAIN = """version: "3.1"
intents: [greet, ask_refund, ask_license, thank]
slots:
  topic:
    type: categorical
    values: [refund, license]
    influence_conversation: true
    mappings: [{type: custom}]
responses:
  utter_greet: [{text: 您好}]
  utter_refund: [{text: 退款这样办}]
  utter_license: [{text: 执照这样办}]
  utter_welcome: [{text: 不客气}]
"""

STORIES = """version: "3.1"
stories:
- story: refund
  steps:
  - intent: greet
  - action: utter_greet
  - intent: ask_refund
  - action: utter_refund
  - intent: thank
  - action: utter_welcome
- story: license
  steps:
  - intent: greet
  - action: utter_greet
  - intent: ask_license
  - action: utter_license
  - intent: thank
  - action: utter_welcome
- story: license directly
  steps:
  - intent: ask_license
  - action: utter_license
- story: refund with a topic
  steps:
  - intent: ask_refund
  - slot_was_set:
    - topic: refund
  - action: utter_refund
"""

CONFIG = """recipe: default.v1
language: zh
assistant_id: ted-cache-test
pipeline: []
policies:
  - name: xiaoan.nlu.compact.CompactTEDPolicy
    max_history: 3
    epochs: 40
    random_seed: 1
"""

CONVERSATIONS = [
    ["greet"],
    ["greet", "ask_refund"],
    ["greet", "ask_license", "thank"],
    ["ask_license"],
    ["ask_refund", "thank", "greet", "ask_license"],
]


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    from rasa.core.agent import Agent
    from rasa.model_training import train_core

    work = tmp_path_factory.mktemp("ted-cache")
    (work / "domain.yml").write_text(DOMAIN, encoding="utf-8")
    (work / "stories.yml").write_text(STORIES, encoding="utf-8")
    (work / "config.yml").write_text(CONFIG, encoding="utf-8")
    model = train_core(domain=str(work / "domain.yml"), config=str(work / "config.yml"),
                       stories=str(work / "stories.yml"), output=str(work / "models"), fixed_model_name="m")
    return Agent.load(str(Path(model)))


def _policy(agent) -> CompactTEDPolicy:
    for node in agent.processor.graph_runner._instantiated_nodes.values():
        component = getattr(node, "_component", None)
        if isinstance(component, CompactTEDPolicy):
            return component
    raise AssertionError("no CompactTEDPolicy in the loaded graph")


def _trackers(agent):
    from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    domain = agent.domain
    trackers = []
    for number, intents in enumerate(CONVERSATIONS):
        events = [ActionExecuted("action_listen")]
        for intent in intents:
            events.append(UserUttered(f"text of {intent}", {"name": intent, "confidence": 1.0}))
            tracker = DialogueStateTracker.from_events(f"c{number}-{len(events)}", list(events), domain.slots)
            trackers.append(tracker)
            if intent == "ask_refund":
                events.append(SlotSet("topic", "refund"))
            events.append(ActionExecuted("utter_greet" if intent == "greet" else "utter_welcome"))
            trackers.append(DialogueStateTracker.from_events(f"c{number}-{len(events)}b", list(events), domain.slots))
            events.append(ActionExecuted("action_listen"))
    return trackers


def _predict(policy, tracker, domain):
    return policy.predict_action_probabilities(tracker, domain)


def test_cached_predictions_are_exactly_the_uncached_ones(agent, monkeypatch):
    policy = _policy(agent)
    domain = agent.domain
    trackers = _trackers(agent)
    policy.prediction_cache._entries.clear()
    first = [_predict(policy, t, domain) for t in trackers]
    distinct = {frozen_states(policy._prediction_states(t, domain)) for t in trackers}
    assert len(policy.prediction_cache) == len(distinct) > 3
    hits_before = policy.prediction_cache.hits
    again = [_predict(policy, t, domain) for t in trackers]
    assert policy.prediction_cache.hits == hits_before + len(trackers)  # every one looked up
    monkeypatch.setattr(CompactTEDPolicy, "_cacheable", lambda self: False)
    plain = [_predict(policy, t, domain) for t in trackers]
    for a, b, c in zip(first, again, plain):
        assert a.probabilities == b.probabilities == c.probabilities
        assert a.is_end_to_end_prediction == c.is_end_to_end_prediction
        assert a.policy_name == c.policy_name and a.policy_priority == c.policy_priority


def test_a_returned_prediction_can_be_changed_without_changing_the_cache(agent):
    policy = _policy(agent)
    tracker = _trackers(agent)[1]
    first = _predict(policy, tracker, agent.domain)
    expected = list(first.probabilities)
    first.probabilities[0] = 42.0
    first.events.append("x")
    second = _predict(policy, tracker, agent.domain)
    assert second.probabilities == expected and second.events == []


def test_the_whole_agent_answers_the_same_with_and_without_the_cache(agent, monkeypatch):
    async def replies(sender):
        out = []
        for intent in ("greet", "ask_license", "thank", "ask_refund"):
            out.append([m.get("text") for m in await agent.handle_text(f"/{intent}", sender_id=sender)])
        tracker = await agent.tracker_store.retrieve(sender)
        return out, [e.action_name for e in tracker.events if e.type_name == "action"]

    loop = asyncio.new_event_loop()
    try:
        cached = loop.run_until_complete(replies("with-cache"))
        monkeypatch.setattr(CompactTEDPolicy, "_cacheable", lambda self: False)
        plain = loop.run_until_complete(replies("without-cache"))
    finally:
        loop.close()
    assert cached == plain
    assert any(cached[0]) and len(cached[1]) > 8


def test_an_end_to_end_ted_is_never_cached(agent, monkeypatch):
    """A TED trained on user text reads the text: its predictions go to Rasa every time."""
    from rasa.core.policies.ted_policy import TEDPolicy
    from rasa.shared.nlu.constants import TEXT

    policy = _policy(agent)
    tracker = _trackers(agent)[-1]
    assert policy._cacheable()
    calls = []
    monkeypatch.setattr(TEDPolicy, "predict_action_probabilities",
                        lambda self, *args, **kwargs: calls.append(1) or _Prediction())
    monkeypatch.setattr(policy, "fake_features", {**(policy.fake_features or {}), TEXT: []})
    assert not policy._cacheable()
    policy.prediction_cache._entries.clear()
    _predict(policy, tracker, agent.domain)
    _predict(policy, tracker, agent.domain)
    assert len(calls) == 2 and len(policy.prediction_cache) == 0


class _Prediction:
    probabilities = [1.0]
    events: list = []
    optional_events: list = []


def test_prediction_cache_is_bounded_and_least_recently_used_goes_first():
    cache = PredictionCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recent
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3
    assert len(cache) == 2 and cache.hits == 3 and cache.misses == 1


def test_frozen_states_tell_slot_values_and_order_apart():
    one = [{"user": {"intent": "greet"}}, {"prev_action": {"action_name": "utter_greet"}, "slots": {"topic": (1.0, 0.0)}}]
    other = [{"user": {"intent": "greet"}}, {"prev_action": {"action_name": "utter_greet"}, "slots": {"topic": (0.0, 1.0)}}]
    swapped = list(reversed(one))
    assert frozen_states(one) == frozen_states([dict(s) for s in one])
    assert len({frozen_states(one), frozen_states(other), frozen_states(swapped)}) == 3
    hash(frozen_states(one))
