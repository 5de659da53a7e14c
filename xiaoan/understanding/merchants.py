"""Merchant names: a whole answer to "商家名称?" or the business named in a sentence or letter.

- :func:`parse_merchant` — the answer, kept WHOLE, without answer prefixes ("店名是…")
- :func:`find_merchant` — the business named inside a message, or None when unsure
- :func:`is_generic_merchant` — a bare kind of business ("商家", "健身房") that names nobody

Rules, and why:

- Never trim a name from the left or drop its parts: "上海某某电子商务有限公司" and
  "某某大药房（某某路店）" identify a business only whole; the bureau looks the name up in the
  register, and the branch in brackets tells it which shop.
- A locator is part of an answer ("小区门口那家水果店", "淘宝上的XX旗舰店"): a citizen who does
  not know the registered name describes the shop, and the description is what lets staff find
  it. The platform in "淘宝上的XX旗舰店" is kept for the same reason (a store name alone is not
  unique across platforms); the form records the platform separately as well.
- Masking people type ("某某", "***", "XX", "××") is kept: it is how citizens and letters
  anonymise, and the rest of the name still helps.
- Inside a sentence, a name is found from its suffix (有限公司, 店, 健身 ...) and widened leftwards
  over the characters of the name, stopping at words that end a name when reading leftwards
  (在, 的, 到, 跟, 被, 一家, 这家, 叫 ...): "我在乐活健身办的卡" -> "乐活健身".
- A sign without a trade word is taken only where its place says it is one: after a place or a
  platform and 的 ("美团上的某某小厨，"), after a platform's store or live room, after 有家/那家,
  before 这家店/这个app, ended by a comma, a space or what was done there.
- The channel glued after a name is not the name ("某某票务小程序", "某某健身app", "某某专柜"),
  except an app known only by itself ("某某出行app") or a name the citizen quoted whole.
- A bracketed branch ends a sign, with or without a trade word ("…的大润和超市（莘庄店）"); a branch
  written bare after a sign is bracketed ("某某绘本馆五角场店" -> "某某绘本馆（五角场店）").
- A market stall is named by its market and number ("某某路菜市场18号水产摊"); a platform masked
  with 某 ("某饿了外卖平台") only when no shop is named.
"""

from __future__ import annotations

import re

from xiaoan.understanding.names import is_non_answer
from xiaoan.understanding.text import nfkc_keep_brackets, strip_affixes

MAX_MERCHANT_CHARS = 100  # an answer longer than this is a story, not a name
_MAX_FOUND_CHARS = 30  # how far a name found in a sentence may widen leftwards

# Kinds of business that name nobody on their own (the one list: the forms' entity fallback uses it too).
GENERIC_MERCHANT_WORDS = frozenset(
    "商家 老板 店 店家 店铺 门店 网店 小店 商店 公司 企业 单位 商场 超市 饭店 餐厅 餐馆 饭馆 健身 健身房 健身馆 健身中心 "
    "美容 美容院 美发 美发店 理发店 培训 培训机构 培训班 早教 早教中心 机构 学校 药店 药房 旅行社 酒店 宾馆 4S店 "
    "快递 平台 卖家 商户 摊贩 小贩 摊位 卖菜的 菜场 菜市场 便利店 水果店 服装店 奶茶店 网吧 商城 旗舰店 专卖店 "
    "他们 他家 这家 那家 这家店 那家店 这个店 那个店 这个商家 那个商家 这个公司 那个公司 对方 淘宝 京东 拼多多 "
    "天猫 抖音 美团 饿了么 闲鱼 网上 线上 商家名称 店名 不知道名字 新店 老店 分店 门店 总店 实体店 第三方店 第三方 "
    "房屋 里屋 外屋 小屋 酒家 人家 摄影 维修 烧烤 火锅 小吃 洗车 美发 美甲 推拿 瑜伽 "
    "厂 工厂 厂家 厂里 摊 摊子 小摊 地摊 家具 家居 定制 全屋定制 钢琴 营业厅 门市部 表行 排档 大排档 造型 听力 通讯 数码 "
    "装饰 美体 理发 烘焙 游乐场 加油站 配送站 家具城 玩具城 数码城 建材城 电器城 灯具城 装修公司 中介公司 物业公司 快递公司 "
    "家政公司 培训公司 手机店 眼镜店 网红店 航空公司 本店 本公司 该店 该公司 我店 我司 民宿 棋牌室 教育 KTV SPA 铺".split()
)

# Fillers before the answer; 好/那个 only with a pause after them ("好又多超市" is a name).
_FILLER_RE = re.compile(r"^(?:(?:嗯+|哦+|噢+|呃+|额+)[，,、\s]*|(?:那个|好的?)[，,、\s]+)+")
_PREFIX_RE = re.compile(
    r"^(?:被投诉的?(?:商家|公司|店)?(?:是|叫)|被举报的?(?:商家|公司|店)?(?:是|叫)|(?:商家|商户|公司|店铺|店)(?:的)?(?:名称|名字)?(?:叫做?|是|为|:|：)|"
    r"店名(?:叫|是|为|:|：)?|(?:名字|名称)(?:叫|是|为|:|：)|他们(?:家)?叫|它家叫|他家叫|那家(?:店)?叫|这家(?:店)?叫|"
    r"叫做?|就是|是)\s*"
)
_TRAIL_RE = re.compile(r"(?:吧|啊|呀|呢|的样子|好像是|应该是)$")
_TRIM = " \t\r\n。.！!？?，,、；;：:~～…\"'“”‘’「」"
# Replies that say "I don't know the name" in so many words.
_UNKNOWN_RE = re.compile(r"^(?:我?(?:也)?(?:不知道|不清楚|不记得|记不清|忘了|忘记了|不晓得)(?:了|啊|呀)?(?:叫什么|名字|店名|商家名)?(?:了|啊)?|没注意|没看到|没看清)$")
# A reply that is a request or a question, not a name: the form should let the dialogue act.
_NOT_A_NAME_RE = re.compile(r"^(?:我|本人)?(?:要|想|需要)?(?:投诉|举报|取消|转人工|人工|客服)|人工|客服|什么|[?？吗]$|^为什么|^怎么")

# Clause punctuation inside, or "我在/我去 ..." at the start: the reply tells a story.
_SENTENCE_RE = re.compile(r"[，,。；;！!]|^(?:我|我们|本人)(?:是在|之前在|在|去|从|买|办)")




def is_generic_merchant(text: str | None) -> bool:
    """Whether `text` is only a kind of business ("商家", "健身房", "那家店"), naming nobody."""
    return bool(text) and re.sub(r"\s+", "", str(text)) in GENERIC_MERCHANT_WORDS


#: Answers longer than this are searched for the name inside them.
LONG_ANSWER_CHARS = 20


def parse_merchant(text: str | None) -> str | None:
    """The merchant named in a whole answer to "被投诉的商家叫什么?", kept whole.

    Strips answer prefixes (商家叫/店名是/名字叫/被投诉的是/是/叫/就是), fillers and trailing
    punctuation; keeps bracketed branches, locators and masking.

    Args:
        text: The reply.

    Returns:
        The name, or None for a bare kind of business (商家, 健身房 ...), a non-answer
        (不知道, 好的 ...), digits only, a request (我要投诉) or more than 100 characters.
    """
    if not text:
        return None
    plain = nfkc_keep_brackets(str(text)).strip().strip(_TRIM)
    if not plain or len(plain) > MAX_MERCHANT_CHARS or is_non_answer(plain):
        return None
    if re.search(r"[?？]\s*$", str(text)):  # a question back ("叫什么？"), not a name
        return None
    plain = strip_affixes(plain, trim=_TRIM, fillers=_FILLER_RE, prefixes=_PREFIX_RE, trailers=_TRAIL_RE)
    if not plain or is_non_answer(plain) or _UNKNOWN_RE.match(plain) or _NOT_A_NAME_RE.search(plain):
        return None
    if is_generic_merchant(plain):
        return None
    # A sentence rather than a name ("我在乐活健身办的卡，老板跑路了"): only the name inside it.
    if _SENTENCE_RE.search(plain):
        return find_merchant(plain)
    if not re.search(r"[A-Za-z\u3400-\u9fff]", plain):  # digits, signs or emoji only
        return None
    if re.fullmatch(r"[\d\s\-+()]{7,}", plain):  # a phone number
        return None
    if len(plain) > LONG_ANSWER_CHARS:
        # a long answer that names a registered business or a shop sign inside a description
        # ("本人于9月在闵行区七莘路1888号的上海乐动体育健身有限公司办的卡"): the name, not the sentence
        found = find_merchant(plain)
        if found:
            return found
    return plain


