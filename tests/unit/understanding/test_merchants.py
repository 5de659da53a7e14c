"""Merchants: names kept whole, in answers and inside sentences."""

from __future__ import annotations

import pytest

from xiaoan.understanding.merchants import find_merchant, is_generic_merchant, parse_merchant


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("上海某某电子商务有限公司", "上海某某电子商务有限公司"),
        ("某某大药房（某某路店）", "某某大药房（某某路店）"),
        ("某某大药房(某某路店)", "某某大药房(某某路店)"),
        ("老王水果店", "老王水果店"),
        ("乐活健身", "乐活健身"),
        ("星巴克", "星巴克"),
        ("淘宝上的XX旗舰店", "淘宝上的XX旗舰店"),  # the platform is a locator: kept
        ("京东自营", "京东自营"),
        ("小区门口那家水果店", "小区门口那家水果店"),
        ("商家叫乐活健身", "乐活健身"),
        ("店名是：百果园", "百果园"),
        ("名字叫美美美甲工作室", "美美美甲工作室"),
        ("被投诉的是上海某某餐饮管理有限公司。", "上海某某餐饮管理有限公司"),
        ("是星巴克", "星巴克"),
        ("叫一点点", "一点点"),
        ("就是全家便利店", "全家便利店"),
        ("嗯，好又多超市吧", "好又多超市"),
        ("KFC", "KFC"),
        ("7-11便利店", "7-11便利店"),
        ("上海***健身俱乐部", "上海***健身俱乐部"),
        ("上海某某教育科技有限公司徐汇分公司", "上海某某教育科技有限公司徐汇分公司"),
        ("  海底捞（港汇店）！", "海底捞（港汇店）"),
    ],
)
def test_parse_merchant_keeps_names_whole(text, expected):
    assert parse_merchant(text) == expected


@pytest.mark.parametrize(
    "text",
    ["商家", "老板", "店", "公司", "健身房", "超市", "那家店", "不知道", "不清楚", "忘了", "好的", "嗯",
     "不知道叫什么", "12345", "13812345678", "我要投诉", "转人工", "", None, "。。", "😀", "a" * 101,
     "它叫什么？"],
)
def test_parse_merchant_refuses(text):
    assert parse_merchant(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我在乐活健身办的卡，老板跑路了", "乐活健身"),
        ("上海某某电子商务有限公司卖假货", "上海某某电子商务有限公司"),
        ("在某某大药房（漕溪路店）买的药过期了", "某某大药房（漕溪路店）"),
        ("楼下一家叫老王水果的店卖过期食品", "老王水果"),
        ("淘宝上的XX旗舰店不发货", "XX旗舰店"),
        ("***健身俱乐部跑路了", "***健身俱乐部"),
        ("乐活健身房的老板跑了", "乐活健身房"),
        ("上海XX教育科技有限公司（徐汇分校）不退学费", "上海XX教育科技有限公司（徐汇分校）"),
        ("我在万达广场的海底捞火锅店吃饭", "海底捞火锅店"),
        ("商家名称是美美美甲工作室，在徐汇区", "美美美甲工作室"),
        ("去了那家店好几次", None),
        ("我在2楼的超市买的", None),
        ("跑了3家店都没有", None),
        ("今天天气不错", None),
        ("我想投诉", None),
        ("", None),
    ],
)
def test_find_merchant_inside_a_sentence(text, expected):
    assert find_merchant(text) == expected


def test_is_generic_merchant():
    assert is_generic_merchant("健身房") and is_generic_merchant("商家")
    assert not is_generic_merchant("乐活健身") and not is_generic_merchant("")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我在乐活健身办的卡，老板跑路了", "乐活健身"),
        ("我是在某某大药房（漕溪路店）买的", "某某大药房（漕溪路店）"),
        ("我家楼下那家超市", "我家楼下那家超市"),  # a locator description: whole
        ("我去过很多次，不记得了", None),
    ],
)
def test_parse_merchant_reads_a_sentence_for_the_name_inside(text, expected):
    assert parse_merchant(text) == expected


def test_a_long_answer_gives_the_registered_name_inside_it():
    from xiaoan.understanding.merchants import parse_merchant

    text = "本人于2026年9月在闵行区七莘路1888号的上海乐动体育健身有限公司办理了一张年卡"
    assert parse_merchant(text) == "上海乐动体育健身有限公司"
    assert parse_merchant("上海乐动体育健身有限公司（七莘路店）") == "上海乐动体育健身有限公司（七莘路店）"


