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
"""

from __future__ import annotations

import re

from xiaoan.understanding.names import is_non_answer
from xiaoan.understanding.text import nfkc_keep_brackets, strip_affixes

MAX_MERCHANT_CHARS = 100  # an answer longer than this is a story, not a name
_MAX_FOUND_CHARS = 30  # how far a name found in a sentence may widen leftwards

# Kinds of business that name nobody on their own (extends actions/common.GENERIC_MERCHANT_WORDS).
GENERIC_MERCHANT_WORDS = frozenset(
    "商家 老板 店 店家 店铺 门店 网店 小店 商店 公司 企业 单位 商场 超市 饭店 餐厅 餐馆 饭馆 健身 健身房 健身馆 健身中心 "
    "美容 美容院 美发 美发店 理发店 培训 培训机构 培训班 早教 早教中心 机构 学校 药店 药房 旅行社 酒店 宾馆 4S店 "
    "快递 平台 卖家 商户 摊贩 小贩 摊位 卖菜的 菜场 菜市场 便利店 水果店 服装店 奶茶店 网吧 商城 旗舰店 专卖店 "
    "他们 他家 这家 那家 这家店 那家店 这个店 那个店 这个商家 那个商家 这个公司 那个公司 对方 淘宝 京东 拼多多 "
    "天猫 抖音 美团 饿了么 闲鱼 网上 线上 商家名称 店名 不知道名字".split()
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
    "商场", "商城", "会所", "美容院", "培训学校", "学校", "机构", "店", "馆",
)
_SUFFIX_RE = re.compile("|".join(_SUFFIXES))
# Characters that belong to a name when widening leftwards: Han, Latin letters, digits, masking.
_NAME_CHAR_RE = re.compile(r"[\u3400-\u9fffA-Za-z0-9*×xX&·\-]")
# Words that end a name when reading leftwards (checked longest first at each step).
_LEFT_STOPS = (
    "一家", "这家", "那家", "哪家", "某家", "名为", "名叫", "叫做", "一个", "这个", "那个", "附近", "旁边", "对面",
    "里面", "楼下", "门口", "购买", "买了", "办了", "投诉", "举报", "反映",
    "在", "的", "到", "去", "跟", "和", "被", "向", "从", "是", "叫", "了", "我", "你", "他", "她", "给", "对", "找",
    "说", "把", "与", "及",
)  # not 上/里: "上海某某公司", "百里香" — "淘宝上的XX店" still stops at 的
# A branch in brackets ("（五角场店）", "(浦东分公司)"); brackets holding an address, a phone or a
# remark ("（地址：青浦盈港东路23号）") are not part of the name.
_BRANCH_RE = re.compile(r"\s*[（(【](?![^（()）【】]*(?:地址|位于|电话|手机|联系|[:：]))[^（()）【】]{1,20}[)）】]")
# Cue words after which a citizen names the business ("一家叫老王水果的店").
_CUE_RE = re.compile(r"(?:商家|商户|店铺|店|公司)(?:的)?(?:名称|名字)?(?:叫做?|是|为)[:：]?|店名(?:叫|是|为)[:：]?|名叫|名为|叫做|(?:一|这|那)家叫")
_CUE_END_RE = re.compile(r"[，,。.！!？?；;\s]|的|在|卖|开|那|这")


def _widen_left(text: str, start: int, end: int) -> int:
    """The start of the name ending at `end` whose suffix starts at `start`."""
    while start > 0 and end - start < _MAX_FOUND_CHARS:
        head = text[:start]
        if any(head.endswith(stop) for stop in _LEFT_STOPS):
            break
        if not _NAME_CHAR_RE.match(text[start - 1]):
            break
        start -= 1
    return start


_OPENING_BRACKETS = "（(【"
# The rest of a registered name after a trade word: "管理有限公司", "餐饮管理有限公司", "分公司".
_REGISTERED_TAIL_RE = re.compile(r"[\u4e00-\u9fff]{0,8}?(?:股份有限公司|有限责任公司|有限公司|分公司)")
# "在X办的卡 / 在X买的 / 在X充值": X is where the citizen paid, usually the business itself.
_BOUGHT_AT_RE = re.compile(
    r"在([^，,。；;！!？?\s在]{2,30}?)(?:充值|充了|充的|办理|办了|办的|买了|买的|购买|消费|报名|报了|订了|订的)")
# Places that are not a business: online, platforms, 附近 ...
_NOT_A_PLACE_OF_BUSINESS = re.compile(r"^(?:网上|线上|网店|手机上|app|APP|淘宝|天猫|京东|拼多多|抖音|快手|美团|饿了么|小红书|微信|朋友圈|直播间)|[上里]$")


def _bought_at(plain: str) -> str | None:
    """The business of "在X办的卡 / 在X买的 …", when X names one (not a platform, an address or a kind)."""
    for match in _BOUGHT_AT_RE.finditer(plain):
        candidate = match.group(1).split("的")[-1]
        candidate = re.split(r"一家|这家|那家|某家|个", candidate)[-1]
        if len(candidate) < 2 or _NOT_A_PLACE_OF_BUSINESS.search(candidate) or re.search(r"\d|[路号弄街]$|区$", candidate):
            continue
        name = parse_merchant(candidate)
        if name and not is_generic_merchant(name) and not re.search(r"[路街]\d|号", name):
            branch = _BRANCH_RE.match(plain, match.start(1) + len(match.group(1)))
            return name + branch.group(0).strip() if branch and not name.endswith(("）", ")", "】")) else name
    return None


# "小饭店", "无招牌水果店", "路边烧烤摊": a kind of shop, no sign. The kind is a common word plus
# 店/摊/铺/馆/档 ("水果"+"店"); "鑫鑫水果店" or "阿三面馆" have a name of their own.
_UNNAMED_PREFIX_RE = re.compile(r"^(?:小|无招牌的?|没有招牌的?|无名的?|路边的?|流动的?)+")
_SHOP_KIND_RE = re.compile(r"^([\u4e00-\u9fff]{1,3})(?:店|摊|铺|馆|档|摊位|小店)$")
# A place before "的" that names an unnamed shop: a street number, a road, a landmark.
_LOCATOR_RE = re.compile(
    r"([\u4e00-\u9fffA-Za-z0-9]{2,24}?(?:号|路|街|弄|门口|对面|旁边|附近|隔壁|菜场|菜市场|市场|小区|广场|新村|站|口))"
    r"((?:上|里|边)?的(?:一家|那家|这家|一个)?)$")


_PLACE_WORDS = ("附近", "旁边", "对面", "里面", "楼下", "门口")


def _is_unnamed_shop(core: str) -> bool:
    """Whether a name found by its suffix is only a kind of shop ("小饭店", "无招牌水果店")."""
    rest = _UNNAMED_PREFIX_RE.sub("", core)
    if is_generic_merchant(rest) or rest != core and len(rest) <= 3:
        return True
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
    if len(place) < 2 or not re.search(r"[号路街弄]|门口|对面|旁边|附近|隔壁|菜场|市场|小区|广场|新村|站", place):
        return None
    return place + match.group(2)


def find_merchant(text: str | None) -> str | None:
    """The business named inside a sentence or letter, whole, or None when unsure.

    First a cue (商家叫 / 店名是 / 名叫 / 一家叫 ...) followed by the name; else a name ending in
    a business suffix (有限公司, 旗舰店, 药房, 店, 健身 ...) widened leftwards over the name's
    characters, with a bracketed branch after it kept ("某某大药房（某某路店）").

    Args:
        text: A sentence or a letter.

    Returns:
        The name, or None.
    """
    if not text:
        return None
    plain = nfkc_keep_brackets(str(text))
    for cue in _CUE_RE.finditer(plain):
        tail = plain[cue.end():]
        stop = _CUE_END_RE.search(tail)
        name = parse_merchant(tail[:stop.start()] if stop else tail)
        if name and len(name) <= _MAX_FOUND_CHARS:
            return name
    bought_at = _bought_at(plain)
    if bought_at:
        return bought_at
    for m in _SUFFIX_RE.finditer(plain):
        start = _widen_left(plain, m.start(), m.end())
        end = m.end()
        if start > 0 and plain[start - 1] in _OPENING_BRACKETS:
            # the suffix is the branch's ("森林屋洗衣（涞亭南路店）"): the name stands before the bracket
            before = _widen_left(plain, start - 1, start - 1)
            close = _BRANCH_RE.match(plain, start - 1)
            if before < start - 1 and close:
                return plain[before:close.end()].strip()
            continue
        # Suffixes in a row belong to one name ("乐活健身" + "俱乐部", "XX" + "健身" + "中心"), and a
        # registered name runs on to its company suffix ("上海益康健身" + "管理有限公司").
        following = _SUFFIX_RE.match(plain, end) or _REGISTERED_TAIL_RE.match(plain, end)
        while following:
            end = following.end()
            following = _SUFFIX_RE.match(plain, end) or _REGISTERED_TAIL_RE.match(plain, end)
        branch = _BRANCH_RE.match(plain, end)
        if branch:
            end = branch.end()
        name = plain[start:end].strip()
        core = plain[start:m.end()]
        if _is_unnamed_shop(core):
            # "金一东路150号的小饭店": a shop without a sign is named by where it is
            located = _with_locator(plain, start)
            if located is not None:
                return located + plain[start:end].strip()
        # A suffix alone ("店", "超市"), a kind of business ("水果店" after 那家), or a count
        # before the suffix ("3家店", "几家店") names nobody. Masking ("XX旗舰店") does name a business.
        if len(core) == len(m.group(0)) or is_generic_merchant(core) or re.fullmatch(r"[\d几两三四五六七八九十]+[家个间]?", core[: -len(m.group(0))]):
            continue
        return name
    return None
