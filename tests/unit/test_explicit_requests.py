"""ExplicitRequestClassifier: an explicit request for a person wins, and survives the fallback."""

from __future__ import annotations

from rasa.nlu.classifiers.fallback_classifier import FallbackClassifier
from rasa.shared.nlu.training_data.message import Message

from xiaoan.nlu.explicit_requests import OVERRIDE_KEY, ExplicitRequestClassifier


def classified(text: str, intent: str = "complain_prepaid", confidence: float = 0.98) -> Message:
    """A message as DIET leaves it."""
    message = Message(data={"text": text})
    message.set("intent", {"name": intent, "confidence": confidence}, add_to_output=True)
    message.set("intent_ranking", [{"name": intent, "confidence": confidence},
                                   {"name": "ask_consumer_rights", "confidence": 1 - confidence}],
                add_to_output=True)
    return message


def pipeline(message: Message) -> Message:
    component = ExplicitRequestClassifier(ExplicitRequestClassifier.get_default_config())
    fallback = FallbackClassifier({**FallbackClassifier.get_default_config(), "threshold": 0.45,
                                   "ambiguity_threshold": 0.05})
    return fallback.process(component.process([message]))[0]


def test_a_person_asked_for_inside_a_complaint_becomes_request_human_and_is_not_ambiguous():
    message = pipeline(classified("我在徐汇一家美容院办了五千块的卡 现在店关门了 我要找人工"))
    assert message.get("intent")["name"] == "request_human"
    assert message.get(OVERRIDE_KEY) == "complain_prepaid"
    ranking = message.get("intent_ranking")
    assert ranking[0]["name"] == "request_human"
    assert ranking[1]["name"] == "complain_prepaid" and ranking[1]["confidence"] < 0.05


def test_messages_without_an_explicit_request_are_left_alone():
    for text in ("不用转人工", "健身房老板跑路了", "人工智能能帮我查工单吗"):
        message = pipeline(classified(text))
        assert message.get("intent")["name"] == "complain_prepaid", text
        assert message.get(OVERRIDE_KEY) is None


def test_button_payloads_are_never_overridden():
    message = classified("/request_human", intent="deny", confidence=1.0)
    ExplicitRequestClassifier({}).process([message])
    assert message.get("intent")["name"] == "deny"


def test_turning_a_person_down_is_never_request_human():
    for text in ("不用转人工", "不需要人工客服了，我自己填", "别转人工了"):
        message = pipeline(classified(text, intent="request_human", confidence=0.73))
        assert message.get("intent")["name"] == "deny", text
    # a demand is not a refusal
    message = pipeline(classified("为什么还不转人工", intent="request_human", confidence=0.9))
    assert message.get("intent")["name"] == "request_human"


def test_giving_a_complaint_up_is_never_read_as_one():
    for text in ("不想投诉这个商家了", "我不投诉这个商家了", "算了不投诉了"):
        message = pipeline(classified(text, intent="complain_general", confidence=0.98))
        assert message.get("intent")["name"] == "cancel", text
    for text in ("算了吧我还是投诉", "我要投诉这个商家"):
        message = pipeline(classified(text, intent="complain_general", confidence=0.98))
        assert message.get("intent")["name"] == "complain_general", text


def test_a_stated_wish_to_complain_read_as_a_question_starts_a_complaint():
    message = Message(data={"text": "退款纠纷想投诉"})
    message.set("intent", {"name": "ask_consumer_rights", "confidence": 0.62}, add_to_output=True)
    message.set("intent_ranking", [{"name": "ask_consumer_rights", "confidence": 0.62},
                                   {"name": "complain_refund", "confidence": 0.30},
                                   {"name": "report_violation", "confidence": 0.08}], add_to_output=True)
    message = pipeline(message)
    assert message.get("intent")["name"] == "complain_refund"
    assert message.get(OVERRIDE_KEY) == "ask_consumer_rights"
    # a report for 举报; questions about filing stay questions
    assert pipeline(classified("我要举报", intent="nlu_fallback", confidence=0.3)).get("intent")["name"] == "report_violation"
    for text in ("投诉要实名吗", "投诉多久有结果"):
        assert pipeline(classified(text, intent="ask_regulation")).get("intent")["name"] == "ask_regulation", text