# Suffixes of business names, longest first so that "有限公司" wins over "公司".
_SUFFIXES = (
    "股份有限公司", "有限责任公司", "有限公司", "分公司", "公司", "工作室", "经营部", "商行", "旗舰店", "专卖店", "专营店",
    "便利店", "大药房", "药房", "药店", "超市", "酒店", "宾馆", "饭店", "餐厅", "健身房", "健身馆", "健身", "俱乐部", "中心", "旅行社",
    "商城", "会所", "美容院", "培训学校", "学校", "机构", "APP", "App", "app", "小程序", "校区", "分校",
    "服务社", "茶庄", "书院", "农家乐", "托管班", "小卖部", "婚庆策划", "婚庆", "供应站",
    "订送点", "配送点", "送奶点", "代售点", "销售点", "自提点", "奶站", "浴场", "浴室", "剧场", "剧院", "营地", "停车场", "水产", "黄金回收", "搬家", "租赁", "专卖", "定制游",
    # trades whose word ends the shop sign ("飞驰自行车行", "湘里人家", "花田喜事摄影", "鹏程驾校")
    "车行", "琴行", "人家", "摄影", "影楼", "足浴", "足道", "瑜伽", "沙龙", "乐园", "驾校", "维修", "快修", "批发部",
    "服务部", "门市部", "门诊部", "诊所", "酒楼", "酒家", "烧腊", "烧烤", "火锅", "小吃", "家政服务(?![部社站中])", "家政", "画室", "工坊",
    "早教", "托育", "舞蹈", "跆拳道", "洗衣", "干洗", "洗车", "汽修", "美甲", "美发", "推拿", "小铺", "铺子", "屋", "坊",
    "家具城", "玩具城", "数码城", "建材城", "电器城", "灯具城", "儿童游乐场", "游乐场", "加油站", "配送站",
    "全屋定制", "定制", "家具", "家居", "门市部", "表行", "大排档", "排档", "造型", "听力", "通讯", "数码", "装饰", "美体",
    "美容", "理发", "烘焙", "营业厅", "修理厂", "加工厂", "厂", "摊位", "摊",
    "民宿", "棋牌室", "教育", "KTV", "SPA", "(?<!店)铺", "烟酒行", "酒行", "茶行", "五金行", "寄卖行", "典当行", "拍卖行", "音乐厅", "电影院", "影院", "影城",
    "店", "馆",
)
_SUFFIX_RE = re.compile("|".join(_SUFFIXES))
# Characters that belong to a name when widening leftwards: Han, Latin letters, digits, masking.
_NAME_CHAR_RE = re.compile(r"[\u3400-\u9fffA-Za-z\u00c0-\u00ff0-9*×xX&·'\-]")
# Words that end a name when reading leftwards (checked longest first at each step).
_LEFT_STOPS = (
    "有爿", "一爿", "迭爿", "搿爿", "那爿", "这爿", "关于", "那边", "这边", "边上", "另外", "一家", "这家", "那家", "哪家", "某家", "有个", "有家", "一张", "一份", "一套", "一台", "一双", "一件", "一次", "名为", "名叫", "叫做", "一个", "这个", "那个", "附近", "旁边", "对面",
    "里面", "楼下", "门口", "购买", "买了", "办了", "投诉", "举报", "反映", "店铺", "网店", "里开",
    "结果", "后来", "然后", "现在", "但是", "可是", "所以", "因为", "而且",
    "在", "的", "到", "去", "跟", "和", "被", "向", "从", "是", "叫", "了", "我", "你", "他", "她", "给", "对", "找",
    "说", "把", "与", "及",
)  # not 上/里: "上海某某公司", "百里香" — "淘宝上的XX店" still stops at 的
# A branch in brackets ("（五角场店）", "(浦东分公司)"); brackets holding an address, a phone or a
# remark ("（地址：青浦盈港东路23号）") are not part of the name.
_BRANCH_RE = re.compile(r"\s*[（(【](?![^（()）【】]*(?:地址|位于|电话|手机|联系|[:：]))[^（()）【】]{1,20}[)）】]")
# Cue words after which a citizen names the business ("一家叫老王水果的店").
_CUE_RE = re.compile(r"(?:商家|商户|店铺|店|公司)(?:的)?(?:名称|名字)?(?:叫做?|是|为)[:：]?|店名(?:叫|是|为)[:：]?|名叫|名为|叫做|(?:一|这|那)家叫|"
                     r"(?:招牌|门头|店招|店名)上?(?:写着|写的是|是)[:：]?|(?:收据|发票|小票|合同)(?:的)?(?:抬头|盖章|落款)(?:是|为)?[:：]?|"
                     r"开票单位是|收款方是|(?:店|馆|铺|公司|机构|工作室|门面)(?:的名字)?叫做?|(?:名字|名称)叫做?|有(?:个|家|一家)叫做?|"
                     r"(?<=[，,\s])叫做?(?=\s*[\u4e00-\u9fffA-Z])(?!\s*(?:了|来|过|服务员|经理|老板|店员|店长|保安|警察|民警|客服|医生|护士|老师|师傅|"
                     r"工作人员|负责人|人|我|他|她|你|您|阿拉|侬|伊|家人|朋友|孙子|孙女|儿子|女儿|老公|老婆|孩子|小孩|救护车|120|110))")
_CUE_END_RE = re.compile(r"[，,。.！!？?；;]|\s(?![A-Za-z&])|的|在|卖|开|那|这")


def _widen_left(text: str, start: int, end: int) -> int:
    """The start of the name ending at `end` whose suffix starts at `start`."""
    while start > 0 and end - start < _MAX_FOUND_CHARS:
        head = text[:start]
        stop = next((stop for stop in _LEFT_STOPS if head.endswith(stop)), None)
        if stop is not None and not (len(stop) == 1 and stop not in "的了我你他她" and text[start + 1:start + 2] in ("镇", "乡")) \
                and not (stop == "到" and text[start] == "家" and start >= 2 and _NAME_CHAR_RE.match(text[start - 2])
                         and text[start - 2] not in "在去回送"):
            break  # but "向化镇…", "和平乡…": the stop's character starts the name of a town; "鲜到家": a sign's word
        if text[start - 1] == " " and start >= 2 and re.match(r"[A-Za-z\u00c0-\u00ff&]", text[start - 2]) \
                and re.match(r"[A-Za-z\u00c0-\u00ff&]", text[start]):
            start -= 1  # "Bistro Ciel", "LULU STUDIO": one name across the space
            continue
        if not _NAME_CHAR_RE.match(text[start - 1]):
            break
        start -= 1
    return start


_OPENING_BRACKETS = "（(【"
# The rest of a registered name after a trade word: "管理有限公司", "餐饮管理有限公司", "分公司".
_REGISTERED_TAIL_RE = re.compile(r"[\u4e00-\u9fff]{0,8}?(?:股份有限公司|有限责任公司|有限公司|分公司)")
# "在X办的卡 / 在X买的 / 在X充值": X is where the citizen paid, usually the business itself.
_BOUGHT_AT_RE = re.compile(
    r"(?<![现正还实存所好自内不])在([^，,。；;！!？?\s在]{2,30}?)(?:充值|充了|充的|办理|办了|办的|买了|买的|购买|消费|报名|报了|订了|订的|交了|交的|缴了|吃饭|用餐|就餐|聚餐)")
# Places that are not a business: online, platforms, 附近 ...
_NOT_A_PLACE_OF_BUSINESS = re.compile(r"^(?:里面|外面|那里|这里|店里|家里|那边|这边|群里|附近)$|[“”\"「」群]|^(?:网上|线上|网店|手机上|app|APP|淘宝|天猫|京东|拼多多|抖音|快手|美团|饿了么|小红书|微信|朋友圈|直播间)|[上里]$")


# Someone's home ("在朋友家吃饭"), not a restaurant's sign ("外婆家" is one: only people by their tie).
_SOMEONES_HOME_RE = re.compile(r"(?:朋友|亲戚|同学|同事|邻居|父母|爸妈|公婆|岳父母|老乡|自己|别人|人|我|你|他|她|们)家$")


