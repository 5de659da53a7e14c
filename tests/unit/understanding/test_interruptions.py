"""Explicit interruptions of a form (xiaoan.understanding.interruptions): positives and the
minimal-pair negatives that must not interrupt."""

from __future__ import annotations

import pytest

from xiaoan.understanding.interruptions import (
    QUESTION_MIN_CONFIDENCE,
    explicit_interruption,
    wants_human,
)

HUMAN = [
    "转人工",
    "人工",
    "人工人工人工",
    "找人工",
    "我要找人工",
    "人工客服",
    "我要找真人",
    "叫你们工作人员来",
    "找个人跟我说",
    "帮我转接人工客服",
    "有没有人工",
    "人工呢",
    "真人客服在吗",
    "给我转个真人",
    "我在徐汇一家美容院办了五千块的卡 现在店关门了 我要找人工",
    "说了半天你听不懂，转人工！",
    "你是机器人吧 我要跟真人说话",
    "为什么不转人工",
    "转人工服务",
    "ｒｅａｌ person please",
    "不想跟AI说了 找人",
    "麻烦安排工作人员联系我",
    "我想直接跟工作人员沟通",
    "帮我找个工作人员",
    "转接",
]

NOT_HUMAN = [
    "不用转人工",
    "不需要人工",
    "别转人工了 我自己填",
    "不用帮我找人工",
    "你是人工智能吗",
    "人工智能",
    "装修公司多收了两千人工费",
    "我要投诉",
    "工作人员态度很差",
    "商家的客服一直不回我",
    "我找过他们店的人了没用",
    "人工湖边上的那家饭店卖过期食品",
    "你是真人客服吗",
    "是人工回复吗",
    "商家只派人来调了一下就不管了",
    "我们去会场找人，会场已经人去楼空了",
]

CANCEL = [
    "算了",
    "算了算了",
    "算了吧",
    "还是算了",
    "不投诉了",
    "我不想投诉了",
    "不举报了",
    "取消",
    "取消吧",
    "取消投诉",
    "撤销这个举报",
    "不弄了",
    "先不填了 下次再说",
    "算了 我自己去找商家",
    "嗯 不弄了",
    "那算了",
    "不投诉这个商家了",
    "商家已经退钱了，不投诉了",
    "别登记了",
    "放弃",
    "这家店我不投诉了",
    "撤销对商家的投诉",
    "饭店那个投诉不要了",
    "网店的投诉撤回吧",
    "商场那事就算了吧",
    "别帮我投诉了",
    "先不提交了",
    "取消取消",
    "刚才填的全部作废",
    "stop",
    "这个不想继续了",
]

NOT_CANCEL = [
    "算了吧我还是投诉",
    "算了 我还是要投诉",
    "算了 继续填吧",
    "不取消",
    "不是算了",
    "不要取消",
    "取消了订单商家不退钱",
    "撤销订单以后一直没退款",
    "算了一下少了二十块",
    "继续填写",
    "我要投诉",
    "李娜",
    "浦东新区张江路88号",
    "两千五",
    "我不想让他们知道是我举报的",
    "这事不能就算了",
    "他们说不退了",
    "我不投诉了 还要举报他们",
    "先别提交 我要改一下",
    "有误 先别提交",
    "不是这家店",
    "撤了撤了",
    "店员说给我换一杯就算了",
    "房东不续租就算了 还让我赔他找中介的钱",
    "不投诉 只举报 闵行那家海鲜店用鬼秤",
    "我买了一年的卡，老板说不开了，让我们去别的店，我们不投诉了行吗？结果他根本没有别的店，我要投诉",
]


@pytest.mark.parametrize("text", HUMAN)
def test_human_requests(text):
    assert wants_human(text)
    assert explicit_interruption(text) == "human"


@pytest.mark.parametrize("text", NOT_HUMAN)
def test_not_human_requests(text):
    assert not wants_human(text)
    assert explicit_interruption(text, "complain_general", 0.9) != "human"


def test_human_wins_over_cancel_and_question():
    assert explicit_interruption("算了 转人工", "cancel", 0.9) == "human"
    assert explicit_interruption("投诉多久有结果 我要找人工", "ask_regulation", 0.95) == "human"


@pytest.mark.parametrize("text", CANCEL)
def test_cancels(text):
    assert explicit_interruption(text) == "cancel"


@pytest.mark.parametrize("text", NOT_CANCEL)
def test_not_cancels(text):
    # even when the classifier is sure it is a cancel: the words decide
    assert explicit_interruption(text, "cancel", 0.99) is None


QUESTIONS = [
    ("投诉多久会有结果？", "ask_regulation"),
    ("预付卡的钱能退吗", "ask_consumer_rights"),
    ("匿名举报可以吗", "ask_regulation"),
    ("怎么查我的投诉进度", "ask_regulation"),
    ("为什么要填身份证号", "ask_regulation"),
    ("七天无理由退货怎么算", "ask_consumer_rights"),
    ("健身房跑了能不能找你们", "ask_regulation"),
    ("个体户营业执照如何办理", "ask_business_registration"),
    ("商家不退钱给我怎么办", "ask_consumer_rights"),
    ("举报有奖励吗?", "ask_regulation"),
]


