"""Limits inside the dialogue (issue 12): per conversation, a polite answer instead of an HTTP error.

The counters are shared by every action server replica (xiaoan/ratelimit.py: Redis or the
project database) and keyed by the conversation id (`tracker.sender_id`: the web chat's id,
a WeChat openid), so a restart, another replica or starting the conversation over does not
reset them. The wording is in domain.yml (limits section).

The submit actions of the complaint and report forms call, before creating a ticket::

    from actions.limits import ticket_filing_allowed

    if not ticket_filing_allowed(dispatcher, tracker):
        return []              # the citizen was told when to try again; the form's slots stay

`action_handoff` and `action_submit_callback` call `handoff_allowed` the same way.
"""

from __future__ import annotations

import logging
from typing import Text

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from xiaoan.ratelimit import Decision, Limit, LimitSettings, get_rate_limiter, limit_settings

logger = logging.getLogger(__name__)

FILING_RESPONSE = "utter_limit_ticket_filing"
HANDOFF_RESPONSE = "utter_limit_handoff"
STATUS_RESPONSE = "utter_limit_status_lookups"

LimitSettings.from_env()  # a misconfigured XIAOAN_LIMIT_* stops the action server at start-up, named


def _allowed(dispatcher: CollectingDispatcher, tracker: Tracker, limit: Limit, response: Text,
             count: bool = True) -> bool:
    limiter = get_rate_limiter()
    decision: Decision = (limiter.hit(limit, tracker.sender_id) if count
                          else limiter.peek(limit, tracker.sender_id))
    if decision.allowed:
        return True
    logger.warning("conversation %s: limit %s reached (%s)", tracker.sender_id, limit.name, limit)
    dispatcher.utter_message(response=response, minutes=decision.retry_after_minutes)
    return False


def ticket_filing_allowed(dispatcher: CollectingDispatcher, tracker: Tracker) -> bool:
    """Whether this conversation may file one more ticket now (limit `ticket_filing`).

    Counts the filing when allowed. A retry of a submission that failed (slot `ticket_retry`
    set: the same idempotency key, so the same ticket) is checked but not counted again. When
    refused, `utter_limit_ticket_filing` has been uttered: return without creating anything.
    """
    retry = tracker.get_slot("ticket_retry") is not None  # keep it unset when this check refuses
    return _allowed(dispatcher, tracker, limit_settings().ticket_filing, FILING_RESPONSE, count=not retry)


def handoff_allowed(dispatcher: CollectingDispatcher, tracker: Tracker, count: bool = True) -> bool:
    """Whether this conversation may ask for a human agent or a callback now (limit `handoff`).

    Counts the request when allowed and `count` (a new request or a callback request; the
    answer to the callback offer is part of the request it answers: checked, not counted).
    When refused, `utter_limit_handoff` has been uttered.
    """
    return _allowed(dispatcher, tracker, limit_settings().handoff, HANDOFF_RESPONSE, count=count)
