"""A conversation's applied events and dialogue states, computed from where the last turn left off,
and tracker copies without a replay (issue 13: a turn costs the same at turn 60 as at turn 1).

Rasa 3.6 derives two things from the whole session for every prediction: the *applied events*
(`DialogueStateTracker.applied_events`: the events without what was reverted) and, by replaying
them one by one on an empty tracker, the *dialogue states* (`Domain.states_for_tracker_history`:
one state per action). RulePolicy, MemoizationPolicy and TED each ask for the states, a turn makes
two to four predictions, and `applied_events` is asked many more times; so a turn's cost grows
with the length of the conversation (at turn 60, a quarter of Rasa's time went here).

Both are left folds over the events: a new event changes only what comes after it. Here each is
remembered per conversation with the exact events it was computed from (compared by identity:
logged events are never changed, and the tracker store hands out trackers that share them), and a
later call whose events start with those continues the fold with the new events only. Anything
else (a reverted turn, a restart, another process's events, a new form name in `applied_events`,
whose treatment of earlier events depends on every form named anywhere in the session) computes
from scratch, exactly as Rasa does. The fold bodies are Rasa 3.6.21's own, step for step; the
tests compare both functions with Rasa's on every prefix of real and random conversations.

Installed by :func:`install` when the model's components are imported (xiaoan.nlu.compact).
Training trackers (`TrackerWithCachedStates`, which cache their states themselves) take Rasa's path.
"""

from __future__ import annotations

import collections
import copy
import threading
from dataclasses import dataclass
from typing import Any, Dict, Hashable, List, Optional, Tuple

from rasa.shared.core import constants as core_constants
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted, ActionReverted, ActiveLoop, Restarted, SessionStarted, UserUtteranceReverted, UserUttered,
)
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker

#: Conversations remembered per process (least recently used dropped), for each of the two folds.
MEMO_SIZE = 512

_ORIGINAL_APPLIED = DialogueStateTracker.applied_events
_ORIGINAL_STATES = Domain.states_for_tracker_history
_ORIGINAL_COPY = DialogueStateTracker.copy


class LRU:
    """A bounded map that drops the least recently used key first; thread-safe."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: "collections.OrderedDict[Hashable, Any]" = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def _starts_with(events: Any, prefix: Tuple[Any, ...]) -> bool:
    """Whether `events` begins with exactly the event objects of `prefix`."""
    if len(prefix) > len(events):
        return False
    for mine, theirs in zip(prefix, events):
        if mine is not theirs:
            return False
    return True


def _eligible(tracker: Any) -> bool:
    return isinstance(tracker, DialogueStateTracker) and not isinstance(tracker, TrackerWithCachedStates)


# --- applied events ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Applied:
    events: Tuple[Any, ...]          # the tracker's events the fold has seen
    loop_names: frozenset            # names of the forms activated anywhere in them
    applied: Tuple[Any, ...]         # the applied events of `events`


_applied_memo = LRU(MEMO_SIZE)


def _loop_names(events: Any) -> frozenset:
    return frozenset(event.name for event in events if isinstance(event, ActiveLoop) and event.name)


def _fold_applied(tracker: DialogueStateTracker, events: Any, loop_names: frozenset,
                  applied_events: List[Any]) -> List[Any]:
    """Rasa's `applied_events` loop over `events`, continuing `applied_events` (changed in place)."""
    for event in events:
        if isinstance(event, (Restarted, SessionStarted)):
            applied_events.clear()
        elif isinstance(event, ActionReverted):
            tracker._undo_till_previous(ActionExecuted, applied_events)
        elif isinstance(event, UserUtteranceReverted):
            tracker._undo_till_previous(UserUttered, applied_events)
            tracker._undo_till_previous(ActionExecuted, applied_events)
        elif (
            isinstance(event, ActionExecuted)
            and event.action_name in loop_names
            and not tracker._first_loop_execution_or_unhappy_path(event.action_name, applied_events)
        ):
            tracker._undo_till_previous_loop_execution(event.action_name, applied_events)
        else:
            applied_events.append(event)
    return applied_events


