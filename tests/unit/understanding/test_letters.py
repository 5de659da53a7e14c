"""Reading long citizen letters (xiaoan.understanding.letters).

The letters below were written for these tests; they are not training data.
"""
from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from xiaoan.understanding.letters import LetterFields, is_letter, read_letter, split_sentences

TODAY = datetime.date(2026, 12, 4)

GYM = (
    "尊敬的领导：您好！我姓王，住在闵行区。2026年3月12日我在“力行健身（七宝店）”办了一张年卡，"
    "当时花了3800元，门店地址是闵行区七宝镇七莘路1888号2楼。11月20日我去锻炼，发现大门紧锁，"
    "老板电话关机，卡里还有2600元没用完。我的诉求：1. 退还卡内余额2600元；2. 查处老板跑路的行为。"
)
ONLINE_SHOES = (
    "我在网上旗舰店买了一双运动鞋，花了699元，收到后穿了一次就开胶了。10月8号申请退货，"
    "商家客服一直说在处理，到今天也没退款。希望你们督促商家尽快退款，谢谢。"
)
ELDERLY = (
    "我替我妈妈投诉。她今年七十多岁，上个月在小区门口的一家保健品店听了三次讲座，被店员忽悠买了"
    "三盒所谓的降压神药，一共花了一万二千元。店名叫康寿堂养生馆，地址在普陀区真北路2100号。"
    "吃了也没用，说明书上写着保健食品。要求商家退钱并对他们虚假宣传进行处罚。"
)
REPORT_FOOD = (
    "举报：黄浦区某小吃店后厨卫生极差，地上都是污水，冷藏柜里的肉发臭了还在用，"
    "我12月1日去吃了一碗馄饨回家就拉肚子。店里没有挂食品经营许可证。请执法人员去查一查。"
)
TRAINING = (
    "2025年9月1日给孩子在上海启明星教育科技有限公司报了英语课，一次性交了两万四千元学费，"
    "一共96节课，才上了20节，机构就通知停课了，说是在搬迁。现在两个月过去了没有任何消息，"
    "公司地址：杨浦区国定路335号3楼。我们要求按剩余课时退费。"
)
HOTEL = (
    "11月15日通过手机订了静安区一家酒店两晚，一共860元，页面上写着入住前一天可免费取消。"
    "我提前三天取消了，酒店却扣了一晚的房费430元。打商家客服电话没人接。请帮我追回被扣的房费。"
)
HUMAN = (
    "你们这个机器人根本听不懂我说什么，我已经讲了三遍了。我在超市买的牛奶过期了两天，"
    "小票还在，花了56块，超市不肯退。我要找人工客服，直接给我转人工！"
)
LABOUR_FEE = (
    "家里装修找的工程队，合同总价八万，人工费另算，结果做完了瓷砖全部空鼓，工头说返工要再付"
    "一万块人工费，我不同意，他就不接电话了。我的要求是免费返工。"
)
COLLOQUIAL = (
    "气死了！！！上周六在松江万达那边的理发店烫头，说好398，做完了收我1280，说用了进口药水，"
    "不给钱不让走，我老公报警了才出来，付了钱。我要他们把多收的钱退回来"
)
BEAUTY = (
    "本人于2026.6.18在美容院办储值卡，充值了5000元（送1000），消费了几次后店就转让了，新老板不认"
    "老会员的卡，卡里余额3600元，店在浦东新区张杨路500号。望尽快处理。"
)
SHORT_QUESTION = "网购七天无理由退货怎么算？"


def test_letter_fields_type():
    fields = read_letter(GYM, TODAY)
    assert isinstance(fields, LetterFields)
    with pytest.raises(AttributeError):
        fields.amount = Decimal(1)  # frozen


@pytest.mark.parametrize(
    "text, expected",
    [
        (GYM, True),
        (ONLINE_SHOES, True),
        (REPORT_FOOD, True),
        (SHORT_QUESTION, False),
        ("健身房老板跑路了，卡里还有两千块钱怎么办啊，我该找谁？", False),
        # 60-99 characters: a letter only in several sentences
        ("上周在徐汇区一家面包店买的吐司，吃到一半里面吃出了一根头发。店员说不可能，拒绝退换，"
         "态度还很差。我要求退款并赔偿，请你们管一管。", True),
        ("我想问一下就是那个在网上买东西如果商家一直不发货然后也不给退款的话我应该去哪里投诉比较好"
         "能不能直接打你们电话投诉呢", False),
    ],
)
def test_is_letter(text, expected):
    assert is_letter(text) is expected