def _bought_at(plain: str) -> str | None:
    """The business of "在X办的卡 / 在X买的 …", when X names one (not a platform, an address or a kind)."""
    for match in _BOUGHT_AT_RE.finditer(plain):
        candidate = re.split(r"给|帮|替|为(?!民)", match.group(1))[0]  # "在乐乐玩具城给儿子买了": the shop, not who for
        candidate = candidate.split("的")[-1]
        candidate = re.split(r"一家|这家|那家|某家|个", candidate)[-1]
        if len(candidate) < 2 or _NOT_A_PLACE_OF_BUSINESS.search(candidate) or re.search(r"\d|[路号弄街]$|区$", candidate) \
                or _SOMEONES_HOME_RE.search(candidate):
            continue
        name = parse_merchant(candidate)
        if name and not is_generic_merchant(name) and not re.search(r"[路街]\d|号", name):
            branch = _BRANCH_RE.match(plain, match.start(1) + len(match.group(1)))
            return name + branch.group(0).strip() if branch and not name.endswith(("）", ")", "】")) else name
    return None


# "小饭店", "无招牌水果店", "路边烧烤摊": a kind of shop, no sign. The kind is a common word plus
# 店/摊/铺/馆/档 ("水果"+"店"); "鑫鑫水果店" or "阿三面馆" have a name of their own.
_UNNAMED_PREFIX_RE = re.compile(r"^(?:小|无招牌的?|没有招牌的?|无名的?|路边的?|流动的?)+")
_SHOP_KIND_RE = re.compile(r"^([\u4e00-\u9fff]{1,3})(?:店|摊|铺|馆|档|摊位|小店|厂|加工厂)$")
# A place before "的" that names an unnamed shop: a street number, a road, a landmark.
_LOCATOR_RE = re.compile(
    r"([\u4e00-\u9fffA-Za-z0-9]{2,24}?(?:号|路|大道|公路|街|弄|门口|对面|旁边|附近|隔壁|菜场|菜市场|市场|小区|广场|新村|站|口))"
    r"((?:上|里|边)?的(?:一家|那家|这家|一个)?)$")


_PLACE_WORDS = ("附近", "旁边", "对面", "里面", "楼下", "门口")


def _is_unnamed_shop(core: str) -> bool:
    """Whether a name found by its suffix is only a kind of shop ("小饭店", "无招牌水果店")."""
    rest = _UNNAMED_PREFIX_RE.sub("", core)
    if is_generic_merchant(rest):
        return True
    if re.match(r"(?:无招牌|没有招牌|无名)", core) and len(rest) <= 5:
        return True  # "无招牌烟杂店": says so itself
    kind = _SHOP_KIND_RE.match(rest)
    if not kind:
        return False
    from xiaoan.understanding.names import _jieba_words  # jieba's dictionary, read once

    frequencies, tags = _jieba_words()
    tag = tags.get(kind.group(1), "")
    # a common noun or activity (水果, 熟食, 烧烤), not a brand or a place (肯德基 nr, 苏宁 ns)
    return bool(frequencies.get(kind.group(1))) and tag[:1] in ("n", "v", "j") and tag not in ("nr", "nrt", "ns", "nt", "nz")


def _with_locator(plain: str, start: int) -> str | None:
    """The place written before an unnamed shop ("金一东路150号的" in "举报金一东路150号的小饭店")."""
    match = _LOCATOR_RE.search(plain[:start])
    if not match:
        return None
    place = match.group(1)
    # the locator starts after the last word that ends a name when reading leftwards (举报, 在 ...)
    cut = 0
    for stop in [word for word in _LEFT_STOPS if word not in _PLACE_WORDS] + ["举报", "反映", "投诉", "发现"]:
        position = place.rfind(stop)
        if position >= 0:
            cut = max(cut, position + len(stop))
    place = place[cut:]
    if place in _PLACE_WORDS or place in ("隔壁", "边上"):
        return None  # "附近的厂": where, relative to nothing
    if len(place) < 2 or not re.search(r"[号路街弄]|大道|门口|对面|旁边|附近|隔壁|菜场|市场|小区|广场|新村|站", place):
        return None
    return place + match.group(2)


# --- tidying a found name ----------------------------------------------------------------------

# Where a letter says the shop is, written before its name: "奉贤区青村镇哈尼宝贝母婴店",
# "南京东路步行街步锐运动专卖店". Only administrative units and streets are stripped; a name
# that is nothing but a kind of shop without them ("大学路咖啡馆" -> "咖啡馆") keeps its place.
_PLACE_PREFIX_RE = re.compile(
    r"^(?:上海市?(?=[\u4e00-\u9fff]{1,4}(?:新区|区|县)))?(?:[\u4e00-\u9fff]{1,4}?(?:新区|区|县))?"
    r"(?:[\u4e00-\u9fff]{1,4}?(?:镇|街道|乡))?"
    r"(?:[\u4e00-\u9fff]{1,6}?(?:路|大道|公路|大街)(?:\d+(?:弄\d+)?号)?(?:上(?!海))?)?(?:步行街|商业街|美食街|菜市场|菜场|市场)?"
)
_PLATFORM_PREFIX_RE = re.compile(
    r"^(?:网上|线上|淘宝|天猫|京东|拼多多|抖音|快手|美团|饿了么|大众点评|小红书|闲鱼|唯品会|微信|微店)(?:上的?|平台上?的?|里的?|商城的?)?")
# A branch in brackets is part of the name; other remarks in brackets are not.
_BRANCH_CONTENT_RE = re.compile(
    r"^[\u4e00-\u9fffA-Za-z0-9·\-]{1,10}?(?:分店|店|营业部|分公司|分部|门店|校区|分校|分院|分馆|馆|中心|工厂店|门市部|营业厅|服务部|专柜|卖场)$")
# A branch written without brackets after a registered name: "…有限公司松江营业部" -> "（松江营业部）".
_BARE_BRANCH_RE = re.compile(r"(股份有限公司|有限责任公司|有限公司)([\u4e00-\u9fff]{2,4}?(?:分店|店|营业部|分公司|门店|旗舰店))$")
# Characters that do not occur in business names but everywhere in sentences.
_NOT_IN_NAMES = frozenset("了么什该这那过看见还留才份们吗呢吧啊呀哪谁没着得我你他她它您现卖做")
_DATE_IN_NAME_RE = re.compile(r"[\d一二三四五六七八九十两]+(?:年|月|日|号(?!店))|今年|去年|前年|上个?月|这个?月")


def _strip_remarks(name: str) -> str:
    """The name without bracketed remarks that are not a branch ("（机构名…）", "（徐汇区某大厦）")."""
    out, position = [], 0
    for bracket in re.finditer(r"[（(【]([^（()）【】]*)[)）】]", name):
        out.append(name[position:bracket.start()])
        content = bracket.group(1).strip()
        if _BRANCH_CONTENT_RE.match(content) and not re.search(r"某|附近|门头|店招|招牌|名叫|叫|原名|(?<!校)区|镇(?![路街店])|街道|的", content):
            out.append("（" + content + "）")
        else:
            out.append("\0")  # a remark ends the name
        position = bracket.end()
    out.append(name[position:])
    joined = "".join(out)
    return joined.split("\0", 1)[0].strip()


def _strip_known_place(name: str) -> str:
    """"香花桥鹏程驾校" -> "鹏程驾校": districts, towns or areas of districts.yml written before a name
    ("奉贤南桥依依美甲": the district and its town). A resort keeps the scenic place it is named
    after ("松江佘山某某度假酒店" -> "佘山某某度假酒店")."""
    for round_ in range(3):
        shorter = _strip_one_known_place(name)
        if shorter == name or round_ > 0 and _RESORT_RE.search(shorter):
            break
        name = shorter
    return name


_RESORT_RE = re.compile(r"酒店|度假|乐园|民宿|农家乐|营地|景区|山庄|温泉|游乐")


def _strip_one_known_place(name: str) -> str:
    from xiaoan.tickets.validators import load_districts  # late: keeps this module light

    data = load_districts()
    for length in range(min(data.max_term_length, len(name) - 3), 1, -1):
        if name[:length].lower() in data.terms:
            rest = name[length:]
            if rest[:1] in "畔边旁湾岸":
                break  # "滴水湖畔汽车美容": the place is part of the sign
            if not is_generic_merchant(rest) and not _is_unnamed_shop(_SUFFIX_TAIL_RE.sub("", rest)) \
                    and not _SUFFIX_RE.fullmatch(_SUFFIX_TAIL_RE.sub("", rest)):
                return rest
            break
    return name


