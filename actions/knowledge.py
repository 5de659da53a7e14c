"""Answers from the knowledge base, the "这个回答有帮助吗？" vote, and unanswered questions.

- `action_answer_question` searches with the citizen's latest message and intent and either
  answers (`utter_kb_answer`, then `utter_ask_kb_helpful`), offers up to three entries as
  buttons (`utter_kb_choices`, payloads ``/inform{"kb_entry_id":"<id>"}``; when exactly two
  compete, one short clarifying question naming both, `utter_kb_clarify`), or says honestly that
  it has no answer (`utter_kb_no_answer`, offering a human or a complaint/report) and records
  the question for the maintainers.
- `action_answer_kb_entry` answers the entry the citizen chose (slot `kb_entry_id`).
- `action_kb_feedback` records the vote (affirm / deny) for slot `kb_last_entry_id`, with the
  question answered (the maintainers group down-voted questions, `xiaoan.kb.clusters`).

The search service lives in `xiaoan.kb.service` (one cached index per process that reloads
when maintainers publish); actions get it from the factories below at call time.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

logger = logging.getLogger(__name__)

ENTRY_SLOT = "kb_entry_id"
LAST_ENTRY_SLOT = "kb_last_entry_id"
PENDING_SLOT = "kb_feedback_pending"


def search_service():
    """The process's knowledge-base search service (`xiaoan.kb.service.get_search_service`)."""
    from xiaoan.kb import service

    return service.get_search_service()


def kb_repository():
    """The knowledge-base repository (`xiaoan.kb.service.get_repository`)."""
    from xiaoan.kb import service

    return service.get_repository()


def _latest_text(tracker: Tracker) -> Text:
    return ((tracker.latest_message or {}).get("text") or "").strip()


def _latest_intent(tracker: Tracker) -> Optional[Text]:
    return ((tracker.latest_message or {}).get("intent") or {}).get("name")


def _answered_question(tracker: Tracker) -> Optional[Text]:
    """The citizen's question the voted answer replied to: the last typed message before the vote.

    Skips the vote itself and button payloads (a chosen entry), so when the citizen picked the
    entry from choices the question is the one that produced them. None when there is none.
    """
    user_texts = [e.get("text") or "" for e in tracker.events if e.get("event") == "user"]
    for text in reversed(user_texts[:-1]):  # the last user message is the vote
        text = text.strip()
        if text and not text.startswith("/"):
            return text
    return None


def choice_payload(entry_id: Text) -> Text:
    """The payload of a choice button: ``/inform{"kb_entry_id":"<id>"}``."""
    return "/inform" + json.dumps({ENTRY_SLOT: entry_id}, ensure_ascii=False, separators=(",", ":"))


def _answer(dispatcher: CollectingDispatcher, entry) -> List[EventType]:
    dispatcher.utter_message(response="utter_kb_answer", kb_answer=entry.answer, kb_title=entry.title)
    dispatcher.utter_message(response="utter_ask_kb_helpful")
    return [SlotSet(ENTRY_SLOT, None), SlotSet(LAST_ENTRY_SLOT, entry.id), SlotSet(PENDING_SLOT, True)]


def _as_topic(title: str) -> str:
    """An entry title as a topic inside a clarifying question: without its final question mark."""
    return title.strip().rstrip("？?。").strip()


class ActionAnswerQuestion(Action):
    """Answer a question from the knowledge base, offer choices, or say there is no answer."""

    def name(self) -> Text:
        return "action_answer_question"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        """Search with the latest message and intent and answer accordingly."""
        text = _latest_text(tracker)
        intent = _latest_intent(tracker)
        try:
            result = search_service().search(text, intent=intent, top=3)
        except Exception:  # noqa: BLE001 - the citizen gets an honest message, the log the details
            logger.exception("knowledge-base search failed (conversation %s)", tracker.sender_id)
            dispatcher.utter_message(response="utter_kb_unavailable")
            return [SlotSet(PENDING_SLOT, False)]
        if result.decision == "answer":
            return _answer(dispatcher, result.hits[0].entry)
        if result.decision == "choices":
            buttons = [{"title": h.entry.title, "payload": choice_payload(h.entry.id)} for h in result.choices]
            if len(buttons) == 2:
                # two close candidates: ask which one, naming both ("您是想问「…」，还是「…」？")
                first, second = (_as_topic(h.entry.title) for h in result.choices)
                dispatcher.utter_message(response="utter_kb_clarify", buttons=buttons,
                                         kb_first=first, kb_second=second)
            else:
                dispatcher.utter_message(response="utter_kb_choices", buttons=buttons)
            return [SlotSet(PENDING_SLOT, False)]
        if result.other_city:
            dispatcher.utter_message(response="utter_kb_other_city", city=result.other_city)
            return [SlotSet(PENDING_SLOT, False)]
        dispatcher.utter_message(response="utter_kb_no_answer")
        if text and not text.startswith("/"):
            best = result.best
            try:
                kb_repository().record_unanswered(
                    text,
                    tracker.sender_id,
                    best.score if best else None,
                    best.entry.id if best else None,
                )
            except Exception:  # noqa: BLE001 - losing the record must not break the conversation
                logger.exception("cannot record an unanswered question (conversation %s)", tracker.sender_id)
        return [SlotSet(PENDING_SLOT, False)]


class ActionAnswerKbEntry(Action):
    """Answer the entry the citizen chose from the offered buttons."""

    def name(self) -> Text:
        return "action_answer_kb_entry"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        """Answer slot `kb_entry_id` when it is published and in force."""
        entry_id = tracker.get_slot(ENTRY_SLOT)
        entry = None
        if entry_id:
            try:
                entry = search_service().get(str(entry_id))
            except Exception:  # noqa: BLE001
                logger.exception("knowledge-base lookup failed (conversation %s)", tracker.sender_id)
                dispatcher.utter_message(response="utter_kb_unavailable")
                return [SlotSet(ENTRY_SLOT, None), SlotSet(PENDING_SLOT, False)]
        if entry is None:
            logger.info("chosen knowledge-base entry %r is not answerable", entry_id)
            dispatcher.utter_message(response="utter_kb_no_answer")
            return [SlotSet(ENTRY_SLOT, None), SlotSet(PENDING_SLOT, False)]
        return _answer(dispatcher, entry)


class ActionKbFeedback(Action):
    """Record whether the last answer helped (intent affirm or deny) and thank the citizen."""

    def name(self) -> Text:
        return "action_kb_feedback"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        """Record the vote for slot `kb_last_entry_id`."""
        intent = _latest_intent(tracker)
        entry_id = tracker.get_slot(LAST_ENTRY_SLOT)
        if intent not in ("affirm", "deny") or not entry_id:
            return [SlotSet(PENDING_SLOT, False)]
        helpful = intent == "affirm"
        try:
            kb_repository().record_vote(str(entry_id), tracker.sender_id, helpful, question=_answered_question(tracker))
        except Exception:  # noqa: BLE001 - the thanks still go out
            logger.exception("cannot record a knowledge-base vote (conversation %s)", tracker.sender_id)
        dispatcher.utter_message(response="utter_kb_feedback_thanks" if helpful else "utter_kb_feedback_sorry")
        return [SlotSet(PENDING_SLOT, False)]
