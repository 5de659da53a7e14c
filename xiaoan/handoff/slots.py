"""Which slots an agent sees (shared by the actions and the inbox); their Chinese labels are ``xiaoan.labels.slot``."""

from __future__ import annotations

from typing import Any

#: The assistant's bookkeeping, not something the citizen told: never snapshotted or shown.
INTERNAL_SLOTS = frozenset({
    "requested_slot", "session_started_metadata",
    # handoff (domain.yml, handoff section)
    "handoff_reason", "handoff_pending_reason", "escalation", "callback_phone", "callback_time",
    # forms (domain.yml, forms section)
    "confirmation", "edit_field", "privacy_notice_version", "ticket_intent", "pending_address",
    "form_failed_slot", "form_failure_count", "form_reprompted", "ticket_retry", "ticket_status_result",
    "ticket_status_misses",
    # knowledge base (domain.yml, knowledge section)
    "kb_entry_id", "kb_last_entry_id", "kb_feedback_pending",
})

#: The slots a ticket needs, in the order the inbox shows them (the fields of its ticket form); their
#: labels, and those of the other slots worth showing, are `xiaoan/resources/labels.yml` (slots).
TICKET_SLOTS = ("complainant_name", "phone", "complainant_address", "respondent_name", "respondent_address",
                "facts", "claim", "amount")


def is_filled(value: Any) -> bool:
    """Whether a slot value says something (None, "", [] and {} do not)."""
    return value not in (None, "", [], {})


def citizen_slots(slots: dict) -> dict:
    """The filled slots the citizen gave (bookkeeping left out)."""
    return {name: value for name, value in (slots or {}).items()
            if is_filled(value) and name not in INTERNAL_SLOTS}
