"""Going to a human agent: the handoff, the escalation check, the callback request form.

`action_handoff` puts the conversation in the agents' queue with everything gathered so far,
tells the citizen their place and a rough wait, and pauses the conversation (`ConversationPaused`):
Rasa keeps logging the citizen's messages for the agent but the assistant stays silent until the
agents' inbox resumes it. When no agent is online or the wait is long, it first offers a callback
instead (buttons `/request_human{"handoff_choice": "callback" | "queue"}`).

`action_escalation_check` is the custom slot mapping of the featurized slot `escalation`: Rasa's
`action_extract_slots` runs it on every citizen message, before predicting. It marks an urgent or
angry message; the rules of data/rules/handoff.yml then say `utter_emergency` (urgent only) and
run `action_handoff`.

Requests for a human and callback requests are limited per conversation (actions/limits.py,
limit `handoff`): over the limit the citizen hears when to try again (`utter_limit_handoff`)
and nothing is queued. The emergency numbers are said first all the same.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ConversationPaused, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.limits import handoff_allowed
from xiaoan.channels.names import channel_name
from xiaoan.handoff.models import REASONS
from xiaoan.handoff.service import InvalidInput, get_handoff_service
from xiaoan.handoff.slots import citizen_slots
from xiaoan.handoff.triggers import URGENT, detect_escalation

logger = logging.getLogger(__name__)

HANDOFF_ACTION = "action_handoff"
CALLBACK_FORM = "callback_form"
OFFER_HUMAN_RESPONSE = "utter_offer_human"
#: Offers of a human: after the second fallback (actions/conversation.py), and inside a form after
#: the second failed answer (actions/common.py).
OFFER_HUMAN_RESPONSES = (OFFER_HUMAN_RESPONSE, "utter_offer_human_form")
EMERGENCY_RESPONSE = "utter_emergency"
CHOICES = ("callback", "queue")
MAX_PREFERRED_TIME_CHARS = 100

#: Intents that say what the conversation is about (the others are answers, social talk, meta).
TOPIC_INTENTS = (
    "complain_refund", "complain_prepaid", "complain_general", "report_violation",
    "ask_business_registration", "ask_consumer_rights", "ask_regulation", "check_ticket_status",
    "out_of_scope",
)


# --- reading the tracker ------------------------------------------------------------------------

def latest_text(tracker: Tracker) -> Text:
    """The citizen's latest message text ("" for none)."""
    return (tracker.latest_message or {}).get("text") or ""


def latest_intent(tracker: Tracker) -> Optional[Text]:
    """The intent of the citizen's latest message."""
    return ((tracker.latest_message or {}).get("intent") or {}).get("name")


def _since_latest_user(tracker: Tracker) -> List[Dict[Text, Any]]:
    """Events after the citizen's latest message."""
    events = tracker.events
    for index in range(len(events) - 1, -1, -1):
        if events[index].get("event") == "user":
            return events[index + 1:]
    return list(events)


def _before_latest_user(tracker: Tracker) -> List[Dict[Text, Any]]:
    """Events between the citizen's previous message and the latest one (the bot's last turn)."""
    users = [i for i, e in enumerate(tracker.events) if e.get("event") == "user"]
    if not users:
        return []
    start = users[-2] + 1 if len(users) > 1 else 0
    return tracker.events[start:users[-1]]


def _uttered(events: List[Dict[Text, Any]], *responses: Text) -> bool:
    for event in events:
        if event.get("event") == "bot" and (event.get("metadata") or {}).get("utter_action") in responses:
            return True
        if event.get("event") == "action" and event.get("name") in responses:
            return True
    return False


def offered_human_before(tracker: Tracker) -> bool:
    """Whether the bot's last turn offered a human (`utter_offer_human` / `utter_offer_human_form`)."""
    return _uttered(_before_latest_user(tracker), *OFFER_HUMAN_RESPONSES)


