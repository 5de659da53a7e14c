"""The long-letter intent classifier as a Rasa 3.6 graph component (xiaoan.nlu.letter_classifier)."""
from __future__ import annotations

from pathlib import Path

import pytest

from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from xiaoan.nlu.letter_classifier import MARKER, LetterClassifier, normalize_text

# Long examples, written for this test: refunds, prepaid cards, reports.
REFUND = [
    "我在网上的旗舰店买了一台空气炸锅，收到第二天就不能加热了，申请退货退款，卖家一直拖着不处理，已经十几天了，请帮我把钱要回来。",
    "上个月在商场专柜买的羊毛大衣，吊牌没拆，第二天拿去退，店员说活动商品一律不退，我付了一千六百元，要求全额退款。",
    "订了酒店三晚，提前一周取消了，平台显示免费取消，结果酒店扣了我一晚房费四百多元，到现在也不退，希望市场监管部门帮忙处理退款。",
    "旅行社组团去云南，出发前十天我们取消了，交了八千元团费，旅行社只肯退两千，说其余都是损失，我们要求按合同退还团费。",
    "买的沙发说好一个月交货，拖了两个多月还没送来，我要求退定金五千元，店里说钱已经给工厂了不能退，请你们督促商家退款。",
    "演唱会主办方取消了演出，说会原路退票款，可是两个月过去了钱一直没有到账，打客服电话也没人接，要求尽快退回票款九百八十元。",
]
PREPAID = [
    "小区门口的健身房去年办了年卡花了三千八，上周去发现大门贴了封条，老板电话打不通，微信也拉黑了，卡里还剩大半年，要求退还余额。",
    "给孩子报的英语培训班一次性交了两万四的课时费，才上了十节课培训机构就关门了，老师说老板跑路了，我们几十个家长都联系不上人。",
    "美容院办了一张储值卡充了五千元，现在店换了老板，新老板说以前的卡不认，要么重新充钱，卡里还有三千多元，要求继续服务或者退钱。",
    "理发店一直劝我充值，充了两千送五百，结果用了两次店就关了，门口贴着装修暂停营业，一个多月了没开门，店长也不回消息，请帮忙追回余额。",
    "生鲜配送的会员卡预充了一千元，平台突然停止配送，客服说公司资金困难暂停服务，余额不能退，也不知道什么时候恢复，要求退还预付款。",
    "游泳馆办的次卡还剩三十次，场馆说要改造闭馆半年，不给延期也不退钱，只让我们转卡到很远的门店，我们要求按剩余次数退款。",
]
REPORT = [
    "举报我家楼下一家小饭馆，后厨脏乱差，老鼠到处跑，用的油是回收的地沟油，没有看到营业执照和食品经营许可证，请执法人员去查一查。",
    "实名举报某超市长期销售过期食品，把生产日期的标签撕掉重新贴，我亲眼看到员工在仓库里换标签，希望监管部门尽快突击检查。",
    "我要举报一个小区里的电梯，已经好几次困人了，检验合格证早就过期了，物业一直不管，里面住了很多老人，担心出大事，请特种设备部门来查。",
    "举报菜市场一个摊位的电子秤有问题，称一斤只有八两左右，我买了好几次都缺斤短两，旁边的摊主也说他改过秤，请派人去核查。",
    "有一家门店没有营业执照却一直在卖电动车电池，还给人改装电瓶车，店里堆满了电池，晚上充电很危险，请市场监管部门依法查处。",
    "网上一家店铺宣传自己的保健品能治疗糖尿病和高血压，直播间里天天这样说，这是虚假宣传，我不买东西只是举报，请你们调查处理。",
]
SHORT_LINES = [("我要退款", "complain_refund"), ("健身房跑路了", "complain_prepaid"), ("举报过期食品", "report_violation")]


def _training_data(groups: dict[str, list[str]], short: list[tuple[str, str]] = ()) -> TrainingData:
    messages = [
        Message.build(text=text, intent=intent) for intent, texts in groups.items() for text in texts
    ]
    messages += [Message.build(text=text, intent=intent) for text, intent in short]
    return TrainingData(training_examples=messages)


