"""The knowledge-base actions with rasa-sdk Trackers built in code: exact events and responses."""

from __future__ import annotations

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation import ActionOutOfScope
from actions.knowledge import ActionAnswerKbEntry, ActionAnswerQuestion, ActionKbFeedback, choice_payload
from xiaoan.kb.loader import read_dir
from xiaoan.kb.repository import KbRepository
from xiaoan.kb.search import Thresholds
from xiaoan.kb.service import get_search_service, reset_services

DOMAIN: dict = {}


@pytest.fixture()
def kb(db_url):
    """The project's knowledge base imported into a fresh database; services reset around the test."""
    reset_services()
    repo = KbRepository(db_url)
    repo.import_entries(read_dir().entries, "test")
    yield repo
    reset_services()


def tracker(text: str, intent: str, slots: dict | None = None, entities: list | None = None) -> Tracker:
    return Tracker(
        sender_id="conv-42",
        slots=slots or {},
        latest_message={"text": text, "intent": {"name": intent, "confidence": 0.95}, "entities": entities or []},
        events=[],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


def run(action, t: Tracker):
    dispatcher = CollectingDispatcher()
    events = action.run(dispatcher, t, DOMAIN)
    return dispatcher.messages, events


def test_confident_answer_then_helpfulness_question(kb):
    messages, events = run(ActionAnswerQuestion(), tracker("营业执照丢了怎么补办", "ask_business_registration"))
    assert [m["response"] for m in messages] == ["utter_kb_answer", "utter_ask_kb_helpful"]
    entry = kb.get("biz.license-replacement").data
    assert messages[0]["kb_answer"] == entry.answer and messages[0]["kb_title"] == entry.title
    assert events == [SlotSet("kb_entry_id", None), SlotSet("kb_last_entry_id", "biz.license-replacement"),
                      SlotSet("kb_feedback_pending", True)]


def test_close_candidates_become_three_buttons(kb, monkeypatch):
    service = get_search_service()
    # thresholds that never answer directly but offer anything plausible
    monkeypatch.setattr(type(service.index()), "thresholds", property(lambda self: Thresholds(2.0, 0.0, 0.01)))
    messages, events = run(ActionAnswerQuestion(), tracker("个体户怎么办理和注销", "ask_business_registration"))
    assert [m["response"] for m in messages] == ["utter_kb_choices"]
    buttons = messages[0]["buttons"]
    assert len(buttons) == 3
    assert all(b["payload"].startswith('/inform{"kb_entry_id":"') and b["payload"].endswith('"}') for b in buttons)
    ids = [b["payload"][len('/inform{"kb_entry_id":"'):-2] for b in buttons]
    assert buttons[0]["title"] == kb.get(ids[0]).data.title
    assert events == [SlotSet("kb_feedback_pending", False)]
    assert kb.unanswered() == []


def test_no_answer_is_honest_and_recorded_masked(kb):
    messages, events = run(ActionAnswerQuestion(), tracker("我家狗狗掉毛厉害，电话13812345678", "ask_regulation"))
    assert [m["response"] for m in messages] == ["utter_kb_no_answer"]
    assert events == [SlotSet("kb_feedback_pending", False)]
    [row] = kb.unanswered()
    assert row.text == "我家狗狗掉毛厉害，电话138****5678" and row.conversation_id == "conv-42"


def test_chosen_button_is_answered(kb):
    t = tracker(choice_payload("consumer.seven-day-return"), "inform", slots={"kb_entry_id": "consumer.seven-day-return"},
                entities=[{"entity": "kb_entry_id", "value": "consumer.seven-day-return"}])
    messages, events = run(ActionAnswerKbEntry(), t)
    assert [m["response"] for m in messages] == ["utter_kb_answer", "utter_ask_kb_helpful"]
    assert messages[0]["kb_answer"] == kb.get("consumer.seven-day-return").data.answer
    assert events == [SlotSet("kb_entry_id", None), SlotSet("kb_last_entry_id", "consumer.seven-day-return"),
                      SlotSet("kb_feedback_pending", True)]


def test_chosen_entry_that_was_retired_meanwhile_is_not_answered(kb):
    kb.retire("consumer.seven-day-return", "alice")
    t = tracker(choice_payload("consumer.seven-day-return"), "inform", slots={"kb_entry_id": "consumer.seven-day-return"})
    messages, events = run(ActionAnswerKbEntry(), t)
    assert [m["response"] for m in messages] == ["utter_kb_no_answer"]
    assert events == [SlotSet("kb_entry_id", None), SlotSet("kb_feedback_pending", False)]


@pytest.mark.parametrize("intent, helpful, response", [("affirm", 1, "utter_kb_feedback_thanks"),
                                                       ("deny", 0, "utter_kb_feedback_sorry")])
def test_feedback_records_the_vote(kb, intent, helpful, response):
    t = tracker("/" + intent, intent, slots={"kb_last_entry_id": "biz.annual-report", "kb_feedback_pending": True})
    messages, events = run(ActionKbFeedback(), t)
    assert [m["response"] for m in messages] == [response]
    assert events == [SlotSet("kb_feedback_pending", False)]
    [summary] = kb.vote_summaries()
    assert (summary.entry_id, summary.helpful, summary.unhelpful) == ("biz.annual-report", helpful, 1 - helpful)


def test_feedback_without_an_answered_entry_records_nothing(kb):
    messages, events = run(ActionKbFeedback(), tracker("/affirm", "affirm"))
    assert messages == [] and events == [SlotSet("kb_feedback_pending", False)]
    assert kb.vote_summaries() == []


def test_search_failure_gets_an_honest_message(kb, monkeypatch):
    import xiaoan.kb.service as service_module

    def broken(url=None):
        raise RuntimeError("database down")

    monkeypatch.setattr(service_module, "get_search_service", broken)
    messages, events = run(ActionAnswerQuestion(), tracker("年报怎么报", "ask_business_registration"))
    assert [m["response"] for m in messages] == ["utter_kb_unavailable"]
    assert events == [SlotSet("kb_feedback_pending", False)]


def test_two_close_candidates_get_one_clarifying_question_naming_both(kb, monkeypatch):
    import actions.knowledge as knowledge
    from xiaoan.kb.search import CHOICES, Hit, SearchResult

    first, second = kb.get("biz.name-declaration").data, kb.get("biz.name-rules").data
    hits = [Hit(entry=first, score=0.5, rank_score=0.5), Hit(entry=second, score=0.48, rank_score=0.48)]

    class TwoChoices:
        def search(self, text, *, intent=None, top=3):
            return SearchResult(query=text, decision=CHOICES, hits=hits, choices=hits)

    monkeypatch.setattr(knowledge, "search_service", lambda: TwoChoices())
    messages, events = run(ActionAnswerQuestion(), tracker("公司名字的事", "ask_business_registration"))
    assert [m["response"] for m in messages] == ["utter_kb_clarify"]
    assert messages[0]["kb_first"] == "公司名称怎么自主申报"  # the title without its question mark
    assert messages[0]["kb_second"] == second.title.rstrip("？")
    assert [b["payload"] for b in messages[0]["buttons"]] == [choice_payload(first.id), choice_payload(second.id)]
    assert events == [SlotSet("kb_feedback_pending", False)]


def test_domain_declares_what_the_actions_use():
    import yaml
    from pathlib import Path

    domain = yaml.safe_load((Path(__file__).resolve().parents[2] / "domain.yml").read_text("utf-8"))
    assert {"action_answer_question", "action_answer_kb_entry", "action_kb_feedback"} <= set(domain["actions"])
    assert "{kb_first}" in domain["responses"]["utter_kb_clarify"][0]["text"]
    assert "{kb_second}" in domain["responses"]["utter_kb_clarify"][0]["text"]
    for name in ("utter_kb_answer", "utter_ask_kb_helpful", "utter_kb_choices", "utter_kb_no_answer",
                 "utter_kb_unavailable", "utter_kb_feedback_thanks", "utter_kb_feedback_sorry"):
        assert name in domain["responses"]
    helpful = domain["responses"]["utter_ask_kb_helpful"][0]
    assert helpful["text"] == "这个回答有帮助吗？"
    assert [(b["title"], b["payload"]) for b in helpful["buttons"]] == [("有帮助", "/affirm"), ("没帮助", "/deny")]
    assert domain["slots"]["kb_entry_id"]["mappings"] == [{"type": "from_entity", "entity": "kb_entry_id"}]
    assert "kb_entry_id" in domain["entities"]
    assert "{kb_answer}" in domain["responses"]["utter_kb_answer"][0]["text"]


# --- out of scope: a matching redirect entry, else the general list ---------------------------


@pytest.mark.parametrize("text, entry_id", [
    ("我的快递丢了，快递公司不赔，该找哪个部门", "redirect.courier"),
    ("老板拖欠工资三个月了去哪里投诉", "redirect.labour"),
])
def test_out_of_scope_question_gets_the_matching_redirect_answer(kb, text, entry_id):
    messages, events = run(ActionOutOfScope(), tracker(text, "out_of_scope"))
    assert [m["response"] for m in messages] == ["utter_kb_answer"]
    assert messages[0]["kb_answer"] == kb.get(entry_id).data.answer
    assert events == []


@pytest.mark.parametrize("text", ["今天天气怎么样", "/out_of_scope", ""])
def test_out_of_scope_without_a_redirect_entry_gets_the_general_list(kb, text):
    messages, _ = run(ActionOutOfScope(), tracker(text, "out_of_scope"))
    assert [m["response"] for m in messages] == ["utter_out_of_scope"]


def test_out_of_scope_answer_never_comes_from_another_area(kb):
    # a confident consumer-rights answer is not a redirect: the general list is shown instead
    messages, _ = run(ActionOutOfScope(), tracker("营业执照丢了怎么补办", "out_of_scope"))
    assert [m["response"] for m in messages] == ["utter_out_of_scope"]


def test_out_of_scope_with_the_knowledge_base_down_still_answers(db_url, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("database down")

    monkeypatch.setattr("xiaoan.kb.service.get_search_service", broken)
    messages, _ = run(ActionOutOfScope(), tracker("快递丢了找谁", "out_of_scope"))
    assert [m["response"] for m in messages] == ["utter_out_of_scope"]


@pytest.mark.parametrize("text,city", [
    ("深圳的个体户开业补贴怎么申请", "深圳"),
    ("在成都办食品经营许可证要多久", "成都"),
])
def test_a_question_about_another_city_is_not_answered_with_shanghai_rules(kb, text, city):
    messages, events = run(ActionAnswerQuestion(), tracker(text, "ask_business_registration"))
    assert [m["response"] for m in messages] == ["utter_kb_other_city"]
    assert messages[0]["city"] == city
    assert SlotSet("kb_feedback_pending", False) in events


def test_the_same_question_about_shanghai_is_answered(kb):
    messages, events = run(ActionAnswerQuestion(), tracker("个体户营业执照去哪里办", "ask_business_registration"))
    assert [m["response"] for m in messages][0] == "utter_kb_answer"