def _tidy(name: str, keep_place: bool = False, quoted: bool = False) -> str:
    """A found name without the place or platform written before it and without remarks after it.

    `keep_place`: the name follows "…的", so where it is was said before it, and a place word that
    starts the name is the sign's own ("水芸路的临港惠多多超市", "通河路上的宝山万家荟购物中心").
    """
    name = name.strip().strip("“”\"'「」『』《》").strip()
    name = _strip_remarks(name)
    name = re.sub(r"^[个]", "", name)
    if len(name) >= 4:
        name = re.sub(r"^[路街弄号](?![\u4e00-\u9fff]?(?:店|馆)$)", "", name)
    counted = None if quoted else re.match(r"^[一两二三四五六七八九十几\d]+[张份套个台件双瓶盒箱杯只条次]", name)
    if counted and len(name) - counted.end() >= 2:
        name = name[counted.end():]
    for prefix in (_PLACE_PREFIX_RE, _PLATFORM_PREFIX_RE):
        match = prefix.match(name)
        if match and match.end() > 0:
            rest = name[match.end():]
            town = re.match(r"^([\u4e00-\u9fff]{1,4}?(?:镇|街道|乡))$", name[:match.end()])
            if prefix is _PLACE_PREFIX_RE and town:
                from xiaoan.tickets.validators import resolve_district  # late: keeps this module light

                if resolve_district(town.group(1)) is None:
                    continue  # "山野乡味特产店": not a town, part of the sign
            # keep the place when what is left is only a kind of shop or too short to name one
            if len(rest) >= 2 and not is_generic_merchant(rest) and not _is_unnamed_shop(_SUFFIX_TAIL_RE.sub("", rest) or rest):
                name = rest
    if not keep_place:
        name = _strip_known_place(name)
    bare = _BARE_BRANCH_RE.search(name)
    if bare:
        name = name[:bare.start(2)] + "（" + bare.group(2) + "）"
    else:
        name = _bracketed_shop_branch(name)
    return _without_branch_place(name)


# The place of a branch written bare after a shop's sign: "小书虫绘本馆五角场店", "童画美术新华路店",
# "焕颜皮肤管理龙阳广场店". A place of districts.yml, or a road, square, park or mall, then 店.
_BRANCH_PLACE_TAIL_RE = re.compile(r"[\u4e00-\u9fff]{2,4}(?:路|广场|公园|商场|万达|万科|来福士|天地|中心|城)$")
_NOT_A_SHOP_BRANCH_RE = re.compile(r"(?:旗舰|专卖|专营|便利|连锁|加盟|分|门|总|新|老|实体|网|小|大|母婴|饭|酒|商|书|药|花|茶)$")


def _bracketed_shop_branch(name: str) -> str:
    """"小书虫绘本馆五角场店" -> "小书虫绘本馆（五角场店）": the branch in brackets, as the register
    and the citizens who bracket it write it. The shortest place before 店 that reads as one (a
    place of districts.yml with at most a few characters after it, or a road, square, park or mall),
    and only when what stands before it reads as a sign. Registered names have their own rule."""
    if not name.endswith("店") or re.search(r"[（(【)）】]|公司", name) or len(name) < 6 \
            or _NOT_A_SHOP_BRANCH_RE.search(name[:-1]):
        return name
    from xiaoan.tickets.validators import load_districts  # late: keeps this module light

    terms = load_districts().terms
    for split in range(len(name) - 3, 1, -1):  # the shortest place first
        head, place = name[:split], name[split:-1]
        if len(place) > 7:
            break
        known = next((n for n in range(len(place), 1, -1) if place[:n].lower() in terms), 0)
        if not (known and len(place) - known <= 2 or _BRANCH_PLACE_TAIL_RE.fullmatch(place)):
            continue
        if head.lower() in terms or is_generic_merchant(head) or len(head) < 3 and not _SUFFIX_RE.fullmatch(head[-2:]):
            return name
        return f"{head}（{place}店）"
    return name
    from xiaoan.tickets.validators import load_districts  # late: keeps this module light

    terms = load_districts().terms
    for split in range(2, len(name) - 2):
        head, place = name[:split], name[split:-1]
        if len(place) > 7 or head.lower() in terms or is_generic_merchant(head):
            continue
        known = next((n for n in range(len(place), 1, -1) if place[:n].lower() in terms), 0)
        if known and (known == len(place) or len(place) - known <= 4) or _BRANCH_PLACE_TAIL_RE.fullmatch(place):
            if len(head) >= 3 or _SUFFIX_RE.fullmatch(head[-2:]):
                return f"{head}（{place}店）"
    return name


_BRANCH_PLACE_RE = re.compile(r"^(.+?)(?:分店|门店|店|分馆|馆|校区|分校|营业部|卖场|中心)?[)）】]$")


def _without_branch_place(name: str) -> str:
    """"松江万达燃力健身（松江万达店）" -> "燃力健身（松江万达店）": the place of the branch written
    again before the sign is where the shop is, not its name. A sign left as a mere kind of shop
    keeps it ("万达影城（松江万达店）")."""
    bracket = _SUFFIX_TAIL_RE.search(name)
    if not bracket or bracket.start() < 4:
        return name
    place = _BRANCH_PLACE_RE.match(bracket.group(0)[1:])
    if not place:
        return name
    place = place.group(1)
    for i in range(len(place) - 1):
        head = place[i:]
        rest = name[len(head):bracket.start()]
        if name.startswith(head) and len(rest) >= 3 and not is_generic_merchant(rest) \
                and not _is_unnamed_shop(rest) and not _SUFFIX_RE.fullmatch(rest):
            return name[len(head):]
    return name


_SUFFIX_TAIL_RE = re.compile(r"[（(【][^（()）【】]*[)）】]$")

# Where the business sells, written after its name: "某某票务小程序", "Urban Fit官方小程序", "某某橱柜专柜".
_GLUED_PLATFORM_RE = re.compile(r"\s*(?:官方)?(?:小程序|公众号|官网|官方网站|直播间|专柜)$")
_GLUED_APP_RE = re.compile(r"\s*(?:APP|App|app)$")


def _without_platform_word(name: str) -> str:
    """A name found in running text without the channel glued after it: "某某健身app" -> "某某健身".

    An app named only by itself keeps the word ("飞呀旅行app", "票好多app": that is what the
    citizen knows it as); one that is a trade's own app ("某某健身app") is the business. A
    quoted name ("“小美严选直播间”") is not passed here: the citizen wrote it whole.
    """
    glued = _GLUED_PLATFORM_RE.search(name)
    if glued and glued.start() >= 2:
        return name[:glued.start()]
    app = _GLUED_APP_RE.search(name)
    if app and app.start() >= 3:
        rest = name[:app.start()]
        trade = None
        for trade in _SUFFIX_RE.finditer(rest):
            pass
        if trade is not None and trade.end() == len(rest) and trade.start() >= 2 \
                and trade.group(0) not in ("APP", "App", "app", "小程序"):
            return rest
    return name


def _plausible(name: str, suffix: str = "", bounded: bool = False) -> bool:
    """Whether a name found in running text reads as a business name, not a phrase.

    `bounded`: the name starts right after 在/的, so its left end was said, not guessed; a playful
    sign may then hold one 得 or 呀 ("骑得快电动车行", "飞呀旅行app").
    """
    core = _SUFFIX_TAIL_RE.sub("", name)
    head = core[: len(core) - len(suffix)] if suffix and core.endswith(suffix) else core
    if len(core) < 2 or len(head) < 1 or len(head) == 1 and len(core) - len(head) >= 2 and not re.match(r"[A-Za-z*×X]", head):
        return False  # "事听力" (从事听力验配): a word cut by the widening, not a sign
    sentence_chars = [ch for ch in head if ch in _NOT_IN_NAMES]
    if bounded and len(head) >= 3 and len(sentence_chars) == 1 and sentence_chars[0] in "得呀" \
            and not re.search(r"[得呀]$|^[得呀]|觉得|记得|得到|值得|懂得|获得|取得|舍得|使得|难得|晓得", head):
        sentence_chars = []
    if sentence_chars or _DATE_IN_NAME_RE.search(head):
        return False
    if re.search(r"(?:家|店|那|这|哪|屋|群|心)里$|^(?:家里|店里|群里)", head):  # "家里洗衣": a place, not a name
        return False
    if is_generic_merchant(core) or _PLATFORM_PREFIX_RE.fullmatch(head):
        return False
    if re.match(r"(?:app|APP|App|小程序|公众号|网站|网页)(?![A-Za-z])", core):
        return False  # "app打不开小程序也下架了": a channel that starts a sentence, not a sign
    from xiaoan.tickets.validators import resolve_district  # late: keeps this module light

    # a town or area written like a shop ("罗店", "七宝") is a place
    return not (len(core) <= 4 and resolve_district(core) is not None and not re.search(r"[店馆行铺]$", core[2:]))