@pytest.mark.parametrize("text, intent", QUESTIONS)
def test_questions_with_a_confident_ask_intent(text, intent):
    assert explicit_interruption(text, intent, 0.85) == "question"


@pytest.mark.parametrize("text, intent", QUESTIONS[:4])
def test_questions_need_a_confident_ask_intent(text, intent):
    assert explicit_interruption(text, intent, QUESTION_MIN_CONFIDENCE - 0.01) is None
    assert explicit_interruption(text, "complain_refund", 0.95) is None
    assert explicit_interruption(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "能不能退钱给我",
        "可以帮我投诉吗",
        "能不能让商家赔我",
        "两千五",
        "在浦东新区",
        "上个月15号",
        "要求退一赔三",
        "他们家叫好运来超市",
    ],
)
def test_claims_and_answers_are_not_questions(text):
    assert explicit_interruption(text, "ask_consumer_rights", 0.9) is None


def test_question_at_the_threshold_counts():
    assert explicit_interruption("投诉要多久", "ask_regulation", QUESTION_MIN_CONFIDENCE) == "question"


def test_empty_reply():
    assert explicit_interruption("") is None
    assert explicit_interruption("   ", "ask_regulation", 0.9) is None
    assert not wants_human("")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("找你们领导来", True),
        ("我要找你们负责人", True),
        ("找商家负责人也没用", False),
        ("talk to a human please", True),
        ("no human needed", False),
    ],
)
def test_people_in_charge_and_english(text, expected):
    assert wants_human(text) is expected


@pytest.mark.parametrize("text,declines", [
    ("不用转人工", True), ("不需要人工客服", True), ("别转人工了", True), ("我不要找真人", True),
    ("转人工", False), ("为什么还不转人工", False), ("人工智能不用了", False), ("不用了谢谢", False),
])
def test_declines_human(text, declines):
    from xiaoan.understanding.interruptions import declines_human

    assert declines_human(text) is declines


@pytest.mark.parametrize(("text", "expected"), [
    ("退款纠纷想投诉", "complaint"), ("商家不给退钱怎么办我要投诉", "complaint"), ("帮我投诉这家店", "complaint"),
    ("我要举报", "report"), ("我想投诉一家健身房，老板跑路了", "complaint"), ("我要投诉，怎么弄？", "complaint"),
    ("不想投诉了", None), ("投诉要实名吗", None), ("投诉多久有结果", None), ("我想投诉的话需要什么材料", None),
    ("怎么投诉商家", None), ("算了我不投诉了", None), ("举报了能退钱吗", None), ("要投诉吗", None),
])
def test_an_explicit_wish_to_file(text, expected):
    from xiaoan.understanding.interruptions import wants_to_file
    assert wants_to_file(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # a short "what can I do" about a situation
    ("网上买的鞋开胶了该怎么办", True), ("卖家一直不发货咋办", True), ("游戏厅关门了代币怎么办？", True),
    ("蛋糕店换了老板 储值卡怎么办呢", True), ("买到山寨耳机怎么维权", True), ("洗衣店把羽绒服洗坏了 我们该咋办", True),
    # nothing to ask about, or not ending in the question
    ("怎么办", False), ("我该怎么办？", False), ("储值卡退款怎么办理", False), ("蛋糕店关门了", False),
    ("蛋糕店关门了怎么办的事问过了", False),
    # filing named or wished, a demand, an amount, a cancel, a person, a story
    ("我要投诉这家蛋糕店 怎么办", False), ("投诉了商家还没有回复怎么办", False), ("举报了黑作坊没人管咋办", False),
    ("帮我想想怎么办", False), ("蛋糕店跑路了卡里还有八百块怎么办", False), ("充了2000元 店没了怎么办", False),
    ("算了 不知道怎么办", False), ("转人工 怎么办", False),
    ("上个月在小区门口的蛋糕店办了储值卡 现在店关了门怎么办", False),
])
def test_asks_what_to_do(text, expected):
    from xiaoan.understanding.interruptions import asks_what_to_do
    assert asks_what_to_do(text) is expected


@pytest.mark.parametrize(("text", "expected"), [
    ("锅炉多久要检测一次", True), ("扶梯是不是也要年检", True), ("菜场的秤归谁检定", True),
    ("游乐设施的检验合格标志贴在哪里", True), ("叉车要不要定期检验", True),
    # a registration subject is named: left to the classifier
    ("电梯公司怎么注册", False), ("开电子秤店要办什么执照", False), ("锅炉厂变更法人要什么材料", False),
    # no regulated equipment
    ("个体户年报怎么报", False), ("每年都要年检吗", False), ("", False),
    # a letter is the letter classifier's
    ("我们单位食堂里那台蒸汽锅炉是十几年前装的，从装好到现在好像一次都没有人来检测过，想问一下这种情况应该怎么处理", False),
])
def test_asks_about_regulated_equipment(text, expected):
    from xiaoan.understanding.interruptions import asks_about_regulated_equipment
    assert asks_about_regulated_equipment(text) is expected
