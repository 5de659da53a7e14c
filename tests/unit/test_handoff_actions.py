"""The handoff actions with rasa_sdk trackers built in code: exact events and response names."""

from __future__ import annotations

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import ConversationPaused, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import (
    ActionEscalationCheck,
    ActionHandoff,
    ActionSubmitCallback,
    ValidateCallbackForm,
    resolve_reason,
    slot_snapshot,
)
from xiaoan.db import session_scope
from xiaoan.handoff.service import get_handoff_service, reset_handoff_service
from xiaoan.web.accounts import create_user

CONV = "web-0123456789abcdef"


@pytest.fixture(autouse=True)
def fresh_service(db_url):
    reset_handoff_service()
    yield
    reset_handoff_service()


def agent_online(username: str = "wangfang") -> int:
    with session_scope() as db:
        agent_id = create_user(db, username, "agent-password-1", "agent", username).id
    get_handoff_service().heartbeat(agent_id, username)
    return agent_id


def user(text: str, intent: str, entities: list | None = None, channel: str = "rest") -> dict:
    parse = {"intent": {"name": intent, "confidence": 0.9}, "entities": entities or [], "text": text}
    return {"event": "user", "text": text, "parse_data": parse, "input_channel": channel, "timestamp": 1.0}


def bot(text: str, utter_action: str | None = None) -> dict:
    return {"event": "bot", "text": text, "metadata": {"utter_action": utter_action} if utter_action else {}}


def action(name: str) -> dict:
    return {"event": "action", "name": name}


def tracker(events: list[dict], slots: dict | None = None, active_loop: str | None = None,
            sender: str = CONV) -> Tracker:
    latest = next((e["parse_data"] | {"text": e["text"]} for e in reversed(events) if e["event"] == "user"), {})
    return Tracker(sender, slots or {}, latest, events, False, None,
                   {"name": active_loop} if active_loop else {}, "action_listen")


def run(action_obj, t: Tracker) -> tuple[list[dict], list[str]]:
    dispatcher = CollectingDispatcher()
    events = action_obj.run(dispatcher, t, {})
    return events, [m.get("response") for m in dispatcher.messages]


def messages(action_obj, t: Tracker) -> list[dict]:
    dispatcher = CollectingDispatcher()
    action_obj.run(dispatcher, t, {})
    return dispatcher.messages


# --- action_handoff -------------------------------------------------------------------------------

def test_request_human_with_an_agent_online_queues_and_pauses():
    agent_online()
    slots = {"complainant_name": "张三", "phone": "13812345678", "respondent_name": "某某健身",
             "requested_slot": "facts", "handoff_reason": None}
    t = tracker([action("action_listen"), user("健身房跑路了", "complain_prepaid"), action("complaint_form"),
                 bot("请问您叫什么名字？"), action("action_listen"), user("转人工", "request_human")],
                slots=slots, active_loop="complaint_form")
    dispatcher = CollectingDispatcher()
    events = ActionHandoff().run(dispatcher, t, {})
    assert events == [ConversationPaused()]
    assert dispatcher.messages[0]["response"] == "utter_handoff_queued"
    assert (dispatcher.messages[0]["position"], dispatcher.messages[0]["wait_minutes"]) == (1, 1)
    (view,) = get_handoff_service().queue()
    assert (view.conversation_id, view.channel, view.input_channel, view.reason) == (CONV, "web", "rest", "requested")
    assert (view.intent, view.active_form) == ("complain_prepaid", "complaint_form")
    assert view.slots == {"complainant_name": "张三", "phone": "13812345678", "respondent_name": "某某健身"}


def test_no_agent_online_offers_a_callback_without_pausing():
    t = tracker([user("转人工", "request_human")])
    events, responses = run(ActionHandoff(), t)
    assert responses == ["utter_handoff_no_agent", "utter_offer_callback"]
    assert events == [SlotSet("handoff_pending_reason", "requested")]
    assert get_handoff_service().queue() == []


def test_a_long_wait_offers_a_callback_with_the_numbers():
    agent = agent_online()
    service = get_handoff_service()
    held = service.enqueue("web-other", "web", "requested")
    service.take(held.session_id, agent, "wangfang")
    for i in range(2):
        service.enqueue(f"web-{i}", "web", "requested")
    t = tracker([user("转人工", "request_human")])
    msgs = messages(ActionHandoff(), t)
    assert [m["response"] for m in msgs] == ["utter_handoff_long_wait", "utter_offer_callback"]
    assert (msgs[0]["position"], msgs[0]["wait_minutes"]) == (3, 18)   # 3rd in line, 1 busy agent, 6 min each