def _plausible_before_branch(name: str) -> bool:
    """Whether a sign found before its bracketed branch reads as one: the branch was kept by the
    tidying, and the sign is no phrase (one character of a sentence is a playful sign's own:
    "发现美发型设计（七宝店）")."""
    core = _SUFFIX_TAIL_RE.sub("", name)
    if core == name or len(core) < 2 or is_generic_merchant(core) or _DATE_IN_NAME_RE.search(core):
        return False
    if sum(ch in _NOT_IN_NAMES for ch in core) > 1 or re.search(r"[了么吗呢吧啊我你他她]", core):
        return False
    return not _PLATFORM_PREFIX_RE.fullmatch(core)


# --- candidates ---------------------------------------------------------------------------------

# Registered names: the legal suffix; the name starts at its "上海" when there is one.
_REGISTERED_RE = re.compile(r"股份有限公司|有限责任公司|有限公司|专业合作社|合作社")
# Quoted names ("“优品家居旗舰店”"), and words that say the quote is the shop's name.
_QUOTED_RE = re.compile(r"[“\"「『《]([^”\"」』》“]{2,30})[”\"」』》]")
# ASCII single quotes ("淘宝店'某某家居'"), not an apostrophe inside Latin words ("Tom's")
_ASCII_QUOTED_RE = re.compile(r"(?<![A-Za-z])'([^'\n“”\"]{2,30})'(?![A-Za-z])")
# ("这个是“按单生产”": a demonstrative and 是 say what a thing is, not a shop's name)
_QUOTE_CUE_RE = re.compile(r"(?:店名|名字|名称|招牌|门头|店招|叫做?|名为|店铺|网店|商家|品牌|旗舰店|一家|这家|那家|有家|迭家)[是为:：]?\s*$"
                           r"|(?:一个|那个|这个)\s*$"
                           r"|(?:淘宝|天猫|京东|拼多多|抖音|快手|美团|饿了么|大众点评|小红书|闲鱼|微店|直播间|微信|支付宝)"
                           r"(?:APP|app|小程序|公众号|店铺|网店|店|直播间)?(?:上|里)?的?\s*$")
# Priorities: the most explicit way of naming the business wins; among equals, the first mention.
_PRIORITY = {"registered": 100, "quoted": 90, "cue": 80, "branch": 60, "stall": 60, "bought_at": 55, "latin": 52, "suffix": 50, "mall": 45, "platform": 44,
             "person": 42, "topic": 40}


# A branch written without brackets right after a registered name ("…有限公司松江营业部报了…").
_BARE_BRANCH_AFTER_RE = re.compile(r"([\u4e00-\u9fff]{2,4}?)(?:分店|营业部|分公司|门店|旗舰店|店)")


def _registered_candidates(plain: str):
    for m in _REGISTERED_RE.finditer(plain):
        window_start = max(0, m.start() - 30)
        window = plain[window_start:m.start()]
        stop = max(window.rfind(mark) for mark in "，,。；;！!？?：: \n、")
        if stop >= 0:
            window_start, window = window_start + stop + 1, window[stop + 1:]
        shanghai = window.rfind("上海")
        start = window_start + shanghai if shanghai >= 0 else _widen_left(plain, m.start(), m.end())
        end = m.end()
        branch = _BRANCH_RE.match(plain, end)
        if branch:
            end = branch.end()
        else:
            bare = _BARE_BRANCH_AFTER_RE.match(plain, end)
            if bare and not any(ch in _NOT_IN_NAMES or ch in "买办充在的了" for ch in bare.group(1)):
                end = bare.end()
        if m.start() - start >= 2:
            yield "registered", start, plain[start:end], m.group(0)


# Quotes that hold a product, a slogan or a promise, not the business: "一款叫“糖立消”的固体饮料",
# "挂“百年老字号”招牌", "写着“7天无理由退款”".
_QUOTED_PRODUCT_CUE_RE = re.compile(r"(?:款|种|瓶|盒|袋|件|份|产品|牌子|商品|口号|广告|写着?|宣传|标着?|号称|标签|字样|挂着?|承诺|印着?|贴着?|"
                                    r"所谓|什么|打着?|推荐|推销|买了|办了|报了|订了|选了|做了|充了|次|说|显示|状态|回复|提示|叫他|叫她)(?:一个|一款|一种|一张|一份|一套)?(?:叫做?|名为|是)?\s*$")
_QUOTED_SLOGAN_RE = re.compile(r"不|无理由|包退|包换|免费|正品|正宗|认证|清仓|原价|特价|限时|老字号|国标|全返|天内|[0-9]|"
                               r"宣传|虚假|欺诈|违法|假冒|投诉|举报|处理|退款|赔偿|加盟|直营|连锁|骗子|黑店|正规|通用|无证|无照|经营")
# Where a quoted name stands as the business: after a place and 的 ("豫园旁边的“御茗轩茶庄”"), or
# after 在/去/到 ("在“上岸帮APP”上买了"), or right before a trade word ("“萌宠之家”宠物店").
_QUOTED_PLACE_RE = re.compile(r"(?:(?:[路街镇区里内边旁口楼层场园坊村城岛湾上]|附近|对面|旁边|门口|楼下|那边|这边|古镇|招牌|门头|店招)的|(?P<went>在|去|到))\s*$")
# after 在/去/到 the quote is the business only when something was done there ("在“上岸帮APP”上买了")
_DONE_THERE_RE = re.compile(r"\s*(?:上|里|的)?(?:买|办|充|订|报|吃|消费|做|剪|修|学|上课|购|下单|看)")


def _quoted_candidates(plain: str):
    quotes = sorted([*_QUOTED_RE.finditer(plain), *_ASCII_QUOTED_RE.finditer(plain)], key=lambda m: m.start())
    for m in quotes:
        inner = m.group(1).strip()
        before = plain[max(0, m.start() - 6):m.start()]
        cued = _QUOTE_CUE_RE.search(before)
        suffix = _SUFFIX_RE.search(inner)
        if re.search(r"会员|套餐|年卡|次卡|课程|券|VIP|vip", inner) or re.search(r"[到进去回开关闭离出在来](?:店|馆|门店|工厂|厂|公司)$", inner):
            continue  # a product ("高端VIP会员") or a status ("已预约未到店"), not a business
        if _QUOTED_PRODUCT_CUE_RE.search(before) and not re.search(r"(?:招牌|牌子|门头|店招)上?写", plain[max(0, m.start() - 8):m.start()]):
            continue
        if cued and re.search(r"[一这那]个\s*$", before) and len(inner) < 4:
            cued = None  # "是一个“果盘”": a product
        place = _QUOTED_PLACE_RE.search(before)
        if place and place.group("went") and not _DONE_THERE_RE.match(plain, m.end()):
            place = None  # "说卡可以在“全国门店通用”": a promise, not where it was bought
        placed = (place or _SUFFIX_RE.match(plain, m.end())) \
            and len(inner) <= 15 and not _QUOTED_SLOGAN_RE.search(inner)
        if cued or placed or (suffix and suffix.end() >= len(_SUFFIX_TAIL_RE.sub("", inner)) and suffix.start() > 0):
            if not re.search(r"[，,。！!？?、]", inner):
                yield "quoted", m.start(1), inner, ""


def _end_at_last_suffix(name: str) -> str:
    """"梵雅美容养生会所前前后后" -> "梵雅美容养生会所": a name with a suffix ends at its last one."""
    outside = _BRACKETED_ANY_RE.sub(lambda m: "\0" * len(m.group(0)), name)  # suffixes in brackets are the branch's
    last = None
    for last in _SUFFIX_RE.finditer(outside):
        pass
    if last is None or last.start() == 0:
        return name
    branch = _BRANCH_RE.match(name, last.end())
    return name[:branch.end() if branch else last.end()]


_BRACKETED_ANY_RE = re.compile(r"[（(【][^（()）【】]*[)）】]")


_STAFF_RE = re.compile(r"(?:店员|员工|营业员|服务员|老师|师傅|[发造]型师|美容师|设计师|顾问|经理|店长|客服|教练|销售|导购|阿姨)的?$")


