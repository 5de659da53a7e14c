"""Shared helpers and abstract bases for the form actions (complaint, report, ticket status).

Two bases, each documented below:

- :class:`FormSlotValidation` — the ``validate_<form>`` action of a form. Subclass it, name
  the action, write ``validate_<slot>`` methods that return :meth:`FormSlotValidation.ok` or
  :meth:`FormSlotValidation.fail`, and optionally :meth:`FormSlotValidation.prefill` (what the
  opening message already says). The base tells activation, answers and returns from an
  interruption apart, lets interruptions through (so the rules handle them), counts failed
  answers per slot and offers a human agent after the second, and handles the "继续填写"
  button.
- :class:`AskSlotAction` — the ``action_ask_<slot>`` action the form runs to ask a question.
  Subclass it with ``slot = "<slot>"``; it utters ``utter_ask_<slot>`` (override
  :meth:`AskSlotAction.response`) unless the validation message already asked again.

Plus small tracker helpers (latest text/intent/entity, the form's start, the idempotency key,
the channel), :func:`response_text` to read wording from the domain's responses, and
:func:`ticket_service` (the tickets service factory, imported at call time).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import string
from abc import ABC, abstractmethod
from typing import Any, Dict, List, Optional, Text, Tuple

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from rasa_sdk.utils import call_potential_coroutine

from xiaoan.channels.names import channel_name
from xiaoan.localtime import month_day, to_shanghai
from xiaoan.understanding.merchants import is_generic_merchant

logger = logging.getLogger(__name__)

#: Version of `utter_privacy_notice` (domain.yml, forms section). Bump it whenever that text changes:
#: it is stored with every ticket so that one knows which notice the citizen saw.
PRIVACY_NOTICE_VERSION = "2026-11-v1"

#: Bookkeeping slots (domain.yml, forms section).
FAILED_SLOT = "form_failed_slot"
FAILURE_COUNT = "form_failure_count"
REPROMPTED = "form_reprompted"
#: A cancel during a form with answers in it, waiting for its confirmation (actions/forms.py).
CANCEL_PENDING = "cancel_pending"
#: After this many consecutive failed answers to one question, a human agent is offered.
MAX_FAILURES = 2
#: A form asks the same slot at most this often the normal way; the third time it changes
#: strategy (an optional slot is skipped, a required one is asked with an example, the fourth
#: time a human agent is offered with everything gathered so far), and from the fifth time the
#: conversation goes to a human agent.
ASK_STRATEGY_AT = 3
ASK_HANDOFF_AT = 5
#: Slots whose answer is free text: any reply parses as a value, so an explicit interruption
#: (cancel, a human agent, a real question) wins over reading it as the answer.
FREE_TEXT_SLOTS = frozenset({"facts", "claim"})
#: What a confident explicit interruption looks like to the classifier, by kind.
INTERRUPTION_INTENTS = {
    "human": ("request_human",),
    "cancel": ("cancel",),
    "question": ("ask_business_registration", "ask_consumer_rights", "ask_regulation"),
}
#: Intents that interrupt on their own when the reply is no value (asking whether it is a machine).
SELF_EVIDENT_INTERRUPTIONS = ("bot_challenge",)
#: The entity set by this area's buttons (`/inform{"form_choice": "..."}`).
FORM_CHOICE = "form_choice"
CONTINUE = "continue"
#: Tells action_handoff why the citizen went to a human (its REASONS, actions/handoff.py).
HANDOFF_REASON = "handoff_reason"
FORM_FAILED_REASON = "form_failed"

# --------------------------------------------------------------------------------------------
# Reading the tracker
# --------------------------------------------------------------------------------------------


def latest_text(tracker: Tracker) -> Text:
    """The citizen's latest message ("" for none); a button click gives its payload ("/affirm")."""
    return ((tracker.latest_message or {}).get("text") or "").strip()


