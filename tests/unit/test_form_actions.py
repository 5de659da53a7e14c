"""The complaint, report and status forms at the action level.

Trackers are built in code the way Rasa 3.6 builds them for a form (rasa/core/actions/forms.py):
the validation action gets the history, `SlotSet(requested_slot)`, `ActionExecuted(form)` and
the slot candidates of the citizen's message; the `action_ask_<slot>` action then gets the
validation's events. `FormDriver` below replays that, so each test asserts the exact events
and the response names a conversation produces. The tickets service is a fake with the same
interface (`xiaoan.tickets.service.get_ticket_service` monkeypatched), except in the last
test, which uses the real service on the `db_url` database.
"""

from __future__ import annotations

import ast
import asyncio
import datetime as dt
import inspect
import re
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.dialogue_support import predict, said, session_start, train_rule_policy
import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import ActionExecuted, ActiveLoop, FollowupAction, SlotSet, UserUtteranceReverted
from rasa_sdk.executor import ActionExecutor, CollectingDispatcher
from rasa_sdk.utils import call_potential_coroutine

import actions.common as common
import actions.forms as forms
import actions.tickets as tickets
import xiaoan.tickets.service as ticket_service_module
from actions.common import PRIVACY_NOTICE_VERSION
from xiaoan.tickets.service import TicketDraft, TicketReceipt, TicketStatusView

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
FORMS = ("complaint_form", "report_form", "ticket_status_form")  # the forms section's forms
START = 1_795_000_000.0  # a fixed clock for event timestamps

VALIDATIONS = {
    "complaint_form": forms.ValidateComplaintForm(),
    "report_form": forms.ValidateReportForm(),
    "ticket_status_form": tickets.ValidateTicketStatusForm(),
}
ASK_ACTIONS = {
    action.slot: action
    for action in (
        forms.ActionAskComplainantName(), forms.ActionAskPhone(), forms.ActionAskComplainantAddress(),
        forms.ActionAskRespondentName(), forms.ActionAskRespondentAddress(), forms.ActionAskFacts(),
        forms.ActionAskClaim(), forms.ActionAskAmount(), forms.ActionAskAnonymous(),
        forms.ActionAskConfirmation(), forms.ActionAskEditField(), tickets.ActionAskTicketNo(),
        tickets.ActionAskPhoneLast4(),
    )
}
INTERRUPTIONS = set(DOMAIN["slots"]["complainant_name"]["mappings"][0]["not_intent"])
STATUS_INTERRUPTIONS = set(DOMAIN["slots"]["ticket_no"]["mappings"][0]["not_intent"])


def run(action, tracker: Tracker) -> tuple[list[dict], list[dict]]:
    """Run an action; (events, messages uttered)."""
    dispatcher = CollectingDispatcher()
    events = asyncio.run(call_potential_coroutine(action.run(dispatcher, tracker, DOMAIN)))
    return events, dispatcher.messages


def names(messages: list[dict]) -> list[str]:
    return [m.get("response") for m in messages]


@dataclass
class Turn:
    """What one citizen message produced."""

    validation: list[dict]
    messages: list[dict]
    asked: str | None
    rejected: bool = False
    ask_events: list[dict] = field(default_factory=list)

    @property
    def responses(self) -> list[str]:
        return names(self.messages)


class FormDriver:
    """Replays Rasa's FormAction around our validation and ask actions."""

    def __init__(self, sender: str = "web-3f2a", channel: str = "rest", **slots: Any) -> None:
        self.sender, self.channel = sender, channel
        self.slots: dict[str, Any] = {name: spec.get("initial_value") for name, spec in DOMAIN["slots"].items()}
        self.slots.update(requested_slot=None, handoff_reason=None, **slots)
        self.events: list[dict] = []
        self.latest: dict = {}
        self.form: str | None = None
        self.clock = START

    # -- building trackers ---------------------------------------------------------------------

    def tick(self) -> float:
        self.clock += 1.0
        return self.clock

    def tracker(self, events: list[dict] | None = None, slots: dict | None = None) -> Tracker:
        return Tracker(self.sender, dict(self.slots if slots is None else slots), dict(self.latest),
                       list(self.events if events is None else events), False, None,
                       {"name": self.form} if self.form else {}, "action_listen")

    def _apply(self, events: list[dict]) -> None:
        for event in events:
            if event.get("event") == "slot":
                self.slots[event["name"]] = event["value"]
            elif event.get("event") == "active_loop":
                self.form = event["name"]

    def say(self, text: str, intent: str = "inform", **entities: str) -> None:
        """A citizen message (not yet handled by a form)."""
        self.events.append(ActionExecuted("action_listen", timestamp=self.tick()))
        self.latest = {"text": text, "intent": {"name": intent, "confidence": 0.99},
                       "entities": [{"entity": k, "value": v} for k, v in entities.items()]}
        self.events.append({"event": "user", "text": text, "parse_data": self.latest,
                            "input_channel": self.channel, "timestamp": self.tick()})

    # -- the form -------------------------------------------------------------------------------

    def _form_run(self, candidates: dict[str, Any]) -> Turn:
        form = self.form
        pre = [SlotSet("requested_slot", self.slots["requested_slot"]), ActionExecuted(form, timestamp=self.tick())]
        self.slots.update(candidates)  # action_extract_slots sets the candidates first
        cand_events = [SlotSet(k, v) for k, v in candidates.items()]
        validation, messages = run(VALIDATIONS[form], self.tracker(self.events + pre + cand_events))
        self.events += pre + cand_events
        return self._after_validation(validation, messages, candidates)

    def _after_validation(self, validation: list[dict], messages: list[dict], candidates: dict) -> Turn:
        form = self.form
        filled = [e for e in validation if e.get("event") == "slot" and e["name"] != "requested_slot"]
        if self.latest_is_answer and not candidates and not filled:
            return Turn(validation, messages, None, rejected=True)
        self._apply(validation)
        self.events += validation
        requested = next((e["value"] for e in validation
                          if e.get("event") == "slot" and e["name"] == "requested_slot"), "unset")
        if requested == "unset":  # the SDK left it to Rasa: the first empty slot of the domain
            requested = next((s for s in DOMAIN["forms"][form]["required_slots"] if self.slots.get(s) is None), None)
            self.slots["requested_slot"] = requested
        if requested is None:
            self.slots["requested_slot"] = None
            self.form = None
            self.events.append(ActiveLoop(None, timestamp=self.tick()))
            return Turn(validation, messages, None)
        ask_events, ask_messages = run(ASK_ACTIONS[requested], self.tracker())
        self._apply(ask_events)
        self.events += ask_events
        return Turn(validation, messages + ask_messages, requested, ask_events=ask_events)

    def start(self, form: str, text: str, intent: str, **entities: str) -> Turn:
        """The citizen's opening message activates `form`."""
        self.say(text, intent, **entities)
        return self.activate(form)

    def activate(self, form: str) -> Turn:
        """`form` starts (after the latest message and whatever ran since)."""
        self.form = form
        self.events.append(ActiveLoop(form, timestamp=self.tick()))
        self.latest_is_answer = False
        prefilled = {s: self.slots[s] for s in DOMAIN["forms"][form]["required_slots"] if self.slots.get(s) is not None}
        return self._form_run(prefilled)

    def answer(self, text: str, intent: str = "inform", **entities: str) -> Turn:
        """The citizen answers while the form is active."""
        self.say(text, intent, **entities)
        requested = self.slots["requested_slot"]
        excluded = STATUS_INTERRUPTIONS if self.form == "ticket_status_form" else INTERRUPTIONS
        candidates = {} if intent in excluded else {requested: text}
        self.latest_is_answer = True
        return self._form_run(candidates)

    def resume(self, after_action: str) -> Turn:
        """The form comes back after a rule ran `after_action` (e.g. action_answer_question)."""
        self.events.append(ActionExecuted(after_action, timestamp=self.tick()))
        self.latest_is_answer = False
        return self._form_run({})

    def act(self, action) -> tuple[list[dict], list[dict]]:
        """Run a (non-form) action and apply its events."""
        events, messages = run(action, self.tracker())
        self.events.append(ActionExecuted(action.name(), timestamp=self.tick()))
        self._apply(events)
        self.events += events
        return events, messages


