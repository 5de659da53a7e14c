"""Long first messages ("letters"): whether a message is one, and the fields a ticket needs.

Citizens often open with a letter of a few hundred characters: who they are, the merchant and
its address, what happened on which dates, how much money is at stake, and what they want
(诉求). :func:`read_letter` reads such a letter once so the complaint or report form can be
prefilled and only the missing fields asked for.

The value parsers of this package do the detailed work (``merchants.find_merchant``,
``addresses.find_address``, ``money.parse_amount``/``find_amounts``, ``dates.find_dates``); this
module picks, among what they find, what a ticket needs. Pure Python, no Rasa import.
"""
from __future__ import annotations

import datetime
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal

from xiaoan.tickets.validators import resolve_district
from xiaoan.understanding.addresses import find_address
from xiaoan.understanding.dates import find_dates
from xiaoan.understanding.merchants import find_merchant
from xiaoan.understanding.money import find_amounts, parse_amount
from xiaoan.understanding.prepaid import demanded_units_value, reckon

__all__ = ["LetterFields", "find_amount", "is_letter", "read_letter", "split_sentences", "without_home"]


@dataclass(frozen=True)
class LetterFields:
    """What a letter says, as far as the ticket forms need it.

    Attributes:
        respondent_name: The merchant, whole ("上海某某健身管理有限公司（七宝店）").
        respondent_address: The merchant's address as written.
        district: District code without "dist-" ("minhang"), or None.
        amount: The money at stake (the loss, paid sum or balance), not a date or a count.
        dates: Dates mentioned, in the order they appear, without repeats.
        claim: The demand (诉求/要求/希望/请求 ...), trimmed of the cue word.
        facts: The letter itself, whitespace-normalised.
        wants_human: The citizen explicitly asks for a person (人工/客服/真人/找个人).
    """

    respondent_name: str | None
    respondent_address: str | None
    district: str | None
    amount: Decimal | None
    dates: list[datetime.date] = field(default_factory=list)
    claim: str | None = None
    facts: str = ""
    wants_human: bool = False


# --------------------------------------------------------------------------------------------
# Sentences and length
# --------------------------------------------------------------------------------------------

_WHITESPACE = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;…])|\n+")
# A numbered item starts a new sentence: "1. 退款 2、赔偿" / "一、事情经过" / "（1）".
_NUMBERED_ITEM = re.compile(
    r"(?:\s|(?<=[：:，,；;]))\s*(?=(?:\d{1,2}|[一二三四五六七八九十])[.、．)）](?!\d))|(?=[（(]\d{1,2}[)）])"
)


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _length(text: str) -> int:
    return len(_WHITESPACE.sub("", text or ""))


def split_sentences(text: str) -> list[str]:
    """The sentences of a letter: split at 。！？； line breaks and numbered items.

    Args:
        text: The letter.

    Returns:
        Non-empty sentences, stripped, in order.
    """
    parts: list[str] = []
    for chunk in _SENTENCE_END.split(text or ""):
        for piece in _NUMBERED_ITEM.split(chunk):
            piece = piece.strip(" \t\r\n，,")
            if piece and _length(piece) > 1:
                parts.append(piece)
    return parts


def is_letter(text: str) -> bool:
    """Whether a message is a letter rather than a chat line.

    A letter has at least 100 characters (spaces not counted), or at least 60 in two or more
    sentences of some length.

    Args:
        text: The message.
    """
    length = _length(text)
    if length >= 100:
        return True
    if length < 60:
        return False
    sentences = [s for s in split_sentences(text) if _length(s) >= 8]
    if len(sentences) >= 2:
        return True
    # One long run with commas only: several clauses of some length make it a letter too.
    # (a message typed on a phone separates its clauses with spaces)
    clauses = [c for c in re.split(r"[，,]|\s+", text) if _length(c) >= 6]
    return len(clauses) >= 4


# --- address -----------------------------------------------------------------------------------