def test_a_stated_wish_never_overrides_a_person_a_cancel_or_a_filing():
    for intent in ("request_human", "cancel", "complain_prepaid", "check_ticket_status"):
        assert pipeline(classified("我要投诉", intent=intent)).get("intent")["name"] == intent


def ranked(text: str, *ranking: tuple) -> Message:
    """A message as DIET leaves it, with the given (intent, confidence) ranking."""
    message = Message(data={"text": text})
    message.set("intent", {"name": ranking[0][0], "confidence": ranking[0][1]}, add_to_output=True)
    message.set("intent_ranking", [{"name": name, "confidence": confidence} for name, confidence in ranking],
                add_to_output=True)
    return message


def test_a_what_to_do_question_read_as_a_filing_becomes_a_question():
    message = pipeline(classified("蛋糕店换了老板 储值卡怎么办", intent="complain_prepaid", confidence=0.7))
    assert message.get("intent")["name"] == "ask_consumer_rights"
    assert message.get(OVERRIDE_KEY) == "complain_prepaid"
    assert message.get("intent_ranking")[1]["name"] == "complain_prepaid"
    # the best question intent of the ranking, not always a consumer-rights question
    message = pipeline(ranked("老板拖欠工资咋办", ("complain_general", 0.6), ("report_violation", 0.2),
                              ("out_of_scope", 0.15), ("ask_consumer_rights", 0.05)))
    assert message.get("intent")["name"] == "out_of_scope"
    # without a question intent in the ranking: a rights question for a complaint, a regulation one for a report
    message = pipeline(ranked("充值卡的店铺没了咋办", ("complain_prepaid", 0.8), ("complain_refund", 0.2)))
    assert message.get("intent")["name"] == "ask_consumer_rights"
    message = pipeline(ranked("发现小区里有黑作坊咋办", ("report_violation", 0.8), ("complain_general", 0.2)))
    assert message.get("intent")["name"] == "ask_regulation"


def test_a_what_to_do_question_with_a_filing_a_demand_or_an_amount_stays_a_filing():
    for text in ("我要投诉这家蛋糕店 怎么办", "投诉了商家还没有回复怎么办", "帮我想想怎么办",
                 "蛋糕店跑路了卡里还有八百块怎么办", "上个月在小区门口的蛋糕店办了储值卡 现在店关了门怎么办"):
        message = pipeline(classified(text, intent="complain_prepaid", confidence=0.7))
        assert message.get("intent")["name"] == "complain_prepaid", text
        assert message.get(OVERRIDE_KEY) is None, text
    # only a filing is corrected: a status look-up or a question is left alone
    for intent in ("check_ticket_status", "ask_regulation", "cancel"):
        assert pipeline(classified("卖家一直不发货咋办", intent=intent)).get("intent")["name"] == intent


def test_a_statement_of_the_same_situation_stays_a_complaint():
    for text in ("蛋糕店换了老板 储值卡不认了", "投诉了商家还没有回复"):
        message = pipeline(classified(text, intent="complain_prepaid", confidence=0.7))
        assert message.get("intent")["name"] == "complain_prepaid", text  # neither a question nor a cancel


def test_an_equipment_question_read_as_registration_becomes_ask_regulation():
    for text in ("锅炉多久要检测一次", "扶梯是不是也要年检", "菜场的秤归谁检定"):
        message = pipeline(ranked(text, ("ask_business_registration", 0.58), ("ask_regulation", 0.4),
                                  ("ask_consumer_rights", 0.02)))
        assert message.get("intent")["name"] == "ask_regulation", text
        assert message.get(OVERRIDE_KEY) == "ask_business_registration"
    # a registration subject is named: the classifier's reading stands
    for text in ("电梯公司怎么注册", "开电子秤店要办什么执照", "个体户年报怎么报"):
        message = pipeline(classified(text, intent="ask_business_registration", confidence=0.9))
        assert message.get("intent")["name"] == "ask_business_registration", text
    # only a registration reading is corrected: a report or a rights question is left alone
    assert pipeline(classified("小区锅炉房的锅炉漏气了", intent="report_violation")).get("intent")["name"] == "report_violation"
    assert pipeline(classified("少秤了能要求赔吗", intent="ask_consumer_rights")).get("intent")["name"] == "ask_consumer_rights"
