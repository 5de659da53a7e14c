"""Money: amounts in answers and sentences, which amount is meant, no-money answers."""

from __future__ import annotations

from decimal import Decimal

import pytest

from xiaoan.understanding.money import find_amounts, is_no_amount, parse_amount


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("两千五", "2500"), ("6千8", "6800"), ("六千八", "6800"), ("六千八百元", "6800"),
        ("2.5万", "25000"), ("3k", "3000"), ("1,350元", "1350"), ("￥199", "199"), ("¥199", "199"),
        ("199块", "199"), ("一百九十九块钱", "199"), ("五百来块", "500"), ("大概三千多", "3000"),
        ("一万二", "12000"), ("两万五千", "25000"), ("八百五", "850"), ("十块", "10"),
        ("2000", "2000"), ("２０００元", "2000"), ("1.2w", "12000"), ("399.50元", "399.5"),
        ("一点五万", "15000"), ("人民币800元", "800"), ("差不多三百块吧", "300"), ("贰仟元", "2000"),
        ("3千5", "3500"), ("一万零五百", "10500"),
    ],
)
def test_parse_amount_reads_the_forms_people_type(text, expected):
    assert parse_amount(text) == Decimal(expected)


@pytest.mark.parametrize(
    "text",
    ["3号", "2楼", "5个", "12月", "2024年", "三月五号", "下午3点", "七天无理由", "13812345678",
     "第一次", "没有", "", None, "十分不满意", "订单号2024050112345", "3号和5号"],
)
def test_parse_amount_ignores_dates_counts_and_numbers_that_are_not_money(text):
    assert parse_amount(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # what is at stake beats what was paid: the balance left on a prepaid card
        ("一共充了5000，卡里还有3200", "3200"),
        ("卡里还剩两千，当时充了五千", "2000"),
        ("办卡花了3000元，余额还有1800", "1800"),
        ("损失大概两万", "20000"),
        # a total beats a single payment
        ("第一次付了500元，后来又付了800元，总共1300元", "1300"),
        # a cued bare number beats an uncued marked one
        ("花了450，退了我100块", "450"),
        ("买了3件衣服花了450", "450"),
        ("2023年办的卡，还剩3000", "3000"),
        ("5月1号在店里交了2000块定金", "2000"),
        # no cue: the marked amount
        ("在2楼那家店买的，299元", "299"),
    ],
)
def test_parse_amount_picks_the_amount_meant_in_a_sentence(text, expected):
    assert parse_amount(text) == Decimal(expected)


def test_parse_amount_refuses_several_bare_numbers_without_a_cue():
    assert parse_amount("300或者500") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("一共充了5000，卡里还有3200", ["5000", "3200"]),
        ("先付了定金500元，尾款2千，共2500", ["500", "2000", "2500"]),
        ("3号去的，5个人，没花钱", []),
        ("2000", ["2000"]),
        ("等了3次，每次都说下周", []),
        ("", []),
    ],
)
def test_find_amounts_lists_every_amount_in_order(text, expected):
    assert find_amounts(text) == [Decimal(v) for v in expected]


@pytest.mark.parametrize("text", ["没有", "不涉及", "没花钱", "免费", "0", "无", "没有金额", "不涉及金额", "零元", "免费的。", "没有损失"])
def test_is_no_amount_true(text):
    assert is_no_amount(text)


@pytest.mark.parametrize("text", ["2000", "没有发票，花了3000", "两千五", "", None, "不知道", "李明"])
def test_is_no_amount_false(text):
    assert not is_no_amount(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("一共68箱，花了一万零二百", "10200"),  # a count after 一共 is not the money
        ("每节三百，一共九千，还剩十六节课", "9000"),
        ("孩子的游泳课包48节还剩30节", None),
        ("车子刚保养完，4S店说跟保养无关", None),
        ("做出来短了二十公分，一共付了1150元", "1150"),
    ],
)
def test_parse_amount_counts_and_names_are_not_money(text, expected):
    assert parse_amount(text) == (Decimal(expected) if expected else None)


@pytest.mark.parametrize("text", ["张** 138****5678", "工单号XA-261126-0042", "3C认证是什么", "3Q啦"])
def test_parse_amount_ignores_identifiers(text):
    assert parse_amount(text) is None


@pytest.mark.parametrize(("text", "expected"), [
    ("三块五", "3.5"), ("86块5", "86.5"), ("12元5角", "12.5"), ("两块五毛", "2.5"), ("300块", "300"),
    ("我就要求把这86块5退给我", "86.5"),
])
def test_yuan_and_a_tenth_said_the_colloquial_way(text, expected):
    assert str(parse_amount(text)) == expected


def test_a_count_after_kuai_is_no_tenth():
    assert str(parse_amount("3块5个苹果")) != "3.5"


@pytest.mark.parametrize(("text", "expected"), [("嗯…9千", "9000"), ("嗯...两千五", "2500"), ("大概...3000吧", "3000")])
def test_an_ellipsis_is_a_pause_not_a_decimal_point(text, expected):
    assert str(parse_amount(text)) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("2万8千6", Decimal("28600")),
    ("1万5千", Decimal("15000")),
    ("2万8千6百元", Decimal("28600")),
    ("我还有24节课没上 合2880 怎么弄", Decimal("2880")),
])
def test_mixed_units_and_what_it_comes_to(text, expected):
    assert parse_amount(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("网上买的羽绒服寄回去10天了还不退589", Decimal("589")),
    ("青浦赵巷家具城买的床垫不给退 2680", Decimal("2680")),
    ("宝山友谊路理发店跑路了卡里1288", Decimal("1288")),
    ("小区门口理发店剪个头收我198 价目表都没有", Decimal("198")),
    ("称了4斤 结账收了79.6 多收了40 要求退差价", Decimal("40")),
])
def test_short_complaints_with_the_sum_at_the_end(text, expected):
    assert parse_amount(text) == expected


def test_a_sum_not_refunded_is_the_sum():
    assert parse_amount("东方音乐厅演唱会取消了 四张票1160还没退") == Decimal("1160")


def test_format_amount_shows_yuan_with_separators_and_cents_only_when_there_are_some():
    from xiaoan.understanding.money import format_amount

    assert format_amount(Decimal("2000"), "元") == "2,000 元"
    assert format_amount(Decimal("399.5"), "元") == "399.50 元"
    assert format_amount(1234567.891, "元") == "1,234,567.89 元"
    assert format_amount(None, "元") is None