_ADDRESS_LABEL = re.compile(r"(?:地址|地点|位于|位置|门店在|店在|开在)(?:是|为|在)?[:：]?\s*([^\s，。,；;！!？?]{4,60})")
_ROAD_ADDRESS = re.compile(
    r"((?:上海市?)?(?:[\u4e00-\u9fff]{1,4}(?:新区|区))?(?:[\u4e00-\u9fff]{1,4}(?:镇|街道))?"
    r"[\u4e00-\u9fff0-9]{1,12}?(?:路|街|大道|公路|大街|弄)[0-9一二三四五六七八九十百]+(?:弄[0-9]+)?号"
    r"(?:[0-9]+(?:号楼|幢|栋))?(?:[A-Za-z0-9\-]+(?:室|楼|层|铺|号铺))?)"
)


# The citizen's own address ("家住静安区武定路", "我住在…") is not the merchant's: blanked out first.
_HOME_ADDRESS = re.compile(r"(?:家住|住在|我住|居住在|居住于|家在|住址[:：是为]?|通信地址[:：是为]?|联系地址[:：是为]?)[^，,。；;！!？?\n]*")


# The shop placed by the citizen's home ("小区门口有一家", "我家楼下的").
_NEAR_HOME = re.compile(r"(?:小区|家|楼)(?:门口|楼下|对面|旁边|附近|边上|隔壁|里面|底下)|(?<![\u4e00-\u9fff])(?:楼下|隔壁)")


def without_home(text: str) -> str:
    """`text` with the citizen's own address blanked out (same length, so positions still hold)."""
    return _HOME_ADDRESS.sub(lambda m: "，" * len(m.group(0)), text)


def _find_address(text: str) -> tuple[str | None, str | None]:
    """(address, district code) of the merchant's address in a letter whose home address is blanked."""
    found = find_address(text)
    if found is not None and found.text:
        return found.text, found.district or resolve_district(found.text)
    for pattern in (_ADDRESS_LABEL, _ROAD_ADDRESS):
        match = pattern.search(text)
        if match:
            address = match.group(1)
            return address, resolve_district(address)
    return None, None


_HOUSE_NUMBER = re.compile(r"\d+(?:弄|号)")
_CLAUSE_MARKS = "，,。；;！!？?\n"
# Right after the name: a remark in brackets ("（徐汇区龙华中路）") or a clause that is only a place
# ("上海伟业建筑材料有限公司，奉贤区柘林镇").
_AFTER_NAME = re.compile(r"\s*(?:[（(]([^（()）]{2,24})[)）]|[，,]\s*([\u4e00-\u9fff0-9]{2,16}?)(?=[\s。；;]|$|[，,]?\s*(?:举报|投诉)))")


def _merchant_district(text: str, merchant: str | None) -> str | None:
    """The district of the place written with the merchant's name: before it in its clause
    ("静安区南京西路某大厦里面的尚品瑜伽", "南京东路步行街步锐运动专卖店"), in its branch
    ("名剪造型（大华店）"), or right after it ("…有限公司（徐汇区龙华中路）", "…，奉贤区柘林镇")."""
    if not merchant:
        return None
    core = re.split(r"[（(]", merchant, maxsplit=1)[0]
    position = text.find(core) if core else -1
    if position < 0:
        return None
    clause_start = max(text.rfind(mark, 0, position) for mark in _CLAUSE_MARKS) + 1
    before = text[max(clause_start, position - 30):position]
    end = position + len(core)
    branch = re.match(r"[（(]([^（()）]{1,12}?)(?:分店|店|门市部|营业部|校区|分校|门店)[)）]", text[end:])
    after = _AFTER_NAME.match(text, end + (branch.end() if branch else 0))
    for place in (before, branch.group(1) if branch else None, after and (after.group(1) or after.group(2))):
        district = resolve_district(place) if place else None
        if district is not None:
            return district
    return None


# --- dates -------------------------------------------------------------------------------------

def _find_dates(text: str, today: datetime.date) -> list[datetime.date]:
    """The dates of a letter in order, each once."""
    unique: list[datetime.date] = []
    for day in find_dates(text, today):
        if day not in unique:
            unique.append(day)
    return unique


# --------------------------------------------------------------------------------------------
# The amount at stake
# --------------------------------------------------------------------------------------------

