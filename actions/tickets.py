"""Ticket status look-up: ``ticket_status_form`` (ticket_no, phone_last4), then
``action_check_ticket_status``.

Nothing about a ticket is told unless its number AND the last four digits of the phone given
with it match (the tickets service checks both and never says which one was wrong). After a
first miss the form asks both again (slot ``ticket_status_result`` = retry, rule in
data/rules/forms.yml); after the second a human agent is offered (give_up).

The misses are counted per conversation in the shared counter of xiaoan/ratelimit.py (limit
`status_conversation_misses`, Redis or the database, with expiry), not only in the slot: starting
over, a restart or another replica does not reset them. After the second miss every further miss
offers a human again; at the limit, and when the conversation made too many look-ups at all
(`status_conversation_lookups`), look-ups pause (`utter_limit_status_lookups`) until the window
has passed. Each ticket number has its own shared limit of wrong guesses in the tickets service.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    FORM_FAILED_REASON,
    HANDOFF_REASON,
    AskSlotAction,
    FormSlotValidation,
    is_payload,
    latest_entity,
    latest_text,
    started_by_latest_message,
    ticket_service,
    zh_date,
)
from actions.limits import STATUS_RESPONSE
from xiaoan.ratelimit import get_rate_limiter, limit_settings
from xiaoan.tickets.numbering import normalize_ticket_no
from xiaoan.tickets.validators import extract_phone_last4

logger = logging.getLogger(__name__)

STATUS_FORM = "ticket_status_form"
RESULT = "ticket_status_result"
MISSES = "ticket_status_misses"
FOUND, RETRY, GIVE_UP = "found", "retry", "give_up"
#: Failed look-ups in a row before a human agent is offered.
MAX_MISSES = 2

_LAST4_HINT_RE = re.compile(r"(?:尾号|后四位|后4位|末四位|末4位)\D{0,3}(\d{4})(?!\d)")


class ValidateTicketStatusForm(FormSlotValidation):
    """Checks the ticket number and the phone's last four digits (validate_ticket_status_form)."""

    def name(self) -> Text:
        return "validate_ticket_status_form"

    def prefill(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                domain: DomainDict) -> Dict[Text, Any]:
        """The number and digits the opening message names; else the ticket created last here.

        After a miss (the rule re-activates the form) nothing is assumed: both are asked again.
        """
        updates: Dict[Text, Any] = {}
        if not started_by_latest_message(tracker, self.form_name()):
            return updates
        text = latest_text(tracker)
        typed = "" if is_payload(text) else text
        number = normalize_ticket_no(latest_entity(tracker, "ticket_no")) or normalize_ticket_no(typed)
        if number is None and tracker.get_slot(RESULT) != RETRY:
            number = tracker.get_slot("last_ticket_no")
        if number and tracker.get_slot("ticket_no") is None:
            updates["ticket_no"] = number
        digits = extract_phone_last4(latest_entity(tracker, "phone_last4"))
        if digits is None:
            hint = _LAST4_HINT_RE.search(typed)
            digits = hint.group(1) if hint else None
        if digits and tracker.get_slot("phone_last4") is None:
            updates["phone_last4"] = digits
        return updates

    def validate_ticket_no(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict) -> Dict[Text, Any]:
        """A number like XA-261126-0042 (also lower case, without dashes)."""
        number = normalize_ticket_no(latest_entity(tracker, "ticket_no")) or normalize_ticket_no(str(value or ""))
        if number is None:
            return self.fail("ticket_no", dispatcher, tracker, "utter_invalid_ticket_no")
        updates = self.ok("ticket_no", number, tracker)
        # "XA-261126-0042 尾号5678" answers both questions at once
        hint = _LAST4_HINT_RE.search(str(value or ""))
        if hint and tracker.get_slot("phone_last4") is None:
            updates["phone_last4"] = hint.group(1)
        return updates

    def validate_phone_last4(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: DomainDict) -> Dict[Text, Any]:
        """Four digits, or a whole phone number (its last four are kept)."""
        text = "" if is_payload(str(value or "")) else str(value or "")
        digits = extract_phone_last4(latest_entity(tracker, "phone_last4")) or extract_phone_last4(text)
        if digits is None:
            return self.fail("phone_last4", dispatcher, tracker, "utter_invalid_phone_last4")
        return self.ok("phone_last4", digits, tracker)