@pytest.mark.parametrize("text,expected", [
    ("在百味洗衣办的洗衣储值卡，2026年5月4日去发现店没了", "百味洗衣"),
    ("我在上海益康健身管理有限公司充值办了私教课，现在店突然关门跑路", "上海益康健身管理有限公司"),
    ("在森林屋洗衣（涞亭南路店）办的洗衣会员卡，5月7号去发现店没了", "森林屋洗衣（涞亭南路店）"),
    ("本人于2026年9月在闵行区七莘路1888号的上海乐动体育健身有限公司办理了一张年卡", "上海乐动体育健身有限公司"),
    ("我在徐汇一家美容院办了五千块的卡", None),
    ("我在淘宝上买的衣服", None),
])
def test_find_merchant_in_letters(text, expected):
    from xiaoan.understanding.merchants import find_merchant

    assert find_merchant(text) == expected


# Shops without a sign are named by where they are; brackets holding an address are no branch.
@pytest.mark.parametrize(("text", "expected"), [
    ("我要举报金一东路150号的小饭店，地址在金山金一东路150号。", "金一东路150号的小饭店"),
    ("举报昌里路上的一家无招牌水果店卖烂水果", "昌里路上的一家无招牌水果店"),
    ("举报长寿路菜场门口的熟食店没有证", "长寿路菜场门口的熟食店"),
    ("我在小区门口的水果店买的", "小区门口的水果店"),
    ("现实名反映盈港东路23号的小饭店（地址：青浦盈港东路23号）的违法问题。", "盈港东路23号的小饭店"),
    ("我在鑫鑫水果店买的", "鑫鑫水果店"),
    ("在阿三面馆吃坏了肚子", "阿三面馆"),
    ("在橙果洗车店（嘉唐公路店）办的洗车年卡", "橙果洗车店（嘉唐公路店）"),
])
def test_unnamed_shops_and_address_brackets(text, expected):
    assert find_merchant(text) == expected