# Cue words before the money at stake, best first: what was lost or deducted, what is left on a
# card or the total, then what was paid, then what the citizen asks back.
_AMOUNT_CUES: tuple[tuple[float, str], ...] = (
    # the citizen's own demand: "要求退还5000元学费", "诉求：1.退还刹车盘的费用2600元", "找他退600块"
    (-1, r"(?:要求|请求|诉求|希望|恳请|请帮我?|帮我|我要|我就要|只要|我想|必须|务必|起码|至少|一定要|督促|责令|(?<=[，,。\s])要(?=退))"
         r"[^，,。；;！!？?]{0,6}?(?:退还|退回|退给我|退我|退款|返还|赔偿|赔付|赔我|要回|追回|拿回|退|全额|承担)(?:给我)?|"
         r"(?:找|要|让)(?:他|她|他们|商家|店家|老板|对方|店里)退(?:还|回)?"),
    (-0.5, r"(?:按比例|按合同|按规定)?(?:应该|应当|应)退(?:还|回)?(?:我|给我)?"),  # what should come back: the demand
    (0, r"损失了?|扣了我?|扣除了?|扣款|多收了?我?|应该是|涉及(?:金额)?|涉案金额"),
    # what is left of what was paid (the balance, the unused part) before the totals: the balance
    # is what a closed shop owes ("一共7,200元 … 剩余的课时费是4,080元")
    (0.5, r"(?:我)?算(?:过|了一下|下来)(?:是|一共|总共|应该是)?|还差"),  # the citizen's own reckoning
    (0.8, r"余额(?:还有|还剩|为|是)?|还有|卡里?(?:面)?(?:还)?(?:有|剩|剩下)|还剩下?|剩余|剩下|没用完的?|未消费的?|(?<=[，,\s])剩|"
          r"(?<![结联综配融组混整])合(?=\s*[0-9零一二两三四五六七八九十])|折合|算下来|按[^，,。]{1,8}算(?:是|共|下来)?"),
    (1, r"金额(?:是|为|共|总共|一共)?|共计|合计|总共|一共|总计|累计|成交价|实付|实际支付了?|到手价|"
        r"(?<!原)(?:活动|狂欢|优惠|折后|促销|秒杀|团购)价"),
    (2, r"花了|花费了?|交了|缴了|缴纳了?|付了|支付了?|付款|充值了?|充了|存了|预存了?|预付了?|办卡|买了|买的|报了|购买了?|价格|价值|售价|标价|"
        r"收了?我|收取了?|收费|要价|订金|定金|押金|团费|学费|课时费|会费|房费|票款|货款|全款|首付|报名费|服务费"),
    (3, r"退还|退回|退我|退款|返还|赔偿|赔付|补偿|要回"),
)
# An amount the citizen then asks to get back: "…共1620元，请帮我要回来".
_DEMAND_AFTER = re.compile(r"[，,]?\s*(?:请|麻烦)?(?:你们|您)?(?:帮我|帮忙)?(?:把钱)?(?:要回来|追回来|拿回来|退给我|还给我)"
                           r"(?![看发打说讲介展送拿做推办签写留加听])"
                           r"|(?<=[0-9元块])\s*要求退(?:款|卡|还|钱)?(?=$|[，,。！!？?\s])|(?<=[0-9元块])\s*(?:还)?(?:没|不给?|未)退")
_CLAUSE_END = re.compile(r"[，,。；;！!？?\n]")
# A sentence that states the demand, and the words in it after which the demanded sum comes.
_DEMAND_SENTENCE = re.compile(r"(?:要求|请求|诉求|恳请)[:：]?")
_SENTENCE_END_MARK = re.compile(r"[。！!？?；;\n]")
_ASKS_FOR_MONEY = re.compile(r"退还|退回|退给我|退我|返还|赔偿|赔付|要回|追回|拿回|合计|共计|总共|一共|总计|最低|至少")
# Money written as such: a unit right after a number ("涉及10600块", "三千八百元", "2.5万", "3k"), a
# currency sign or word. A 万 or 千 in a name ("万顺教育") is no money.
_MONEY_MARK = re.compile(r"(?:[0-9]|[零〇一二两三四五六七八九十百千万])\s*(?:[元块kKwW]|万|千|人民币|rmb)|[¥￥]|人民币", re.IGNORECASE)