def _cue_candidates(plain: str):
    for cue in _CUE_RE.finditer(plain):
        if _STAFF_RE.search(plain[max(0, cue.start() - 5):cue.start()]):
            continue  # "店员的名字叫Lily", "发型师叫Kevin": a person working there, not the business
        tail = plain[cue.end():].lstrip()
        stop = _CUE_END_RE.search(tail)
        name = parse_merchant(tail[:stop.start()] if stop else tail)
        if name and len(name) <= _MAX_FOUND_CHARS and not _QUOTED_SLOGAN_RE.search(name):
            yield "cue", cue.end(), name, ""  # not a judgement ("商家是虚假宣传")


# A sign in Latin letters where a shop stands, before what was done there: "嘉里中心B1的Bellacasa
# Home买了", "天钥桥路上的Sweet Amour Patisserie订了". Capitalised words; above the Chinese
# suffixes of a mall or a centre written before it.
_LATIN_SIGN_RE = re.compile(r"(?:(?<=[的在家店上])|(?<=[的在家店上] ))([A-Z][A-Za-z\u00c0-\u00ff'&.]*(?: [A-Z&][A-Za-z\u00c0-\u00ff'&.]*){0,3})"
                            r"(?P<trade>[\u4e00-\u9fff]{1,4}?)??"  # the trade written after the sign: "…Room女装买的"
                            r"(?=\s*(?:[（(]|买|订|吃|办|充|做|定|配|修|报|上课|的|，|,|。|店|门店|这家|那家|突然|关|在|老板|官网|小程序|app|APP|直播间|专柜|$)"
                            r"|\s+(?![说讲])[\u4e00-\u9fff])")
# The person who runs an unnamed business: "老板叫周建国", "店主是王秀英".
_PERSON_CUE_RE = re.compile(r"(?:老板|店主|摊主|老板娘|负责人|经营者|个体户|的人|那个人|组织者)\s*(?:的名字)?(?:叫做?|名叫|是|姓名是)\s*|一个叫(?=[A-Z])")


_PLATFORM_WORDS = ("官网", "官方", "小程序", "直播间", "专柜")


def _latin_candidates(plain: str):
    for m in _LATIN_SIGN_RE.finditer(plain):
        name = m.group(1)
        trade = m.group("trade") or ""
        if trade and (any(ch in _NOT_IN_NAMES or ch in "买订吃办充做定配修报的在和跟与给从到去" for ch in trade)
                      or trade in _PLATFORM_WORDS or _SUFFIX_RE.match(plain, m.end())):
            continue  # "KFC吃", "Zara看": a verb, not a trade; "…女装店": the suffix candidates' name
        name += trade
        if len(name.replace(" ", "")) >= 4 and not re.fullmatch(r"(?:APP|App|VIP|DIY|KTV|SPA|B\d)", name):
            branch = _BRANCH_RE.match(plain, m.end())
            yield "latin", m.start(1), name + (branch.group(0).strip() if branch else ""), ""


def _person_candidates(plain: str):
    from xiaoan.understanding.names import parse_name  # late: names imports this module's helpers

    for cue in _PERSON_CUE_RE.finditer(plain):
        latin = re.match(r"[A-Z][a-z]+(?: [A-Z][a-z]+){1,2}(?![A-Za-z])", plain[cue.end():])
        if latin:  # "叫Li Na的人", "老板叫Wang Lili"
            yield "person", cue.end(), latin.group(0), ""
            continue
        window = re.split(r"[，,。；;！!？?\s的]", plain[cue.end():cue.end() + 6])[0]
        name = parse_name(window) if 2 <= len(window) <= 4 else None
        if name and name == window:
            yield "person", cue.end(), name, ""


# After a suffix, these make it part of a word or a place name ("店铺", "店员", "罗店镇", "屋里").
_SUFFIX_IN_WORD_RE = re.compile(r"衣(?=机|液|粉|凝珠)|店(?:铺|员|里|门|主|内|外|面|长(?![期时久年]))|[店馆屋坊行](?=[镇路村街乡])|屋[里内]"
                                r"|厂(?:家|里|区|房|商|长|址)|铺(?:设|路|面|货|张|开|满)|摊(?:主|子|贩|位费)|家具(?:城|店|厂)|家居(?:城|店|馆)")


# After a name, a place relative to it and then what stands there: the name is a landmark.
_LANDMARK_AFTER_RE = re.compile(r"(?:的)?(?:斜对面|对面|旁边|隔壁|边上)的")


# Trades written after a sign that already ends in a suffix of ours: "鲜辣坊麻辣烫", "悦色美甲美睫",
# "渔小馆酸菜鱼". Part of the sign only there: alone they are a dish or a service.
# Not after 店 (a name ending in 店 is whole: "在好利来面包店蛋糕里…"), nor a dish eaten ("…烤鱼里有…").
_TRADE_AFTER_RE = re.compile(r"(?<!店)(?:美睫|纹绣|半永久|麻辣烫|麻辣香锅|酸菜鱼|烤鱼|冒菜|米线|拉面|生煎|小笼|馄饨|炸鸡|"
                             r"肉蟹煲|小龙虾|牛蛙|串串|烤肉|花艺)(?![里中上内])")


# Services written right after a name that already ends in its trade, then the clause ends:
# "在某某汽车美容洗车，" — the wash is what was done there, not part of the sign.
_SERVICE_DONE_RE = re.compile(r"(?:洗车|维修|快修|干洗|洗衣|推拿|修车|修鞋)")
_CLAUSE_END_RE = re.compile(r"\s|[，,。.！!？?；;]|了|的|$")


def _suffix_candidates(plain: str):
    for m in _SUFFIX_RE.finditer(plain):
        if _SUFFIX_IN_WORD_RE.match(plain, m.end() - 1) and not _SUFFIX_RE.match(plain, m.end()):
            continue  # 店铺, 店员, 罗店镇, 屋里: a word or a place, not the end of a name
        if m.group(0) in ("店", "馆") and m.start() > 0 and plain[m.start() - 1] in "到进去回开关闭离出在来":
            continue  # 到店, 进店, 开店, 闭馆: a verb and its place, not a name
        start = _widen_left(plain, m.start(), m.end())
        end = m.end()
        if re.search(f"(?:{_SUFFIX_RE.pattern})[学买办充练报玩吃做]", plain[start:m.start()]):
            continue  # "Dance Queen舞蹈工作室学舞蹈": the activity after the name
        if start > 0 and plain[start - 1] in _OPENING_BRACKETS:
            # the suffix is the branch's ("森林屋洗衣（涞亭南路店）"): the name stands before the bracket
            before = _widen_left(plain, start - 1, start - 1)
            close = _BRANCH_RE.match(plain, start - 1)
            if before < start - 1 and close:
                yield "suffix", before, plain[before:close.end()].strip(), ""
            continue
        # Suffixes in a row belong to one name ("乐活健身" + "俱乐部", "XX" + "健身" + "中心"), and a
        # registered name runs on to its company suffix ("上海益康健身" + "管理有限公司").
        following = _SUFFIX_RE.match(plain, end) or _REGISTERED_TAIL_RE.match(plain, end) or _TRADE_AFTER_RE.match(plain, end)
        last_suffix = m.group(0)
        while following:
            end = following.end()
            last_suffix = following.group(0)
            following = _SUFFIX_RE.match(plain, end) or _REGISTERED_TAIL_RE.match(plain, end) \
                or _TRADE_AFTER_RE.match(plain, end)
        service = _SERVICE_DONE_RE.search(plain, 0, end)
        if service and service.end() == end and service.start() > start and _CLAUSE_END_RE.match(plain, end) \
                and re.search(f"(?:{_SUFFIX_RE.pattern})$", plain[start:service.start()]):
            end = service.start()  # "在某某汽车美容洗车，": what was done there, after a name with its trade
            if end <= m.start():
                continue
        if _LANDMARK_AFTER_RE.match(plain, end):
            continue  # "学校对面的新华书刊文具店": a landmark that says where the business is
        latin = re.match(r"[A-Za-z]{2,10}(?: [A-Z]{2,10})*(?![A-Za-z])", plain[end:])
        if latin:
            end += latin.end()  # "糖果屋烘焙DIY", "欢唱KTV"
        branch = _BRANCH_RE.match(plain, end)
        if branch:
            end = branch.end()
        core = plain[start:m.end()]
        if _is_unnamed_shop(core) or len(core) <= 3 and m.group(0) in ("店", "摊", "铺", "档"):
            # "金一东路150号的小饭店": a shop without a sign is named by where it is
            located = _with_locator(plain, start)
            if located is not None:
                yield "located", start, located + plain[start:end].strip(), ""
                continue
            if m.group(0) in ("厂", "摊", "摊位", "铺"):
                continue  # "一家食品厂", "早餐摊": a kind, named by nothing but a locator
        # A suffix alone ("店", "超市"), a kind of business ("水果店" after 那家), or a count
        # before the suffix ("3家店", "几家店") names nobody. Masking ("XX旗舰店") does name a business.
        if len(core) == len(m.group(0)) or is_generic_merchant(core) or re.fullmatch(
                r"[\d几两三四五六七八九十]+[家个间]?|[家个间]", core[: -len(m.group(0))]):
            continue
        yield "suffix", start, plain[start:end].strip(), last_suffix