@pytest.fixture
def storage(tmp_path: Path) -> LocalModelStorage:
    return LocalModelStorage.create(tmp_path)


@pytest.fixture
def context() -> ExecutionContext:
    return ExecutionContext(GraphSchema({}), "test-model")


def _trained(storage, context, config=None) -> tuple[LetterClassifier, Resource]:
    resource = Resource("letter_classifier")
    component = LetterClassifier.create(
        {**LetterClassifier.get_default_config(), **(config or {})}, storage, resource, context
    )
    component.train(
        _training_data(
            {"complain_refund": REFUND, "complain_prepaid": PREPAID, "report_violation": REPORT},
            SHORT_LINES,
        )
    )
    return component, resource


def _message(text: str, intent: str = "greet", confidence: float = 0.9) -> Message:
    message = Message(data={"text": text})
    message.set("intent", {"name": intent, "confidence": confidence})
    message.set("intent_ranking", [{"name": intent, "confidence": confidence}])
    return message


def test_short_examples_are_not_trained_on(storage, context):
    component, _ = _trained(storage, context)
    texts, labels = component.training_examples(
        _training_data({"complain_refund": REFUND}, SHORT_LINES + [("我要退款", "complain_refund")] * 3)
    )
    assert labels == ["complain_refund"] * len(REFUND)
    assert texts == [normalize_text(text) for text in REFUND]


def test_intents_with_too_few_long_examples_are_left_out(storage, context):
    resource = Resource("letter_classifier")
    component = LetterClassifier.create(LetterClassifier.get_default_config(), storage, resource, context)
    rare = [
        "请问一下投诉和举报到底有什么区别？我既想让商家赔偿我，又想让你们去查这家店的卫生问题，应该怎么提交？",
        "请问投诉以后多长时间会有结果？我上个月提交的材料一直没有人联系我，我该去哪里问进度比较好呢？",
    ]
    component.train(
        _training_data({"complain_refund": REFUND, "report_violation": REPORT, "ask_regulation": rare})
    )
    assert sorted(component.model.classes_) == ["complain_refund", "report_violation"]


def test_long_letter_is_reclassified_after_a_persist_load_round_trip(storage, context):
    _, resource = _trained(storage, context)
    loaded = LetterClassifier.load(LetterClassifier.get_default_config(), storage, resource, context)
    assert loaded.model is not None

    letters = {
        "complain_prepaid": "我在家附近的瑜伽馆办了会员卡，充值了四千元，昨天去上课发现店已经关门了，老板电话关机，"
        "卡里还有两千多没用完，希望你们帮忙找到老板退钱。",
        "report_violation": "举报一家早餐店，卫生条件很差，没有营业执照，食品都放在地上，还用过期的面粉做包子，"
        "我每天上班路过都能看见，担心小孩吃了生病，请你们派人去检查一下。",
        "complain_refund": "在网店买了一双运动鞋，收到发现是假货，申请退货退款，商家拒绝退款还说我调包，"
        "鞋子花了六百九十九元，鉴定报告也有，要求商家全额退款。",
    }
    for expected, text in letters.items():
        message = _message(text)
        loaded.process([message])
        assert message.get("letter_classifier") is True
        intent = message.get("intent")
        assert intent["name"] == expected, (text, message.get("intent_ranking"))
        ranking = message.get("intent_ranking")
        assert ranking[0] == intent
        # the other complaint kind is folded into the top complaint (family_ranking)
        names = {item["name"] for item in ranking}
        assert names <= {"complain_refund", "complain_prepaid", "report_violation"} and "report_violation" in names
        assert len(names & {"complain_refund", "complain_prepaid"}) == (2 if intent["name"] == "report_violation" else 1)
        assert abs(sum(item["confidence"] for item in ranking) - 1.0) < 1e-6
        assert intent["confidence"] > 1 / 3


