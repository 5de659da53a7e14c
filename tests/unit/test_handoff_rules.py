"""The handoff rules and test stories against Rasa's own RulePolicy (no trained model needed).

Trains a RulePolicy on data/rules/core.yml and data/rules/handoff.yml plus stand-ins for the
rules that start the forms (FORM_START_RULES: the forms area's file is checked by its own tests),
with the whole domain.yml — as `rasa train` does, including its checks for contradicting and
incomplete rules — then checks:

- urgent and angry messages of each intent hand off, ordinary ones keep the intent's own rule;
- every story of tests/dialogue_stories/test_handoff.yml, action by action (what `rasa test` checks,
  minus NLU);
- the events the inbox appends on hand-back make the next citizen message an ordinary turn —
  and without the trailing `action_listen` no rule would match (why it is there).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dialogue_support import predict, said, session_start, train_rule_policy

ROOT = Path(__file__).resolve().parents[2]
RULE_FILES = ("core.yml", "handoff.yml")
FORM_START_RULES = """
version: "3.1"
rules:
  - rule: (stand-in) a complaint starts the complaint form
    steps:
      - or:
          - intent: complain_refund
          - intent: complain_prepaid
          - intent: complain_general
      - action: complaint_form
      - active_loop: complaint_form
  - rule: (stand-in) a report starts the report form
    steps:
      - intent: report_violation
      - action: report_form
      - active_loop: report_form
  - rule: (stand-in) asking about an earlier ticket starts the status form
    steps:
      - intent: check_ticket_status
      - action: ticket_status_form
      - active_loop: ticket_status_form
"""
ESCALATING_INTENTS = ("complain_refund", "complain_prepaid", "complain_general", "report_violation",
                      "ask_business_registration", "ask_consumer_rights", "ask_regulation", "check_ticket_status",
                      "out_of_scope", "nlu_fallback")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    stand_ins = tmp_path_factory.mktemp("rules") / "forms_start.yml"
    stand_ins.write_text(FORM_START_RULES, encoding="utf-8")
    paths = [ROOT / "data" / "rules" / name for name in RULE_FILES] + [stand_ins]
    return train_rule_policy(paths, tmp_path_factory.mktemp("rule-policy"))


start = session_start


@pytest.mark.parametrize("intent", ESCALATING_INTENTS)
def test_urgent_and_angry_messages_hand_off_whatever_the_intent(trained, intent):
    from rasa.shared.core.events import ActionExecuted, SlotSet

    urgent = start() + [said(intent), SlotSet("escalation", "urgent")]
    assert predict(trained, urgent) == "utter_emergency"
    assert predict(trained, urgent + [ActionExecuted("utter_emergency")]) == "action_handoff"
    assert predict(trained, start() + [said(intent), SlotSet("escalation", "angry")]) == "action_handoff"
    ordinary = predict(trained, start() + [said(intent)])
    assert ordinary not in ("utter_emergency", "action_handoff")  # the intent's own rule answers
    if intent in ("complain_general", "report_violation", "out_of_scope", "nlu_fallback"):
        assert ordinary == {"complain_general": "complaint_form", "report_violation": "report_form",
                            "out_of_scope": "action_out_of_scope", "nlu_fallback": "action_fallback_clarify"}[intent]


def test_request_human_goes_to_action_handoff_also_when_urgent(trained):
    from rasa.shared.core.events import SlotSet

    assert predict(trained, start() + [said("request_human")]) == "action_handoff"
    assert predict(trained, start() + [said("request_human"), SlotSet("escalation", "urgent")]) == "action_handoff"


def test_callback_form_completion_and_cancel(trained):
    from rasa.shared.core.events import ActionExecuted, ActionExecutionRejected, ActiveLoop, SlotSet

    filling = start() + [said("request_human"), ActionExecuted("action_handoff"), ActionExecuted("callback_form"),
                         ActiveLoop("callback_form"), SlotSet("requested_slot", "callback_phone"),
                         ActionExecuted("action_listen")]
    done = filling + [said("inform"), ActionExecuted("callback_form"), ActiveLoop(None),
                      SlotSet("requested_slot", None)]
    assert predict(trained, done) == "action_submit_callback"
    # "算了" fills no slot (not_intent: cancel), so the form rejects it and the cancel rule answers
    assert predict(trained, filling + [said("cancel")]) == "callback_form"
    rejected = filling + [said("cancel"), ActionExecutionRejected("callback_form")]
    assert predict(trained, rejected) == "action_deactivate_loop"


def test_handed_back_conversation_answers_the_next_message_normally(trained):
    """The inbox appends resume + bot + action_listen; rules then match the next message."""
    from rasa.shared.core.events import (
        ActionExecuted,
        BotUttered,
        ConversationPaused,
        ConversationResumed,
    )

    paused = start() + [said("request_human"), ActionExecuted("action_handoff"), ConversationPaused(),
                        said("inform", "我的订单号是123"), said("thank", "好的谢谢")]
    handed_back = paused + [ConversationResumed(), BotUttered("已为您转回小安。"), ActionExecuted("action_listen")]
    assert predict(trained, handed_back + [said("greet")]) == "utter_greet"
    assert predict(trained, handed_back + [said("request_human")]) == "action_handoff"
    # without the trailing action_listen the message's state has prev_action action_handoff: the
    # greeting rule does not match and the assistant would stay silent
    without_listen = paused + [ConversationResumed(), BotUttered("已为您转回小安。"), said("greet")]
    assert predict(trained, without_listen) != "utter_greet"


def test_the_handoff_test_stories_follow_the_rules(trained):
    from rasa.shared.core.events import ActionExecuted
    from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader

    _policy, domain = trained
    path = ROOT / "tests" / "dialogue_stories" / "test_handoff.yml"
    stories = YAMLStoryReader(domain, str(path)).read_from_file(str(path))
    assert len(stories) >= 8
    for story in stories:
        events = start()[:2] + story.explicit_events(domain)  # ends with the implicit action_listen
        for index, event in enumerate(events):
            if isinstance(event, ActionExecuted) and index > 2:
                predicted = predict(trained, events[:index])
                assert predicted == event.action_name, f"{story.block_name}: step {index}"