_NUMBER = re.compile(r"[0-9][0-9,.]*|[零〇一二两三四五六七八九十百千万亿壹贰叁肆伍陆柒捌玖拾佰仟]+")
_MONEY_AFTER = re.compile(r"[多余来]?(?:左右|上下|出头)?(?:$|[^\u4e00-\u9fff]|[元块万千百十]|人民币|的?(?:定金|订金|押金|钱|费用)"
                          r"|[买购](?!\d))")
# A sum in digits named by the fee or payment right after it: "收了200开瓶费", "要求退4500购犬款".
_FEE_AFTER = re.compile(r"(?![人个件次节天年月斤公里米平条张份套台只周岁号点分期晚课时项半成小])[\u4e00-\u9fff]{1,4}?(?:费|款)"
                        r"(?![\u4e00-\u9fff]?[0-9])")
# What a number in 万/千 counts when it is not money: "两万人", "三千个".
_COUNTER_AFTER = re.compile(r"[多余来]?[人个件次节天年月斤公里米平条张份套台只周岁号点分]")
# 块 as a measure word, not yuan: a small count followed by a thing ("买了一块手表", "两块蛋糕");
# "五块钱", "一块多", "三块五" are money.
_COUNTER_KUAI = re.compile(r"(?:[一两二三四五六七八九几]|[1-9](?![\d.]))块(?=[\u4e00-\u9fff])(?![钱多左五半零一二三四五六七八九的给买还])")


def _amount_after(text: str, start: int) -> Decimal | None:
    """The amount right after a cue, inside its clause ("花了三千八，" -> 3800).

    Numbers that count something ("一晚的房费430元", "96节课") are stepped over.
    """
    end_match = _CLAUSE_END.search(text, start)
    window = text[start:end_match.start() if end_match else len(text)]
    for number in _NUMBER.finditer(window):
        if number.start() >= 16:
            break  # only a number that starts close to the cue (read whole: "…我要求退15块")
        in_wan = re.search(r"[万千]", number.group(0)) and not _COUNTER_AFTER.match(window, number.end())
        fee = number.group(0)[:1].isdigit() and len(number.group(0).rstrip(".,")) >= 2 and _FEE_AFTER.match(window, number.end())
        if not (_MONEY_AFTER.match(window, number.end()) or in_wan or fee) or _COUNTER_KUAI.match(window, number.start()):
            continue  # followed by a counter: 晚, 节, 盒, 次, 一块手表 ...
        if window.startswith("分之", number.end()) or window.endswith("分之", 0, number.start()):
            continue  # a fraction ("只有正品的三分之一", "百分之三十") is no amount
        # only the amount itself: the rest of the clause may hold another, cued sum
        # ("退款178元并按食品安全法赔偿一千元" is 178 after 退款)
        written = _AMOUNT_WRITTEN.match(window, number.start())
        if written and window.startswith(("%", "％", "折"), written.end()):
            continue  # "扣除30%的折旧费", "打八折": a share, not a sum
        value = parse_amount(written.group(0) if written else window[number.start():])
        if value is not None and value > 0:
            return value
        return None
    return None


# An amount as written, from its first digit: "178元", "2万8千6", "三千五百块", "1,350元", "3.2k".
_AMOUNT_WRITTEN = re.compile(r"[0-9零〇一二两三四五六七八九十百千万亿壹贰叁肆伍陆柒捌玖拾佰仟,.kKwW]+"
                             r"(?:[多余来])?(?:元|块钱|块|人民币)?(?:[0-9一二三四五六七八九](?![0-9]))?")


# Multipliers of a claim are no amounts: "退一赔三", "假一赔十", "三倍赔偿".
_MULTIPLIER = re.compile(r"[退假]一赔[一二三四五六七八九十]+|[一二两三四五六七八九十\d]+倍")


