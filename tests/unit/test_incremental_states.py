"""Applied events and dialogue states continued from the previous turn (xiaoan/nlu/incremental.py)
must equal Rasa's own, computed from scratch, after every event of every conversation.

Conversations are generated at random from the project's domain (intents, actions, forms, slots)
with the events that make the folds hard: reverted turns, reverted actions, restarts, new
sessions, forms activated and deactivated, rule-only hidden turns, follow-up actions; and they
are handed over between "turns" the way the tracker store does (a new tracker object sharing the
logged events).
"""

from __future__ import annotations

import collections
import contextlib
import copy
import random
from pathlib import Path

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted, ActionReverted, ActiveLoop, BotUttered, FollowupAction, Restarted, SessionStarted, SlotSet,
    UserUtteranceReverted, UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from xiaoan.nlu import incremental

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


@pytest.fixture(autouse=True)
def installed():
    incremental.install()
    incremental._applied_memo.clear()
    incremental._states_memo.clear()
    yield
    incremental.install()  # compact.py installs it for the whole process: leave it so


@contextlib.contextmanager
def rasas_own():
    """Rasa's two functions, without clearing what the incremental ones remember."""
    applied, states = DialogueStateTracker.applied_events, Domain.states_for_tracker_history
    copied = DialogueStateTracker.copy
    DialogueStateTracker.applied_events = incremental._ORIGINAL_APPLIED
    DialogueStateTracker.copy = incremental._ORIGINAL_COPY
    Domain.states_for_tracker_history = incremental._ORIGINAL_STATES
    try:
        yield
    finally:
        DialogueStateTracker.applied_events = applied
        DialogueStateTracker.copy = copied
        Domain.states_for_tracker_history = states


def _value(slot, rng: random.Random):
    kind = type(slot).__name__
    if kind == "BooleanSlot":
        return rng.choice([True, False, None])
    if kind == "CategoricalSlot":
        return rng.choice(list(slot.values) + [None])
    if kind == "FloatSlot":
        return rng.choice([1.0, 3.5, None])
    if kind == "ListSlot":
        return rng.choice([["a"], [], None])
    return rng.choice(["张伟", "13812345678", "", None, "浦东新区"])