# A sign written right before its bracketed branch: "闵行莘庄的大润和超市（莘庄店）", "投诉杨浦五角场的
# 易讯手机卖场（五角场店）". The branch says a shop's name ends there, so the sign needs no trade
# suffix of ours; it starts after the place and 的, after 在/投诉/举报/有家, or at the clause's start.
_BEFORE_BRANCH_RE = re.compile(r"(?<![\u4e00-\u9fffA-Za-z0-9&·])(?<![A-Za-z&] )"
                               r"((?:[\u4e00-\u9fffA-Za-z0-9&·]|(?<=[A-Za-z&]) (?=[A-Za-z&])){2,40})(?=[（(])")
_BRANCH_LEFT_END_RE = re.compile(r".*(?:的|在|到|去|投诉|举报|反映|有爿|有家|有个|一家|这家|那家|一个|这个|那个|那边|这边|是|叫)")
_MALL_END_RE = re.compile(r"(?:广场|购物中心|中心|商场|百货|商厦|大厦|城|天街|天地|奥特莱斯)$")
_INSIDE_AFTER_RE = re.compile(r"\s*(?:的|里|内|[\dB一二三四五六七八九]{1,2}[楼层F]|地下)")
_MAX_UNBOUNDED_SIGN = 12  # a sign at the clause's start longer than this is a sentence


def _branch_candidates(plain: str):
    for m in _BEFORE_BRANCH_RE.finditer(plain):
        branch = _BRANCH_RE.match(plain, m.end())
        if not branch:
            continue
        run, start = m.group(1), m.start(1)
        cut = _BRANCH_LEFT_END_RE.match(run)
        if cut:
            run, start = run[cut.end():], start + cut.end()
        elif len(run) > _MAX_UNBOUNDED_SIGN:
            continue
        if len(run) < 2:
            continue
        if _MALL_END_RE.search(run) and _INSIDE_AFTER_RE.match(plain, branch.end()):
            continue  # "百联又一城（五角场店）三楼的优衣库": the mall, a shop inside it follows
        yield "branch", start, run + branch.group(0).strip(), ""


# A stall or booth of a market, named by the market and its number: "长阳路菜市场18号水产摊",
# "七浦路服装市场B2层117号档口". The number says which one; the district written before the
# market is where it is, not its name.
_STALL_RE = re.compile(r"(?:批发市场|菜市场|菜场|市场|商场|商城|广场|大厦|商厦|中心)"
                       r"(?:[A-Z]?\d{1,2}[层楼F]|[一二三四五六七八九]楼|地下[一二]层)?(?:[A-Z]?\d{1,3}[区排])?"
                       r"[A-Z]?\d{1,4}号(?:(?![的楼下里边旁对])[\u4e00-\u9fff]){0,4}?(?:摊位|摊|档口|铺位|商铺|柜台|门面)")
_DISTRICT_PREFIX_RE = re.compile(r"^(?:上海市?)?[\u4e00-\u9fff]{1,4}?(?:新区|区|县)(?![\u4e00-\u9fff]?(?:市场|菜场|商场))")


def _stall_candidates(plain: str):
    for m in _STALL_RE.finditer(plain):
        start = _widen_left(plain, m.start(), m.end())
        name = plain[start:m.end()]
        district = _DISTRICT_PREFIX_RE.match(name)
        if district and m.start() - start - district.end() >= 2:
            start, name = start + district.end(), name[district.end():]
        if m.start() - start >= 2:
            yield "stall", start, name, ""


# A platform citizens mask with 某 ("用某饿了外卖平台点的", "在某团平台上买的"): the business
# when nothing else is named (a shop on it wins). "某购物平台" is a kind of platform, not a name.
_PLATFORM_TRADES = "外卖|购物|电商|票务|旅行|旅游|出行|打车|团购|直播|短视频|视频|二手|租房|招聘|家政"
_MASKED_PLATFORM_RE = re.compile(r"(?:用|在|通过|从)(某(?!" + _PLATFORM_TRADES + r"|平台)[\u4e00-\u9fffA-Za-z]{1,3}?"
                                 r"(?:" + _PLATFORM_TRADES + r")?平台)(?=上|里|点|买|下单|订|预订|叫|打|租|找|的)")


def _platform_candidates(plain: str):
    for m in _MASKED_PLATFORM_RE.finditer(plain):
        yield "platform", m.start(1), m.group(1), ""


# A mall or shopping centre is the business when nothing inside it is named: the escalator of
# "徐汇区的云景广场", the car park of "金鼎商业广场". Below the shops' own suffixes, and not when
# the text goes on to a shop or stall inside it ("万达广场有个商家卖假货": the shop is the one).
_MALL_RE = re.compile(r"商业广场|城市广场|购物广场|广场|购物中心|购物公园|奥特莱斯|百货(?:商店|大楼)?|商厦|商场|大悦城|万象城")
_NEAR_RE = re.compile(r"(?:的)?(?:附近|旁边|对面|门口|边上|隔壁|那边|周边)")
_INSIDE_MALL_RE = re.compile(r"商家|商户|店|柜台|专柜|摊|铺|档口|一家|有家|有个|这家|那家")


def _mall_candidates(plain: str):
    for m in _MALL_RE.finditer(plain):
        if _INSIDE_MALL_RE.search(plain[m.end():m.end() + 12]) or _NEAR_RE.match(plain, m.end()):
            continue  # a shop inside it, or one near it ("南广场附近的某某保健")
        start = _widen_left(plain, m.start(), m.end())
        if m.start() - start >= 2:
            yield "mall", start, plain[start:m.end()], m.group(0)


# A letter that opens with where the shop is and then its sign, without a trade suffix:
# "五角场的蟹来乐肉蟹煲，…", "静安区彭浦新村那边的果然鲜榨，…", "宝山区大场镇点点星空少儿英语，…".
# The place must read as one (a district, town or area of districts.yml, or a road, street or
# estate); the sign runs to the first comma. Lowest priority: only when nothing else names it.
_TOPIC_RE = re.compile(
    r"(?:^|[。！!？?\n\s]|(?:投诉|举报|反映)(?:一下)?)\s*(?P<clause>[\u4e00-\u9fffA-Za-z0-9&]{4,30})(?:[，,]|\s|$)")
# Platforms where a store stands: "美团上的某某小厨，", "抖音直播间某某买了", "淘宝店某某定做的".
_PLATFORMS = "淘宝|天猫|京东|拼多多|抖音|快手|美团|饿了么|大众点评|小红书|闲鱼|唯品会|微店|飞猪|携程|去哪儿"
_PLATFORM_PLACE_RE = re.compile(f"^(?:在)?(?:{_PLATFORMS})(?:APP|app)?(?:上|里)?$")
_PLATFORM_INTRO_RE = re.compile(f"^(?:在)?(?:{_PLATFORMS})(?:APP|app)?(?:直播间|店铺|网店|店)")
# "那边有家某某，": the sign after 有家 / 有一家.
_THIS_APP_RE = re.compile(r"^(?:在|用|下了|下载了)?(?:(?:网上|" + _PLATFORMS + r")(?:上|里)?)?([\u4e00-\u9fffA-Za-z0-9&]{2,15}?)"
                          r"(?:(?:这个|这款|那个)(?:app|APP|App|小程序|平台|公众号|网站)|(?:这家|那家)(?:网店|店铺|店))")
_THERE_IS_RE = re.compile(r"(?:有(?:一)?|那|这)家(?!叫)")
_PLACE_TAIL_RE = re.compile(r"(?:上|里)?(?:新开|刚开|新开业|刚开业)?(?:那边|这边|附近|旁边|门口|里面|对面|边上)?$")
_ON_STREET_RE = re.compile(r"^(?:在|去|到)?[\u4e00-\u9fff]{1,6}?(?:路|街|大道|老街|步行街)(?:\d+号)?上")
_PLACE_END_RE = re.compile(r"(?:区|镇|街道|路|街|弄|号|广场|新村|小区|商圈|步行街|商业街|站)$")