# The citizen wants back what is left (of a package or a card), not what was paid.
_WANTS_THE_REST = re.compile(r"剩下|剩余|余额|没上|没有上(?!班)|未上|没用|没有使用|未用|未使用|没做|未消费|按比例|按月|按次|折算")


# A correction or a precise figure after a rough one wins: "余额6480 不对 是6840", "5k多 具体是5,380".
_CORRECTED = re.compile(r"(?:不对|说错了|打错了|看错了|写错了)[，,\s]*(?:应该)?(?:是|(?=[0-9]))|(?:准确|具体|确切|精确)(?:的)?(?:数字|金额)?是|准确地说是?"
                        r"|实际(?:的)?(?:余额|金额|数字)?应(?:该)?(?:为|是)")
# What is still owed after a partial refund: "他们只退了2,492，还差7200元".
_STILL_OWED = re.compile(r"(?:只|已经?|才)退了?[^。；;！!？?]{0,12}?[，,\s]\s*还(?:差|欠)(?:我)?")
# A sum of the items listed before it in the same sentence: "维修花了3,500，重新贴砖报价4,500，合计8,000元".
_SUM = re.compile(r"合计|共计|总计|加起来(?:一共|总共)?|两项(?:费用)?共|一共是")
# "要么把980退给我": the sum between 把 and the demand.
_GIVE_BACK = re.compile(r"(?:把|按)\s*([0-9][0-9,.]*\s*(?:元|块)?)[^，,。；;0-9]{0,6}?(?:退给我|还给我|退还给我|退回来|退还|退我|退了)")
# Phone-typed clauses are separated by spaces: "国庆两晚1680 出发前一天台风预警 …".
_SPACED_CLAUSE = re.compile(r"(?<=[\u4e00-\u9fff0-9])\s+(?=[\u4e00-\u9fff0-9])")