# Letters name the business in many ways; the most explicit one wins and is tidied.
@pytest.mark.parametrize(("text", "expected"), [
    # a registered name starts at its 上海, even after a place or a verb
    ("孩子去年通过上海博远留学服务有限公司（徐汇区某大厦12楼）办的申请，中介费三万", "上海博远留学服务有限公司"),
    ("运营方为上海安康养老服务有限公司，老人住了两个月", "上海安康养老服务有限公司"),
    ("闵行区莘庄镇上海青禾教育科技有限公司的课程一直没上", "上海青禾教育科技有限公司"),
    # a branch written without brackets gets them; a remark in brackets is dropped
    ("我在上海远行旅行社有限公司嘉定营业部报了团", "上海远行旅行社有限公司（嘉定营业部）"),
    ("上海晨光乐器有限公司（门头叫“晨光琴行”）卖的钢琴有问题", "上海晨光乐器有限公司"),
    ("上海美好口腔门诊部有限公司收费不透明", "上海美好口腔门诊部有限公司"),
    # the district, town or road written before a shop sign is not part of it
    ("奉贤区南桥镇福满多生鲜超市卖的鸡蛋是坏的", "福满多生鲜超市"),
    ("南京东路步行街飞跃运动专卖店的鞋开胶了", "飞跃运动专卖店"),
    ("青浦区朱家角阿福驾校的教练收红包", "阿福驾校"),
    # a quoted shop sign, and trades that end a sign
    ("松江的“金凤凰足浴”门头抄袭别人商标", "金凤凰足浴"),
    ("在网上搜到一个“速达家电服务”，上门修洗衣机乱收费", "速达家电服务"),
    ("宝山区月浦镇顺风自行车行卖的车架断了", "顺风自行车行"),
    ("虹口区凉城路上的雅丝美发沙龙换老板了", "雅丝美发沙龙"),
    # platforms, towns and phrases are no business
    ("京东第三方店铺星耀数码专营店卖的耳机是假的", "星耀数码专营店"),
    ("宝山区罗店镇金轮汽车美容养护中心换了老板", "金轮汽车美容养护中心"),
    ("在浦东新区花木路的悦颜美容养生会所前前后后充了三万", "悦颜美容养生会所"),
    ("举报杨浦区控江路上的如意便利店长期卖过期食品", "如意便利店"),
])
def test_letters_name_the_business_in_many_ways(text, expected):
    assert find_merchant(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("我要举报一二八纪念路134号的烟杂店，地址在宝山一二八纪念路134号。", "一二八纪念路134号的烟杂店"),
    ("上个月在小红书的老街坊小铺买了一件大衣", "老街坊小铺"),
    ("给孩子在新视界美术（西藏南路校区）报了一年的课程", "新视界美术（西藏南路校区）"),
])
def test_short_kinds_after_a_place_small_shops_and_campuses(text, expected):
    assert find_merchant(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a sign without a trade suffix after where the shop is, at the start of a clause
        ("闵行区莘庄镇蓝鲸少儿编程，老板跑路了，课时费退不了", "蓝鲸少儿编程"),
        ("七宝老街的糖人张记，卖的东西不干净，吃了拉肚子", "糖人张记"),
        ("长宁区天山路的巴黎贝甜面包，吃出了头发，要求退款", "巴黎贝甜面包"),
        ("我要投诉徐家汇那边的晴天小厨，菜里有虫子", "晴天小厨"),
        # a quoted shop name right after the platform it is on
        ("在拼多多上的“绿野仙踪生鲜”买了一箱橙子，全烂了，商家不退", "绿野仙踪生鲜"),
        # a place or a description in that position names nobody
        ("昨天去了南京东路的步行街，在一家店买了双鞋，回来发现是假的", None),
        ("五角场的万达广场，有个商家卖假货", None),
        # an unnamed stall is named by where it is, as unnamed shops are
        ("静安寺附近的一个小摊，卖的烤肠是过期的", "静安寺附近的一个小摊"),
        ("我在附近的厂上班，看到他们往食品里加工业明胶", None),
        ("菜市场有个摊位的秤有问题", None),
        ("上周在家附近的菜场，买到了注水肉", None),
        ("今天在地铁上的广告，说什么包治百病", None),
    ],
)
def test_a_sign_without_suffix_after_its_place(text, expected):
    assert find_merchant(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # trades whose word ends the sign, and branches that are sales offices or campuses
        ("3月在晨光全屋定制（七莘路店）订了衣柜，到现在没装", "晨光全屋定制（七莘路店）"),
        ("在顺心旅行社（长寿路门市部）报了团，团取消了不退钱", "顺心旅行社（长寿路门市部）"),
        ("孩子在启明美术中心（华漕镇路校区）上课，机构关门了", "启明美术中心（华漕镇路校区）"),
        ("在宏达汽修厂（沪太路店）办了保养卡，店没了", "宏达汽修厂（沪太路店）"),
        ("在淘宝小熊杂货小铺买的锅是坏的", "小熊杂货小铺"),
        ("沪南公路上的一家烧烤摊卖过期的肉", "沪南公路上的一家烧烤摊"),
        # a kind of works or stall with nothing to locate it names nobody
        ("盒子上印着一家外地的食品厂名字，其实是自己做的", None),
        ("举报隔壁无证经营的早餐摊", None),
    ],
)
def test_trades_branches_and_stalls(text, expected):
    assert find_merchant(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # more trades end a sign; Latin letters after a trade word belong to it
        ("我在静安区的蓝湾家具城买了一张床，送来是坏的", "蓝湾家具城"),
        ("在福佑路的老钟表行修表，修完三天就不走了", "老钟表行"),
        ("我在浦东的星光烘焙充了会员卡，店关了", "星光烘焙"),
        ("在五角场的甜心烘焙DIY上了两节课，店就关了", "甜心烘焙DIY"),
        # what the citizen did there, written right after the sign, is not part of it
        ("我在中山公园旁边的亮晶晶眼镜配了一副眼镜，度数不对", "亮晶晶眼镜"),
        ("在七宝镇的开心玩具城给女儿买了个娃娃，掉色很厉害", "开心玩具城"),
        # the sign on the door, the payee on a receipt, the member's own shop
        ("小区门口有家店，招牌上写着阿强电动车，卖的电池没有3C认证", "阿强电动车"),
        ("师傅上门修了冰箱，收据抬头是上海快捷家电维修服务部，收了我800块", "上海快捷家电维修服务部"),
        ("我是长风公园附近发艺空间造型的老会员，卡里还有2000块", "发艺空间造型"),
        # a product in quotes, a status, a verb and its place, the citizen himself: no names
        ("我办了一个“尊享VIP会员”，19800元，说好的服务都没有", None),
        ("我是曹杨新村的老太太，想问问退休金的事", None),
        ("有人在小区里无照做美容，用的东西来路不明", None),
    ],
)
def test_signs_cues_and_what_is_no_sign(text, expected):
    assert find_merchant(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # a mall is the business when nothing inside it is named
    ("反映一个安全隐患：徐汇区的云景广场，B1到1楼的自动扶梯突然急停，好几个人摔倒", "云景广场"),
    ("上周末去普陀区的金鼎商业广场停车，公示牌写每小时10元，结果收了15元", "金鼎商业广场"),
    ("在万达广场的优衣库买的衣服，洗一次就缩水", "优衣库"),
    ("五角场的万达广场，有个商家卖假货", None),
    ("我在人民广场买了个包是假的", None),
    # the sign right after the street it is on, before what was bought there
    ("天山路上踏云鞋履买的一双皮鞋，599元，穿了两个礼拜鞋底就开胶了", "踏云鞋履"),
    ("我在淮海中路上老凤祥买的金项链，是假的", "老凤祥"),
    ("南京路上人很多，挤死了", None),
    ("在衡山路上吃了顿饭，很难吃，", None),
])
def test_malls_and_signs_on_a_street(text, expected):
    assert find_merchant(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # a quoted name where the business stands: after a place and 的, after 在, before a trade word
    ('我在黄浦区豫园旁边的"御茗轩茶庄"买茶叶，价签写68元，结账按两算', "御茗轩茶庄"),
    ('浦东康桥镇秀沿路上的"鸿运电动车"门店里卖的头盔没有3C标志', "鸿运电动车"),
    ('11月5日在"上岸帮APP"上买了一个网课，2,980元，说好7天无理由退款', "上岸帮APP"),
    ('11月20日在普陀区曹杨路的"萌宠之家"宠物店买了一只柯基，4,200元', "萌宠之家"),
    # a quote holding a product, a slogan or what someone said is no business
    ('举报杨浦区控江路上的康宁大药房（控江路店）。门口宣传一款叫"糖立消"的固体饮料', "康宁大药房（控江路店）"),
    ('我买了“全年无限次”早教课程，结果排课越来越少', None),
    ('商家说"处理中"，一直没有结果，淘宝上LULU STUDIO女装店买的大衣', "LULU STUDIO女装店"),
    ("我觉得商家是虚假宣传，在松江车墩的梦舒床垫（车墩店）买的", "梦舒床垫（车墩店）"),
    # Latin names across spaces, Latin signs, APPs, a count before the name, a branch at a town
    ("昨晚在新天地的Bistro Ciel（新天地店）吃饭，账单上多了服务费", "Bistro Ciel（新天地店）"),
    ("我在静安嘉里中心B1的Bellacasa Home买了一台咖啡机，用了9天就坏了", "Bellacasa Home"),
    ("青浦赵巷奥特莱斯里有一家叫FOREST & CO的服装店，卖的是假货", "FOREST & CO"),
    ("孩子在智学星APP开了个会员，到期自动续费扣了298块", "智学星APP"),
    ("在美团上买了两张蜀香阁火锅（松江新城店）的双人套餐券", "蜀香阁火锅（松江新城店）"),
    ("今年8月在绿驹电动车（堡镇店）给电瓶车换了一组电池", "绿驹电动车（堡镇店）"),
    ("请的是上海冷暖通空调安装服务部，装完空调收了我一千多", "上海冷暖通空调安装服务部"),
    ("在环湖西二路的滴水湖畔汽车美容办了洗车卡，店关了", "滴水湖畔汽车美容"),
    ("我10月在宝山共康路的国通电器（共康路店）买了一台滚筒洗衣机，漏水", "国通电器（共康路店）"),
    # the person who runs an unnamed business, and a sign before an event
    ("老西门附近一家没有招牌的裁缝铺，老板叫周建国，收了定金不做衣服", "周建国"),
    ("松江泗泾的乐思少儿英语人去楼空了，孩子还有三千二的课没上", "乐思少儿英语"),
    ("店里包装上写着本店自制，其实是批发来的", None),
])
def test_quoted_latin_and_app_names(text, expected):
    assert find_merchant(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # a cue after a pause, with a space, or for the shop's own name
    ("小区门口有家洗衣店 叫洁净坊洗衣（大场店） 去年冬天老板讲充一千送两百", "洁净坊洗衣（大场店）"),
    ("静安区西康路上有一家英语培训机构，名字叫 Bright Future English光明未来英语，到处发传单", "Bright Future English光明未来英语"),
    ("找的是航头镇上的一家搬家公司，叫顺心搬家。工人把冰箱放倒了", "顺心搬家"),
    # a person working there is not the business
    ("上周六在长寿路的MAX造型（长寿路店）染头发，发型师叫Kevin，染出来是绿的", "MAX造型（长寿路店）"),
    ("新天地那边的 Vintage Lux中古店（新天地店） 上个月买了个二手包 店员的名字叫Lily", "Vintage Lux中古店（新天地店）"),
    # the person who runs it, also in Latin letters
    ("举报一个叫Li Na的人 在朋友圈拉人交2980成为会员", "Li Na"),
    ("松江车墩镇菜场 卖猪肉的那个个体户 叫陈建国 他家的肉注过水", "陈建国"),
    # Latin signs after a shop word or a platform, an accent, a later bare mention
    ("Hi 我想举报一家店 GreenLeaf Organic Store 在长宁古北水城南路 卖的蔬菜假冒有机", "GreenLeaf Organic Store"),
    ("在网上Moonstone Studio这家店买了两件大衣，申请七天无理由退货", "Moonstone Studio"),
    ("双十一在网上Lumière官方旗舰店买了一套香薰礼盒", "Lumière官方旗舰店"),
    ("我在嘉定南翔的蜀香阁火锅（南翔店）充值了会员卡。我的卡上印的就是“蜀香阁火锅”", "蜀香阁火锅（南翔店）"),
    # a place word that starts a sign written after 的 is the sign's own; 乡 in a sign is no town
    ("宝山通河路上的宝山万家荟购物中心 一楼到二楼那部自动扶梯经常突然停住", "宝山万家荟购物中心"),
    ("网上山野乡味特产店买的腊肠 包装上没有生产日期", "山野乡味特产店"),
    ("泰和路汤泉阁浴场 关门了 阿拉充的卡还有1千6", "汤泉阁浴场"),
    # the activity after a name, and promises and judgements in quotes, are not part of it
    ("孩子在大宁那边的Dance Queen舞蹈工作室学舞蹈 办的课包还剩23节", "Dance Queen舞蹈工作室"),
    ('五角场合生汇5楼的小森林亲子乐园（五角场合生汇店）突然闭店 店员说卡可以在"全国门店通用"', "小森林亲子乐园（五角场合生汇店）"),
    ('奉贤南桥的星光KTV（南桥店） 结账多收了两笔 320是一个"果盘"', "星光KTV（南桥店）"),
])
def test_cues_people_and_signs_written_many_ways(text, expected):
    assert find_merchant(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("今年9月在沐光围棋（东江湾路校区）交了48节课的费用，现在机构说搬走了", "沐光围棋（东江湾路校区）"),
    ("反映友谊路上的一家无招牌烟杂店（地址：宝山区友谊路29号）。友谊路上的一家无招牌烟杂店是无证经营",
     "友谊路上的一家无招牌烟杂店"),
])
def test_campus_branches_payments_and_shops_without_a_sign(text, expected):
    assert find_merchant(text) == expected