def random_events(domain: Domain, rng: random.Random, turns: int) -> list:
    """A plausible-looking, sometimes odd, sequence of events."""
    forms = list(domain.form_names)
    actions = [a for a in domain.action_names_or_texts if a.startswith(("utter_", "action_")) and a != "action_listen"]
    slots = list(domain.slots)
    events: list = [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")]
    active = None
    for _ in range(turns):
        intent = rng.choice(list(domain.intents))
        events.append(UserUttered(f"说的话{rng.randint(0, 99)}", {"name": intent, "confidence": 0.9},
                                  [{"entity": "amount", "value": "5"}] if rng.random() < 0.2 else []))
        roll = rng.random()
        if roll < 0.06:
            events.append(UserUtteranceReverted())
            continue
        if roll < 0.09:
            events += [ActionExecuted(rng.choice(actions)), ActionReverted()]
        if roll < 0.12:
            events.append(Restarted())
            active = None
            events.append(ActionExecuted("action_listen"))
            continue
        if roll < 0.14:
            events += [ActionExecuted("action_session_start"), SessionStarted()]
            active = None
        for _ in range(rng.randint(1, 3)):
            choice = rng.random()
            hide = rng.random() < 0.25
            if choice < 0.25 and forms:
                form = active or rng.choice(forms)
                events.append(ActionExecuted(form, hide_rule_turn=hide))
                if active is None:
                    active = form
                    events.append(ActiveLoop(form))
                for slot in rng.sample(slots, k=rng.randint(0, 2)):
                    events.append(SlotSet(slot.name, _value(slot, rng)))
                if rng.random() < 0.3:
                    events.append(ActiveLoop(None))
                    active = None
            elif choice < 0.35:
                events.append(ActionExecuted(rng.choice(actions), hide_rule_turn=hide))
                events.append(FollowupAction(rng.choice(actions)))
            else:
                events.append(ActionExecuted(rng.choice(actions), hide_rule_turn=hide))
                if rng.random() < 0.5:
                    events.append(BotUttered("好的"))
                for slot in rng.sample(slots, k=rng.randint(0, 1)):
                    events.append(SlotSet(slot.name, _value(slot, rng)))
        events.append(ActionExecuted("action_listen"))
    return events


def _handover(tracker: DialogueStateTracker) -> DialogueStateTracker:
    """What the tracker store hands the next turn: a new object sharing the logged events."""
    return incremental.snapshot(tracker)


FLAGS = [
    {},  # RulePolicy
    {"ignore_rule_only_turns": True, "rule_only_data": {"slots": ["confirmation"], "active_loops": ["callback_form"]}},
    {"ignore_rule_only_turns": True, "rule_only_data": {}},
    {"omit_unset_slots": True},
]


def _check(tracker: DialogueStateTracker, domain: Domain) -> None:
    mine_applied = tracker.applied_events()
    mine = [tracker.past_states(domain, **flags) for flags in FLAGS]
    with rasas_own():
        theirs_applied = tracker.applied_events()
        theirs = [tracker.past_states(domain, **flags) for flags in FLAGS]
    assert [id(e) for e in mine_applied] == [id(e) for e in theirs_applied]
    for flags, a, b in zip(FLAGS, mine, theirs):
        assert a == b, (flags, len(tracker.events))


@pytest.mark.parametrize("seed", range(30))
def test_equal_to_rasa_after_every_event(domain, seed):
    rng = random.Random(seed)
    events = random_events(domain, rng, turns=rng.randint(8, 25))
    tracker = DialogueStateTracker(f"conversation-{seed}", domain.slots)
    for number, event in enumerate(events):
        tracker.update(event)
        if rng.random() < 0.3:
            tracker = _handover(tracker)
        _check(tracker, domain)
    assert number > 20


def test_several_conversations_interleaved_and_one_rewritten(domain):
    rng = random.Random(99)
    conversations = {name: random_events(domain, rng, turns=12) for name in ("a", "b", "c")}
    trackers = {name: DialogueStateTracker(name, domain.slots) for name in conversations}
    for step in range(max(len(e) for e in conversations.values())):
        for name, events in conversations.items():
            if step < len(events):
                trackers[name].update(events[step])
                _check(trackers[name], domain)
    # the same conversation id with other events (another process wrote it, or a test reuses an id)
    other = DialogueStateTracker("a", domain.slots)
    for event in random_events(domain, random.Random(5), turns=6):
        other.update(event)
        _check(other, domain)


def test_a_turn_is_continued_not_recomputed(domain, monkeypatch):
    """After the first call, the next turn replays only its own events."""
    rng = random.Random(3)
    tracker = DialogueStateTracker("long", domain.slots)
    for event in random_events(domain, rng, turns=30):
        tracker.update(event)
    tracker.past_states(domain)
    replayed = []
    original_update = DialogueStateTracker.update

    def counting_update(self, event, *args, **kwargs):
        replayed.append(event)
        return original_update(self, event, *args, **kwargs)

    tracker = _handover(tracker)
    tracker.update(UserUttered("再问一个", {"name": "greet", "confidence": 1.0}))
    tracker.update(ActionExecuted("utter_greet"))
    monkeypatch.setattr(DialogueStateTracker, "update", counting_update)
    states = tracker.past_states(domain)
    assert len(replayed) <= 2 < len(states)


def test_returned_states_can_be_changed_without_changing_the_next_answer(domain):
    rng = random.Random(7)
    tracker = DialogueStateTracker("mutate", domain.slots)
    for event in random_events(domain, rng, turns=10):
        tracker.update(event)
    first = tracker.past_states(domain)
    expected = copy.deepcopy(first)
    for state in first:
        for sub in state.values():
            if isinstance(sub, dict):
                sub["changed"] = "by a caller"
        state["extra"] = {}
    first.clear()
    assert tracker.past_states(domain) == expected


def test_training_trackers_take_rasas_path(domain):
    """Training trackers cache their own states: nothing is remembered for them here."""
    from rasa.shared.core.generator import TrackerWithCachedStates

    tracker = TrackerWithCachedStates("training", domain.slots, domain=domain)
    for event in random_events(domain, random.Random(11), turns=5):
        tracker.update(event)
    flags = FLAGS[1]
    mine = tracker.past_states(domain, **flags), tracker.applied_events()
    with rasas_own():
        theirs = tracker.past_states(domain, **flags), tracker.applied_events()
    assert mine == theirs
    assert len(incremental._states_memo) == 0 and len(incremental._applied_memo) == 0


def _observable(tracker: DialogueStateTracker, domain: Domain) -> dict:
    from rasa.shared.core.trackers import EventVerbosity

    return {"state": tracker.current_state(EventVerbosity.ALL), "applied": [id(e) for e in tracker.applied_events()],
            "states": tracker.past_states(domain), "latest_bot": tracker.latest_bot_utterance,
            "followup": tracker.followup_action, "loop": tracker.active_loop_name, "paused": tracker.is_paused()}


@pytest.mark.parametrize("seed", range(15))
def test_a_copy_is_rasas_copy_and_independent(domain, seed):
    rng = random.Random(1000 + seed)
    tracker = DialogueStateTracker(f"copy-{seed}", domain.slots)
    events = random_events(domain, rng, turns=rng.randint(5, 15))
    for number, event in enumerate(events):
        tracker.update(event)
        if rng.random() < 0.25 or number == len(events) - 1:
            mine = tracker.copy()
            with rasas_own():
                theirs = tracker.copy()
            assert type(mine) is DialogueStateTracker
            assert _observable(mine, domain) == _observable(theirs, domain) == _observable(tracker, domain)
    # changing the copy leaves the original as it was (what the processor's temporary tracker needs)
    before = _observable(tracker, domain)
    mine = tracker.copy()
    slot = next(s for s in domain.slots if type(s).__name__ == "TextSlot")
    for event in (UserUttered("新的", {"name": "greet", "confidence": 1.0}), SlotSet(slot.name, "改过"),
                  ActiveLoop("complaint_form"), ActionExecuted("complaint_form"), FollowupAction("utter_greet")):
        mine.update(event)
    assert _observable(tracker, domain) == before
    assert mine.get_slot(slot.name) == "改过" and mine.active_loop_name == "complaint_form"


def test_subclasses_keep_rasas_copy(domain):
    from rasa.shared.core.generator import TrackerWithCachedStates

    tracker = TrackerWithCachedStates("training", domain.slots, domain=domain)
    for event in random_events(domain, random.Random(4), turns=3):
        tracker.update(event)
    assert type(tracker.copy()) is TrackerWithCachedStates


def test_install_and_uninstall():
    incremental.uninstall()
    assert DialogueStateTracker.copy is incremental._ORIGINAL_COPY
    assert DialogueStateTracker.applied_events is incremental._ORIGINAL_APPLIED
    assert Domain.states_for_tracker_history is incremental._ORIGINAL_STATES
    incremental.install()
    incremental.install()
    assert DialogueStateTracker.applied_events is incremental.applied_events
    assert DialogueStateTracker.copy is incremental.copy_tracker
    assert Domain.states_for_tracker_history is incremental.states_for_tracker_history