def form_in_progress(tracker: Tracker) -> Optional[Text]:
    """The active form, or the one the rules deactivated just before handing off.

    The forms' rules for request_human run `action_deactivate_loop` before `action_handoff`; the
    agent still wants to know which form the citizen was filling.
    """
    name = (tracker.active_loop or {}).get("name")
    if name:
        return name
    recent = _since_latest_user(tracker)
    if not any(e.get("event") == "active_loop" and not e.get("name") for e in recent):
        return None
    for event in reversed(tracker.events):
        if event.get("event") == "active_loop" and event.get("name"):
            return event["name"]
    return None


def resolve_reason(tracker: Tracker) -> Text:
    """Why this conversation goes to a human.

    In order: the slot `handoff_reason` set by another action (the forms set "form_failed"); the
    slot `escalation`; an urgent or angry latest message; accepting an offer of a human (inside a
    form: form_failed, else fallback); an `nlu_fallback` message; else the citizen asked (requested).
    """
    explicit = tracker.get_slot("handoff_reason")
    if explicit in REASONS:
        return explicit
    escalation = tracker.get_slot("escalation")
    if escalation in ("urgent", "angry"):
        return escalation
    level = detect_escalation(latest_text(tracker))
    if level:
        return level
    if offered_human_before(tracker):
        return "form_failed" if form_in_progress(tracker) else "fallback"
    if latest_intent(tracker) == "nlu_fallback":
        return "fallback"
    return "requested"


