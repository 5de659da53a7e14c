"""Which slots an agent sees, and their Chinese labels (shared by the actions and the inbox)."""

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

#: Labels of the slots a ticket needs, in the order the inbox shows them.
TICKET_SLOT_LABELS = {
    "complainant_name": "姓名",
    "phone": "电话",
    "complainant_address": "地址",
    "respondent_name": "被投诉方",
    "respondent_address": "被投诉方地址",
    "facts": "事实经过",
    "claim": "诉求",
    "amount": "涉及金额",
}

#: Labels of the other slots worth showing.
OTHER_SLOT_LABELS = {
    "anonymous": "是否匿名",
    "district": "所在区",
    "online_platform": "电商平台",
    "respondent_credit_code": "统一社会信用代码",
    "last_ticket_no": "本次已提交的工单",
    "ticket_no": "查询的工单号",
    "phone_last4": "手机后四位",
}

SLOT_LABELS = {**TICKET_SLOT_LABELS, **OTHER_SLOT_LABELS}


def is_filled(value: Any) -> bool:
    """Whether a slot value says something (None, "", [] and {} do not)."""
    return value not in (None, "", [], {})


def citizen_slots(slots: dict) -> dict:
    """The filled slots the citizen gave (bookkeeping left out)."""
    return {name: value for name, value in (slots or {}).items()
            if is_filled(value) and name not in INTERNAL_SLOTS}