def test_choosing_the_queue_queues_even_without_agents():
    choice = [{"entity": "handoff_choice", "value": "queue"}]
    t = tracker([user("/request_human", "request_human", choice)], slots={"handoff_pending_reason": "angry"})
    msgs = messages(ActionHandoff(), t)
    assert [m["response"] for m in msgs] == ["utter_handoff_queued_no_agent"]
    assert msgs[0]["position"] == 1
    assert get_handoff_service().queue()[0].reason == "angry"   # kept from the first round


def test_choosing_a_callback_starts_the_callback_form():
    choice = [{"entity": "handoff_choice", "value": "callback"}]
    t = tracker([user("/request_human", "request_human", choice)], slots={"handoff_pending_reason": "fallback"})
    events, responses = run(ActionHandoff(), t)
    assert responses == []
    assert events == [SlotSet("handoff_pending_reason", "fallback"), FollowupAction("callback_form")]
    assert get_handoff_service().queue() == []


def test_an_urgent_request_says_the_emergency_numbers_first():
    agent_online()
    t = tracker([user("电梯困人了快转人工", "request_human")])
    events, responses = run(ActionHandoff(), t)
    assert responses == ["utter_emergency", "utter_handoff_queued"]
    assert events == [ConversationPaused()]
    assert get_handoff_service().queue()[0].reason == "urgent"


def test_no_second_emergency_message_after_the_rule_said_it():
    agent_online()
    t = tracker([user("电梯困人了", "report_violation"), action("action_escalation_check"),
                 action("utter_emergency"), bot("请立即拨打110", "utter_emergency")],
                slots={"escalation": "urgent"})
    events, responses = run(ActionHandoff(), t)
    assert responses == ["utter_handoff_queued"]
    assert events == [SlotSet("escalation", None), ConversationPaused()]
    assert get_handoff_service().queue()[0].reason == "urgent"


def test_a_conversation_an_agent_already_holds_is_paused_again_quietly():
    """E.g. Rasa's session expired (which unpauses) while the agent was still talking."""
    agent = agent_online()
    service = get_handoff_service()
    service.take(service.enqueue(CONV, "web", "requested").session_id, agent, "wangfang")
    events, responses = run(ActionHandoff(), tracker([user("转人工", "request_human")]))
    assert (events, responses) == ([ConversationPaused()], [])
    assert len(service.open_sessions()) == 1


def test_a_broken_database_gives_a_useful_answer(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'no-tables.db'}")  # schema never created
    reset_handoff_service()
    events, responses = run(ActionHandoff(), tracker([user("转人工", "request_human")]))
    assert responses == ["utter_handoff_unavailable"]
    assert events == []


@pytest.mark.parametrize("events, slots, active_loop, expected", [
    ([user("转人工", "request_human")], {}, None, "requested"),
    ([user("转人工", "request_human")], {"handoff_reason": "form_failed"}, None, "form_failed"),
    ([user("转人工", "request_human")], {"escalation": "angry"}, None, "angry"),
    ([user("什么破系统转人工", "request_human")], {}, None, "angry"),
    ([user("啊", "nlu_fallback"), bot("抱歉…转人工吗？", "utter_offer_human"), user("/request_human", "request_human")],
     {}, None, "fallback"),
    ([user("abc", "inform"), bot("抱歉…转人工吗？", "utter_offer_human"), user("/request_human", "request_human")],
     {}, "complaint_form", "form_failed"),
    ([user("abc", "inform"), bot("抱歉…转人工？", "utter_offer_human_form"), user("/request_human", "request_human"),
      {"event": "active_loop", "name": None}], {}, None, "fallback"),
    ([user("嗯嗯", "nlu_fallback")], {}, None, "fallback"),
])
def test_the_reason_is_worked_out_from_the_conversation(events, slots, active_loop, expected):
    assert resolve_reason(tracker(events, slots, active_loop)) == expected


def test_the_form_deactivated_by_the_rule_is_still_recorded():
    """data/rules/forms.yml deactivates the form before action_handoff; the agent still sees it."""
    agent_online()
    t = tracker([action("action_listen"), user("买的冰箱坏了", "complain_general"), action("complaint_form"),
                 {"event": "active_loop", "name": "complaint_form"}, bot("您的姓名？"), action("action_listen"),
                 user("abc", "inform"), action("complaint_form"), bot("抱歉…转人工？", "utter_offer_human_form"),
                 action("action_listen"), user("/request_human", "request_human"),
                 action("action_deactivate_loop"), {"event": "active_loop", "name": None}],
                slots={"handoff_reason": "form_failed", "form_failure_count": 2.0, "respondent_name": "某电器"})
    events, responses = run(ActionHandoff(), t)
    assert events == [SlotSet("handoff_reason", None), ConversationPaused()]
    (view,) = get_handoff_service().queue()
    assert (view.reason, view.active_form, view.intent, view.slots) == (
        "form_failed", "complaint_form", "complain_general", {"respondent_name": "某电器"})


