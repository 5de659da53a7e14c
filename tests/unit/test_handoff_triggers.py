"""The urgent / angry detector and its data file."""

from __future__ import annotations

import pytest

from xiaoan.handoff.triggers import TriggerConfigError, detect_escalation, load_triggers


@pytest.mark.parametrize("text", [
    "电梯困人了，我妈被困在里面出不来",
    "我被困电梯里了快救命",
    "小区3号楼电梯 卡住了人",
    "孩子被困在12楼的电梯里",
    "楼下饭店着火了",
    "厨房煤气泄漏了怎么办",
    "液化气罐在漏气",
    "商场里有人受伤了",
    "吃了他们家的外卖以后一直呕吐",
    "手机充电的时候爆炸了",
    "电梯又困人了，现在我妈还在里面",
])
def test_urgent_messages(text):
    assert detect_escalation(text) == "urgent"


@pytest.mark.parametrize("text", [
    "什么破系统，问了半天都不懂",
    "我要投诉你们这个客服",
    "这是我第三次问了！",
    "说了三遍了你听不懂人话吗",
    "你们到底管不管",
    "垃圾客服",
    "卧槽",
    "真是 SB 一样的回答",
    "滚吧",
])
def test_angry_messages(text):
    assert detect_escalation(text) == "angry"


@pytest.mark.parametrize("text", [
    "网购七天无理由退货怎么算",
    "健身房老板跑路了卡里还有两千",
    "个体户营业执照怎么办",
    "电梯年检不合格怎么处罚",          # a question about the law, not an emergency
    "灭火器过期了商店还在卖",          # a report, not a fire
    "USB充电线质量太差了",             # "sb" inside a word
    "我妈的健身卡不给退",              # 我妈的 is not a swear word
    "这是我第三次购买他们家的东西",     # a third purchase, not a third complaint
    "滚筒洗衣机坏了",
    "我们这栋写字楼的电梯一个礼拜困了三次人，一直没修好，太危险了",   # recurring: a report
    "我们小区的电梯昨天下坠了好几层，里面还有老人和孩子",             # past: a report
    "",
    None,
    "/request_human",                  # button payloads never escalate
])
def test_ordinary_messages(text):
    assert detect_escalation(text) is None


def test_urgent_wins_over_angry():
    assert detect_escalation("什么破电梯，困住人了，我老婆被困电梯里！") == "urgent"


def test_whitespace_and_case_do_not_hide_a_trigger():
    assert detect_escalation("着 火 了") == "urgent"
    assert detect_escalation("TMD 什么服务") == "angry"


def test_triggers_file_errors_are_clear(tmp_path):
    bad = tmp_path / "t.yml"
    bad.write_text("urgent:\n  keywords: [着火]\n", encoding="utf-8")
    with pytest.raises(TriggerConfigError, match="angry"):
        load_triggers(bad)
    bad.write_text("urgent:\n  patterns: ['(未闭合']\nangry:\n  keywords: [滚]\n", encoding="utf-8")
    with pytest.raises(TriggerConfigError, match="bad pattern"):
        load_triggers(bad)
    bad.write_text("urgent:\n  keywords: [1]\nangry: {}\n", encoding="utf-8")
    with pytest.raises(TriggerConfigError, match="list of non-empty strings"):
        load_triggers(bad)


def test_custom_triggers_are_used(tmp_path):
    path = tmp_path / "t.yml"
    path.write_text("urgent:\n  keywords: [救命]\nangry:\n  keywords: [烦死了]\n  except: [不烦死了]\n",
                    encoding="utf-8")
    triggers = load_triggers(path)
    assert detect_escalation("救命啊", triggers) == "urgent"
    assert detect_escalation("烦死了", triggers) == "angry"
    assert detect_escalation("着火了", triggers) is None


@pytest.mark.parametrize(
    "text",
    [
        # a past or possible hazard told in a letter is a report, not an emergency now
        "举报某某五金店（嘉定区华亭镇）销售没有3C认证的插线板，我买过一个用了两天就冒烟了，拆开里面的铜线细得跟头发一样。"
        "这个很危险，请你们尽快去查，别等出了事再管。",
        "宝山区某小区5号楼的电梯这个月已经两次困人，维保单位是上海某某电梯维修有限公司，维保记录好几个月没有签字，"
        "年检合格证也过期了。请特种设备部门来检查，楼里老人小孩很多。",
        # anger at the merchant, or a question to the bureau, inside a letter goes to a ticket
        "我第三次去店里要求退款，老板还是说不退，说有本事你去告。我买的是一台3299元的洗碗机，用了一周就漏水。"
        "这种商家你们管不管？我要求全额退款。",
        "我妈妈的假牙还做了一半，诊所就关门了，剩余的钱5600元一直没有退。诊所贴了告示说停业，电话也打不通。请协助退还。",
    ],
)
def test_letters_that_tell_a_story_do_not_escalate(text):
    assert detect_escalation(text) is None


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("我家老人现在被困在电梯里了，物业电话打不通，维保公司是上海某某电梯有限公司，电梯平时就老出毛病，"
         "快来人帮帮忙，老人有心脏病，我们在楼道里急死了！", "urgent"),
        ("你们这个破机器人我已经说了很多遍了，我在某某健身办的卡，老板跑路了，卡里还有3000多块钱，"
         "我要找真人处理，不要再让我重复了，听不懂人话吗？", "angry"),
    ],
)
def test_letters_escalate_for_a_hazard_now_or_anger_at_the_assistant(text, level):
    assert detect_escalation(text) == level