# -- a fake tickets service with the real interface ------------------------------------------


class FakeTicketService:
    """Same interface as xiaoan.tickets.service.TicketService; one ticket per idempotency key."""

    def __init__(self) -> None:
        self.tickets: dict[str, tuple[TicketDraft, TicketReceipt]] = {}
        self.create_calls: list[tuple[TicketDraft, str]] = []
        self.status_calls: list[tuple[str, str]] = []
        self.fail_with: Exception | None = None
        self.forwarded = True
        self.view: TicketStatusView | None = None

    def create(self, draft: TicketDraft, idempotency_key: str) -> TicketReceipt:
        self.create_calls.append((draft, idempotency_key))
        if self.fail_with is not None:
            raise self.fail_with
        if idempotency_key in self.tickets:
            return replace(self.tickets[idempotency_key][1], created=False)
        receipt = TicketReceipt(
            ticket_no=f"XA-261126-{len(self.tickets) + 1:04d}", agency="dist-pudong",
            agency_name="浦东新区市场监督管理局", contact_by=dt.date(2026, 11, 27),
            resolve_by=dt.date(2026, 12, 3), forwarded=self.forwarded, created=True)
        self.tickets[idempotency_key] = (draft, receipt)
        return receipt

    def status(self, ticket_no: str, phone_last4: str) -> TicketStatusView | None:
        self.status_calls.append((ticket_no, phone_last4))
        if self.fail_with is not None:
            raise self.fail_with
        return self.view


@pytest.fixture()
def service(monkeypatch) -> FakeTicketService:
    fake = FakeTicketService()
    monkeypatch.setattr(ticket_service_module, "get_ticket_service", lambda: fake)
    monkeypatch.delenv("XIAOAN_TICKET_API_URL", raising=False)
    return fake