def test_split_sentences_on_numbered_items():
    parts = split_sentences("我的诉求如下：1. 退还余额；2. 赔礼道歉 3、给个说法")
    assert parts == ["我的诉求如下：", "1. 退还余额；", "2. 赔礼道歉", "3、给个说法"]


def test_gym_letter():
    fields = read_letter(GYM, TODAY)
    assert fields.respondent_name == "力行健身（七宝店）"
    assert fields.respondent_address is not None and "七莘路1888号" in fields.respondent_address
    assert fields.district == "minhang"
    # the balance left on the card, not the price of the card or a date
    assert fields.amount == Decimal(2600)
    assert fields.dates[:2] == [datetime.date(2026, 3, 12), datetime.date(2026, 11, 20)]
    assert fields.claim is not None
    assert fields.claim.startswith("1. 退还卡内余额2600元")
    assert "查处" in fields.claim
    assert fields.wants_human is False


def test_online_purchase_without_address():
    fields = read_letter(ONLINE_SHOES, TODAY)
    assert fields.amount == Decimal(699)
    assert fields.respondent_address is None
    assert fields.district is None
    assert datetime.date(2026, 10, 8) in fields.dates
    assert fields.claim == "督促商家尽快退款"
    # "商家客服" is the merchant's service line, not a request for our agent
    assert fields.wants_human is False


def test_elderly_relative_chinese_amount_and_named_shop():
    fields = read_letter(ELDERLY, TODAY)
    assert fields.amount == Decimal(12000)  # not 七十 (age) or 三 (boxes)
    assert fields.respondent_name == "康寿堂养生馆"
    assert fields.district == "putuo"
    assert "真北路2100号" in (fields.respondent_address or "")
    assert fields.claim is not None and fields.claim.startswith("商家退钱")


def test_report_without_amount():
    fields = read_letter(REPORT_FOOD, TODAY)
    assert fields.amount is None
    assert fields.district == "huangpu"
    assert fields.dates == [datetime.date(2026, 12, 1)]
    assert fields.claim is not None and "查一查" in fields.claim


def test_registered_company_and_tuition():
    fields = read_letter(TRAINING, TODAY)
    assert fields.respondent_name == "上海启明星教育科技有限公司"
    # 一共96节课 is a count, not money; "要求按剩余课时退费" asks for the 76 sessions not taken:
    # 24,000 x 76 / 96
    assert fields.amount == Decimal(19000)
    assert fields.district == "yangpu"
    assert fields.dates[0] == datetime.date(2025, 9, 1)
    assert fields.claim == "按剩余课时退费"


def test_hotel_deduction_is_the_loss():
    fields = read_letter(HOTEL, TODAY)
    assert fields.amount == Decimal(430)  # not 一晚 nor the total 860
    assert fields.district == "jingan"
    assert fields.dates[0] == datetime.date(2026, 11, 15)
    assert fields.claim == "追回被扣的房费"
    assert fields.wants_human is False


def test_explicit_request_for_a_person():
    fields = read_letter(HUMAN, TODAY)
    assert fields.wants_human is True
    assert fields.amount == Decimal(56)


def test_labour_fee_is_not_a_request_for_a_person():
    fields = read_letter(LABOUR_FEE, TODAY)
    assert fields.wants_human is False
    assert fields.claim == "免费返工"


def test_colloquial_letter_without_final_punctuation():
    fields = read_letter(COLLOQUIAL, TODAY)
    assert fields.district == "songjiang"
    assert fields.amount == Decimal(1280)
    assert fields.claim == "他们把多收的钱退回来"
    assert fields.facts == COLLOQUIAL


def test_balance_is_preferred_to_the_top_up():
    fields = read_letter(BEAUTY, TODAY)
    assert fields.amount == Decimal(3600)
    assert fields.dates == [datetime.date(2026, 6, 18)]
    assert fields.district == "pudong"
    assert "张杨路500号" in (fields.respondent_address or "")
    assert fields.claim == "尽快处理"