def latest_intent(tracker: Tracker) -> Optional[Text]:
    """The intent of the citizen's latest message."""
    return ((tracker.latest_message or {}).get("intent") or {}).get("name")


def latest_confidence(tracker: Tracker) -> float:
    """The classifier's confidence in the latest message's intent (0 when unknown)."""
    value = ((tracker.latest_message or {}).get("intent") or {}).get("confidence")
    return float(value) if isinstance(value, (int, float)) else 0.0


def _chose_to_continue(user_event: Dict[Text, Any]) -> bool:
    entities = ((user_event.get("parse_data") or {}).get("entities") or [])
    return any(e.get("entity") == FORM_CHOICE and e.get("value") == CONTINUE for e in entities)


def times_asked(tracker: Tracker, form_name: Text, slot: Text) -> int:
    """How often in a row `form_name` has asked for `slot` (since another slot was asked).

    Every question a form asks is recorded as ``SlotSet("requested_slot", slot)`` among the
    form's events, also when the same slot is asked again after a failed answer or an
    interruption; a rejected run records none. The marker Rasa inserts right before
    ``ActionExecuted(form)`` in the tracker it sends to the validation action
    (rasa/core/actions/forms.py, `_temporary_tracker`) is no question and is not counted.
    """
    events = list(tracker.events)
    count = 0
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        kind = event.get("event")
        if kind == "active_loop" and event.get("name") == form_name:
            break
        if kind == "user" and _chose_to_continue(event):
            break  # "继续填写": the citizen chose to go on here, the count starts again
        if kind != "slot" or event.get("name") != "requested_slot":
            continue
        following = events[index + 1] if index + 1 < len(events) else {}
        if following.get("event") == "action" and following.get("name") == form_name:
            continue
        if event.get("value") == slot:
            count += 1
        elif event.get("value") is not None:
            break
    return count


def latest_entity(tracker: Tracker, entity: Text) -> Optional[Text]:
    """The value of `entity` in the latest message (the last one when there are several)."""
    values = [e.get("value") for e in (tracker.latest_message or {}).get("entities") or []
              if e.get("entity") == entity and e.get("value") not in (None, "")]
    return str(values[-1]) if values else None


# Characters that end a business name when reading leftwards from the word DIET tagged. The kinds
# of business that name nobody ("健身", "商家") are xiaoan.understanding.merchants' one list.
_NAME_LEFT_STOP = frozenset("的在家个那这一是叫了从去到和跟与被给对向找说把我你他她们有个")
MAX_MERCHANT_CHARS = 30


def merchant_from_message(tracker: Tracker) -> Optional[Text]:
    """The business named in the latest message, or None.

    The NLU often tags only the last word of a name ("乐活健身" -> "健身"), so the span is
    widened leftwards over Chinese characters up to a word that ends a name (的, 在, 那家 ...);
    a bare kind of business ("健身房", "商家") is not a name.
    """
    message = tracker.latest_message or {}
    text = message.get("text") or ""
    for entity in reversed(message.get("entities") or []):
        if entity.get("entity") != "respondent_name" or not entity.get("value"):
            continue
        start, end = entity.get("start"), entity.get("end")
        if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text):
            while (start > 0 and "\u4e00" <= text[start - 1] <= "\u9fff" and text[start - 1] not in _NAME_LEFT_STOP
                   and end - start < MAX_MERCHANT_CHARS):
                start -= 1
            name = text[start:end].strip()
        else:
            name = str(entity["value"]).strip()
        if name and not is_generic_merchant(name):
            return name
    return None


def is_payload(text: Text) -> bool:
    """Whether a message is a button payload ("/inform{...}") rather than typed text."""
    return text.startswith("/")