def slot_events(events: list[dict]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def fill_complaint(driver: FormDriver, opening: str = "我要投诉", intent: str = "complain_general",
                   **entities: str) -> Turn:
    """Drive a complaint to the read-back with valid answers for whatever is asked."""
    answers = {
        "complainant_name": "张伟",
        "phone": "13812345678",
        "complainant_address": "上海市徐汇区漕溪北路88号1201室",
        "respondent_name": "乐活健身",
        "respondent_address": "浦东新区张杨路500号",
        "facts": "今年三月在这家健身房办了年卡，上个月突然关门，老板联系不上",
        "claim": "退还剩余的卡费",
        "amount": "两千",
    }
    turn = driver.start("complaint_form", opening, intent, **entities)
    while turn.asked and turn.asked != "confirmation":
        turn = driver.answer(answers[turn.asked])
    return turn


# =============================================================================================
# Opening message: prefill
# =============================================================================================


def test_opening_message_prefills_entities_facts_and_district_and_they_are_not_asked(service):
    driver = FormDriver()
    opening = "浦东的乐活健身老板跑路了，卡里还剩两千块没用完"
    turn = driver.start("complaint_form", opening, "complain_prepaid",
                        district="dist-pudong", respondent_name="乐活健身", amount="两千块")
    assert turn.validation == [
        SlotSet("ticket_intent", "complain_prepaid"),
        SlotSet("respondent_name", "乐活健身"),
        SlotSet("amount", "2000"),
        SlotSet("district", "pudong"),
        SlotSet("facts", opening),
        SlotSet("requested_slot", "complainant_name"),
    ]
    # the privacy notice comes before the first personal question, with its version
    assert turn.asked == "complainant_name"
    assert turn.responses == ["utter_privacy_notice", "utter_ask_complainant_name"]
    assert turn.messages[0]["privacy_notice_version"] == PRIVACY_NOTICE_VERSION
    assert turn.ask_events == [SlotSet("privacy_notice_version", PRIVACY_NOTICE_VERSION)]

    asked = [turn.asked]
    for answer in ("张伟", "13812345678", "上海市徐汇区漕溪北路88号1201室", "崮山路500号", "退还剩余的卡费"):
        turn = driver.answer(answer)
        asked.append(turn.asked)
    assert asked == ["complainant_name", "phone", "complainant_address", "respondent_address", "claim",
                     "confirmation"]
    # the address question knows the district already; the address keeps it
    assert driver.slots["respondent_address"] == "浦东新区崮山路500号"
    assert driver.slots["district"] == "pudong"
    assert "utter_privacy_notice" not in turn.responses  # once per conversation


def test_short_opening_message_is_not_taken_as_facts(service):
    turn = FormDriver().start("complaint_form", "我要投诉一家健身房", "complain_general")
    assert turn.validation == [SlotSet("ticket_intent", "complain_general"),
                               SlotSet("requested_slot", "complainant_name")]


def test_online_seller_is_asked_for_the_address_on_the_platform(service):
    driver = FormDriver()
    turn = driver.start("complaint_form", "在拼多多上买的破壁机收到就坏了商家不给退", "complain_refund")
    assert slot_events(turn.validation)["online_platform"] == "拼多多"
    for answer in ("张伟", "13812345678", "上海市徐汇区漕溪北路88号1201室", "小美家电旗舰店"):
        turn = driver.answer(answer)
    assert turn.asked == "respondent_address"
    assert turn.responses == ["utter_ask_respondent_address_online"]
    assert turn.messages[0]["online_platform"] == "拼多多"
    # a seller outside Shanghai is accepted (triage), not asked again
    turn = driver.answer("浙江省义乌市稠城街道工人北路100号")
    assert turn.responses[0] == "utter_respondent_outside_shanghai"
    assert driver.slots["district"] is None
    assert driver.slots["respondent_address"] == "浙江省义乌市稠城街道工人北路100号"
    assert turn.asked == "claim"  # facts came with the opening message


# =============================================================================================
# Validation: explanations, never the same question twice, then a human agent
# =============================================================================================


def _to_phone(driver: FormDriver) -> None:
    turn = driver.start("complaint_form", "我要投诉", "complain_general")
    turn = driver.answer("张伟")
    assert turn.asked == "phone"


def test_invalid_phone_once_explains_with_an_example_and_does_not_repeat_the_question(service):
    driver = FormDriver()
    _to_phone(driver)
    turn = driver.answer("1381234")
    assert turn.validation == [
        SlotSet("phone", None),
        SlotSet("form_failed_slot", "phone"),
        SlotSet("form_failure_count", 1),
        SlotSet("form_reprompted", True),
        SlotSet("requested_slot", "phone"),
    ]
    assert turn.asked == "phone"
    assert turn.responses == ["utter_invalid_phone"]  # the explanation asks again; no second question
    assert "13812345678" in DOMAIN["responses"]["utter_invalid_phone"][0]["text"]

    turn = driver.answer("138 1234 5678")
    assert turn.validation == [
        SlotSet("phone", "13812345678"),
        SlotSet("form_failed_slot", None),
        SlotSet("form_failure_count", 0),
        SlotSet("form_reprompted", False),
        SlotSet("requested_slot", "complainant_address"),
    ]
    assert turn.asked == "complainant_address"
    assert turn.responses == ["utter_ask_complainant_address"]


def test_invalid_phone_twice_offers_a_human_instead_of_asking_again(service):
    driver = FormDriver()
    _to_phone(driver)
    driver.answer("不知道")
    turn = driver.answer("123")
    assert turn.validation == [
        SlotSet("phone", None),
        SlotSet("form_failed_slot", "phone"),
        SlotSet("form_failure_count", 2),
        SlotSet("form_reprompted", True),
        SlotSet("handoff_reason", "form_failed"),
        SlotSet("requested_slot", "phone"),
    ]
    assert turn.responses == ["utter_offer_human_form"]
    buttons = DOMAIN["responses"]["utter_offer_human_form"][0]["buttons"]
    assert [b["payload"] for b in buttons] == ["/request_human", '/inform{"form_choice": "continue"}']

    # "转人工" is not an answer: the form is rejected and the rules hand over
    turn = driver.answer("/request_human", intent="request_human")
    assert turn.rejected and turn.validation == []

    # "继续填写": the count starts again and the question is asked normally
    turn = driver.answer('/inform{"form_choice": "continue"}', form_choice="continue")
    assert turn.validation == [
        SlotSet("form_failure_count", 0),
        SlotSet("form_failed_slot", None),
        SlotSet("handoff_reason", None),
        SlotSet("phone", None),
        SlotSet("form_reprompted", False),
        SlotSet("requested_slot", "phone"),
    ]
    assert turn.responses == ["utter_ask_phone"]
    turn = driver.answer("021-6123 4567")
    assert driver.slots["phone"] == "02161234567"
    assert driver.slots["handoff_reason"] is None


def test_failures_of_different_questions_are_counted_separately(service):
    driver = FormDriver()
    _to_phone(driver)
    driver.answer("123")
    driver.answer("13812345678")
    turn = driver.answer("无")  # the address, first failure
    assert turn.responses == ["utter_invalid_complainant_address"]
    assert slot_events(turn.validation)["form_failure_count"] == 1


# =============================================================================================
# The respondent's district
# =============================================================================================


def _to_respondent_address(driver: FormDriver) -> Turn:
    turn = driver.start("complaint_form", "我要投诉", "complain_general")
    for answer in ("张伟", "13812345678", "上海市徐汇区漕溪北路88号1201室", "鲜丰果园"):
        turn = driver.answer(answer)
    assert turn.asked == "respondent_address"
    return turn


def test_address_without_district_offers_the_districts_as_buttons(service):
    driver = FormDriver()
    _to_respondent_address(driver)
    turn = driver.answer("开心路88号")
    assert turn.validation == [
        SlotSet("respondent_address", None),
        SlotSet("form_failed_slot", "respondent_address"),
        SlotSet("form_failure_count", 1),
        SlotSet("pending_address", "开心路88号"),
        SlotSet("form_reprompted", True),
        SlotSet("requested_slot", "respondent_address"),
    ]
    assert turn.responses == ["utter_ask_respondent_district"]
    buttons = DOMAIN["responses"]["utter_ask_respondent_district"][0]["buttons"]
    assert len(buttons) == 18 and buttons[-1]["title"] == "不清楚"

    turn = driver.answer('/inform{"district": "dist-changning"}', district="dist-changning")
    assert turn.validation == [
        SlotSet("respondent_address", "长宁区开心路88号"),
        SlotSet("district", "changning"),
        SlotSet("pending_address", None),
        SlotSet("form_failed_slot", None),
        SlotSet("form_failure_count", 0),
        SlotSet("form_reprompted", False),
        SlotSet("requested_slot", "facts"),
    ]
    assert turn.asked == "facts"


def test_a_typed_district_after_an_unresolved_address_keeps_the_street(service):
    driver = FormDriver()
    _to_respondent_address(driver)
    driver.answer("开心路88号")
    turn = driver.answer("长宁区", district="dist-changning")
    assert slot_events(turn.validation)["respondent_address"] == "长宁区开心路88号"
    assert driver.slots["district"] == "changning"
    assert driver.slots["pending_address"] is None


def test_second_unresolved_address_offers_a_human(service):
    driver = FormDriver()
    _to_respondent_address(driver)
    driver.answer("开心路88号")
    turn = driver.answer("就在那个地铁站旁边")
    assert turn.responses == ["utter_offer_human_form"]
    turn = driver.answer('/inform{"form_choice": "continue"}', form_choice="continue")
    assert turn.responses == ["utter_ask_respondent_district"]  # the buttons again, not the plain question


def test_unknown_district_goes_to_triage(service):
    driver = FormDriver()
    _to_respondent_address(driver)
    driver.answer("地铁站旁边那家")
    turn = driver.answer('/inform{"form_choice": "unknown"}', form_choice="unknown")
    assert driver.slots["respondent_address"] == "地铁站旁边那家"
    assert driver.slots["district"] is None
    assert turn.asked == "facts"


def test_address_in_a_district_is_resolved(service):
    driver = FormDriver()
    _to_respondent_address(driver)
    turn = driver.answer("南汇新城镇环湖西二路888号")
    assert turn.validation == [SlotSet("respondent_address", "南汇新城镇环湖西二路888号"), SlotSet("district", "lingang"),
                               SlotSet("requested_slot", "facts")]


# =============================================================================================
# Reports
# =============================================================================================


def _report(driver: FormDriver) -> Turn:
    turn = driver.start("report_form", "举报楼下小店卖过期食品", "report_violation")
    assert turn.asked == "respondent_name"
    for answer in ("好又多便利店", "杨浦区控江路1200号", "店里货架上的牛奶已经过期半个月了还在卖"):
        turn = driver.answer(answer)
    return turn


def test_anonymous_report_skips_name_and_phone(service):
    driver = FormDriver()
    turn = _report(driver)
    assert turn.asked == "anonymous"
    assert turn.responses == ["utter_privacy_notice", "utter_ask_anonymous"]
    text = DOMAIN["responses"]["utter_ask_anonymous"][0]["text"]
    assert "不会收到处理结果的反馈" in text and "举报奖励" in text

    turn = driver.answer('/inform{"form_choice": "anonymous"}', form_choice="anonymous")
    assert turn.validation == [SlotSet("anonymous", True), SlotSet("requested_slot", "confirmation")]
    assert turn.responses == ["utter_anonymous_chosen", "utter_confirm_report"]
    assert turn.messages[1]["identity_text"] == "匿名（不接收处理结果反馈）"

    turn = driver.answer("确认", intent="affirm")
    assert turn.asked is None and driver.form is None
    events, messages = driver.act(forms.ActionSubmitReport())
    draft, key = service.create_calls[0]
    assert draft.kind == "report" and draft.anonymous is True
    assert draft.complainant_name is None and draft.phone is None
    assert draft.privacy_notice_version == PRIVACY_NOTICE_VERSION
    assert names(messages) == ["utter_ticket_created_anonymous"]
    assert "phone_masked" not in messages[0]


def test_real_name_report_asks_name_and_phone(service):
    driver = FormDriver()
    _report(driver)
    turn = driver.answer("实名吧，我想知道处理结果")
    assert turn.validation == [SlotSet("anonymous", False), SlotSet("requested_slot", "complainant_name")]
    assert turn.responses == ["utter_ask_complainant_name_report"]
    turn = driver.answer("李建国")
    assert turn.asked == "phone"
    turn = driver.answer("我的电话是139 0000 1111")
    assert turn.asked == "confirmation"
    assert turn.messages[-1]["identity_text"] == "实名，李建国，电话 13900001111"
    driver.answer("对的", intent="affirm")
    driver.act(forms.ActionSubmitReport())
    draft, _ = service.create_calls[0]
    assert (draft.anonymous, draft.complainant_name, draft.phone) == (False, "李建国", "13900001111")


def test_switching_to_anonymous_forgets_name_and_phone(service):
    driver = FormDriver()
    _report(driver)
    driver.answer("实名")
    driver.answer("李建国")
    driver.answer("13900001111")
    turn = driver.answer("修改", intent="deny")
    assert turn.asked == "edit_field"
    assert turn.responses == ["utter_ask_edit_field_report"]
    turn = driver.answer('/inform{"form_choice": "anonymous"}', form_choice="anonymous")
    assert turn.validation == [SlotSet("edit_field", None), SlotSet("anonymous", None), SlotSet("confirmation", None),
                               SlotSet("complainant_name", None), SlotSet("phone", None),
                               SlotSet("requested_slot", "anonymous")]
    assert turn.asked == "anonymous"
    turn = driver.answer("还是匿名吧")
    assert turn.validation == [SlotSet("anonymous", True), SlotSet("requested_slot", "confirmation")]
    assert turn.responses == ["utter_anonymous_chosen", "utter_confirm_report"]


# =============================================================================================
# Credit code: taken when right, never required
# =============================================================================================


def _to_respondent_name(driver: FormDriver) -> None:
    turn = driver.start("complaint_form", "我要投诉", "complain_general")
    for answer in ("张伟", "13812345678", "上海市徐汇区漕溪北路88号1201室"):
        turn = driver.answer(answer)
    assert turn.asked == "respondent_name"


def test_credit_code_with_a_right_check_digit_is_taken(service):
    driver = FormDriver()
    _to_respondent_name(driver)
    turn = driver.answer("上海乐活健身有限公司，统一社会信用代码 9144030071526726XG")
    assert turn.validation == [
        SlotSet("respondent_credit_code", "9144030071526726XG"),
        SlotSet("respondent_name", "上海乐活健身有限公司"),
        SlotSet("requested_slot", "respondent_address"),
    ]
    assert turn.responses[0] == "utter_credit_code_accepted"
    assert turn.messages[0]["credit_code"] == "9144030071526726XG"
    assert turn.asked == "respondent_address"


def test_credit_code_with_a_wrong_check_digit_is_refused_and_the_form_goes_on(service):
    driver = FormDriver()
    _to_respondent_name(driver)
    turn = driver.answer("上海乐活健身有限公司 信用代码91440300715267260G")
    assert "respondent_credit_code" not in slot_events(turn.validation)
    assert slot_events(turn.validation)["respondent_name"] == "上海乐活健身有限公司"
    assert turn.responses == ["utter_credit_code_invalid", "utter_ask_respondent_address"]
    assert turn.messages[0]["credit_code"] == "91440300715267260G"


def test_credit_code_alone_is_taken_and_the_question_is_asked_again(service):
    driver = FormDriver()
    _to_respondent_name(driver)
    turn = driver.answer("9144030071526726XG")
    assert turn.validation == [SlotSet("respondent_credit_code", "9144030071526726XG"),
                               SlotSet("respondent_name", None), SlotSet("requested_slot", "respondent_name")]
    assert turn.responses == ["utter_credit_code_accepted", "utter_ask_respondent_name"]


# =============================================================================================
# Read-back, corrections, cancel, questions in between
# =============================================================================================


def test_read_back_lists_every_field(service):
    driver = FormDriver()
    turn = fill_complaint(driver)
    assert turn.responses[-1] == "utter_confirm_complaint"
    values = turn.messages[-1]
    assert values["complainant_name"] == "张伟"
    assert values["phone"] == "13812345678"  # in full: the citizen's own chat, to check every digit
    assert values["respondent_address"] == "浦东新区张杨路500号"
    assert values["district_text"] == "浦东新区"
    assert values["amount_text"] == "2000元"
    assert values["credit_code_text"] == "未提供"
    assert values["platform_text"] == "不涉及"
    template = DOMAIN["responses"]["utter_confirm_complaint"][0]
    for variable in re.findall(r"{(\w+)}", template["text"]):
        assert variable in values, variable
    assert [b["payload"] for b in template["buttons"]] == ["/affirm", "/deny", "/cancel"]


def test_correction_via_modify_then_field_button(service):
    driver = FormDriver()
    fill_complaint(driver)
    turn = driver.answer("要修改", intent="deny")
    assert turn.validation == [SlotSet("confirmation", "edit")]  # Rasa asks the next slot: edit_field
    assert turn.responses == ["utter_ask_edit_field_complaint"]
    turn = driver.answer('/inform{"form_choice": "phone"}', form_choice="phone")
    assert turn.validation == [
        SlotSet("edit_field", None),
        SlotSet("phone", None),
        SlotSet("confirmation", None),
        SlotSet("requested_slot", "phone"),
    ]
    assert turn.responses == ["utter_ask_phone"]  # no second privacy notice
    turn = driver.answer("13900001111")
    assert turn.asked == "confirmation"
    assert turn.messages[-1]["phone"] == "13900001111"
    assert driver.slots["complainant_name"] == "张伟"  # nothing else lost


def test_correction_in_one_message_resets_that_field(service):
    driver = FormDriver()
    fill_complaint(driver)
    turn = driver.answer("不对，我电话填错了", intent="deny")
    assert slot_events(turn.validation) == {"phone": None, "confirmation": None, "requested_slot": "phone"}
    assert turn.responses == ["utter_ask_phone"]
    turn = driver.answer("我的地址写错了", intent="deny")  # before answering: a correction, not a phone
    assert turn.validation == [SlotSet("complainant_address", None), SlotSet("phone", None),
                               SlotSet("requested_slot", "phone")]


def test_ambiguous_field_asks_which_one(service):
    driver = FormDriver()
    fill_complaint(driver)
    turn = driver.answer("地址写错了", intent="deny")  # whose address? the buttons say
    assert turn.asked == "edit_field"
    turn = driver.answer("商家的地址")
    assert slot_events(turn.validation)["respondent_address"] is None
    assert slot_events(turn.validation)["district"] is None
    assert turn.asked == "respondent_address"


def test_cancel_mid_form_clears_everything_and_creates_nothing(service):
    driver = FormDriver()
    driver.start("complaint_form", "健身房老板跑路了卡里还有两千", "complain_prepaid", amount="两千")
    driver.answer("张伟")
    turn = driver.answer("算了不投诉了", intent="cancel")
    assert turn.rejected  # the rule runs action_cancel_form
    # answers are in the form: the cancel is confirmed first, nothing is cleared yet
    events, messages = driver.act(forms.ActionCancelForm())
    assert names(messages) == ["utter_confirm_cancel"]
    assert events == [SlotSet("cancel_pending", True), FollowupAction("action_listen")]
    assert driver.form == "complaint_form" and driver.slots["complainant_name"] == "张伟"
    # 确认取消 (or 算了 again): now it is cancelled
    events, messages = driver.act(forms.ActionCancelForm())
    assert names(messages) == ["utter_form_cancelled"]
    assert events == [
        ActiveLoop(None),
        SlotSet("requested_slot", None),
        SlotSet("complainant_name", None),
        SlotSet("facts", None),
        SlotSet("amount", None),
        SlotSet("ticket_intent", None),
        SlotSet("cancel_pending", None),
    ]
    assert driver.form is None
    assert service.create_calls == []


def test_a_cancel_before_any_answer_needs_no_confirmation(service):
    driver = FormDriver()
    driver.start("complaint_form", "我要投诉", "complain_general")
    turn = driver.answer("算了", intent="cancel")
    assert turn.rejected
    events, messages = driver.act(forms.ActionCancelForm())
    assert names(messages) == ["utter_form_cancelled"] and driver.form is None


def test_continue_after_a_cancel_keeps_every_answer(service):
    driver = FormDriver()
    driver.start("complaint_form", "健身房老板跑路了卡里还有两千", "complain_prepaid", amount="两千")
    driver.answer("张伟")
    driver.answer("算了", intent="cancel")
    driver.act(forms.ActionCancelForm())
    turn = driver.answer('/inform{"form_choice": "continue"}', intent="inform", form_choice="continue")
    assert driver.slots["complainant_name"] == "张伟" and driver.slots["cancel_pending"] is None
    assert turn.asked == "phone"


def test_cancelling_a_status_look_up_keeps_a_complaint_waiting_for_a_retry(service):
    driver = _confirmed()
    service.fail_with = RuntimeError("database is down")
    driver.act(forms.ActionSubmitComplaint())
    driver.start("ticket_status_form", "查一下工单", "check_ticket_status")
    driver.answer("XA-261126-0042")
    events, messages = driver.act(forms.ActionCancelForm())
    assert events == [ActiveLoop(None), SlotSet("requested_slot", None), SlotSet("ticket_no", None),
                      SlotSet("handoff_reason", None)]
    assert driver.slots["ticket_retry"] == "complaint" and driver.slots["phone"] == "13812345678"


def test_question_mid_form_is_let_through_and_the_form_asks_again(service):
    driver = FormDriver()
    _to_phone(driver)
    turn = driver.answer("投诉多久会有结果", intent="ask_regulation")
    assert turn.rejected and turn.validation == []
    turn = driver.resume("action_answer_question")
    assert turn.validation == [SlotSet("requested_slot", "phone")]
    assert turn.responses == ["utter_ask_phone"]


def test_question_after_a_failure_changes_strategy_at_the_third_ask(service):
    driver = FormDriver()
    _to_phone(driver)
    driver.answer("不知道")
    driver.answer("网购七天无理由退货怎么算", intent="ask_consumer_rights")
    turn = driver.resume("action_answer_question")  # the third time the phone is asked: with an example
    assert turn.validation == [SlotSet("form_reprompted", False), SlotSet("form_reprompted", True),
                               SlotSet("requested_slot", "phone")]
    assert turn.responses == ["utter_invalid_phone"]


def test_unclear_confirmation_explains_the_buttons(service):
    driver = FormDriver()
    fill_complaint(driver)
    turn = driver.answer("嗯嗯那个")
    assert turn.responses == ["utter_invalid_confirmation"]
    assert driver.slots["confirmation"] is None


def test_reactivation_starts_the_read_back_afresh(service):
    """A kept, confirmed form (e.g. after a handoff) is read back again before anything is created."""
    driver = FormDriver()
    fill_complaint(driver)
    driver.answer("确认", intent="affirm")
    driver.slots["ticket_retry"] = None
    turn = driver.start("complaint_form", "我还是要投诉", "complain_general")
    assert SlotSet("confirmation", None) in turn.validation
    assert turn.asked == "confirmation"


# =============================================================================================
# Submission
# =============================================================================================


def _confirmed(channel: str = "rest", sender: str = "web-3f2a") -> FormDriver:
    driver = FormDriver(sender=sender, channel=channel)
    fill_complaint(driver, opening="健身房老板跑路了，卡里还有两千块", intent="complain_prepaid")
    turn = driver.answer("确认", intent="affirm")
    assert turn.asked is None and driver.form is None
    return driver


def test_confirmation_creates_one_ticket_and_tells_the_receipt(service):
    driver = _confirmed()
    tracker = driver.tracker()
    events, messages = run(forms.ActionSubmitComplaint(), tracker)
    assert len(service.create_calls) == 1
    draft, key = service.create_calls[0]
    started = next(e["timestamp"] for e in driver.events if e.get("event") == "active_loop"
                   and e.get("name") == "complaint_form")
    assert key == f"web-3f2a:{started:.6f}"
    assert draft == TicketDraft(
        kind="complaint", intent="complain_prepaid", channel="web", conversation_id="web-3f2a",
        complainant_name="张伟", phone="13812345678", complainant_address="上海市徐汇区漕溪北路88号1201室",
        respondent_name="乐活健身", respondent_address="浦东新区张杨路500号", district="pudong",
        facts="健身房老板跑路了，卡里还有两千块", claim="退还剩余的卡费", amount=Decimal("2000"),
        anonymous=False, respondent_credit_code=None, online_platform=None,
        privacy_notice_version=PRIVACY_NOTICE_VERSION,
    )
    assert names(messages) == ["utter_ticket_created"]
    assert {k: messages[0][k] for k in ("ticket_no", "agency_name", "contact_by", "resolve_by", "phone_masked")} == {
        "ticket_no": "XA-261126-0001", "agency_name": "浦东新区市场监督管理局", "contact_by": "11月27日",
        "resolve_by": "12月3日", "phone_masked": "138****5678"}
    cleared = slot_events(events)
    for name in forms.COMPLAINT_FIELDS + ("confirmation", "district", "ticket_intent"):
        assert cleared[name] is None, name
    assert cleared["last_ticket_no"] == "XA-261126-0001"
    assert "privacy_notice_version" not in cleared


def test_submitting_twice_creates_exactly_one_ticket(db_url, monkeypatch):
    """A repeated submit reaches the real ticket service and database (the fake above keeps one
    ticket per key by construction, so it could not tell)."""
    from sqlalchemy import select

    from xiaoan.config import Settings
    from xiaoan.db import session_scope
    from xiaoan.tickets.models import Ticket
    from xiaoan.tickets.routing import Router
    from xiaoan.tickets.service import TicketService

    real = TicketService(Settings(database_url=db_url), router=Router(resolve_district=lambda text: None))
    monkeypatch.setattr(ticket_service_module, "get_ticket_service", lambda: real)
    monkeypatch.delenv("XIAOAN_TICKET_API_URL", raising=False)
    tracker = _confirmed().tracker()
    first_events, first = run(forms.ActionSubmitComplaint(), tracker)
    second_events, second = run(forms.ActionSubmitComplaint(), _confirmed_copy(tracker))
    with session_scope(db_url) as session:
        stored = [(t.ticket_no, t.phone, t.respondent_name) for t in session.execute(select(Ticket)).scalars()]
    assert stored == [(first[0]["ticket_no"], "13812345678", "乐活健身")]
    assert second[0]["ticket_no"] == first[0]["ticket_no"]
    assert first_events == second_events


def _confirmed_copy(tracker: Tracker) -> Tracker:
    return Tracker(tracker.sender_id, dict(tracker.slots), dict(tracker.latest_message), list(tracker.events),
                   False, None, {}, "action_listen")


def test_a_double_click_after_an_edit_keeps_the_same_key(service):
    """The key is the form's activation: editing inside the form does not change it."""
    driver = FormDriver()
    fill_complaint(driver)
    driver.answer("不对，电话填错了", intent="deny")
    driver.answer("13900001111")
    driver.answer("确认", intent="affirm")
    key = common.idempotency_key(driver.tracker(), "complaint_form")
    started = [e["timestamp"] for e in driver.events if e.get("event") == "active_loop" and e.get("name")]
    assert len(started) == 1 and key == f"web-3f2a:{started[0]:.6f}"


def test_service_failure_keeps_the_form_and_a_retry_creates_the_ticket(service):
    driver = _confirmed()
    service.fail_with = RuntimeError("database is down")
    events, messages = driver.act(forms.ActionSubmitComplaint())
    assert names(messages) == ["utter_ticket_failed"]
    assert events == [SlotSet("ticket_retry", "complaint"), SlotSet("handoff_reason", "form_failed")]
    assert driver.slots["phone"] == "13812345678" and driver.slots["confirmation"] == "confirmed"
    assert service.tickets == {}

    service.fail_with = None  # "重试" (affirm) runs the action again: data/rules/forms.yml
    events, messages = driver.act(forms.ActionSubmitComplaint())
    assert names(messages) == ["utter_ticket_created"]
    assert len(service.tickets) == 1
    assert service.create_calls[0][1] == service.create_calls[1][1]  # same key as the failed try
    assert SlotSet("ticket_retry", None) in events and SlotSet("handoff_reason", None) in events


def test_unreachable_platform_still_gives_the_local_number_and_says_it_will_be_forwarded(service, monkeypatch):
    monkeypatch.setenv("XIAOAN_TICKET_API_URL", "http://127.0.0.1:9/api")
    service.forwarded = False
    _, messages = run(forms.ActionSubmitComplaint(), _confirmed().tracker())
    assert names(messages) == ["utter_ticket_created", "utter_ticket_forward_pending"]
    assert messages[0]["ticket_no"] == "XA-261126-0001"


def test_forwarded_ticket_has_no_pending_line(service, monkeypatch):
    monkeypatch.setenv("XIAOAN_TICKET_API_URL", "http://127.0.0.1:9/api")
    _, messages = run(forms.ActionSubmitComplaint(), _confirmed().tracker())
    assert names(messages) == ["utter_ticket_created"]


def test_nothing_is_created_without_a_confirmed_read_back(service):
    driver = FormDriver()
    fill_complaint(driver)
    events, messages = run(forms.ActionSubmitComplaint(), driver.tracker())
    assert (events, messages, service.create_calls) == ([], [], [])


def test_amount_not_involved_is_no_amount(service):
    driver = FormDriver()
    turn = driver.start("complaint_form", "我要投诉", "complain_general")
    answers = {"complainant_name": "张伟", "phone": "13812345678", "complainant_address": "上海市徐汇区漕溪北路88号",
               "respondent_name": "老王烧烤", "respondent_address": "静安区南京西路1000号",
               "facts": "服务员态度恶劣还推搡我，要求店家道歉", "claim": "道歉"}
    while turn.asked in answers:
        turn = driver.answer(answers[turn.asked])
    assert turn.asked == "amount"
    assert DOMAIN["responses"]["utter_ask_amount"][0]["buttons"][0]["payload"] == '/inform{"form_choice": "none"}'
    turn = driver.answer('/inform{"form_choice": "none"}', form_choice="none")
    assert driver.slots["amount"] == "none"
    assert turn.messages[-1]["amount_text"] == "不涉及"
    driver.answer("确认", intent="affirm")
    run(forms.ActionSubmitComplaint(), driver.tracker())
    assert service.create_calls[0][0].amount is None


@pytest.mark.parametrize(
    ("channel", "sender", "expected"),
    [("rest", "web-3f2a", "web"), ("socketio", "abc", "web"), ("rest", "e2e-1", "rest"),
     ("wechat", "oXyz", "wechat")],
)
def test_channel_of_the_ticket(service, channel, sender, expected):
    run(forms.ActionSubmitComplaint(), _confirmed(channel=channel, sender=sender).tracker())
    assert service.create_calls[0][0].channel == expected


# =============================================================================================
# Ticket status
# =============================================================================================

VIEW = TicketStatusView(
    ticket_no="XA-261126-0042", kind="complaint", status="in_progress", status_label="处理中",
    agency="dist-pudong", agency_name="浦东新区市场监督管理局",
    created_at=dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.timezone.utc), contact_by=dt.date(2026, 11, 27),
    resolve_by=dt.date(2026, 12, 3), overdue=False, near_due=False,
    last_update_at=dt.datetime(2026, 11, 26, 17, 30, tzinfo=dt.timezone.utc),
)