def test_dates_without_year_are_the_latest_before_today():
    fields = read_letter(
        "12月20日我在商场买了一台电视，12月1日送货上门，开机就黑屏，要求换一台新的，商场说要先检测。"
        "我等了很久，要求退货。", TODAY
    )
    assert fields.dates == [datetime.date(2025, 12, 20), datetime.date(2026, 12, 1)]


def test_whitespace_is_normalised_in_facts():
    text = "尊敬的领导：\n\n   我在   网上买了一台洗衣机，\t到货就漏水。\n要求退货退款。"
    fields = read_letter(text, TODAY)
    assert fields.facts == "尊敬的领导： 我在 网上买了一台洗衣机， 到货就漏水。 要求退货退款。"
    assert fields.claim == "退货退款"


def test_merchant_demands_are_not_the_claim():
    fields = read_letter(
        "我在一家手机维修店换屏幕，店员要求我先付全款三百元，修好后屏幕失灵，店家要求我再加钱才肯重修。"
        "本人希望店家免费维修或者退钱。", TODAY
    )
    assert fields.claim == "店家免费维修或者退钱"
    assert fields.amount == Decimal(300)


def test_empty_letter():
    fields = read_letter("   ", TODAY)
    assert fields == LetterFields(None, None, None, None, [], None, "", False)


def test_a_question_has_no_claim():
    fields = read_letter(
        "请问菜市场的电子秤是谁来检查的？我感觉我们这边菜场很多摊位的秤都不准，有没有公平秤可以复称？", TODAY
    )
    assert fields.claim is None
    assert fields.amount is None


def test_masked_name_wan_amount_and_yuan_sign():
    fields = read_letter(
        "本人X先生，2026年5月在“悦动游泳健身（长宁店）”办理家庭卡，支付¥1.2万，"
        "会所于10月31日突然停业。目前卡内剩余价值约7千5。请求：退还剩余费用。联系电话138****2211。",
        TODAY,
    )
    assert fields.respondent_name == "悦动游泳健身（长宁店）"
    assert fields.amount == Decimal(7500)  # what is left, not the ¥1.2万 paid
    assert fields.dates[-1] == datetime.date(2026, 10, 31)
    assert fields.claim == "退还剩余费用"  # the phone number after it is not part of the claim


def test_anonymous_report_with_numbered_facts():
    fields = read_letter(
        "匿名举报。1. 金山区朱泾镇某加工点无证生产豆制品；2. 地上污水横流，工人不戴手套；"
        "3. 每天凌晨三点左右出货，送往附近菜场。恳请执法部门突击检查。",
        TODAY,
    )
    assert fields.district == "jinshan"
    assert fields.amount is None
    assert fields.claim == "突击检查"
    assert is_letter("匿名举报。1. 金山区朱泾镇某加工点无证生产豆制品；2. 地上污水横流，工人不戴手套；"
                     "3. 每天凌晨三点左右出货，送往附近菜场。恳请执法部门突击检查。")


def test_talking_to_a_person_in_the_middle_of_a_letter():
    fields = read_letter(
        "我在网上买的电热水壶漏电，被电了一下，申请退款卖家不理。这个事情说起来很复杂，"
        "能不能找个人跟我电话沟通一下？花了一百二十九元，我要求退款并赔偿。",
        TODAY,
    )
    assert fields.wants_human is True
    assert fields.amount == Decimal(129)
    assert fields.claim == "退款并赔偿"


def test_artificial_grass_is_not_a_person():
    fields = read_letter(
        "幼儿园操场铺的人工草坪味道刺鼻，孩子们回家都说头晕，我们家长怀疑材料不合格。"
        "希望你们抽检一下这批人工草皮。", TODAY
    )
    assert fields.wants_human is False
    assert fields.claim == "抽检一下这批人工草皮"