def find_amount(text: str) -> Decimal | None:
    """The sum in dispute in a letter or a chat line: the demand,
    a correction, what is still owed, the balance or what is left of a package, else what was paid."""
    plain = _SPACED_CLAUSE.sub("，", _nfkc(text)).replace("￥", "¥")
    plain = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", plain)  # thousands separators first: 2,860元
    owed = _STILL_OWED.search(plain)
    if owed:  # "只退了2,492，还差7200元": what is still owed
        value = _amount_after(plain, owed.end())
        if value is not None:
            return value
    corrected = None
    for match in _CORRECTED.finditer(plain):
        value = _amount_after(plain, match.end())
        if value is not None:
            corrected = value  # the last correction stands
    if corrected is not None:
        return corrected
    given = _GIVE_BACK.search(plain)
    if given:
        value = parse_amount(given.group(1))
        if value:
            return value
    plain = _MULTIPLIER.sub(lambda m: "倍" * len(m.group(0)), plain)
    best: tuple[int, int, Decimal] | None = None
    for rank, cue in _AMOUNT_CUES:
        for m in re.finditer(cue, plain):
            value = _amount_after(plain, m.end())
            if value is None:
                continue
            if rank < 0:
                value += _also_demanded(plain, m.end())
            candidate = (rank, m.start(), value)
            if best is None or candidate[:2] < best[:2]:
                best = candidate
    for total in _SUM.finditer(plain):
        sentence_start = max(plain.rfind(mark, 0, total.start()) for mark in "。！!？?；;\n:：") + 1
        if len(find_amounts(plain[sentence_start:total.start()])) >= 2:
            value = _amount_after(plain, total.end())
            if value is not None and (best is None or best[0] > 0.7):
                best = (0.7, total.start(), value)
    # what is left of a package or a card, reckoned once
    reckoned = reckon(plain)
    # sessions left at a written unit price ("每节300 … 上了15节" of "40节私教课"): the sum even
    # when the letter does not ask for "the rest" in so many words
    if reckoned.priced and reckoned.value is not None and (best is None or best[0] > 0):
        best = (0.5, 0, reckoned.value)
    # any reckoning, when the citizen asks for the rest
    rest = reckoned.value if _WANTS_THE_REST.search(plain) else None
    if rest is not None and (best is None or best[0] > 0.9):
        # the letter gives the package or the card, not the sum left
        # ("20节课2800元，上了6节 … 要求退还剩下没上的课时费" is 1,960)
        best = (0.9, 0, rest)
    for cue in _DEMAND_SENTENCE.finditer(plain):
        # "我要求解除合约，退还手机钱999元" / "要求按食品安全法赔偿，每人最低1000": the demand's
        # amount in a later clause of the same sentence, after a word that asks for money back
        if best is not None and best[:2] <= (-1, cue.start()):
            break
        # "要求：1.重新做防水；2.赔偿上面两项费用共8,000元" — a list after a colon runs to the paragraph's end
        end = (re.compile(r"\n").search(plain, cue.end()) if plain[cue.end() - 1:cue.end()] in ":："
               else _SENTENCE_END_MARK.search(plain, cue.end()))
        sentence = plain[cue.end():end.start() if end else len(plain)]
        for ask in _ASKS_FOR_MONEY.finditer(sentence):
            value = _amount_after(plain, cue.end() + ask.end())
            if value is not None:
                best = (-1, cue.start(), value)
                break
        else:
            continue
        break
    for demand in _DEMAND_AFTER.finditer(plain):
        sentence_start = max(plain.rfind(mark, 0, demand.start()) for mark in "。！!？?；;\n") + 1
        before = plain[sentence_start:demand.start()]
        amounts = find_amounts(before)
        bare = re.search(r"([0-9][0-9.]*)\s*(?:元|块)?\s*$", before)
        if not amounts and bare:  # "年卡398要求退", "四张票1160还没退": the number right before it
            amounts = [parse_amount(bare.group(1))] if parse_amount(bare.group(1)) else []
        if amounts:
            value = amounts[-1]
            if rest is not None and _WANTS_THE_REST.search(before[_end_of_written(before, value):]):
                # "4次保养一共2680元 只做了1次 … 要求把剩下3次的钱退给我": the rest, not the price
                value = rest
            if value > 0 and (best is None or (-1, demand.start()) < best[:2]):
                best = (-1, demand.start(), value)
    if best is None or best[0] >= 0:
        # a demand that names no sum of its own but states a total: "我要求：双倍返还定金，共4万元"
        for cue in _DEMAND_SENTENCE.finditer(plain):
            total = _demand_total(plain, cue.start())
            if total is not None:
                best = (-1, cue.start(), total)
                break
    if best is not None and best[0] < 0:
        # a demand of several items that states their total: "退还学费3600元加服装费200元，合计3800元",
        # "要求：1、退还货款2100元；2、赔偿维修费3000元。合计5100元" — the total is the sum in dispute
        total = _demand_total(plain, best[1])
        if total is not None and total > best[2]:
            best = (best[0], best[1], total)
    for each in _EACH.finditer(plain):
        # "三张卡余额分别是186元、300元、452元 … 要求退还三张卡的余额": the balances together
        values = _listed_after(plain, each.end())
        if len(values) >= 2 and (best is None or best[0] > 0.75):
            best = (0.75, each.start(), sum(values))
    if best is None or best[0] > 0:
        units = demanded_units_value(plain)  # "198一张 买了两张 … 要求退还两张团购款"
        if units is not None:
            best = (-1, 0, units)
    if best is not None:
        return best[2]
    # No cue: the first amount explicitly marked as money in any clause.
    for clause in _CLAUSE_END.split(plain):
        clause = _COUNTER_KUAI.sub(lambda m: m.group(0)[:-1] + "个", clause)  # 一块手表: no money
        if _MONEY_MARK.search(clause):
            # the amount marked as money, not the first number ("一个鸡蛋饼要15块" -> 15)
            for value in find_amounts(clause):
                if value > 0:
                    return value
    # Nor marked as money: a bare sum right after a card or a payment ("年卡3288才用了2个月").
    bare = _BARE_PAID.search(plain)
    return parse_amount(bare.group(1)) if bare else None


# A bare number after what was bought or paid, not followed by a counter or a date.
_BARE_PAID = re.compile(r"(?:卡|充了|充值|交了|付了|花了)\s*([1-9][0-9]{2,5})(?![0-9.])"
                        r"(?!\s*(?:节|次|堂|课|晚|个|月|年|日|号|楼|层|岁|人|张|件|瓶|斤|克|%|％|折|倍|天|周|期|位|份|套))")
