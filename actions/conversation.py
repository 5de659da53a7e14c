"""Conversation basics: two-stage fallback, out-of-scope answers, satisfaction ratings."""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from xiaoan import texts
from xiaoan.labels import clarify_buttons

logger = logging.getLogger(__name__)

MAX_CHOICES = 3
FALLBACK_ACTION = "action_fallback_clarify"


def _previous_bot_action(tracker: Tracker) -> Optional[Text]:
    """The last action run before the citizen's latest message (ignoring listen)."""
    seen_latest_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if seen_latest_user:
                return None
            seen_latest_user = True
            continue
        if seen_latest_user and event.get("event") == "action" and event.get("name") != "action_listen":
            return event.get("name")
    return None


class ActionFallbackClarify(Action):
    """Two-stage fallback: first offer the likely intents as buttons, then a human agent."""

    def name(self) -> Text:
        return FALLBACK_ACTION

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        if _previous_bot_action(tracker) == FALLBACK_ACTION:
            dispatcher.utter_message(response="utter_offer_human")
            return []
        ranking = (tracker.latest_message or {}).get("intent_ranking") or []
        titles = clarify_buttons()  # xiaoan/resources/labels.yml: the intents offered, with their titles
        choices = [r["name"] for r in ranking if r.get("name") in titles][:MAX_CHOICES]
        if not choices:
            choices = ["complain_general", "ask_consumer_rights", "request_human"]
        buttons = [{"title": titles[name], "payload": f"/{name}"} for name in choices]
        buttons.append({"title": texts.text("utter_clarify_none_button"), "payload": "/deny"})  # "都不是"
        dispatcher.utter_message(response="utter_clarify", buttons=buttons)
        return []


class ActionOutOfScope(Action):
    """Says where to go for matters outside market regulation, from the knowledge base when it knows."""

    def name(self) -> Text:
        return "action_out_of_scope"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        text = (tracker.latest_message or {}).get("text") or ""
        answer = _redirect_answer(text)
        if answer:
            dispatcher.utter_message(response="utter_kb_answer", kb_answer=answer)
        else:
            dispatcher.utter_message(response="utter_out_of_scope")
        return []


def _redirect_answer(text: str) -> Optional[str]:
    """The answer of a `redirect.*` knowledge-base entry the search is confident about, else None.

    An out-of-scope question that matches one redirect entry ("快递丢了找谁") gets that entry's
    answer (which department, how to reach it); anything else gets the general list.
    """
    if not text or text.startswith("/"):
        return None
    try:
        from xiaoan.kb.service import get_search_service

        result = get_search_service().search(text, intent="out_of_scope", top=3)
    except Exception:  # noqa: BLE001 - the generic redirect list is a true answer too
        logger.exception("knowledge base unavailable for an out-of-scope answer")
        return None
    hit = result.answer
    if hit is not None and hit.entry.area == "redirect":
        return hit.entry.answer
    return None


class ActionRecordRating(Action):
    """Records a satisfaction rating and thanks the citizen."""

    def name(self) -> Text:
        return "action_record_rating"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        from xiaoan.channels.names import channel_name
        from xiaoan.ratings import DISSATISFIED, record_rating

        text = (tracker.latest_message or {}).get("text") or ""
        try:
            level = record_rating(tracker.sender_id,
                                  channel_name(tracker.get_latest_input_channel(), tracker.sender_id), text)
        except Exception:  # noqa: BLE001 - a lost rating must not break the conversation
            logger.exception("could not record a rating")
            level = None
        dispatcher.utter_message(response="utter_rating_sorry" if level == DISSATISFIED else "utter_rating_thanks")
        return []