def test_a_watch_is_no_yuan_and_home_is_not_the_merchant():
    """"买了一块手表" is one watch, not 1 yuan; "家住静安区武定路" is the citizen's home."""
    fields = read_letter("您好，本人诸葛*，家住静安区武定路。2026.4.4在宏泰钟表店（新松江路店）买了一块手表，"
                         "回家就停了，店员不给退，要求退货退款。", datetime.date(2026, 12, 5))
    assert fields.amount is None
    assert fields.respondent_address is None
    assert fields.district == "songjiang"  # the branch's road (新松江路), not the home (静安区)
    assert fields.respondent_name == "宏泰钟表店（新松江路店）"


def test_money_kuai_is_still_money():
    fields = read_letter("我在乐活健身办了年卡花了三千块，没用几次就关门了，老板电话打不通，现在卡里还剩两千块，"
                         "要求退还剩余的钱，谢谢你们帮忙处理一下。", datetime.date(2026, 12, 5))
    assert fields.amount == Decimal("2000")


@pytest.mark.parametrize(("text", "expected"), [
    # the citizen's own demand beats the price and the total
    ("我在上海飞翔驾驶员培训有限公司报名，交了学费5800元（其中5000元学费，800元资料费），一直没上课，"
     "要求退还5000元学费，资料费不退我认。", "5000"),
    ("次卡办了50次2500元，游了18次，现在游泳馆不开了。剩余32次合计1600元，加上押金20元，共1620元，请帮我要回来。", "1620"),
    ("网上找了个搬家公司，报价全包600，钱先转给他了，结果人没来。现在找他退600块，他说不退。后来找的那家收了我800。", "600"),
    ("标价42800元，国庆优惠后成交价38000元，当天刷卡付清，另外收了搬运费300元，钢琴是翻新的，要求退货。", "38000"),
    # 退一赔三 is no amount; 86块5 is 86.5
    ("买的净化器1980元，主播说能除甲醛，检测根本没用，要求退一赔三。", "1980"),
    ("小票合计86.5元，回家发现三文鱼变质了，去退店员说不退，我就要求把这86块5退给我。", "86.5"),
])
def test_the_disputed_amount_of_a_letter(text, expected):
    assert str(read_letter(text, TODAY).amount) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the demand's sum sits in a later clause of the demand sentence, after other sums
        ("上月在一家家具店订了沙发，定金付了2000元，尾款6800元到货时付清。沙发到了发现颜色不对，店里已经扣了我300元运费。"
         "我要求解除合同，退还全部货款8800元。", Decimal("8800")),
        ("健身房每个月多扣我99元，已经扣了五个月，前台说是系统问题。我的要求是：把多扣的钱退给我，合计495元。", Decimal("495")),
        ("吃了他家的烧烤以后全家上吐下泻，一共花了180块。我要求按法律赔偿，每人最低1000，不接受只退饭钱。", Decimal("1000")),
        # no sum asked for in the demand sentence: the earlier cue stands
        ("买的电饭煲用了一周就坏了，花了459元。我要求换一台新的，不要维修。", Decimal("459")),
    ],
)
def test_the_demanded_sum_in_a_later_clause_of_the_demand(text, expected):
    assert read_letter(text, TODAY).amount == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the place written with the merchant's name beats places mentioned elsewhere in the letter
        ("我在上海贝贝乐母婴用品有限公司（长宁区天山路）订了婴儿床，付了2000元，后来店里说要搬去宝山，让我自己去宝山提货。"
         "我要求退还2000元。", "changning"),
        ("我投诉闵行区七宝老街里面的甜蜜蜜糖水铺，一碗糖水里吃出了头发。我是从松江特地过去的，要求退款。", "minhang"),
        ("被举报单位：上海顺达建材有限公司，金山区亭林镇\n该公司把过期的水泥重新装袋出售，已经运到了奉贤和松江的工地。", "jinshan"),
        # a street address stays the strongest evidence
        ("上周在杨浦区国权路38号的乐乐超市买了过期牛奶，我住在虹口。要求退一赔十。", "yangpu"),
    ],
)
def test_the_merchant_district_is_where_the_letter_places_the_merchant(text, expected):
    assert read_letter(text, TODAY).district == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a fraction or a percentage is no amount
        ("举报某网店卖假冒的运动鞋，价格只有正品的三分之一，做工很差，也没有吊牌。请依法查处。", None),
        ("培训机构说退费要扣30%的违约金，合同写的是开课前退费扣10%手续费，课程总价是12800元。我要求按合同退款。",
         Decimal("12800")),
        # a 万 in a name is no money; the sum stated later is
        ("上周在上海万家乐教育科技有限公司交了48课时的费用，现在机构搬走了，要求退费被拒绝。这件事涉及7200块。",
         Decimal("7200")),
    ],
)
def test_fractions_and_names_are_no_amounts(text, expected):
    assert read_letter(text, TODAY).amount == expected