def started_by_latest_message(tracker: Tracker, form_name: Text) -> bool:
    """Whether `form_name`, now starting, was started by the citizen's latest message.

    False when other actions ran between that message and the activation (a rule that
    re-activates the form after a failed look-up, say): then the message is no opening to
    take slots from.
    """
    activated = False
    for event in reversed(tracker.events):
        kind = event.get("event")
        if not activated:
            activated = kind == "active_loop" and event.get("name") == form_name
            continue
        if kind == "user":
            return True
        if kind == "action" and event.get("name") != "action_listen":
            return False
    return False


def form_started_at(tracker: Tracker, form_name: Text) -> Optional[float]:
    """Timestamp of the event that activated `form_name` most recently (None if none)."""
    for event in reversed(tracker.events):
        if event.get("event") == "active_loop" and event.get("name") == form_name:
            timestamp = event.get("timestamp")
            return float(timestamp) if timestamp is not None else None
    return None


def idempotency_key(tracker: Tracker, form_name: Text, *fallback_parts: Any) -> Text:
    """The key that makes a form's submission create one ticket however often it is sent.

    ``f"{conversation_id}:{timestamp of the form's activation}"`` (docs/tickets-interface.md):
    a repeated confirmation, a retried action call or a double click of the same filled form
    gives the same key. Without an activation event in the tracker (a trimmed history), a
    digest of `fallback_parts` (the draft's fields) stands in for the timestamp.
    """
    started = form_started_at(tracker, form_name)
    if started is not None:
        return f"{tracker.sender_id}:{started:.6f}"
    digest = hashlib.sha256(repr(fallback_parts).encode("utf-8")).hexdigest()[:24]
    return f"{tracker.sender_id}:draft-{digest}"


def ticket_channel(tracker: Tracker) -> Text:
    """The channel stored with a ticket: `xiaoan.channels.names.channel_name` of the latest message."""
    return channel_name(tracker.get_latest_input_channel(), tracker.sender_id)


def response_text(domain: DomainDict, name: Text, **values: Any) -> Text:
    """The first text of response `name` in the domain, with `{variables}` filled in.

    Used for labels the actions put into other messages (utter_label_*), so that all wording
    stays in domain.yml (forms section). A variable without a value stays as it is.
    """
    variations = (domain.get("responses") or {}).get(name) or []
    template = next((v.get("text") for v in variations if v.get("text")), None)
    if template is None:
        logger.warning("response %s missing from the domain", name)
        return ""

    class _Keep(dict):
        def __missing__(self, key: str) -> str:
            return "{" + key + "}"

    return string.Formatter().vformat(template, (), _Keep(values))