def topic_intent(tracker: Tracker) -> Optional[Text]:
    """The latest intent that says what the conversation is about (else the latest intent)."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            name = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
            if name in TOPIC_INTENTS:
                return name
    return latest_intent(tracker)


def slot_snapshot(tracker: Tracker) -> Dict[Text, Any]:
    """The filled slots the citizen gave (bookkeeping slots left out)."""
    return citizen_slots(tracker.slots or {})


def _resets(tracker: Tracker, *names: Text) -> List[EventType]:
    """SlotSet(None) for each of `names` that is set."""
    return [SlotSet(name, None) for name in names if tracker.get_slot(name) is not None]


def _choice(tracker: Tracker) -> Optional[Text]:
    choice = next(tracker.get_latest_entity_values("handoff_choice"), None)
    return choice if choice in CHOICES else None


# --- actions ------------------------------------------------------------------------------------

def hand_off(dispatcher: CollectingDispatcher, tracker: Tracker, reason: Text,
             choice: Optional[Text] = None) -> List[EventType]:
    """Queue the conversation and pause it, or offer a callback first (see the module docstring).

    Args:
        dispatcher: the action's dispatcher.
        tracker: the conversation.
        reason: one of `xiaoan.handoff.models.REASONS`.
        choice: the citizen's answer to the callback offer ("callback" or "queue"), if any.

    Returns:
        The events: `ConversationPaused` last when queued.
    """
    events = _resets(tracker, "handoff_reason", "escalation")
    service = get_handoff_service()
    conversation_id = tracker.sender_id
    input_channel = tracker.get_latest_input_channel()
    try:
        if choice == "callback":
            return events + [SlotSet("handoff_pending_reason", reason), FollowupAction(CALLBACK_FORM)]
        if choice != "queue":
            estimate = service.estimate(reason)
            if estimate.should_offer_callback:
                if estimate.agents_online == 0:
                    dispatcher.utter_message(response="utter_handoff_no_agent")
                else:
                    dispatcher.utter_message(response="utter_handoff_long_wait", position=estimate.position,
                                             wait_minutes=estimate.wait_minutes)
                dispatcher.utter_message(response="utter_offer_callback")
                return events + [SlotSet("handoff_pending_reason", reason)]
        queued = service.enqueue(
            conversation_id, channel_name(input_channel, conversation_id), reason, input_channel=input_channel,
            intent=topic_intent(tracker), active_form=form_in_progress(tracker),
            slots=slot_snapshot(tracker))
    except Exception:  # noqa: BLE001 - the citizen must hear something useful whatever broke
        logger.exception("conversation could not be queued for a human agent")
        dispatcher.utter_message(response="utter_handoff_unavailable")
        return events + _resets(tracker, "handoff_pending_reason")
    if queued.status == "waiting":
        if queued.wait_minutes is None:
            dispatcher.utter_message(response="utter_handoff_queued_no_agent", position=queued.position)
        else:
            dispatcher.utter_message(response="utter_handoff_queued", position=queued.position,
                                     wait_minutes=queued.wait_minutes)
    return events + _resets(tracker, "handoff_pending_reason") + [ConversationPaused()]


def _already_with_agents(tracker: Tracker) -> bool:
    """Whether the conversation is already queued or held (e.g. Rasa's session expired meanwhile):
    pausing it again is not a new request and is never limited."""
    try:
        return get_handoff_service().open_session(tracker.sender_id) is not None
    except Exception:  # noqa: BLE001 - hand_off reports a broken service to the citizen
        return False


class ActionHandoff(Action):
    """Hands the conversation to a human agent (or offers a callback when none is free soon)."""

    def name(self) -> Text:
        return HANDOFF_ACTION

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        choice = _choice(tracker)
        pending = tracker.get_slot("handoff_pending_reason")
        reason = pending if choice and pending in REASONS else resolve_reason(tracker)
        if detect_escalation(latest_text(tracker)) == URGENT and not _uttered(_since_latest_user(tracker),
                                                                              EMERGENCY_RESPONSE):
            dispatcher.utter_message(response=EMERGENCY_RESPONSE)
        if not _already_with_agents(tracker) and not handoff_allowed(dispatcher, tracker, count=choice is None):
            return _resets(tracker, "handoff_reason", "escalation", "handoff_pending_reason")
        return hand_off(dispatcher, tracker, reason, choice)


class ActionEscalationCheck(Action):
    """Fills the slot `escalation` for every message (custom slot mapping); the rules then hand off.

    Only `SlotSet` (and bot) events are kept by `action_extract_slots`, so it returns nothing else.
    """

    def name(self) -> Text:
        return "action_escalation_check"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        level = detect_escalation(latest_text(tracker))
        if level:
            logger.info("%s message: the rules hand the conversation off", level)
            return [SlotSet("escalation", level)]
        return _resets(tracker, "escalation")


class ValidateCallbackForm(FormValidationAction):
    """Checks the callback request's phone number and preferred time."""

    def name(self) -> Text:
        return "validate_callback_form"

    def validate_callback_phone(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                domain: Dict[Text, Any]) -> Dict[Text, Any]:
        from xiaoan.tickets.validators import extract_phone

        phone = extract_phone(value if isinstance(value, str) else None)
        if not phone:
            dispatcher.utter_message(response="utter_callback_invalid_phone")
            return {"callback_phone": None}
        return {"callback_phone": phone}

    def validate_callback_time(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                               domain: Dict[Text, Any]) -> Dict[Text, Any]:
        text = value.strip() if isinstance(value, str) else ""
        if not text or text.startswith("/") or len(text) > MAX_PREFERRED_TIME_CHARS:
            dispatcher.utter_message(response="utter_callback_invalid_time")
            return {"callback_time": None}
        return {"callback_time": text}


class ActionSubmitCallback(Action):
    """Records the callback request for the agents and confirms it to the citizen."""

    def name(self) -> Text:
        return "action_submit_callback"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        events = _resets(tracker, "callback_phone", "callback_time", "handoff_pending_reason")
        reason = tracker.get_slot("handoff_pending_reason")
        if not handoff_allowed(dispatcher, tracker):
            return events
        try:
            view = get_handoff_service().add_callback(
                tracker.sender_id, channel_name(tracker.get_latest_input_channel(), tracker.sender_id),
                tracker.get_slot("callback_phone") or "", tracker.get_slot("callback_time") or "",
                reason=reason if reason in REASONS else "requested", slots=slot_snapshot(tracker))
        except InvalidInput as exc:  # the form validated both; ask again rather than lose the request
            slot, response = (("callback_phone", "utter_callback_invalid_phone") if exc.field == "phone"
                              else ("callback_time", "utter_callback_invalid_time"))
            dispatcher.utter_message(response=response)
            return [SlotSet(slot, None), FollowupAction(CALLBACK_FORM)]
        except Exception:  # noqa: BLE001
            logger.exception("callback request could not be recorded")
            dispatcher.utter_message(response="utter_handoff_unavailable")
            return events
        dispatcher.utter_message(response="utter_callback_recorded", phone_masked=view.phone_masked,
                                 preferred_time=view.preferred_time)
        return events
