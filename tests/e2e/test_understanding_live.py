"""Understanding in context on the running stack (issue 10): the trained model, the REST channel
with typed choices, the action server. Names nobody trained on, typed button titles, several
fields in one message, a letter as the opening, a request for a person inside a complaint."""

from __future__ import annotations

import json
import random
import uuid

import pytest

from tests.e2e.test_conversations import COMPLAINT_ANSWERS, fill_form, texts, tickets

pytestmark = pytest.mark.e2e

# Ordinary names built from common surnames and given-name characters (seeded): none of them is a
# training example, and several are also ordinary words or read as affirm/deny by the classifier.
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉建国志文俊宇浩然欣怡梓涵子轩晨曦佳琪雨桐思远"


def unseen_names(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
        if name not in out:
            out.append(name)
    return out + ["欧阳娜娜", "司马文涛", "诸葛明", "买买提·艾力"]


def start_complaint_at_name(stack) -> str:
    sender = f"e2e-{uuid.uuid4().hex}"
    stack.say(sender, "我要投诉")
    tracker = stack.tracker(sender)
    assert tracker["active_loop"].get("name") == "complaint_form"
    assert tracker["slots"]["requested_slot"] == "complainant_name"
    return sender


@pytest.mark.parametrize("name", unseen_names(12))
def test_a_bare_name_is_taken_at_the_first_answer(stack, name):
    sender = start_complaint_at_name(stack)
    replies = stack.say(sender, name)
    slots = stack.tracker(sender)["slots"]
    assert slots["complainant_name"] == name, texts(replies)
    assert slots["requested_slot"] == "phone"


def test_a_name_and_a_phone_in_one_line(stack):
    sender = start_complaint_at_name(stack)
    stack.say(sender, "我叫林晓峰，手机 139-1234-5678")
    slots = stack.tracker(sender)["slots"]
    assert slots["complainant_name"] == "林晓峰" and slots["phone"] == "13912345678"
    assert slots["requested_slot"] == "complainant_address"


def test_typed_menu_title_starts_a_complaint(stack):
    sender = f"e2e-{uuid.uuid4().hex}"
    stack.say(sender, "你好")
    stack.say(sender, "我要投诉")
    assert stack.tracker(sender)["active_loop"].get("name") == "complaint_form"


def test_typed_report_choices_are_understood(stack):
    sender = f"e2e-{uuid.uuid4().hex}"
    stack.say(sender, "我要举报楼下的小超市卖过期面包")
    for _ in range(6):
        tracker = stack.tracker(sender)
        requested = tracker["slots"]["requested_slot"]
        if requested == "anonymous":
            break
        stack.say(sender, {"respondent_name": "好又多便利店", "respondent_address": "杨浦区国权路100号",
                           "facts": "货架上的面包已经过期三天了还在卖"}[requested])
    stack.say(sender, "匿名举报")
    slots = stack.tracker(sender)["slots"]
    assert slots["anonymous"] is True
    assert slots["requested_slot"] == "confirmation"


def test_a_letter_opening_is_a_complaint_with_the_fields_prefilled(stack):
    sender = f"e2e-{uuid.uuid4().hex}"
    letter = ("您好，我想反映一个情况。今年7月我在长宁区仙霞路300号的上海美丽人生美容有限公司办了一张美容卡，"
              "充值了6800元，一共只做了三次护理。上周去的时候发现店门紧锁，门口贴了停业通知，老板电话一直关机，"
              "群里也没人回复。我的诉求是：退还卡里剩余的钱，希望你们尽快处理。")
    stack.say(sender, letter)
    tracker = stack.tracker(sender)
    assert tracker["active_loop"].get("name") == "complaint_form"
    slots = tracker["slots"]
    assert slots["ticket_intent"] == "complain_prepaid"
    assert slots["respondent_name"] == "上海美丽人生美容有限公司"
    assert slots["amount"] == "6800"
    assert slots["district"] == "changning"
    before = {t["ticket_no"] for t in tickets(stack)}
    fill_form(stack, sender, COMPLAINT_ANSWERS)
    created = [t for t in tickets(stack) if t["ticket_no"] not in before]
    assert len(created) == 1
    assert created[0]["agency"] == "dist-changning"
    assert created[0]["respondent_name"] == "上海美丽人生美容有限公司"


def test_a_person_asked_for_inside_a_complaint_is_honoured(stack):
    sender = f"e2e-{uuid.uuid4().hex}"
    stack.say(sender, "我在徐汇一家美容院办了五千块的卡 现在店关门了 我要找人工")
    tracker = stack.tracker(sender)
    assert not (tracker.get("active_loop") or {}).get("name")
    result = stack.cli("handoff", "list", "--json")
    waiting = {row["conversation_id"] for row in json.loads(result.stdout)}
    offered = "回电" in json.dumps(tracker["events"][-6:], ensure_ascii=False)
    assert sender in waiting or offered


@pytest.mark.parametrize("confirm", ["确认取消", "算了"])
def test_giving_up_mid_form_is_confirmed_and_can_be_taken_back(stack, confirm):
    """算了 in a form with answers asks first; 继续填写 keeps every answer; a confirmation clears them."""
    sender = start_complaint_at_name(stack)
    stack.say(sender, "林晓峰")
    replies = stack.say(sender, "算了")
    assert "要取消这次登记吗" in texts(replies), texts(replies)
    tracker = stack.tracker(sender)
    assert tracker["active_loop"].get("name") == "complaint_form"
    assert tracker["slots"]["complainant_name"] == "林晓峰"
    replies = stack.say(sender, "继续填写")
    assert "电话" in texts(replies) and "没能理解" not in texts(replies), texts(replies)
    slots = stack.tracker(sender)["slots"]
    assert slots["complainant_name"] == "林晓峰" and slots["requested_slot"] == "phone"
    stack.say(sender, "算了")
    replies = stack.say(sender, confirm)
    assert "已经取消" in texts(replies), texts(replies)
    tracker = stack.tracker(sender)
    assert not tracker["active_loop"].get("name") and tracker["slots"]["complainant_name"] is None