def applied_events(self: DialogueStateTracker) -> List[Any]:
    """`DialogueStateTracker.applied_events`, continued from this conversation's last call."""
    if not _eligible(self):
        return _ORIGINAL_APPLIED(self)
    events = self.events
    key = self.sender_id
    memo: Optional[_Applied] = _applied_memo.get(key)
    if memo is not None and _starts_with(events, memo.events):
        new = list(events)[len(memo.events):]
        names = memo.loop_names | _loop_names(new)
        if names == memo.loop_names:
            result = _fold_applied(self, new, names, list(memo.applied))
            if new:
                _applied_memo.put(key, _Applied(memo.events + tuple(new), names, tuple(result)))
            return result
    everything = tuple(events)
    names = _loop_names(everything)
    result = _fold_applied(self, everything, names, [])
    _applied_memo.put(key, _Applied(everything, names, tuple(result)))
    return result


# --- dialogue states --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _States:
    applied: Tuple[Any, ...]          # the applied events the fold has replayed
    replay: DialogueStateTracker      # an empty tracker after replaying them (never changed once stored)
    states: Tuple[Dict[str, Any], ...]
    last_ml_action_sub_state: Optional[Dict[str, Any]]
    turn_was_hidden: bool


_states_memo = LRU(MEMO_SIZE)


def snapshot(tracker: DialogueStateTracker) -> DialogueStateTracker:
    """An independent copy of a tracker in O(slots), not O(events).

    Rasa's `tracker.copy()` replays every event. Events are never changed once logged, so the
    copy shares them and copies only what `update` changes in place: the event list, the slots,
    the active loop and the latest action (a slot's value is replaced, never changed in place).
    Also the tracker store's copy of a cached conversation (xiaoan/rasa_stores.py).
    """
    clone = copy.copy(tracker)
    clone.events = collections.deque(tracker.events, maxlen=tracker.events.maxlen)
    clone.slots = {name: copy.copy(slot) for name, slot in tracker.slots.items()}  # as Rasa's own init
    clone.active_loop = copy.deepcopy(tracker.active_loop)
    clone.latest_action = copy.copy(tracker.latest_action)
    return clone


def _copy_state(state: Dict[str, Any]) -> Dict[str, Any]:
    """A state whose sub-states the caller may change (Rasa's featurizers do, on the last one)."""
    return {name: dict(sub) if isinstance(sub, dict) else sub for name, sub in state.items()}


def _frozen(rule_only_data: Optional[Dict[str, Any]]) -> Hashable:
    if not rule_only_data:
        return None
    return tuple(sorted((name, tuple(values or ())) for name, values in rule_only_data.items()))


class _Step:
    """One step of Rasa's `states_for_tracker_history` loop (its body, unchanged)."""

    def __init__(self, domain: Domain, omit_unset_slots: bool, ignore_rule_only_turns: bool,
                 rule_only_data: Optional[Dict[str, Any]]) -> None:
        self.domain = domain
        self.omit_unset_slots = omit_unset_slots
        self.ignore_rule_only_turns = ignore_rule_only_turns
        self.rule_only_data = rule_only_data

    def __call__(self, tr: DialogueStateTracker, hide_rule_turn: bool, states: List[Dict[str, Any]],
                 last_ml_action_sub_state: Any, turn_was_hidden: bool) -> Tuple[Any, bool]:
        """Appends the state of `tr` to `states` unless hidden; the loop's two variables after it."""
        domain = self.domain
        if self.ignore_rule_only_turns:
            if not turn_was_hidden:
                last_ml_action_sub_state = domain._get_prev_action_sub_state(tr)
            if not tr.followup_action and not tr.latest_action_name == tr.active_loop_name:
                turn_was_hidden = hide_rule_turn
            if turn_was_hidden:
                return last_ml_action_sub_state, turn_was_hidden
        state = domain.get_active_state(tr, omit_unset_slots=self.omit_unset_slots)
        if self.ignore_rule_only_turns:
            domain._remove_rule_only_features(state, self.rule_only_data)
            if states:
                domain._substitute_rule_only_user_input(state, states[-1])
            if last_ml_action_sub_state:
                state[core_constants.PREVIOUS_ACTION] = last_ml_action_sub_state
        states.append(domain._clean_state(state))
        return last_ml_action_sub_state, turn_was_hidden