class ActionAskTicketNo(AskSlotAction):
    """Asks the ticket number."""

    slot = "ticket_no"


class ActionAskPhoneLast4(AskSlotAction):
    """Asks the last four digits of the phone given with the ticket."""

    slot = "phone_last4"


class ActionCheckTicketStatus(Action):
    """Tells the status and due dates of a ticket whose number and phone digits match."""

    def name(self) -> Text:
        return "action_check_ticket_status"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: DomainDict) -> List[EventType]:
        """Look the ticket up; on a miss ask again once, then offer a human agent."""
        number = tracker.get_slot("ticket_no")
        digits = tracker.get_slot("phone_last4")
        events: List[EventType] = [SlotSet("ticket_no", None), SlotSet("phone_last4", None)]
        limiter, limits = get_rate_limiter(), limit_settings()
        # checked before the look-up: a conversation over either limit learns nothing, right or wrong
        refused = limiter.peek(limits.status_conversation_misses, tracker.sender_id)
        if refused.allowed:
            refused = limiter.hit(limits.status_conversation_lookups, tracker.sender_id)
        if not refused.allowed:
            logger.warning("conversation %s: ticket status look-ups paused (limit %s)", tracker.sender_id,
                           refused.limit.name)
            dispatcher.utter_message(response=STATUS_RESPONSE, minutes=refused.retry_after_minutes)
            return events + [SlotSet(RESULT, GIVE_UP)]
        try:
            view = ticket_service().status(number or "", digits or "")
        except Exception as exc:  # noqa: BLE001 - the citizen must hear something useful
            logger.error("conversation %s: ticket status look-up failed (%s)", tracker.sender_id,
                         exc.__class__.__name__)
            dispatcher.utter_message(response="utter_ticket_status_unavailable")
            return events + [SlotSet(RESULT, GIVE_UP)]

        if view is not None:
            dispatcher.utter_message(
                response="utter_ticket_status",
                ticket_no=view.ticket_no,
                status_label=view.status_label,
                agency_name=view.agency_name,
                created_at=zh_date(domain, view.created_at),
                contact_by=zh_date(domain, view.contact_by),
                resolve_by=zh_date(domain, view.resolve_by),
                last_update_at=zh_date(domain, view.last_update_at),
            )
            if view.overdue:
                dispatcher.utter_message(response="utter_ticket_status_overdue")
            elif getattr(view, "near_due", False):
                dispatcher.utter_message(response="utter_ticket_status_near_due")
            return events + [SlotSet(RESULT, FOUND), SlotSet("last_ticket_no", view.ticket_no)]

        recorded = limiter.record(limits.status_conversation_misses, tracker.sender_id)
        # the slot keeps counting too, in case the shared store is unavailable (it then counts nothing)
        misses = max(recorded.uses, int(tracker.get_slot(MISSES) or 0) + 1)
        logger.info("conversation %s: ticket status look-up without a match (%d recently)",
                    tracker.sender_id, misses)
        dispatcher.utter_message(response="utter_ticket_status_not_found")
        if not recorded.allowed or recorded.retry_after:
            # that was the last look-up the limit allows for now
            dispatcher.utter_message(response=STATUS_RESPONSE, minutes=recorded.retry_after_minutes)
            return events + [SlotSet(RESULT, GIVE_UP), SlotSet(MISSES, misses)]
        if misses >= MAX_MISSES:
            dispatcher.utter_message(response="utter_ticket_status_offer_human")
            return events + [SlotSet(RESULT, GIVE_UP), SlotSet(MISSES, misses),
                             SlotSet(HANDOFF_REASON, FORM_FAILED_REASON)]
        return events + [SlotSet(RESULT, RETRY), SlotSet(MISSES, misses)]