def _topic_candidates(plain: str):
    from xiaoan.tickets.validators import resolve_district  # late: keeps this module light

    for m in _TOPIC_RE.finditer(plain):
        clause = m.group("clause")
        if re.match(r"(?:我|我们|本人)(?:是|家)", clause):
            continue  # "我是桃浦新村的老头子": the citizen, not the shop
        this_app = _THIS_APP_RE.match(clause)
        if this_app and not re.match(r"(?:我|我们|本人|他|她|他们)", this_app.group(1)):
            yield "topic", m.start("clause"), this_app.group(1), ""  # "某某课堂1对1这个app，": it names itself
            continue
        options = []
        intro = _PLATFORM_INTRO_RE.match(clause)
        there_is = _THERE_IS_RE.search(clause)
        if intro:
            options.append(clause[intro.end():])
        elif there_is:
            place = _PLACE_TAIL_RE.sub("", clause[:there_is.start()])
            if len(place) >= 2 and (_PLACE_END_RE.search(place) or resolve_district(place) is not None):
                options.append(clause[there_is.end():])
        elif "的" in clause:
            for split in re.finditer("的", clause):
                place, name = clause[:split.start()], clause[split.end():]
                place = _PLACE_TAIL_RE.sub("", re.sub(r"^.*?(?:在|去|到|投诉|举报|反映)(?:一下)?", "", place))
                if len(place) >= 2 and (_PLACE_END_RE.search(place) or len(place) <= 6 and resolve_district(place) is not None
                                        or _PLATFORM_PLACE_RE.match(place)):
                    options.append(name)
        if not options:
            # without 的 the place must be an administrative prefix ("宝山区大场镇") or the street
            # the shop is on, with what was done there after the sign ("天山路上踏云鞋履买的皮鞋")
            prefix = _PLACE_PREFIX_RE.match(clause)
            on_street = _ON_STREET_RE.match(clause)
            if "的" not in clause and prefix and re.search(r"(?:区|县|镇|街道|乡)$", clause[:prefix.end()]) \
                    and resolve_district(clause[:prefix.end()]) is not None:  # not "小区", "园区"
                options.append(clause[prefix.end():])
            elif on_street and _TOPIC_VERB_RE.search(clause, on_street.end() + 2):
                options.append(clause[on_street.end():])
        for name in options:
            name = _TOPIC_NAME_END_RE.split(_TOPIC_VERB_RE.split(name, maxsplit=1)[0], maxsplit=1)[0]
            if len(name) < 3 or resolve_district(name) is not None:
                continue
            if _SUFFIX_RE.search(name) and not _is_unnamed_shop(name):
                continue  # a suffix is the suffix candidates' business
            if re.search(r"[\d]", name) or any(word in name for word in _TOPIC_NOT_NAME) or _TOPIC_NOT_SIGN_RE.search(name):
                continue
            yield "topic", m.start("clause") + clause.find(name), name, ""
            break


# What the citizen did there, written right after the sign: "明视眼镜配了一副眼镜".
_TOPIC_VERB_RE = re.compile(r"(?:人去楼空|关门|倒闭|跑路|停业|停课|卷款|配了|配的|买了|买的|买|修了|修的|吃饭|吃了|吃的|停车|剪头|剪了|办了|办的|充了|充值|消费|上课|报了|订了|点了|做了|玩)")
# Where a sign ends in a clause besides what was done there: "…点的外卖", "…定做的窗帘", "…在地铁站做广告".
_TOPIC_NAME_END_RE = re.compile(r"点的|定做|定制|订的|在|做|说")
# "我是曲阳路剪艺空间造型的会员": a member or customer of the business named before 的.
_MEMBER_RE = re.compile(r"(?:是|成了|作为)([\u4e00-\u9fffA-Za-z0-9]{2,24}?)的(?:老?会员|老?顾客|学员|老?客户|常客|VIP)")


def _member_candidates(plain: str):
    for m in _MEMBER_RE.finditer(plain):
        name = re.split(r"附近|旁边|对面|门口|边上|里面|楼下|隔壁|那边|这边", m.group(1))[-1]
        if len(name) >= 2:
            yield "cue", m.end(1) - len(name), name, ""


# Words of a sentence, not of a shop sign, in what a topic candidate would take as a name.
_TOPIC_NOT_NAME = ("老板", "店员", "商家", "东西", "时候", "一家", "这家", "那家", "开业", "关门", "跑路", "充值", "办卡",
                   "老头", "老太", "老人", "孩子", "小孩", "妈妈", "爸爸", "顾客", "会员", "学员", "邻居",
                   "买了", "发现", "今天", "昨天", "上周", "最近", "我们", "他们", "小区", "居民", "业主",
                   "朋友", "同事", "亲戚", "房子", "房东", "政策", "天气", "交通")


# A place or a description in the sign's position ("南京东路的步行街，", "静安寺附近的一个小摊，").
_TOPIC_NOT_SIGN_RE = re.compile(r"^(?:[一这那某哪][个家间位条]|有个|有家)|摊|(?:街|路|广场|大厦|大楼|市场|菜场|小区|新村|公园|站|地铁|学校|医院)$")


def find_merchant(text: str | None) -> str | None:
    """The business named inside a sentence or letter, whole, or None when unsure.

    Candidates, most explicit first: a registered name (上海…有限公司, from its 上海), a quoted
    name (“…旗舰店”, or quoted after 店名/招牌/叫), a name after a cue (商家叫 / 店名是 / 名叫 /
    一家叫 ...), the business of "在X办的卡 / 在X买的", and a name ending in a business suffix
    (有限公司, 旗舰店, 药房, 店, 健身 ...) widened leftwards over the name's characters. Each is
    tidied (the district, town, road or platform written before it and bracketed remarks after
    it are dropped; a bracketed branch is kept) and must read as a name, not a phrase. The most
    explicit candidate wins; among equals, the first mention.

    Args:
        text: A sentence or a letter.

    Returns:
        The name, or None.
    """
    if not text:
        return None
    plain = nfkc_keep_brackets(str(text))
    best: tuple[int, int, str] | None = None
    seen: list[str] = []

    def consider(kind: str, position: int, name: str, suffix: str) -> None:
        nonlocal best
        if kind in ("cue", "bought_at"):
            name = _end_at_last_suffix(name)
        after_de = plain[max(0, position - 2):position].rstrip().endswith("的")
        tidy = name if kind in ("located", "latin", "person", "stall", "platform") else _tidy(name, keep_place=after_de, quoted=kind == "quoted")
        if kind not in ("quoted", "person"):
            tidy = _without_platform_word(tidy)
        if not tidy or len(tidy) > _MAX_FOUND_CHARS * 2:
            return
        bounded = plain[max(0, position - 1):position] in ("在", "的") and plain.startswith(tidy, position)
        if kind in ("suffix", "cue", "bought_at", "topic", "mall") and not _plausible(tidy, suffix, bounded):
            return
        if kind == "branch" and not _plausible_before_branch(tidy):
            return
        priority = _PRIORITY.get(kind, _PRIORITY["suffix"])
        # the most explicit; then the first mention; then, for names at one place, the longer
        # ("韩依坊女装旗舰店" over "韩依坊")
        seen.append(tidy)
        if best is None or (-priority, position, -len(tidy)) < (-best[0], best[1], -len(best[2])):
            best = (priority, position, tidy)

    for source in (_registered_candidates, _quoted_candidates, _cue_candidates, _member_candidates, _branch_candidates,
                   _stall_candidates, _platform_candidates,
                   _suffix_candidates,
                   _mall_candidates, _topic_candidates, _latin_candidates, _person_candidates):
        for kind, position, name, suffix in source(plain):
            consider(kind, position, name, suffix)
    bought_at = _bought_at(plain)
    if bought_at:
        position = plain.find(bought_at)  # where it stands whole, else where it starts
        position = position if position >= 0 else plain.find(bought_at[:2])
        consider("bought_at", position if position >= 0 else len(plain), bought_at, "")
    if best is not None:
        # "…的蜀香阁火锅（南翔店）充值…卡上印的就是“蜀香阁火锅”": the name with its branch
        fuller = [name for name in seen if name.startswith(best[2]) and _BRANCH_RE.fullmatch(name[len(best[2]):])]
        if fuller:
            return fuller[0]
    return best[2] if best else None