# Another item of the same demand: "退还金融服务费3000元和上牌费1500元".
_AND_ALSO = re.compile(r"[^，,。；;！!？?0-9]{0,2}?(?:和|及|以及|、|加上|外加|连同)[^，,。；;！!？?0-9]{0,8}?(?=[0-9])")


# The total of a demand's items, stated at its end.
_DEMAND_TOTAL = re.compile(r"(?:合计|共计|总计|一共|总共|加起来|共)(?:是|为|约)?")
# Sums of several things listed together: "余额分别是186元、300元、452元".
_EACH = re.compile(r"分别(?:是|为|有|剩|还有|还剩)?")
_LIST_JOIN = re.compile(r"\s*(?:、|和|及|以及|，|,)\s*")


def _demand_total(text: str, at: int) -> Decimal | None:
    """The last total stated in the demand that starts at `at`: to the end of its sentence, or of
    its paragraph when the demand opens a list ("我的要求：1、…；2、…。合计5100元")."""
    opens_list = re.match(r"[^，,。；;\n]{0,4}[:：]", text[at:])
    end_mark = re.compile(r"\n") if opens_list else _SENTENCE_END_MARK
    end = end_mark.search(text, at)
    segment_end = end.start() if end else len(text)
    total = None
    for match in _DEMAND_TOTAL.finditer(text, at, segment_end):
        value = _amount_after(text, match.end())
        if value is not None:
            total = value
    return total


def _listed_after(text: str, start: int) -> list[Decimal]:
    """The sums written one after another from `start`, joined by 、/和/及/commas."""
    values: list[Decimal] = []
    position = start
    while True:
        written = _AMOUNT_WRITTEN.match(text, position)
        if not written or not _MONEY_MARK.search(written.group(0)):
            return values
        value = parse_amount(written.group(0))
        if value is None or value <= 0:
            return values
        values.append(value)
        joined = _LIST_JOIN.match(text, written.end())
        if not joined:
            return values
        position = joined.end()


def _end_of_written(text: str, value: Decimal) -> int:
    """Where the last written amount of `text` that reads as `value` ends (0 when none does)."""
    end = 0
    for number in _NUMBER.finditer(text):
        written = _AMOUNT_WRITTEN.match(text, number.start())
        if written and parse_amount(written.group(0)) == value:
            end = written.end()
    return end


def _also_demanded(text: str, start: int) -> Decimal:
    """What further items of a demand add: the sums joined by 和/及/、 in the demand's clause."""
    extra = Decimal(0)
    number = _NUMBER.search(text, start)
    if not number:
        return extra
    written = _AMOUNT_WRITTEN.match(text, number.start())
    position = written.end() if written else number.end()
    while True:
        joined = _AND_ALSO.match(text, position)
        if not joined:
            return extra
        value = _amount_after(text, joined.end())
        if value is None:
            return extra
        extra += value
        following = _AMOUNT_WRITTEN.match(text, joined.end())
        position = following.end() if following else joined.end()


# --------------------------------------------------------------------------------------------
# The claim
# --------------------------------------------------------------------------------------------

_CLAIM_LABEL = re.compile(r"(?:我的|本人的?|我们的)?(?:诉求|要求|请求事项|请求|投诉请求|投诉要求|处理要求)(?:如下|是|为)?[:：]\s*")
_SUBJECT = r"(?:我们|我|本人|家人|现|现在|故|因此|所以|特此|最后|强烈|坚决|诚恳|真诚|恳切|再次|只|就|都|也|还是|非常|十分|很)*"
_ADDRESSEE = (
    r"(?:你们|您们|您|贵局|贵单位|贵部门|相关部门|有关部门|市场监管局|市场监管部门|监管部门|执法部门|"
    r"政府|领导|工作人员)?"
)
_CLAIM_CUE = re.compile(
    r"^" + _SUBJECT + r"(?:的|们的)?(?:(?:诉求|要求)(?:是|为)?|希望|请求|恳请|恳求|盼望|期望|期盼|望|盼|请(?!问|教)|麻烦|"
    r"要(?=他们|商家|店家|对方|老板|店里|公司|平台|卖家))"
    + _ADDRESSEE + r"(?:帮忙|帮助|帮我们|帮我|协助|依法)?[:：，,]?\s*"
)
_AFTER_CLAIM = re.compile(r"(?:我的|本人)?(?:联系电话|联系方式|电话|手机|附件|附[:：]|此致|谢谢|感谢|敬礼)")
_COURTESY_END = re.compile(r"[，,。！!\s]*(?:谢谢(?:你们|您)?|感谢(?:你们|您)?|麻烦(?:你们|您)?了|拜托了)?[。！!\s]*$")