def _status_form(driver: FormDriver) -> Turn:
    turn = driver.start("ticket_status_form", "我上周的投诉处理得怎么样了", "check_ticket_status")
    assert turn.asked == "ticket_no" and turn.responses == ["utter_ask_ticket_no"]
    turn = driver.answer("xa 261126 0042")
    assert turn.validation == [SlotSet("ticket_no", "XA-261126-0042")]
    assert turn.asked == "phone_last4"
    turn = driver.answer("尾号5678")
    assert turn.asked is None and driver.form is None
    return turn


def test_status_found_tells_status_agency_and_due_dates(service, db_url):
    service.view = VIEW
    driver = FormDriver()
    _status_form(driver)
    events, messages = driver.act(tickets.ActionCheckTicketStatus())
    assert service.status_calls == [("XA-261126-0042", "5678")]
    assert names(messages) == ["utter_ticket_status"]
    assert {k: messages[0][k] for k in ("status_label", "agency_name", "created_at", "contact_by", "resolve_by",
                                        "last_update_at")} == {
        "status_label": "处理中", "agency_name": "浦东新区市场监督管理局", "created_at": "11月26日",
        "contact_by": "11月27日", "resolve_by": "12月3日", "last_update_at": "11月27日"}  # 17:30 UTC = next day
    assert events == [SlotSet("ticket_no", None), SlotSet("phone_last4", None),
                      SlotSet("ticket_status_result", "found"), SlotSet("last_ticket_no", "XA-261126-0042")]