def test_a_shop_by_the_citizens_home_is_in_the_home_district():
    text = ("我住在长宁区，小区门口有一家干洗店，我在那里办了张卡充了600块，上周去发现店关了，"
            "门上贴着转让，我的两件大衣还在里面。要求退还余额和衣服。")
    assert read_letter(text, TODAY).district == "changning"
    online = "我住在长宁区，在网上一家店买了双鞋，穿了两天就开胶，商家不给退，要求退款399元。"
    assert read_letter(online, TODAY).district is None


def test_what_should_be_refunded_beats_a_total_of_other_families():
    text = ("小海星游泳馆关门了，我们家长统计了一下有一百多个家庭，涉案金额估计有五六十万。"
            "我家剩余45次，按比例应该退4950元。")
    assert read_letter(text, TODAY).amount == Decimal("4950")


@pytest.mark.parametrize(("text", "expected"), [
    # the unused sessions of a package priced per session: what the citizen wants back
    ("在游泳馆给孩子买了一张50次的次卡，2500块，平均一次50元。到现在用了18次，还剩32次，馆关门了。", Decimal("1600")),
    ("买了40节私教课，每节300，一共12000元。上了15节以后教练离职了，工作室也关了。", Decimal("7500")),
    ("一次课两百块，报了20次课，上了5次机构就跑路了，家长们都很着急。", Decimal("3000")),
    # a balance stated in money, or a demand, wins over the arithmetic
    ("办了10次卡，每次200元，做了3次店就关了，卡里还有1500元，要求退还1500元。", Decimal("1500")),
    # a price per session without a count left is no sum to compute
    ("一节课一小时，每节课300元，我觉得太贵了，老师也不专业，要求退款。", Decimal("300")),
])
def test_unused_sessions_of_a_package(text, expected):
    assert read_letter(text, TODAY).amount == expected


@pytest.mark.parametrize(("text", "expected"), [
    # what is left (the balance, "合…") beats the total paid
    ("孩子在跆拳道馆学跆拳道，今年6月交了两年的学费，一共7,200元。11月底道馆不上课了。按合同算，剩余的课时费是4,080元。", Decimal("4080")),
    ("安亭的汽车服务中心卖给我一张保养套餐卡，4次保养1680元，我才做了一次。店面换成了饭店。卡里还剩3次，合1260元。请问怎么维权？", Decimal("1260")),
    ("买了私教课，一共30节，6,000元。上了8节老板就把工作室转了。我算了一下剩下22节，按200一节是4,400元，能不能帮忙追回？", Decimal("4400")),
    # what was bought, with its price right after it; a sale price, not the "original" one
    ("京东上SoundMax官方旗舰店买的降噪耳机899，收到第三天申请七天无理由，商家说已激活不给退。", Decimal("899")),
    ('双十一在悦居家纺旗舰店买了一套四件套，页面写"原价1599，狂欢价599"，其实一直就是599，要求退一赔三。', Decimal("599")),
])
def test_balances_and_prices(text, expected):
    assert read_letter(text, TODAY).amount == expected