def zh_date(domain: DomainDict, value: dt.date | dt.datetime | None) -> Text:
    """A date as citizens read it ("11月27日", utter_label_date); datetimes in Shanghai time."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = to_shanghai(value).date()
    return response_text(domain, "utter_label_date", month=value.month, day=value.day) or month_day(value)


def ticket_service():
    """The tickets service (`xiaoan.tickets.service.get_ticket_service()`), imported at call time.

    Tests replace the factory with `monkeypatch.setattr(xiaoan.tickets.service,
    "get_ticket_service", ...)`.
    """
    from xiaoan.tickets import service

    return service.get_ticket_service()


# --------------------------------------------------------------------------------------------
# Validation base
# --------------------------------------------------------------------------------------------

ACTIVATION, ANSWER, RESUME = "activation", "answer", "resume"


def _form_turn(tracker: Tracker) -> Dict[Text, Any]:
    """What this call of a form validation decided, kept on the call's tracker (rasa-sdk builds a
    tracker per request; the action object is shared by concurrent requests; each call starts
    afresh in `get_extraction_events`)."""
    turn = getattr(tracker, "_xiaoan_form_turn", None)
    if turn is None:
        turn = {}
        tracker._xiaoan_form_turn = turn  # type: ignore[attr-defined]
    return turn


class FormSlotValidation(FormValidationAction, ABC):
    """Base of the ``validate_<form>`` actions of this area.

    How to use it::

        class ValidateMyForm(FormSlotValidation):
            def name(self):
                return "validate_my_form"

            def prefill(self, dispatcher, tracker, domain):
                return {"some_slot": ...}        # from the opening message; optional

            def validate_some_slot(self, value, dispatcher, tracker, domain):
                if good(value):
                    return self.ok("some_slot", value, tracker)
                return self.fail("some_slot", dispatcher, tracker, "utter_invalid_some_slot")

    Each run is one of three kinds (:meth:`run_kind`):

    - activation — the form starts: :meth:`prefill` fills what the opening message gives;
      nothing is validated and nothing is said about values kept from before.
    - answer — the citizen answered the question: the slot candidates of this message are
      validated with the ``validate_<slot>`` methods. A message that filled nothing (an
      excluded intent: cancel, question, human agent) returns no event, so Rasa rejects the
      form and the rules handle the interruption. The "继续填写" button (form_choice
      "continue") resets the failure count and the question is asked again.
      :meth:`before_validation` may handle a message first (corrections, codes found in it).
    - resume — the form comes back after an interruption: nothing to validate.

    :meth:`fail` utters the explanation (which asks again) the first time and the offer of a
    human agent (`utter_offer_human_form`) the second time in a row for the same slot; the
    flag slot `form_reprompted` then keeps :class:`AskSlotAction` from repeating the
    question. :meth:`ok` clears the count when the failing slot is answered.
    """

    #: What the second failed answer in a row says instead of asking again.
    offer_human_response = "utter_offer_human_form"
    #: Slots asked again by design (the read-back after each change): no change of strategy.
    reasked_by_design: Tuple[Text, ...] = ()

    @abstractmethod
    def name(self) -> Text:
        """`validate_<form>` (abstract: the action server registers only concrete subclasses)."""

    # -- run --------------------------------------------------------------------------------

    def run_kind(self, tracker: Tracker) -> Text:
        """ACTIVATION, ANSWER or RESUME for the tracker Rasa sends to the validation action."""
        for event in reversed(tracker.events):
            kind = event.get("event")
            if kind == "active_loop" and event.get("name") == self.form_name():
                return ACTIVATION
            if kind == "user":
                return ANSWER
            if kind == "action" and event.get("name") not in (self.form_name(), "action_listen"):
                return RESUME
        return ANSWER

    # rasa-sdk's own `run()` drives each call: `extract_<slot>` methods (`get_extraction_events`),
    # then the validation (`get_validation_events`, below: context first, `validate_<slot>`),
    # then the next slot (`next_requested_slot`, below: or a change of strategy).

    async def get_extraction_events(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: DomainDict) -> List[EventType]:
        """rasa-sdk's first step (`extract_<slot>` methods); a new call starts with a clean slate."""
        tracker._xiaoan_form_turn = {}  # type: ignore[attr-defined]
        return await super().get_extraction_events(dispatcher, tracker, domain)

    async def get_validation_events(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: DomainDict) -> List[EventType]:
        """Validate, prefill or pass through (see the class docstring); rasa-sdk's validation step.

        A change of strategy (:meth:`change_strategy`) adds its events here and takes the place
        of the next question; an interruption returns nothing, and no next slot follows.
        """
        turn = _form_turn(tracker)
        updates = await self.validate(dispatcher, tracker, domain)
        if updates is None:
            turn["interrupted"] = True
            return []
        if REPROMPTED not in updates and tracker.get_slot(REPROMPTED):
            updates[REPROMPTED] = False  # a new question: the form asks it again
        if tracker.get_slot(CANCEL_PENDING):
            updates[CANCEL_PENDING] = None  # the form goes on: a cancel asked to confirm is dropped
        tracker.slots.update(updates)
        events: List[EventType] = [SlotSet(name, value) for name, value in updates.items()]
        next_slot = await super().next_requested_slot(dispatcher, tracker, domain)
        if next_slot and next_slot.get("value"):
            strategy = await self.change_strategy(next_slot["value"], updates, dispatcher, tracker, domain)
            if strategy is not None:
                turn["next_slot_decided"] = True
                return events + strategy
        return events

    async def next_requested_slot(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: DomainDict) -> Optional[EventType]:
        """rasa-sdk's next slot, unless this call was an interruption or changed strategy."""
        turn = _form_turn(tracker)
        if turn.get("interrupted") or turn.get("next_slot_decided"):
            return None
        return await super().next_requested_slot(dispatcher, tracker, domain)

    async def validate(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                       domain: DomainDict) -> Optional[Dict[Text, Any]]:
        """The slot updates of this call by its kind (:meth:`run_kind`); None: the message
        interrupts the form (Rasa rejects it and the rules handle the interruption)."""
        kind = self.run_kind(tracker)
        updates: Dict[Text, Any] = {}
        if kind == ACTIVATION:
            updates.update(self.reset_bookkeeping(tracker))
            updates.update(await call_potential_coroutine(self.prefill(dispatcher, tracker, domain)) or {})
        elif kind == ANSWER:
            required = await self.required_slots(self.domain_slots(domain), dispatcher, tracker, domain)
            requested = tracker.get_slot("requested_slot")
            candidates = {name: value for name, value in tracker.slots_to_validate().items()
                          if name in required or name == requested}
            text = latest_text(tracker)
            if requested in required and text and not is_payload(text):
                # context first: the reply is read as a value of the slot asked for; it
                # interrupts the form only when it is an explicit interruption and no value
                if self.interrupts(requested, text, tracker):
                    return None
                candidates.setdefault(requested, text)
            if not candidates:
                return None  # an interruption (a button of another kind): let the form be rejected
            if latest_entity(tracker, FORM_CHOICE) == CONTINUE:
                updates.update({FAILURE_COUNT: 0, FAILED_SLOT: None})
                if tracker.get_slot(HANDOFF_REASON) == FORM_FAILED_REASON:
                    updates[HANDOFF_REASON] = None
                for name in candidates:
                    updates[name] = None
            else:
                updates.update(await self._validate_candidates(candidates, dispatcher, tracker, domain))
        return updates

    def interrupts(self, slot: Text, text: Text, tracker: Tracker) -> bool:
        """Whether a typed reply to the question for `slot` interrupts the form.

        Only an explicit interruption (a request for a person, a cancel, a real question: cues
        in the text AND the classifier agreeing) that is not also a valid value of the slot. For
        free-text slots (facts, claim) every reply is a value, so the explicit interruption wins.
        """
        from xiaoan.understanding.interruptions import explicit_interruption
        from xiaoan.understanding.slots import parse_slot_value

        intent = latest_intent(tracker)
        confidence = latest_confidence(tracker)
        kind = explicit_interruption(text, intent, confidence)
        explicit = kind is not None and intent in INTERRUPTION_INTENTS.get(kind, ())
        if not explicit and not (intent in SELF_EVIDENT_INTERRUPTIONS and confidence >= 0.8):
            return False
        if slot in FREE_TEXT_SLOTS and explicit:
            return True
        try:
            return parse_slot_value(slot, text) is None
        except Exception:  # noqa: BLE001 - a parser bug must not lose the citizen's message
            logger.exception("parser for %s failed", slot)
            return True

    async def change_strategy(self, slot: Text, updates: Dict[Text, Any], dispatcher: CollectingDispatcher,
                              tracker: Tracker, domain: DomainDict) -> Optional[List[EventType]]:
        """What to do instead of asking `slot` once more; None to ask as usual.

        The third time in a row the form would ask the same slot, an optional slot
        (:meth:`skip_value`) is skipped and a required one is asked with an example of an answer;
        the fourth time a human agent is offered with everything gathered; from the fifth time
        the conversation goes to a human agent. A failed answer's own explanation (which asks
        again, and offers a human after two failures in a row) takes the place of the first two.
        """
        if slot in self.reasked_by_design:
            return None
        asked = times_asked(tracker, self.form_name(), slot) + 1
        if asked < ASK_STRATEGY_AT:
            return None
        skip = self.skip_value(slot)
        if skip is not None:
            logger.info("conversation %s: %s asked %d times, skipped", tracker.sender_id, slot, asked)
            dispatcher.utter_message(response="utter_slot_skipped")
            tracker.slots[slot] = skip
            more: List[EventType] = [SlotSet(slot, skip), SlotSet(REPROMPTED, False)]
            tracker.slots[REPROMPTED] = False
            next_slot = await self.next_requested_slot(dispatcher, tracker, domain)
            return more + ([next_slot] if next_slot else [])
        if asked >= ASK_HANDOFF_AT:
            logger.info("conversation %s: %s asked %d times, handing over to a human agent",
                        tracker.sender_id, slot, asked)
            dispatcher.utter_message(response="utter_form_to_human")
            return [SlotSet(HANDOFF_REASON, FORM_FAILED_REASON), SlotSet(REPROMPTED, False),
                    SlotSet("requested_slot", None), ActiveLoop(None), FollowupAction("action_handoff")]
        if updates.get(REPROMPTED):
            return None  # the failed answer's explanation (or the offer) already asked again
        if asked == ASK_STRATEGY_AT:
            example = self.example_response(slot, domain)
            if example:
                dispatcher.utter_message(response=example)
                return [SlotSet(REPROMPTED, True), SlotSet("requested_slot", slot)]
        if asked >= ASK_STRATEGY_AT and updates.get(HANDOFF_REASON) != FORM_FAILED_REASON:
            dispatcher.utter_message(response=self.offer_human_response)
            return [SlotSet(REPROMPTED, True), SlotSet(HANDOFF_REASON, FORM_FAILED_REASON),
                    SlotSet("requested_slot", slot)]
        return None

    def example_response(self, slot: Text, domain: DomainDict) -> Optional[Text]:
        """The question again with an example of an answer (`utter_invalid_<slot>`), if the domain has one."""
        name = f"utter_invalid_{slot}"
        return name if name in (domain.get("responses") or {}) else None

    def skip_value(self, slot: Text) -> Any:
        """The value an optional slot gets when the citizen cannot answer it (None: required)."""
        return None

    async def _validate_candidates(self, candidates: Dict[Text, Any], dispatcher: CollectingDispatcher,
                                   tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        updates: Dict[Text, Any] = {}
        handled = await call_potential_coroutine(self.before_validation(candidates, dispatcher, tracker, domain))
        if handled is not None:
            updates.update(handled)
            tracker.slots.update(handled)
            candidates = {k: v for k, v in candidates.items() if k not in handled}
            if not candidates:
                return updates
        for name, value in candidates.items():
            method = getattr(self, f"validate_{name}", None)
            if method is None:
                updates[name] = value
                continue
            result = await call_potential_coroutine(method(value, dispatcher, tracker, domain))
            if isinstance(result, dict):
                updates.update(result)
                tracker.slots.update(result)
        return updates

    # -- hooks ------------------------------------------------------------------------------

    def prefill(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                domain: DomainDict) -> Dict[Text, Any]:
        """Slots to set from the opening message when the form starts (default: none)."""
        return {}

    def before_validation(self, candidates: Dict[Text, Any], dispatcher: CollectingDispatcher,
                          tracker: Tracker, domain: DomainDict) -> Optional[Dict[Text, Any]]:
        """Handle an answer before the ``validate_<slot>`` methods.

        Returns:
            None to validate as usual; else slot updates, and candidates named in them are not
            validated any more (e.g. a correction resets a field instead of using the message).
        """
        return None

    def reset_bookkeeping(self, tracker: Tracker) -> Dict[Text, Any]:
        """Failure count and flags back to their start values (only those that changed)."""
        updates: Dict[Text, Any] = {}
        if tracker.get_slot(FAILED_SLOT) is not None:
            updates[FAILED_SLOT] = None
        if tracker.get_slot(FAILURE_COUNT):
            updates[FAILURE_COUNT] = 0
        return updates

    # -- results of validate_<slot> -----------------------------------------------------------

    def ok(self, slot: Text, value: Any, tracker: Tracker, **more: Any) -> Dict[Text, Any]:
        """A valid answer: set `slot` (and `more`), clear the failure count of that slot."""
        result: Dict[Text, Any] = {slot: value, **more}
        if tracker.get_slot(FAILED_SLOT) == slot:
            result.update({FAILED_SLOT: None, FAILURE_COUNT: 0})
            if tracker.get_slot(HANDOFF_REASON) == FORM_FAILED_REASON:
                result[HANDOFF_REASON] = None
        return result

    def fail(self, slot: Text, dispatcher: CollectingDispatcher, tracker: Tracker, response: Text,
             *, reasks: bool = True, **more: Any) -> Dict[Text, Any]:
        """A failed answer: explain (`response`) or, the second time in a row, offer a human.

        Args:
            slot: The slot whose answer failed (set back to None).
            dispatcher: To utter the explanation or the offer.
            tracker: The conversation.
            response: The explanation; it asks again when `reasks` (the default), so the
                form's question is not repeated after it.
            reasks: False when the form's question should follow the explanation.
            **more: Further slot updates (e.g. an address kept for later).

        Returns:
            The slot updates.
        """
        count = int(tracker.get_slot(FAILURE_COUNT) or 0) + 1 if tracker.get_slot(FAILED_SLOT) == slot else 1
        result: Dict[Text, Any] = {slot: None, FAILED_SLOT: slot, FAILURE_COUNT: count, **more}
        if count >= MAX_FAILURES:
            logger.info("conversation %s: answer for %s failed %d times, offering a human agent",
                        tracker.sender_id, slot, count)
            dispatcher.utter_message(response=self.offer_human_response)
            result.update({REPROMPTED: True, HANDOFF_REASON: FORM_FAILED_REASON})
        else:
            dispatcher.utter_message(response=response)
            result[REPROMPTED] = reasks
        return result


# --------------------------------------------------------------------------------------------
# Ask base
# --------------------------------------------------------------------------------------------


class AskSlotAction(Action, ABC):
    """Base of the ``action_ask_<slot>`` actions: the question a form asks for one slot.

    How to use it::

        class ActionAskPhone(AskSlotAction):
            slot = "phone"                         # name() is "action_ask_phone"

            def response(self, tracker):           # optional: default "utter_ask_<slot>"
                return "utter_ask_phone"

            def response_values(self, tracker, domain):   # optional: variables of the response
                return {}

            def before_asking(self, dispatcher, tracker, domain):  # optional: e.g. a notice
                return []

    Rasa prefers ``action_ask_<slot>`` over ``utter_ask_<slot>``, so the same slot can be asked
    differently per form and situation. Nothing is asked when the validation's explanation
    already asked again (slot `form_reprompted`).
    """

    @property
    @abstractmethod
    def slot(self) -> Text:
        """The slot asked; subclasses set it as a class attribute (`slot = "phone"`)."""

    def name(self) -> Text:
        """`action_ask_<slot>`."""
        return f"action_ask_{self.slot}"

    def response(self, tracker: Tracker) -> Text:
        """The response that asks the question."""
        return f"utter_ask_{self.slot}"

    def response_values(self, tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        """Variables of the response."""
        return {}

    def before_asking(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                      domain: DomainDict) -> List[EventType]:
        """Said before the question (default nothing); returns events."""
        return []

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: DomainDict) -> List[EventType]:
        """Ask the question, unless the validation already asked again."""
        if tracker.get_slot(REPROMPTED):
            return []
        events = self.before_asking(dispatcher, tracker, domain)
        dispatcher.utter_message(response=self.response(tracker), **self.response_values(tracker, domain))
        return events