@pytest.mark.parametrize("text", ["算了不弄了", "不填了", "我不投诉了", "继续填写", "接着填", "放弃"])
def test_steering_the_form_is_no_merchant(text):
    assert parse_merchant(text) is None


@pytest.mark.parametrize(("text", "expected"), [
    # trade words that end a sign: 民宿, 铺, 教育, KTV, SPA, 棋牌室
    ("五一在朱家角的水乡人家民宿订了三晚，老板临时说房间漏水不让住", "水乡人家民宿"),
    ("闵行吴泾那边的老赵馄饨铺 碗筷从来不消毒", "老赵馄饨铺"),
    ("给女儿在鼎新教育报了暑期班 交了6800 开课一周就不上了", "鼎新教育"),
    ("嘉定的欢乐颂KTV 包厢里的麦克风坏了还算我们的钱", "欢乐颂KTV"),
    ("在静安的月光SPA买了十次卡 才做了两次店就搬走了", "月光SPA"),
    ("小区底下开了个麻将馆叫好彩头棋牌室，天天吵到半夜", "好彩头棋牌室"),
    # a sewing shop without a sign and its owner: the owner, not "裁缝铺"
    ("我在路边一家没有招牌的修鞋铺修了双皮靴，老板叫王德发，鞋跟修完第二天就掉了", "王德发"),
])
def test_more_trade_words_end_a_sign(text, expected):
    assert find_merchant(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # the channel glued after a name is not the business's name
    ("在青禾书店小程序下单了三本书，付了168元一直没发货", "青禾书店"),
    ("我在星辰健身app上续了年卡，结果门店第二天就关了", "星辰健身"),
    ("在暖阳女装直播间买的羊毛衫，收到是化纤的", "暖阳女装"),
    ("在百联的雅居卫浴专柜订了一个马桶，交了2000定金", "雅居卫浴"),
    # an app known only by its own name keeps the word
    ("在快乐租车app上租了辆车，押金3000一直不退", "快乐租车app"),
    # a quoted name is the citizen's own writing: kept whole
    ("举报一个叫“好物优选直播间”的账号，卖假冒的名牌包", "好物优选直播间"),
])
def test_channel_words_glued_after_a_name(text, expected):
    assert find_merchant(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # ASCII single quotes hold a name; an apostrophe inside Latin words does not
    ("在拼多多店'优品生活馆'买了一台空气炸锅 用了两天就坏了", "优品生活馆"),
    ("在微信小程序\"学霸通\"报了一门网课 付了999", "学霸通"),
    # a bracket that says where the shop is is a remark, not a branch; a branch is kept
    ("我要投诉上海美颜美容有限公司（松江万达后面那条路上的门店），卡里还有4000", "上海美颜美容有限公司"),
    ("我在上海美颜美容有限公司（万达店）充了4000", "上海美颜美容有限公司（万达店）"),
    # a district and its town written before a sign; a resort keeps its scenic place
    ("金山朱泾小丫头美甲关门了 卡里还有800", "小丫头美甲"),
    ("在网上订了青浦朱家角水韵度假酒店两晚 到了说没房", "朱家角水韵度假酒店"),
    # "有个叫X的店", and a 叫 that calls a person is no name
    ("抖音上有个叫阿花特产铺子的店 卖的蜂蜜是糖浆兑的", "阿花特产铺子"),
    ("在老街小面馆（七宝店）吃饭，吃出一只虫子，叫服务员来看，她说是香菜", "老街小面馆（七宝店）"),
    # a business near a mall is not the mall
    ("举报七宝万科广场旁边的康乐保健，天天拉老人去听课卖保健品", "康乐保健"),
])
def test_quotes_remarks_places_and_cues(text, expected):
    assert find_merchant(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # a sign without a trade word after "<place>的" or "<platform>上的", ended by a space, a comma or a verb
    ("静安寺那边新开的云朵甜品 标价和结账价格不一样", "云朵甜品"),
    ("饿了么上的老妈家常菜，送来的饭是馊的", "老妈家常菜"),
    ("美团上的辣妹子川味点的外卖，里面有头发", "辣妹子川味"),
    ("古北的小橡树双语，开学前说好的外教一直没来", "小橡树双语"),
    ("闵行七宝的糖果盒子 充了1000 现在人去楼空", "糖果盒子"),
    ("徐汇滨江的Tea&Me，充值卡用不了了", "Tea&Me"),
    # a store introduced by its platform, the sign running to what was done there
    ("快手直播间阿强的好货买了一箱橙子 一半是烂的", "阿强的好货"),
    ("淘宝店清风竹语定做的竹帘，尺寸不对不给退", "清风竹语"),
    # "那边有家X，"
    ("虹口四川北路那边有家大力按摩，我做了一次就被推销办卡", "大力按摩"),
])
def test_signs_placed_without_a_trade_word(text, expected):
    assert find_merchant(text) == expected


