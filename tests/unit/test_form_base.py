"""The form base extends rasa-sdk's validation: its own `run()` loop calls `extract_<slot>` and
`validate_<slot>` as rasa-sdk documents (issue 14), around the project's context-first reading."""

from __future__ import annotations

import asyncio

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction

import actions.tickets as tickets
from actions.common import FormSlotValidation
from tests.unit.test_form_actions import DOMAIN, FormDriver


class WithExtraction(tickets.ValidateTicketStatusForm):
    """The status form with an `extract_<slot>` of the kind a future form may add."""

    def __init__(self) -> None:
        super().__init__()
        self.extracted: list[str] = []
        self.validated: list[object] = []

    async def extract_phone_last4(self, dispatcher, tracker, domain):
        self.extracted.append(tracker.latest_message.get("text"))
        if "尾号" in (tracker.latest_message.get("text") or ""):
            return {"phone_last4": "5678"}
        return {}

    def validate_phone_last4(self, value, dispatcher, tracker, domain):
        self.validated.append(value)
        return super().validate_phone_last4(value, dispatcher, tracker, domain)


def run(action, tracker: Tracker) -> list[dict]:
    return asyncio.run(action.run(CollectingDispatcher(), tracker, DOMAIN))


def test_the_base_keeps_rasa_sdks_run_loop():
    assert FormSlotValidation.run is FormValidationAction.run


def test_an_extract_method_runs_and_its_value_is_validated():
    driver = FormDriver()
    driver.form = "ticket_status_form"
    driver.slots.update(requested_slot="ticket_no", ticket_no=None)
    driver.say("工单号 XA-261126-0042，电话尾号5678", intent="inform")
    action = WithExtraction()
    events = run(action, driver.tracker())
    assert action.extracted == ["工单号 XA-261126-0042，电话尾号5678"]
    assert action.validated == ["5678"]                                  # extracted, then validated
    slots = {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
    assert slots.get("phone_last4") == "5678"


def test_an_interruption_returns_nothing_and_the_next_answer_is_validated():
    driver = FormDriver()
    driver.form = "ticket_status_form"
    driver.slots.update(requested_slot="ticket_no")
    driver.say("转人工", intent="request_human")
    tracker = driver.tracker()
    action = tickets.ValidateTicketStatusForm()
    assert run(action, tracker) == []                                   # an interruption: the form is rejected
    driver.events, driver.latest = [], {}
    driver.say("XA-261126-0042", intent="inform")
    answered = run(action, driver.tracker())
    assert any(e.get("name") == "ticket_no" for e in answered)