def test_status_overdue_says_so(service, db_url):
    service.view = replace(VIEW, overdue=True)
    driver = FormDriver()
    _status_form(driver)
    _, messages = driver.act(tickets.ActionCheckTicketStatus())
    assert names(messages) == ["utter_ticket_status", "utter_ticket_status_overdue"]


def test_status_not_found_asks_again_then_offers_a_human(service, db_url):
    driver = FormDriver()
    _status_form(driver)
    events, messages = driver.act(tickets.ActionCheckTicketStatus())
    assert names(messages) == ["utter_ticket_status_not_found"]
    assert events[-2:] == [SlotSet("ticket_status_result", "retry"), SlotSet("ticket_status_misses", 1)]
    text = DOMAIN["responses"]["utter_ticket_status_not_found"][0]["text"]
    assert "工单号和登记电话的后四位" in text  # never which one was wrong

    # the rule re-activates the form: both are asked again; neither the last message ("尾号5678")
    # nor the last ticket is assumed
    driver.slots["last_ticket_no"] = "XA-261126-0042"
    turn = driver.activate("ticket_status_form")
    assert turn.validation == []
    assert turn.asked == "ticket_no"
    driver.answer("XA-261126-0043")
    driver.answer("5678")
    events, messages = driver.act(tickets.ActionCheckTicketStatus())
    assert names(messages) == ["utter_ticket_status_not_found", "utter_ticket_status_offer_human"]
    # the miss count is kept (shared counter, tests/security/test_limits.py): starting over does not reset it
    assert events[-3:] == [SlotSet("ticket_status_result", "give_up"), SlotSet("ticket_status_misses", 2),
                           SlotSet("handoff_reason", "form_failed")]