@pytest.mark.parametrize("text", [
    "我朋友的小孩 在学校被欺负了",  # a person before 的, no place
    "昨天的事情，我想了很久",
])
def test_no_sign_from_a_sentence_about_nobody(text):
    assert find_merchant(text) is None


@pytest.mark.parametrize(("text", "expected"), [
    # "<place>那家X" at the end of a short message
    ("蛋糕是过期的 店员还不承认 七宝那家甜心烘焙坊", "甜心烘焙坊"),
    ("奶茶里有虫子 老板不管 徐家汇那家茶语时光", "茶语时光"),
    # a place word that starts a sign after 的 stays, also when the letter said where the shop paid
    ("我在浦东新区川沙镇华夏东路的川沙百家福超市（华夏店）买了一盒过期牛奶", "川沙百家福超市（华夏店）"),
    # a shop run from home: not "家里开…"
    ("楼下邻居在家里开了个小美美甲工作室 没有执照", "小美美甲工作室"),
    ("有人在家里开花开富贵花艺工作室 卖的花都是假的", "花开富贵花艺工作室"),
])
def test_signs_after_that_shop_and_at_home(text, expected):
    assert find_merchant(text) == expected


def test_an_estate_is_no_district_before_a_sign():
    # "小区" ends like a district, but "小区里很多阿姨都去" names no shop
    assert find_merchant("卖的都是三无产品 小区里很多阿姨都去 请查一查") is None


