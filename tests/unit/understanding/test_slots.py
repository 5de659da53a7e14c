"""parse_slot_value: the reply read as a value of the requested slot."""

from __future__ import annotations

import datetime

import pytest

from xiaoan.understanding.slots import SlotValue, parse_slot_value


@pytest.mark.parametrize(
    ("slot", "text", "value", "extra"),
    [
        ("complainant_name", "李明", "李明", {}),
        ("complainant_name", "我叫欧阳娜娜。", "欧阳娜娜", {}),
        ("complainant_name", "李娜 13812345678", "李娜", {"phone": "13812345678"}),
        ("complainant_name", "我是李娜，电话138-1234-5678", "李娜", {"phone": "13812345678"}),
        ("complainant_name", "王先生", "王先生", {}),
        ("phone", "13812345678", "13812345678", {}),
        ("phone", "手机 幺三八 幺二三四 五六七八", "13812345678", {}),
        ("phone", "李娜 13812345678", "13812345678", {"complainant_name": "李娜"}),
        ("phone", "我的电话是021-61234567，白天都在", "02161234567", {}),
        ("complainant_address", "徐汇区漕溪北路88号", "徐汇区漕溪北路88号", {"district": "xuhui"}),
        ("respondent_address", "在七宝", "七宝", {"district": "minhang"}),
        ("respondent_address", "上海市某某路123弄4号", "上海市某某路123弄4号", {}),
        ("respondent_address", "那家店在徐汇区漕溪北路88号，现在已经关门了好几天了", "徐汇区漕溪北路88号", {"district": "xuhui"}),
        ("respondent_name", "上海某某电子商务有限公司", "上海某某电子商务有限公司", {}),
        ("respondent_name", "某某大药房（某某路店）", "某某大药房（某某路店）", {}),
        ("amount", "两千五", "2500", {}),
        ("amount", "大概三千多", "3000", {}),
        ("amount", "没有", "none", {}),
        ("amount", "不涉及", "none", {}),
        ("amount", "0", "none", {}),
        ("facts", "在店里办了健身卡，现在老板跑路了", "在店里办了健身卡，现在老板跑路了", {}),
        ("claim", "退款", "退款", {}),
        ("claim", "要求退还剩余的2000元", "要求退还剩余的2000元", {}),
        ("anonymous", "匿名", True, {}),
        ("anonymous", "不留名", True, {}),
        ("anonymous", "实名", False, {}),
        ("anonymous", "可以留名", False, {}),
        ("anonymous", "不匿名", False, {}),
        ("anonymous", "不用匿名了", False, {}),
        ("purchase_date", "上个月", "2026-02-01", {}),
    ],
)
def test_parse_slot_value_fills_the_slot(slot, text, value, extra):
    assert parse_slot_value(slot, text, today=datetime.date(2026, 3, 18)) == SlotValue(value, extra)


@pytest.mark.parametrize(
    ("slot", "text"),
    [
        ("complainant_name", "好的"),
        ("complainant_name", "不告诉你"),
        ("complainant_name", "我要投诉"),
        ("complainant_name", "13812345678"),  # only a phone: no name
        ("phone", "不想给"),
        ("phone", "李明"),
        ("phone", "1381234"),
        ("complainant_address", "不知道"),
        ("respondent_address", "好的"),
        ("respondent_name", "商家"),
        ("respondent_name", "不清楚"),
        ("amount", "不知道"),
        ("amount", "3号"),
        ("facts", "不知道"),
        ("facts", "被骗了"),  # too short to describe what happened
        ("claim", "嗯"),
        ("claim", "不清楚"),
        ("anonymous", "好的"),
        ("unknown_slot", "李明"),
        ("complainant_name", ""),
        ("complainant_name", None),
        ("complainant_name", "/inform{\"complainant_name\": \"李明\"}"),
    ],
)
def test_parse_slot_value_refuses(slot, text):
    assert parse_slot_value(slot, text) is None