@pytest.mark.parametrize(("text", "expected"), [
    # a correction or a precise figure after a rough one
    ("周浦万达里面那家 蓝鲸少儿游泳（周浦万达店） 关门了 群里说老板跑了 孩子还剩36节课 余额6480 不对 是6840 我刚看了app截图 怎么要回来", Decimal("6840")),
    ("三林上南路 Paws & Co宠物生活馆（三林店） 给狗洗澡办的卡 余额还有1300多 准确是1356 今天去门关了 店长微信不回", Decimal("1356")),
    # a sum of the listed items; a list of demands after a colon
    ("我的余额还有1,680元，另外当初交的保温箱押金50元也没退，合计1,730元。要求退还。此致敬礼", Decimal("1730")),
    ("一共付了13万4。楼下邻居的维修已经花了3,500，我家重新贴砖报价4,500，合计8,000元。要求：1.重新做防水并闭水验收；2.赔偿上面两项费用共8,000元。", Decimal("8000")),
    # the sum between 把 and the demand; a deposit named after the sum; a phone-typed demand
    ("店员说换原装屏要980，我就同意了。结果是组装屏，市场价两三百。要么给我换真正的原装屏，要么把980退给我。", Decimal("980")),
    ("在虹泉路一家蛋糕工作室订了生日蛋糕，付了300定金。提前5天说不要了，她说定金不退。要求退300定金。", Decimal("300")),
    ("订了崇明的房车营地 国庆两晚1680 出发前一天台风预警 轮渡停航 根本过不去 营地说不退 只能改期 要求全额退1680", Decimal("1680")),
    # "颜色不对" is no correction of an amount
    ("上月在一家家具店订了沙发，定金付了2000元，尾款6800元到货时付清。沙发到了发现颜色不对，店里已经扣了我300元运费。我要求解除合同，退还全部货款8800元。", Decimal("8800")),
])
def test_corrections_sums_and_phone_typed_demands(text, expected):
    assert read_letter(text, TODAY).amount == expected


@pytest.mark.parametrize(("text", "expected"), [
    # the refund asked for, not the compensation asked after it in the same clause
    ("在黄兴路的生鲜超市买的牛排178元，回家打开发臭了，是过期的。超市说给我换一块，我要求退款178元并按食品安全法赔偿一千元。", Decimal("178")),
    # a share or a discount is no sum
    ("我上周在网上买了一台扫地机器人3299，用了两次想退，商家说开封了要扣除30%的折旧费。我想问一下能不能七天无理由？", Decimal("3299")),
    # demands with 必须 / 全额 / 要退, the citizen's reckoning, 还差, 按 X 退还
    ("充了5千，理发一次打八折，用了两千左右，还剩3000整。上周去发现店已经换成奶茶店了，别的店不认。必须退我3000元。", Decimal("3000")),
    ("买了两张话剧票每张380，共760，剧场改期我去不了，他们说只能退票面的80%，608元，还要扣手续费。我要全额760。", Decimal("760")),
    ("合同价两万八，付了百分之九十，尾款2800没付。种的树死了一大半。我的诉求是：补种，并且把死掉那部分苗木的钱退回来，我算过是6,500元。", Decimal("6500")),
    ("请了月嫂，服务费一万六千八。干了11天就换了人。我要求按剩下15天的费用退回，15天合计9,692元，他们只退了2,492，还差7200元。", Decimal("7200")),
    ("价签写的车厘子29.9一斤，结账按59.8收的，店长承认标签错了但不退差价。我觉得这是价格欺诈，要求按59.8退还并赔偿。", Decimal("59.8")),
    # the sum right before 要求退 / 还没退; money in 万 before other words
    ("金山万达的亲子乐园，买了个398的年卡，第二次去就要我升级，我不想升级想退卡，他们不给退。我一共就去了一次，年卡398要求退。", Decimal("398")),
    ("我2024年一次性付了两年的英语课，两万四，今年10月中心搬迁后再也没开过。我上了差不多一年，剩余一年的费用一万二要求退还。", Decimal("12000")),
    ("去年办了洗车卡1500块洗50次，洗了10次，店关门了，还有一千二的钱没用掉，老板手机号也注销了。", Decimal("1200")),
])
def test_demanded_sums_written_many_ways(text, expected):
    assert read_letter(text, TODAY).amount == expected


def test_a_demand_to_the_bureau_to_make_the_shop_pay_back_beats_a_later_partial_offer():
    text = ("今年7月在一家旅行社报名了日本7日游，两个人一共交了团费17600元。团没有成行，旅行社答应全额退但一直没退。"
            "请贵局督促其尽快退还17600元。补充情况：门店经理说可以先退一万二，剩下的五千六要等日本那边退回来。")
    assert read_letter(text, TODAY).amount == Decimal("17600")