@pytest.mark.parametrize(("text", "expected"), [
    # a Latin sign with its trade written after it, or with the channel after it
    ("静安嘉里中心的Blue Harbor男装买的西装 穿了一次就开线", "Blue Harbor男装"),
    ("在Maple Home官网买了一张餐桌 到货桌腿是歪的", "Maple Home"),
    ("在Sunny Kids小程序报了夏令营 临时取消不退钱", "Sunny Kids"),
    ("在Moon Light女装店买了件外套", "Moon Light女装店"),  # a suffix after the trade: the whole sign
    # an app that names itself before 这个app
    ("学而优1对1这个app 充的课时费2000 现在打不开了", "学而优1对1"),
    # the service done, written after a name with its trade, is not part of it
    ("在闵行的洁亮汽车美容洗车，车门被划了一道", "洁亮汽车美容"),
    ("在飞速汽车服务中心维修，换的零件是旧的", "飞速汽车服务中心"),
    ("在亮亮洗车，车漆被刷花了", "亮亮洗车"),  # no trade before it: the wash is the sign
])
def test_latin_signs_apps_and_services_after_a_name(text, expected):
    assert find_merchant(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # trades: 烟酒行, 音乐厅, 影城, 家政服务 (and 家政服务部 still whole)
    ("杨浦区控江路老陈烟酒行卖假五粮液", "老陈烟酒行"),
    ("星空音乐厅的音乐会延期了 两张票680还没退", "星空音乐厅"),
    ("在万家乐家政服务那里买了十次保洁，阿姨只来了三次", "万家乐家政服务"),
    ("在安心家政服务部请的阿姨，干了一天就走了", "安心家政服务部"),
    # a town whose first character is a stop word when reading leftwards (向, 和)
    ("崇明向化镇阿福小卖部卖过期零食", "阿福小卖部"),
    # 到家 inside a sign; 送到 before one is a verb
    ("在美味到家生鲜超市买的鸡蛋一半是坏的", "美味到家生鲜超市"),
    # a count inside a quoted name is the name's own
    ('商家"五只羊羊毛衫"说不退不换', "五只羊羊毛衫"),
    # sentence words before a trade word are no sign ("结果诊所关了")
    ("在那边做了半年牙套，结果诊所关了", None),
])
def test_trades_towns_and_sentence_words(text, expected):
    assert find_merchant(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # "<platform>上X这家店", "店名写的是 X"
    ("拼多多上青山茶舍这家店买的茶叶 泡出来全是茶梗", "青山茶舍"),
    ("收据上的店名写的是 Nordic Wood北欧家具 老板姓刘", "Nordic Wood北欧家具"),
    # a quoted phrase about where an order went is no business
    ('他们说已经"发到工厂"了 定金不能退 收据上店名写的是 木之语家居', "木之语家居"),
])
def test_this_shop_and_the_name_written_on_a_receipt(text, expected):
    assert find_merchant(text) == expected