def test_status_service_failure_says_it_is_unavailable(service, db_url):
    service.fail_with = RuntimeError("db down")
    driver = FormDriver()
    _status_form(driver)
    events, messages = driver.act(tickets.ActionCheckTicketStatus())
    assert names(messages) == ["utter_ticket_status_unavailable"]
    assert SlotSet("ticket_status_result", "give_up") in events


def test_status_form_prefills_number_and_digits_from_the_opening_message(service):
    driver = FormDriver()
    turn = driver.start("ticket_status_form", "单号XA-261101-0135处理到哪了 尾号0917", "check_ticket_status",
                        ticket_no="XA-261101-0135")
    assert turn.validation == [SlotSet("ticket_no", "XA-261101-0135"), SlotSet("phone_last4", "0917")]
    assert turn.asked is None


def test_status_form_offers_the_ticket_just_created(service):
    driver = FormDriver(last_ticket_no="XA-261126-0007")
    turn = driver.start("ticket_status_form", "查一下我的投诉", "check_ticket_status")
    assert turn.validation == [SlotSet("ticket_no", "XA-261126-0007")]
    assert turn.asked == "phone_last4"


def test_invalid_ticket_number_explains_the_format(service):
    driver = FormDriver()
    driver.start("ticket_status_form", "查进度", "check_ticket_status")
    turn = driver.answer("261126")
    assert turn.responses == ["utter_invalid_ticket_no"]
    assert "XA-261126-0042" in DOMAIN["responses"]["utter_invalid_ticket_no"][0]["text"]
    turn = driver.answer("不知道")
    assert turn.responses == ["utter_offer_human_form"]