def test_short_message_is_untouched(storage, context):
    component, _ = _trained(storage, context)
    message = _message("健身房老板跑路了，卡里还有两千块钱怎么办", intent="complain_prepaid", confidence=0.77)
    assert len(message.get("text")) < 60
    component.process([message])
    assert message.get("intent") == {"name": "complain_prepaid", "confidence": 0.77}
    assert message.get("intent_ranking") == [{"name": "complain_prepaid", "confidence": 0.77}]
    assert message.get(MARKER) is None


def test_thresholds_come_from_the_config(storage, context):
    component, _ = _trained(storage, context, {"min_chars": 10})
    message = _message("健身房老板跑路了，卡里还有两千块钱怎么办", intent="greet")
    component.process([message])
    assert message.get(MARKER) is True
    assert message.get("intent")["name"] != "greet"


def test_only_long_messages_of_a_batch_change(storage, context):
    component, _ = _trained(storage, context)
    short = _message("你好", intent="greet")
    letter = _message(REPORT[0], intent="greet")
    component.process([short, letter])
    assert short.get("intent")["name"] == "greet"
    assert letter.get("intent")["name"] == "report_violation"


@pytest.mark.parametrize(
    "data",
    [
        TrainingData(),
        _training_data({}, SHORT_LINES),  # nothing long enough
        _training_data({"complain_refund": REFUND}),  # a single intent: nothing to decide
    ],
)
def test_untrainable_data_leaves_messages_alone(storage, context, data):
    resource = Resource("letter_classifier")
    component = LetterClassifier.create(LetterClassifier.get_default_config(), storage, resource, context)
    assert component.train(data) == resource
    loaded = LetterClassifier.load(LetterClassifier.get_default_config(), storage, resource, context)
    assert loaded.model is None
    message = _message(REPORT[1], intent="complain_general", confidence=0.5)
    loaded.process([message])
    assert message.get("intent") == {"name": "complain_general", "confidence": 0.5}
    assert message.get(MARKER) is None


def test_normalize_text_hides_digits_and_width():
    assert normalize_text("  花了３８００元\n2026年1月5日  ") == "花了0元 0年0月0日"


def test_letters_path_adds_examples_and_changes_the_fingerprint(tmp_path):
    from xiaoan.nlu.letter_classifier import LetterClassifier

    folder = tmp_path / "letters"
    folder.mkdir()
    (folder / "a.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: complain_prepaid\n  examples: |\n'
        "    - 我在小区门口的健身房办了一张年卡花了三千多块钱，现在老板跑路了门店也关了，要求退还剩余的钱\n",
        encoding="utf-8")
    config = {"letters_path": str(folder)}
    first = LetterClassifier.fingerprint_addon(config)
    assert [p.name for p in LetterClassifier.letter_files(config)] == ["a.yml"]
    component = LetterClassifier({**LetterClassifier.get_default_config(), **config}, None, None)
    assert [m.get("intent") for m in component.letters()] == ["complain_prepaid"]
    (folder / "a.yml").write_text((folder / "a.yml").read_text(encoding="utf-8").replace("三千", "四千"),
                                  encoding="utf-8")
    assert LetterClassifier.fingerprint_addon(config) != first
    assert LetterClassifier.letter_files({"letters_path": None}) == []


def test_a_letter_split_between_complaint_kinds_is_a_confident_complaint():
    from xiaoan.nlu.letter_classifier import family_ranking

    ranking = [{"name": "complain_prepaid", "confidence": 0.40}, {"name": "complain_refund", "confidence": 0.35},
               {"name": "report_violation", "confidence": 0.10}, {"name": "complain_general", "confidence": 0.15}]
    folded = family_ranking(ranking)
    assert folded[0] == {"name": "complain_prepaid", "confidence": 0.9}
    assert [item["name"] for item in folded[1:]] == ["report_violation"]
    assert abs(sum(item["confidence"] for item in folded) - 1.0) < 1e-9
    # a report stands alone; an empty ranking stays empty
    assert family_ranking([{"name": "report_violation", "confidence": 0.5}]) == [{"name": "report_violation", "confidence": 0.5}]
    assert family_ranking([]) == []