@pytest.mark.parametrize("text", [
    "闵行的同事说 这种情况可以投诉",  # a person who said something, after a place
    "浦东的老房子 物业费太贵了",
])
def test_people_and_houses_after_a_place_are_no_sign(text):
    assert find_merchant(text) is None


@pytest.mark.parametrize(("text", "expected"), [
    # a playful sign with one 得/呀, its left end said by 在/的
    ("在跑得快电动车行买的电瓶 一个月就鼓包了", "跑得快电动车行"),
    ("在乐呀亲子乐园办的年卡 才去了两次就关门了", "乐呀亲子乐园"),
    # but sentence words with 得 are no sign, and "开了家店" names nobody
    ("我在觉得不错的店里买了一双鞋", None),
    ("在看得见的地方开了家店", None),
])
def test_playful_signs_and_sentence_words(text, expected):
    assert find_merchant(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # a sign right before its bracketed branch needs no trade suffix, and may hold 和/现
    ("长宁天山的美和佳超市（天山店）把过期面包又贴了新标签在卖", "美和佳超市（天山店）"),
    ("投诉宝山顾村的悦橙鲜果（顾村店），秤有问题", "悦橙鲜果（顾村店）"),
    ("普陀长风的现烤时光面包（长风店）卖的蛋糕吃坏了肚子", "现烤时光面包（长风店）"),
    ("徐汇衡山路那边的Mint Lab（衡山路店）办了卡就关门", "Mint Lab（衡山路店）"),
    ("宜山路建材市场里面的安居门窗（宜山路卖场）定的窗一直不装", "安居门窗（宜山路卖场）"),
    # the branch's place written again before the sign is where it is, not the name
    ("嘉定江桥万达星跃蹦床（江桥万达店）关门了，年卡还有大半年", "星跃蹦床（江桥万达店）"),
    # but a sign that is only a kind of shop after that place keeps it
    ("闵行七宝万达影城（七宝万达店）的会员卡不能用了", "万达影城（七宝万达店）"),
    # a sentence before a bracket is no sign
    ("我上个月去了好几次（周末），都说没货", None),
    # a mall's branch with a shop inside it after: the shop
    ("在百联又一城（五角场店）三楼的优衣库买了衣服", "优衣库"),
    ("在万达广场（宝山店）的老码头火锅吃饭，吃出虫子", "老码头火锅"),
])
def test_a_sign_before_its_bracketed_branch(text, expected):
    assert find_merchant(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # Shanghainese: 有爿 ("there is a shop") starts the sign; 叫阿拉/叫侬 is asking someone, not a name
    ("阿拉弄堂口有爿红梅裁缝铺（曹杨店），衣裳改坏脱了。阿拉眼睛不好，叫阿拉囡囡帮阿拉写的", "红梅裁缝铺（曹杨店）"),
    ("伊讲好三天做好，后来又讲等，叫阿拉孙女打电话也不接", None),
])
def test_shanghainese_openings(text, expected):
    assert find_merchant(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # a market stall or booth is named by its market and number; the district before it is where
    ("举报浦东新区三林菜场25号猪肉摊卖注水肉，一斤肉回家放一晚上全是水", "三林菜场25号猪肉摊"),
    ("在曹安路轻纺市场3楼208号档口买的窗帘布，一洗就褪色", "曹安路轻纺市场3楼208号档口"),
    ("宝山区通河新村菜市场A12号摊位的秤少了二两", "通河新村菜市场A12号摊位"),
    # a number that is no stall's
    ("我们这边的市场，18号那天摊位都没开", None),
    ("万达广场3号楼下的商铺在装修，噪音很大", None),
])
def test_market_stalls_and_booths(text, expected):
    assert find_merchant(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # a trade written after a sign that ends in a trade word is the sign's own
    ("外卖点的蜀味坊冒菜送到已经凉透了，商家不肯退", "蜀味坊冒菜"),
    ("在晴天美甲纹绣做的眉毛两边不一样高", "晴天美甲纹绣"),
    ("长寿路上的渔家小馆烤鱼 吃出来一根钢丝", "渔家小馆烤鱼"),
    # but not a dish ordered there or eaten, nor after a name ending in 店
    ("在蜀味坊点了一份冒菜，吃出虫子", "蜀味坊"),
    ("渔家小馆烤鱼里吃出一根钢丝", "渔家小馆"),
    ("老街小吃店麻辣烫太咸了", "老街小吃店"),
])
def test_trades_written_after_a_sign(text, expected):
    assert find_merchant(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # a named place written before 对面的/旁边的 is a landmark, the shop comes after it
    ("青浦华新镇华腾路上学校对面的明明文具店卖三无零食", "明明文具店"),
    ("七宝老街停车场隔壁的阿强水果店秤不准", "阿强水果店"),
    ("嘉定区图书馆旁边的阿德五金店卖的插座一插就冒烟", "阿德五金店"),
])
def test_landmarks_before_the_shop(text, expected):
    assert find_merchant(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # "这个是“…”" says what a thing is; the store on the platform is the business
    ("我在天猫上云眠家纺专营店买的蚕丝被，客服说这个是“工厂直发款”不能退", "云眠家纺专营店"),
    ("拼多多上一家优品数码专营店卖的耳机是假的，他们说那个是“海外版”", "优品数码专营店"),
    # a quoted name after 一个/这个 is still one
    ("楼下开了一个“阿香小厨”，卫生很差", "阿香小厨"),
])
def test_what_a_thing_is_called_is_no_shop(text, expected):
    assert find_merchant(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # 寄卖行/典当行 and other 行 trades, whose 卖/当 is no sentence word
    ("我在徐汇区肇嘉浜路的金诚名表寄卖行买的表，拿去检测说是翻新的", "金诚名表寄卖行"),
    ("在恒通典当行当了一条金项链，赎回来发现分量不对", "恒通典当行"),
    # delivery points of milk or groceries
    ("嘉定南翔的南翔鲜奶订送点，订了半年鲜奶只送了两个月", "南翔鲜奶订送点"),
    ("小区门口的优鲜自提点关门了，预付的菜钱没退", "优鲜自提点"),
    ("那个奶站说不做了", None),
])
def test_trades_ending_in_hang_and_delivery_points(text, expected):
    assert find_merchant(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # where a meal was eaten is the restaurant, as where something was bought is the shop
    ("国庆在枫泾古镇的状元楼吃饭，一盘河虾收了三百八", "状元楼"),
    ("我们在老码头的福禄阁聚餐，菜单上没标价", "福禄阁"),
    # someone's home is no restaurant
    ("上周在朋友家吃饭，吃了他从菜场买的熟食拉肚子", None),
])
def test_where_a_meal_was_eaten(text, expected):
    assert find_merchant(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # a platform masked with 某 is the business when nothing else is named
    ("用某团外卖平台点的同一份餐，我的手机比我老婆的贵五块", "某团外卖平台"),
    ("在某宝平台上买了会员，自动续费关不掉", "某宝平台"),
    # a shop on it wins, and a masked kind of platform names nobody
    ("在某团外卖平台上的老王面馆点的炒面吃出了钢丝球", "老王面馆"),
    ("在某外卖平台点的奶茶洒了一半", None),
])
def test_masked_platforms(text, expected):
    assert find_merchant(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # a branch written bare after a shop's sign is bracketed, as citizens and the register write it
    ("小杨生煎黄河路店的生煎里有根头发", "小杨生煎（黄河路店）"),
    ("快乐星球早教徐家汇店关门了，课还有三十节", "快乐星球早教（徐家汇店）"),
    ("我在阿福烧腊中山公园店买的叉烧是馊的", "阿福烧腊（中山公园店）"),
    ("悦动瑜伽龙华广场店跑路了", "悦动瑜伽（龙华广场店）"),
    # a sign ending in 店 with no place in it stays whole
    ("在阿大葱油饼店买的饼有股哈喇味", "阿大葱油饼店"),
    ("在全家便利店买的饭团过期了", "全家便利店"),
])
def test_a_bare_branch_after_a_sign_is_bracketed(text, expected):
    assert find_merchant(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # a channel word starting a sentence is no sign ("app打不开小程序也下架了")
    ("宝山大华的优选鲜蔬配送，充了一千，现在app打不开小程序也下架了", "优选鲜蔬配送"),
    ("现在小程序登不上公众号也不更新了", None),
])
def test_a_channel_starting_a_sentence_is_no_sign(text, expected):
    assert find_merchant(text) == expected