def _find_claim(text: str) -> str | None:
    label = _CLAIM_LABEL.search(text)
    if label:
        # everything after the label, up to contact details or a closing formula
        kept: list[str] = []
        for sentence in split_sentences(text[label.end():]):
            if _AFTER_CLAIM.match(sentence):
                break
            kept.append(sentence)
        claim = " ".join(kept).strip(" ，,。；;")
        return claim or None
    sentences = split_sentences(text)
    claims: list[str] = []
    for sentence in sentences:
        for clause in re.split(r"(?<=[，,])", sentence):
            clause = clause.strip()
            match = _CLAIM_CUE.match(clause)
            if match:
                rest = sentence[sentence.index(clause) + match.end():]
                rest = _COURTESY_END.sub("", rest).strip(" ，,。；;！!")
                # "麻烦你们了" leaves "了": a claim says something
                if len(re.sub(r"[^\u4e00-\u9fffA-Za-z0-9]|[了啦啊呀吧的]", "", rest)) >= 2:
                    claims.append(rest)
                break
    if not claims:
        return None
    return "；".join(claims[-2:])  # the demand closes a letter: keep the last two at most


# --------------------------------------------------------------------------------------------
# An explicit request for a person
# --------------------------------------------------------------------------------------------

_HUMAN = re.compile(
    r"人工(?!费|湖|智能|成本|草|降雨|合成|养殖|种植)|真人|活人|找个人|转客服|"
    r"(?:找|要|转|接|让)(?:你们的?)?(?:客服|工作人员|接线员)|(?:你们的?)(?:客服|工作人员)(?:联系我|给我回电|打电话给我)|"
    r"不要(?:跟)?机器人|别用机器人"
)


def _wants_human(text: str) -> bool:
    return bool(_HUMAN.search(text))


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def read_letter(text: str, today: datetime.date) -> LetterFields:
    """Reads the fields a ticket needs from a letter.

    Args:
        text: The letter, as the citizen sent it.
        today: The date the letter arrived (dates without a year are the latest before it).

    Returns:
        The fields found; each is None (or empty) when the letter does not give it.
    """
    facts = _WHITESPACE.sub(" ", text or "").strip()
    # Names, addresses and the claim are returned as written (full-width brackets and commas
    # kept); amounts and dates are read from the NFKC form (full-width digits).
    elsewhere = without_home(facts)  # the citizen's own address names neither the merchant's nor its district
    merchant = find_merchant(facts)
    address, district = _find_address(elsewhere)
    if address is None or not _HOUSE_NUMBER.search(address):
        # no street address: where the letter places the merchant itself beats places mentioned
        # elsewhere ("新址在嘉定", "我是从嘉定特地跑过去的", "转到普陀那家店")
        district = _merchant_district(elsewhere, merchant) or district
    if district is None:
        district = resolve_district(elsewhere)
    if district is None and _NEAR_HOME.search(facts):
        # "我住在鞍山新村，小区门口有一家干洗店": the shop is where the citizen lives
        home = _HOME_ADDRESS.search(facts)
        district = resolve_district(home.group(0)) if home else None
    return LetterFields(
        respondent_name=merchant,
        respondent_address=address,
        district=district,
        amount=find_amount(facts),
        dates=_find_dates(_nfkc(facts), today),
        claim=_find_claim(facts),
        facts=facts,
        wants_human=_wants_human(facts),
    )