# =============================================================================================
# Domain and code agree
# =============================================================================================


def _all_domain() -> dict:
    return DOMAIN


def _string_constants(path: Path) -> set[str]:
    """String literals of a module, docstrings left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings}


def test_every_response_the_actions_utter_exists_in_the_domain():
    domain = _all_domain()
    used = {s for name in ("forms.py", "tickets.py", "common.py")
            for s in _string_constants(ROOT / "actions" / name) if re.fullmatch(r"utter_[a-z0-9_]*[a-z0-9]", s)}
    for form in ("complaint_form", "report_form", "ticket_status_form"):
        tracker = Tracker("t", {}, {}, [], False, None, {"name": form}, None)
        for action in ASK_ACTIONS.values():
            used.add(action.response(tracker))
    assert len(used) > 40
    missing = sorted(u for u in used if u not in domain["responses"])
    assert missing == []


def test_every_action_is_registered_in_the_domain_and_every_asked_slot_has_a_question():
    domain_actions = set(DOMAIN["actions"])
    ours = [*VALIDATIONS.values(), *ASK_ACTIONS.values(), forms.ActionSubmitComplaint(), forms.ActionSubmitReport(),
            forms.ActionCancelForm(), tickets.ActionCheckTicketStatus()]
    assert {a.name() for a in ours} <= domain_actions
    for form in FORMS:
        for slot in DOMAIN["forms"][form]["required_slots"]:
            assert slot in ASK_ACTIONS, slot
    for slot in forms.TICKET_SLOTS:
        assert slot in DOMAIN["slots"], slot


def test_the_action_server_registers_every_action_and_no_base_class():
    executor = ActionExecutor()
    executor.register_package("actions.forms")
    executor.register_package("actions.tickets")
    ours = {a.name() for a in [*VALIDATIONS.values(), *ASK_ACTIONS.values(), forms.ActionSubmitComplaint(),
                               forms.ActionSubmitReport(), forms.ActionCancelForm(),
                               tickets.ActionCheckTicketStatus()]}
    assert ours <= set(executor.actions)
    assert "action_ask_" not in executor.actions
    for base in (common.FormSlotValidation, common.AskSlotAction, forms.TicketFormValidation,
                 forms.PersonalSlotAsk, forms.SubmitTicketAction):
        assert inspect.isabstract(base), base


def test_privacy_notice_states_purpose_audience_and_version():
    text = DOMAIN["responses"]["utter_privacy_notice"][0]["text"]
    for words in ("受理和处理", "联系", "市场监管部门", "不会透露给被举报的商家", "{privacy_notice_version}"):
        assert words in text
    assert re.fullmatch(r"\d{4}-\d{2}-v\d+", PRIVACY_NOTICE_VERSION)


# =============================================================================================
# Rules and test stories against Rasa's own RulePolicy (no trained model; what `rasa test`
# checks for the dialogue, minus NLU)
# =============================================================================================

RULE_FILES = ("core.yml", "handoff.yml", "forms.yml")


@pytest.fixture(scope="module")
def rule_policy(tmp_path_factory):
    """A RulePolicy trained as `rasa train` trains it (contradiction checks included)."""
    paths = [ROOT / "data" / "rules" / name for name in RULE_FILES] + [ROOT / "data" / "stories" / "forms.yml"]
    return train_rule_policy(paths, tmp_path_factory.mktemp("rule-policy"))


_predict, _session_start, _said = predict, session_start, said


def test_form_test_stories_follow_the_rules(rule_policy):
    """Every action of tests/dialogue_stories/test_forms.yml is what the rules predict.

    As `rasa test` does, a form predicted where the story has another action is treated as
    rejected (the message filled nothing) and the prediction is made again.
    """
    from rasa.shared.core.events import ActionExecuted as Executed, ActionExecutionRejected
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader

    policy, domain = rule_policy
    path = ROOT / "tests" / "dialogue_stories" / "test_forms.yml"
    stories = YAMLStoryReader(domain, str(path)).read_from_file(str(path))
    assert len(stories) >= 10
    for story in stories:
        events = _session_start()[:2] + story.explicit_events(domain)  # ends with the implicit listen
        checked = 0
        for index, event in enumerate(events):
            if not isinstance(event, Executed) or index <= 2:
                continue
            history = list(events[:index])
            predicted = _predict(rule_policy, history)
            active = DialogueStateTracker.from_events("t", history, domain.slots).active_loop_name
            if predicted != event.action_name and predicted == active:
                predicted = _predict(rule_policy, history + [ActionExecutionRejected(active)])
            assert predicted == event.action_name, f"{story.block_name}: step {index}"
            checked += 1
        assert checked >= 3, story.block_name


def test_failed_submission_is_retried_or_cancelled_by_the_rules(rule_policy):
    from rasa.shared.core.events import ActionExecuted as Executed, SlotSet as Set

    failed = _session_start() + [_said("complain_general"), Executed("complaint_form"),
                                 Executed("action_submit_complaint"), Set("ticket_retry", "complaint"),
                                 Executed("action_listen")]
    assert _predict(rule_policy, failed + [_said("affirm")]) == "action_submit_complaint"
    assert _predict(rule_policy, failed + [_said("cancel")]) == "action_cancel_form"
    report = failed[:-2] + [Set("ticket_retry", "report"), Executed("action_listen")]
    assert _predict(rule_policy, report + [_said("affirm")]) == "action_submit_report"


def test_status_look_up_outcomes_follow_the_rules(rule_policy):
    from rasa.shared.core.events import ActionExecuted as Executed, ActiveLoop as Loop, SlotSet as Set

    done = _session_start() + [_said("check_ticket_status"), Executed("ticket_status_form"),
                               Loop("ticket_status_form"), Set("requested_slot", "ticket_no"),
                               Executed("action_listen"), _said("inform"), Executed("ticket_status_form"),
                               Loop(None), Set("requested_slot", None)]
    assert _predict(rule_policy, done) == "action_check_ticket_status"
    checked = done + [Executed("action_check_ticket_status")]
    assert _predict(rule_policy, checked + [Set("ticket_status_result", "found")]) == "action_listen"
    assert _predict(rule_policy, checked + [Set("ticket_status_result", "retry")]) == "ticket_status_form"
    assert _predict(rule_policy, checked + [Set("ticket_status_result", "give_up")]) == "action_listen"


# =============================================================================================
# With the real tickets service
# =============================================================================================


def test_real_service_creates_one_ticket_and_the_status_can_be_checked(db_url, monkeypatch):
    monkeypatch.delenv("XIAOAN_TICKET_API_URL", raising=False)
    ticket_service_module.reset_ticket_service()
    try:
        tracker = _confirmed().tracker()
        events, messages = run(forms.ActionSubmitComplaint(), tracker)
        assert names(messages) == ["utter_ticket_created"]
        ticket_no = messages[0]["ticket_no"]
        assert re.fullmatch(r"XA-\d{6}-\d{4}", ticket_no)
        assert messages[0]["agency_name"] == "浦东新区市场监督管理局"
        assert re.fullmatch(r"\d{1,2}月\d{1,2}日", messages[0]["contact_by"])

        # the same confirmation again (a retried call): the same ticket, not a second one
        _, again = run(forms.ActionSubmitComplaint(), _confirmed_copy(tracker))
        assert again[0]["ticket_no"] == ticket_no
        service = ticket_service_module.get_ticket_service()
        assert [t["ticket_no"] for t in service.list_tickets()] == [ticket_no]
        shown = service.show(ticket_no)
        assert (shown["kind"], shown["district"], shown["channel"], shown["phone_masked"]) == \
            ("complaint", "pudong", "web", "138****5678")

        driver = FormDriver(ticket_no=ticket_no, phone_last4="5678")
        _, status = run(tickets.ActionCheckTicketStatus(), driver.tracker())
        assert names(status) == ["utter_ticket_status"]
        assert status[0]["ticket_no"] == ticket_no
        driver = FormDriver(ticket_no=ticket_no, phone_last4="0000")
        _, status = run(tickets.ActionCheckTicketStatus(), driver.tracker())
        assert names(status) == ["utter_ticket_status_not_found"]
    finally:
        ticket_service_module.reset_ticket_service()


def _message_tracker(text, entities):
    from rasa_sdk import Tracker

    return Tracker("s", {}, {"text": text, "entities": entities}, [], False, None, {}, "")


def test_merchant_name_is_widened_from_the_tagged_last_word():
    from actions.common import merchant_from_message

    tagged_tail = [{"entity": "respondent_name", "value": "健身", "start": 5, "end": 7}]
    assert merchant_from_message(_message_tracker("浦东的乐活健身老板跑路了", tagged_tail)) == "乐活健身"
    whole = [{"entity": "respondent_name", "value": "乐活健身", "start": 0, "end": 4}]
    assert merchant_from_message(_message_tracker("乐活健身", whole)) == "乐活健身"


def test_a_bare_kind_of_business_is_not_a_merchant_name():
    from actions.common import merchant_from_message

    kind_only = [{"entity": "respondent_name", "value": "健身房", "start": 2, "end": 5}]
    assert merchant_from_message(_message_tracker("那家健身房跑路了", kind_only)) is None


def test_the_fallback_resumes_a_form_whose_cancel_was_not_confirmed(service):
    driver = FormDriver()
    driver.start("complaint_form", "健身房老板跑路了卡里还有两千", "complain_prepaid", amount="两千")
    driver.answer("张伟")
    driver.answer("算了", intent="cancel")
    driver.act(forms.ActionCancelForm())
    driver.say("继续填写", "inform")
    events, messages = driver.act(forms.ActionDefaultFallback())
    assert events == [SlotSet("cancel_pending", None), FollowupAction("complaint_form")] and messages == []
    # without a pending cancel it is Rasa's own fallback
    events, messages = driver.act(forms.ActionDefaultFallback())
    assert names(messages) == ["utter_default"] and events == [UserUtteranceReverted()]