def states_for_tracker_history(self: Domain, tracker: DialogueStateTracker, omit_unset_slots: bool = False,
                               ignore_rule_only_turns: bool = False,
                               rule_only_data: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
    """`Domain.states_for_tracker_history`, continued from this conversation's last call."""
    if not _eligible(tracker):
        return _ORIGINAL_STATES(self, tracker, omit_unset_slots, ignore_rule_only_turns, rule_only_data)
    step = _Step(self, omit_unset_slots, ignore_rule_only_turns, rule_only_data)
    applied = tracker.applied_events()
    key = (tracker.sender_id, id(self), tracker.is_rule_tracker, omit_unset_slots, ignore_rule_only_turns,
           _frozen(rule_only_data))
    memo: Optional[_States] = _states_memo.get(key)
    if memo is not None and _starts_with(applied, memo.applied):
        new = applied[len(memo.applied):]
        # the stored replay is only read when nothing is new (the state now); else a copy goes on
        replay = snapshot(memo.replay) if new else memo.replay
        states = list(memo.states)
        last_ml, hidden = memo.last_ml_action_sub_state, memo.turn_was_hidden
    else:
        replay = tracker.init_copy()
        states, last_ml, hidden = [], None, False
        new = applied
    for event in new:
        if isinstance(event, ActionExecuted):
            last_ml, hidden = step(replay, event.hide_rule_turn, states, last_ml, hidden)
        replay.update(event)
    if new or memo is None:
        _states_memo.put(key, _States(tuple(applied), replay, tuple(states), last_ml, hidden))
    result = [_copy_state(state) for state in states]
    step(replay, False, result, last_ml, hidden)  # the state now (Rasa's last prior tracker), not kept
    if len(result) > len(states):
        result[-1] = _copy_state(result[-1])
    return result


# --- copies ------------------------------------------------------------------------------------------


def copy_tracker(self: DialogueStateTracker) -> DialogueStateTracker:
    """`DialogueStateTracker.copy` without replaying the session.

    Rasa copies the tracker before every action it runs (the processor's temporary tracker) by
    replaying every event on an empty one. Logged events never change, so the copy shares them and
    copies only what `update` changes in place (`snapshot`). Only for plain trackers: subclasses
    (training trackers, `ResumingTracker`) keep Rasa's copy, which also changes their type.
    """
    if type(self) is not DialogueStateTracker:
        return _ORIGINAL_COPY(self)
    return snapshot(self)


# --- installation -----------------------------------------------------------------------------------


def install() -> None:
    """Put the incremental versions in place of Rasa's (idempotent)."""
    DialogueStateTracker.applied_events = applied_events  # type: ignore[assignment]
    DialogueStateTracker.copy = copy_tracker  # type: ignore[assignment]
    Domain.states_for_tracker_history = states_for_tracker_history  # type: ignore[assignment]


def uninstall() -> None:
    """Rasa's own versions again (tests)."""
    DialogueStateTracker.applied_events = _ORIGINAL_APPLIED  # type: ignore[assignment]
    DialogueStateTracker.copy = _ORIGINAL_COPY  # type: ignore[assignment]
    Domain.states_for_tracker_history = _ORIGINAL_STATES  # type: ignore[assignment]
    _applied_memo.clear()
    _states_memo.clear()