def test_the_snapshot_leaves_out_bookkeeping_slots():
    t = tracker([user("x", "inform")], slots={"facts": "退款", "requested_slot": "phone", "escalation": "angry",
                                              "callback_phone": "13812345678", "claim": None, "amount": 0})
    assert slot_snapshot(t) == {"facts": "退款", "amount": 0}


# --- action_escalation_check ----------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("我被困在电梯里了", [SlotSet("escalation", "urgent")]),
    ("什么破服务，第三次问了", [SlotSet("escalation", "angry")]),
    ("网上买的衣服商家不给退款", []),
])
def test_escalation_check_sets_the_slot(text, expected):
    events, responses = run(ActionEscalationCheck(), tracker([user(text, "complain_general")]))
    assert events == expected
    assert responses == []


def test_escalation_check_clears_a_stale_mark():
    t = tracker([user("买的冰箱坏了", "complain_general")], slots={"escalation": "angry"})
    assert run(ActionEscalationCheck(), t)[0] == [SlotSet("escalation", None)]


# --- callback form --------------------------------------------------------------------------------

def test_callback_phone_and_time_are_validated():
    form = ValidateCallbackForm()
    t = tracker([user("x", "inform")])
    dispatcher = CollectingDispatcher()
    assert form.validate_callback_phone("我的手机 138-1234-5678", dispatcher, t, {}) == {"callback_phone": "13812345678"}
    assert form.validate_callback_phone("12345", dispatcher, t, {}) == {"callback_phone": None}
    assert form.validate_callback_time(" 今天下午 ", dispatcher, t, {}) == {"callback_time": "今天下午"}
    assert form.validate_callback_time("时" * 101, dispatcher, t, {}) == {"callback_time": None}
    assert [m["response"] for m in dispatcher.messages] == ["utter_callback_invalid_phone",
                                                            "utter_callback_invalid_time"]


def test_submitting_the_callback_records_it_and_confirms_masked():
    t = tracker([user("今天下午", "inform", channel="wechat")], sender="oWx123",
                slots={"callback_phone": "13812345678", "callback_time": "今天下午",
                       "handoff_pending_reason": "angry", "facts": "退款"})
    dispatcher = CollectingDispatcher()
    events = ActionSubmitCallback().run(dispatcher, t, {})
    assert events == [SlotSet("callback_phone", None), SlotSet("callback_time", None),
                      SlotSet("handoff_pending_reason", None)]
    (msg,) = dispatcher.messages
    assert (msg["response"], msg["phone_masked"], msg["preferred_time"]) == (
        "utter_callback_recorded", "138****5678", "今天下午")
    (callback,) = get_handoff_service().callbacks()
    assert (callback.conversation_id, callback.channel, callback.phone, callback.reason, callback.slots) == (
        "oWx123", "wechat", "13812345678", "angry", {"facts": "退款"})


def test_a_callback_with_a_bad_number_is_asked_again_not_lost():
    t = tracker([user("x", "inform")], slots={"callback_phone": "123", "callback_time": "下午"})
    events, responses = run(ActionSubmitCallback(), t)
    assert responses == ["utter_callback_invalid_phone"]
    assert events == [SlotSet("callback_phone", None), FollowupAction("callback_form")]


# --- the domain has every response the actions utter, with the variables they fill ---------------

def test_every_uttered_response_exists_with_its_variables():
    import re
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[2]
    responses = yaml.safe_load((root / "domain.yml").read_text(encoding="utf-8"))["responses"]
    source = (root / "actions" / "handoff.py").read_text(encoding="utf-8")
    uttered = set(re.findall(r'response="(utter_\w+)"', source)) | {"utter_offer_human", "utter_emergency"}
    variables = {"utter_handoff_queued": {"position", "wait_minutes"}, "utter_handoff_queued_no_agent": {"position"},
                 "utter_handoff_long_wait": {"position", "wait_minutes"},
                 "utter_callback_recorded": {"phone_masked", "preferred_time"}}
    for name in sorted(uttered | set(variables) | {"utter_ask_callback_phone", "utter_ask_callback_time",
                                                   "utter_handoff_declined", "utter_callback_cancelled"}):
        assert name in responses, name
        for variation in responses[name]:
            assert set(re.findall(r"{(\w+)}", variation["text"])) == variables.get(name, set()), name
    buttons = {b["title"]: b["payload"] for b in responses["utter_offer_callback"][0]["buttons"]}
    assert buttons["留下电话等回电"] == '/request_human{"handoff_choice": "callback"}'
    assert buttons["继续排队等人工"] == '/request_human{"handoff_choice": "queue"}'
    assert [b["payload"] for b in responses["utter_offer_human"][0]["buttons"]] == ["/request_human", "/deny"]
