"""What is left of a prepaid package or card (xiaoan.understanding.prepaid), and how the letter
reader uses it and the other sums a demand names (xiaoan.understanding.letters.find_amount)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from xiaoan.understanding.letters import find_amount
from xiaoan.understanding.prepaid import demanded_units_value, remaining_value


@pytest.mark.parametrize("text, left", [
    # package price divided by its sessions
    ("女儿报了舞蹈课，30节一共4500元，上了12节，老师就不来了", Decimal(2700)),
    ("买了保养套餐，5次保养共3000元，只做了2次，店就关了", Decimal(1800)),
    ("报了一年的编程课，两万一共84课时，已上了28课时", Decimal(14000)),
    # unit price times the sessions left, stated or reckoned
    ("私教课24节，每节320，上了9节", Decimal(4800)),
    ("游泳课单价180元，剩余15节没上", Decimal(2700)),
    ("钢琴课一节200，买了40节，上了10节，不对，是12节", Decimal(5600)),
    # a card of months
    ("办了张年卡4800，用了4个月店就没了", Decimal(3200)),
    ("两年卡7200元，还剩下18个月", Decimal(5400)),
    # a stored-value card: paid in less the uses, or less what was spent
    ("洗衣卡充了1000，洗了6次，每次扣45", Decimal(730)),
    ("美甲店充值3000元，做了4次，每次原价300打7折", Decimal(2160)),
    ("理发卡储值5000元，到现在一共消费了1850元", Decimal(3150)),
    # counts with 个 before the unit, hours as the unit, verbs of the activity itself
    ("一对一补习课时包3.6万，120个小时，已经上了45个小时", Decimal(22500)),
    ("绘画课买了64个课时，一共1.28万，孩子共上课24课时", Decimal(8000)),
    ("在游泳馆买了40次的次卡，价格1600元，到现在游了15次", Decimal(1000)),
    # the package's total written in an earlier sentence of the paragraph; "第一次" is no unit price
    ("学费总共9600元，分两次交的：第一次4800，第二次4800。课程一共32次，我上了8次。", Decimal(7200)),
    # a subscription by the year, its months left stated
    ("去年十月订了一年的报纸，一共600元。剩下的五个月不送了", Decimal(250)),
])
def test_remaining_value_reckons_what_is_left(text, left):
    assert remaining_value(text) == left


@pytest.mark.parametrize("text", [
    "在店里办了卡，花了3000元，现在关门了",              # nothing to reckon with
    "上了5节课，老师就走了",                          # no price, no package
    "年卡3600元，老板跑路了",                         # months used unknown
    "办卡花了2000元，私教每节300，还剩20节",             # more than anything paid: misread
])
def test_remaining_value_answers_none_without_the_figures(text):
    assert remaining_value(text) is None


def test_priced_only_reckons_sessions_at_a_written_price_and_nothing_else():
    # sessions left at a unit price: reckoned
    assert remaining_value("私教课30节，每节260元，上了12节", priced_only=True) == Decimal(4680)
    # a package price to divide, or a stored-value card: only without priced_only
    assert remaining_value("30节一共4500元，上了12节", priced_only=True) is None
    assert remaining_value("30节一共4500元，上了12节") == Decimal(2700)
    assert remaining_value("洗衣卡充了1000，一共消费了600元", priced_only=True) is None


def test_a_half_count_is_no_whole_count_used():
    # "一个半月" is a month and a half: not one month used of five
    assert remaining_value("一学期5个月，每月3,360元，上了一个半月就停园了") is None


def test_a_remainder_is_less_than_what_was_paid():
    # a stored-value card whose uses add up to more than was paid in is misread, not negative
    assert remaining_value("充值500元，洗了20次，每次扣30") is None


@pytest.mark.parametrize("text, value", [
    ("团购券88一张，买了三张，要求退还两张", Decimal(176)),
    ("会员每个月59，自动扣了半年，要求退还这四个月的钱", Decimal(236)),
    ("订了四晚，每晚420元，要求退后面两晚", Decimal(840)),
])
def test_demanded_units_at_their_price(text, value):
    assert demanded_units_value(text) == value


def test_no_units_demanded_is_none():
    assert demanded_units_value("订了四晚，每晚420元，要求全部退款") is None


@pytest.mark.parametrize("text, amount", [
    # the letter asks for the rest: the reckoned remainder, not the price paid
    ("静安那家瑜伽馆突然关门了，我去年交了3600元办的年卡，只练了3个月，要求退还剩余的钱。", Decimal(2700)),
    ("汽车美容店关门了，当时买的洗车套餐20次1600元，洗了5次，要求把剩下的钱退给我。", Decimal(1200)),
    # a stated remainder still wins over the reckoning
    ("健身房跑路了，年卡4800，用了4个月，卡里还剩3300左右，要求退还剩余的钱。", Decimal(3300)),
    # items of one demand joined by 和 add up
    ("买车时被强制收了服务费2000元，还有上牌费800元，要求退还服务费2000元和上牌费800元。", Decimal(2800)),
    # the demand takes on the costs named ("承担")
    ("装修质量太差，返工要花1万5，要求装修公司承担这1万5的返工费。", Decimal(15000)),
    # the actual balance after a disputed one
    ("店员说余额是8,000元，我们逐笔核对后实际余额应为9,200元，要求全部退还。", Decimal(9200)),
    # a bare sum after the card when nothing else is written as money
    ("徐汇那家健身房关门了 我的年卡2680才办了一个礼拜 钱要退给我", Decimal(2680)),
    # a fee named right after a bare sum
    ("饭店结账时收了150开瓶费，事先没说，要求退150开瓶费。", Decimal(150)),
    # a demand of several items that states their total: the total
    ("要求退还书包款260元加文具费40元，合计300元。", Decimal(300)),
    ("我的要求：1、退还空调款3200元；2、赔偿墙面修补费800元。合计4000元。\n电话已留", Decimal(4000)),
    ("我要求退一赔三，退还499元并赔偿三倍1497元，一共1996元。", Decimal(1996)),
    # a demand without a sum of its own but with a total
    ("付了定金5000元，店家违约。我要求：双倍返还定金，共1万元。", Decimal(10000)),
    # balances listed together, the rest asked for
    ("两张储值卡余额分别是230元、415元，店关了，要求退还卡里的余额。", Decimal(645)),
    # "没有上的课" asks for the rest; hours left at an hourly price ("88小时的学费" is no fee of 88)
    ("交了1万2，一共40节课，上了10节。我要求退还没有上的课的费用。", Decimal(9000)),
    ("辅导课一小时200，还剩30小时，要求退还剩余30小时的学费。", Decimal(6000)),
    # "还给我看了…" is no demand
    ("销售说公司不会跑路，还给我看了营业执照。年卡3600元，用了8个月，要求按月退还剩下的钱。", Decimal(1200)),
    # a bare sum right after any card
    ("游泳卡1880买了两周就关门了 要求退钱", Decimal(1880)),
])
def test_letter_amounts(text, amount):
    assert find_amount(text) == amount


@pytest.mark.parametrize("text, amount", [
    ("至少退还一半费用，我花了588元", Decimal(588)),       # "一半费用" is a share, not one yuan
    ("要求：1.重新施工；2.赔偿上面两项费用共6,000元", Decimal(6000)),  # "两项费用" counts items
])
def test_counts_before_a_fee_word_are_no_sums(text, amount):
    assert find_amount(text) == amount
