"""Amounts of money in what citizens type ("两千五", "6千8", "2.5万", "3k", "1,350元", "五百来块").

- :func:`parse_amount` — the amount meant in an answer or a sentence, or None
- :func:`find_amounts` — every money amount in a text, in order
- :func:`is_no_amount` — "没有", "不涉及", "没花钱", "免费", "0" (the citizen says: no money involved)
- :func:`format_amount` — an amount as staff pages show it: 2000 -> "2,000 元"

Which amount is meant when a sentence names several (documented rule): a number next to a cue
wins over one without, in three tiers, the first tier first and the earliest within a tier:

1. what is at stake: 余额 / 还剩 / 卡里还有 / 损失 / 金额 / 涉及 / 要求退 — for a prepaid card the
   money left on it is what the complaint is about, not what was once paid;
2. a total: 总共 / 一共 / 共计 / 合计 / 共;
3. a payment: 花了 / 交了 / 充了 / 付了 / 支付 / 买 / 学费 / 押金 ...

Without a cue, a number marked as money (¥, 元, 块, 千, 万, k, w) wins, the earliest first; a
single bare number is taken; several bare numbers are ambiguous (None). Numbers followed by a
date, time, count or floor word (3号, 2楼, 5个, 12月, 2024年) and long digit runs (phones,
order numbers) are never amounts. "多 / 余 / 来" after a number ("三千多", "五百来块") give the
number itself: the lower bound is what can be claimed.

Pure Python, no Rasa; ``xiaoan.tickets.validators.parse_amount`` delegates here.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import NamedTuple


def _nfkc(text: str) -> str:
    """Full-width digits, letters and punctuation to their ASCII forms (２０００ -> 2000)."""
    return unicodedata.normalize("NFKC", text)


_CN_DIGITS = {
    "零": 0, "〇": 0, "一": 1, "壹": 1, "二": 2, "贰": 2, "两": 2, "俩": 2, "三": 3, "叁": 3,
    "四": 4, "肆": 4, "五": 5, "伍": 5, "六": 6, "陆": 6, "七": 7, "柒": 7, "八": 8, "捌": 8,
    "九": 9, "玖": 9,
}
_CN_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_CN_BIG = {"万": 10_000, "萬": 10_000, "亿": 100_000_000}
_CN_CHARS = "".join(_CN_DIGITS) + "".join(_CN_UNITS) + "".join(_CN_BIG)
_CN_FIRST = "".join(k for k in _CN_DIGITS if k not in "零〇") + "十拾"

# What follows a number that is not money: dates, times, counts, percentages.
# Counters and measure words are listed too ("68箱", "30节", "二十公分", "3双"), so that a
# count next to a cue ("一共68箱") is not taken for the money.
_NOT_MONEY_AFTER = re.compile(
    r"[年月日号点时分秒岁个次件天周期楼层室栋幢路弄包折%‰倍克斤米位人家台辆瓶盒箱袋张节双只条套份本支碗杯间寸度届"
    r"公厘毫升吨亩平头匹颗粒根把串批项门站集页场晚夜]")
_AMOUNT_MAX = Decimal("10000000000")

_ARABIC_AMOUNT_RE = re.compile(
    r"(?<![\d.A-Za-z])(?<!\d,)"
    r"(?P<cur>[¥$]|rmb|人民币)?\s*"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?:(?P<unit>[kK](?![A-Za-z])|[wW](?![A-Za-z])|千|万|百)"
    r"(?:(?P<sub>[0-9一二两三四五六七八九])(?P<subunit>千|百)(?P<subtail>[0-9一二两三四五六七八九](?![0-9]))?"
    r"|(?P<tail>[0-9一二两三四五六七八九](?![0-9])))?)?"
    r"(?P<more>多|余|来)?"
    r"(?P<yuan>元|块钱|块|rmb|人民币)?",
    re.IGNORECASE,
)
_CHINESE_AMOUNT_RE = re.compile(
    rf"(?<![第{_CN_CHARS}])(?P<num>[{_CN_FIRST}][{_CN_CHARS}]*(?:点[{''.join(_CN_DIGITS)}]+[万萬亿]?)?)"
    r"(?P<more>多|余|来)?(?P<yuan>元|块钱|块)?"
)
_UNIT_VALUES = {"k": 1000, "K": 1000, "w": 10_000, "W": 10_000, "千": 1000, "万": 10_000, "百": 100}


def _cn_below_10000(text: str) -> int | None:
    """A Chinese numeral below 万: "两千五百" 2500, "一千二" 1200, "一百零五" 105, "十五" 15."""
    if text and all(ch in _CN_DIGITS for ch in text):
        if len(text) == 1:
            return _CN_DIGITS[text]
        return int("".join(str(_CN_DIGITS[ch]) for ch in text))  # read digit by digit: 一二 -> 12
    total, digit, last_unit, zero_after_unit = 0, None, None, False
    for ch in text:
        if ch in ("零", "〇"):
            zero_after_unit, digit = True, None
        elif ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
        elif ch in _CN_UNITS:
            unit = _CN_UNITS[ch]
            total += (1 if digit is None else digit) * unit
            digit, last_unit, zero_after_unit = None, unit, False
        else:
            return None
    if digit is not None:
        # "一千二" means 1200: a lone digit after a unit counts in the next lower unit
        total += digit * last_unit // 10 if last_unit and not zero_after_unit else digit
    return total


def _cn_integer(text: str) -> int | None:
    """A Chinese integer with 万/亿: "两万五" 25000, "一万零五百" 10500, "三千" 3000."""
    for big_char in ("亿", "万", "萬"):
        if big_char in text:
            head, _, rest = text.partition(big_char)
            big = _CN_BIG[big_char]
            high = _cn_integer(head) if head else 1
            if high is None:
                return None
            if not rest:
                return high * big
            if len(rest) == 1 and rest in _CN_DIGITS and rest not in ("零", "〇"):
                return high * big + _CN_DIGITS[rest] * big // 10  # "两万五" = 25000
            low = _cn_integer(rest.lstrip("零〇"))
            return None if low is None else high * big + low
    return _cn_below_10000(text)


def _cn_number(text: str) -> Decimal | None:
    """A Chinese numeral, also with a decimal point: "一点五万" 15000, "三点五" 3.5."""
    if "点" in text:
        int_part, _, frac = text.partition("点")
        big = 1
        if frac and frac[-1] in _CN_BIG:
            big, frac = _CN_BIG[frac[-1]], frac[:-1]
        if not frac or any(ch not in _CN_DIGITS for ch in frac):
            return None
        whole = _cn_integer(int_part) if int_part else 0
        if whole is None:
            return None
        value = Decimal(f"{whole}.{''.join(str(_CN_DIGITS[ch]) for ch in frac)}") * big
        return value
    value = _cn_integer(text)
    return None if value is None else Decimal(value)


def _clean_decimal(value: Decimal) -> Decimal:
    value = value.quantize(Decimal("0.01"))
    if value == value.to_integral_value():
        return Decimal(int(value))
    return value.normalize()


class _AmountCandidate(NamedTuple):
    position: int
    value: Decimal
    strong: bool  # carries a currency sign, 元/块 or a unit (千, 万, k, w)


def _arabic_candidates(text: str) -> list[_AmountCandidate]:
    found = []
    for m in _ARABIC_AMOUNT_RE.finditer(text):
        after = text[m.end():m.end() + 1]
        marked = bool(m.group("cur") or m.group("yuan"))
        if not marked and after and _NOT_MONEY_AFTER.match(after):
            continue
        try:
            value = Decimal(m.group("num").replace(",", ""))
        except InvalidOperation:
            continue
        unit = m.group("unit")
        if unit:
            unit_value = _UNIT_VALUES[unit]
            value *= unit_value
            tail = m.group("tail")
            if tail:
                tail_digit = int(tail) if tail.isdigit() else _CN_DIGITS[tail]
                value += tail_digit * unit_value // 10  # "3千5" = 3500, "1万2" = 12000
            if m.group("sub") and _UNIT_VALUES[m.group("subunit")] < unit_value:
                # "2万8千6" = 28600, "1万5千" = 15000: the lower unit and its own tail
                sub_value = _UNIT_VALUES[m.group("subunit")]
                value += _digit(m.group("sub")) * sub_value
                if m.group("subtail"):
                    value += _digit(m.group("subtail")) * sub_value // 10
        if not marked and not unit and re.match(r"[A-Za-z]", after):
            continue  # "4S店", "5G": part of a name, not money
        before = text[m.start() - 1:m.start()] if m.start() else ""
        if not marked and (after in ("-", "*") or before in ("-", "*")):
            continue  # "138****5678", "XA-261126-0042": masked or grouped identifiers
        digits_only = m.group("num").replace(",", "").replace(".", "")
        if not marked and not unit and len(digits_only) >= 7:
            continue  # a phone, an order or card number: not an amount
        found.append(_AmountCandidate(m.start(), value, marked or bool(unit)))
    return found


def _digit(char: str) -> int:
    return int(char) if char.isdigit() else _CN_DIGITS[char]


def _chinese_candidates(text: str) -> list[_AmountCandidate]:
    found = []
    for m in _CHINESE_AMOUNT_RE.finditer(text):
        numeral = m.group("num")
        after = text[m.end():m.end() + 1]
        marked = bool(m.group("yuan"))
        if not marked and after and _NOT_MONEY_AFTER.match(after):
            continue
        value = _cn_number(numeral)
        if value is None:
            continue
        has_unit = any(ch in _CN_UNITS or ch in _CN_BIG for ch in numeral)
        if not marked and not has_unit and numeral != text:
            continue  # a lone "一" in "一下", "统一": only counts when it is the whole answer
        found.append(_AmountCandidate(m.start(), value, marked or has_unit))
    return found


# Cues before an amount, by tier (see the module docstring). Between the cue and the number
# people put 了/有/约/大概 ...: those are allowed in the gap.
_CUE_TIERS = (
    # a correction or a precise figure after a rough one: "6480 不对 是6840", "1300多 准确是1356"
    r"不对|说错了|打错了|看错了|写错了|准确(?:的)?(?:数字)?是|具体是|确切是|精确是|准确地说",
    r"余额|还剩下?|剩下|剩余|卡里还有|卡内还有|卡上还有|里面还有|还有|损失了?|金额|涉及|涉案|要求退还?|退还|退回|索赔|赔偿|"
    r"(?<![结联综配融组混整])合|折合|(?:全额|全部)?退(?:还|回|给我)?|不退|多收了?我?|多扣了?我?|卡里|卡内|卡上",
    r"总共|一共|共计|合计|总计|总额|总价|共",
    r"花了|花费|交了|缴了|充了|充值|付了|支付|付款|转了|转账|买了?|消费|价格|价值|定金|订金|押金|学费|费用|会费|办卡|办了|收了?我?",
)
_CUE_GAP = r"(?:了|有|的|是|为|约|大约|大概|差不多|将近|近|快|足足|整整|总共|一共|共|[:：]|\s)*$"
_CUE_RES = tuple(re.compile(f"(?:{cues}){_CUE_GAP}") for cues in _CUE_TIERS)
_CUE_WINDOW = 10  # characters looked at before a number


_NOT_REFUNDED_AFTER = re.compile(r"\s*(?:元|块钱|块)?\s*(?:还|都|一直)?(?:没|不给?|未)退")


def _end_of(text: str, position: int) -> int:
    """Where the amount written at `position` ends (its digits, separators and unit letters)."""
    match = re.compile(r"[0-9.,kKwW千万百]+").match(text, position)
    return match.end() if match else position


def _cue_tier(text: str, position: int) -> int | None:
    """The tier (0 = highest) of the cue right before `position`, or None."""
    window = text[max(0, position - _CUE_WINDOW):position]
    for tier, cue_re in enumerate(_CUE_RES):
        if cue_re.search(window):
            return tier
    return None


def _candidates(text: str | None) -> tuple[str, list[_AmountCandidate]]:
    if not text:
        return "", []
    plain = re.sub(r"\s+", "", _nfkc(str(text))).replace("￥", "¥")
    plain = re.sub(r"\.{2,}|…+|。{2,}", "，", plain)  # "嗯…9千": an ellipsis is a pause, not a decimal point
    plain = _JIAO_RE.sub(_jiao, plain)
    return plain, sorted(_arabic_candidates(plain) + _chinese_candidates(plain))


# "86块5", "三块五", "12元5角", "两块五毛": yuan and a tenth, said the colloquial way.
_JIAO_RE = re.compile(
    rf"(?P<yuan>\d+|[{_CN_FIRST}][{_CN_CHARS}]*)(?:块|元)(?P<jiao>[0-9一二两三四五六七八九])(?:角|毛)?"
    r"(?![0-9一二两三四五六七八九十百千万块元角毛分钱个件斤只次天盒瓶袋张本支条套份])")


def _jiao(match: re.Match) -> str:
    yuan, jiao = match.group("yuan"), match.group("jiao")
    if yuan.isdigit():
        return f"{yuan}.{jiao if jiao.isdigit() else _CN_DIGITS[jiao]}元"
    return f"{yuan}点{jiao if not jiao.isdigit() else '零一二三四五六七八九'[int(jiao)]}元"


def _in_range(value: Decimal) -> bool:
    return Decimal(0) <= value <= _AMOUNT_MAX


def parse_amount(text: str | None) -> Decimal | None:
    """The amount of money meant in a citizen's answer or sentence.

    Understands Arabic and Chinese numerals, thousands separators, currency signs and the
    units people use: "2000", "1,350元", "两千五" (2500), "六千八百元", "6千8" (6800),
    "2.5万", "3k", "¥199", "一百九十九块钱", "八百五" (850), "一万二" (12000), "两万五千",
    "五百来块" (500), "大概三千多" (3000). Which of several amounts is meant: see the module
    docstring (cued tiers, then marked, then a single bare number).

    Args:
        text: The answer, e.g. "大概两千五百块吧", or a sentence ("一共充了5000，卡里还有3200").

    Returns:
        The amount as a Decimal (whole numbers without decimals), or None when there is none.
    """
    plain, candidates = _candidates(text)
    if not candidates:
        return None
    cued = [(tier, c.position, c) for c in candidates if (tier := _cue_tier(plain, c.position)) is not None]
    if not cued:
        # a sum the citizen says was not refunded: "四张票1160还没退"
        cued = [(0, c.position, c) for c in candidates if _NOT_REFUNDED_AFTER.match(plain, _end_of(plain, c.position))]
    strong = [c for c in candidates if c.strong]
    if cued:
        chosen = min(cued, key=lambda item: (item[0], item[1]))[2]
    elif strong:
        chosen = strong[0]
    elif len(candidates) == 1:
        chosen = candidates[0]
    else:
        return None
    if not _in_range(chosen.value):
        return None
    return _clean_decimal(chosen.value)


def find_amounts(text: str | None) -> list[Decimal]:
    """Every amount of money in a text, in order of appearance.

    An amount counts when it is marked as money (¥, 元, 块, 千, 万, k, w), follows a cue
    (花了, 还剩 ...), or is the whole text; bare numbers in a sentence ("等了3次") do not.

    Args:
        text: A sentence or a letter.

    Returns:
        The amounts as Decimals (possibly empty).
    """
    plain, candidates = _candidates(text)
    found = []
    for c in candidates:
        if not _in_range(c.value):
            continue
        if c.strong or _cue_tier(plain, c.position) is not None or len(candidates) == 1 and _is_whole(plain, c):
            found.append(_clean_decimal(c.value))
    return found


def _is_whole(plain: str, candidate: _AmountCandidate) -> bool:
    """Whether the number is the whole answer, give or take filler words and punctuation."""
    rest = re.sub(r"[\d.,]|[零〇一壹二贰两俩三叁四肆五伍六陆七柒八捌九玖十拾百佰千仟万萬亿点]", "", plain)
    return not re.sub(r"大概|大约|差不多|约|左右|吧|啊|多|来|余|元|块钱?|[。.!！~～]", "", rest)


# "No money involved" answers. Matched at the start, and only when no amount other than 0 is
# named: "没有发票，花了3000" names an amount.
_NO_AMOUNT_RE = re.compile(
    r"^(?:没有?(?:涉及)?(?:金额|钱款?|损失|花钱|花费)?|无|不涉及(?:金额|钱款?)?|没涉及(?:金额|钱款?)?|没花钱|没花|"
    r"没付钱|没付款|没给钱|免费的?|不要钱|分文未付|一分钱没花|一分没花|零元?|0元?|暂无|不涉及金钱)"
    r"(?:的|啊|呀|吧|了)?[。.!！~～]*$"
)


def is_no_amount(text: str | None) -> bool:
    """Whether the answer says no money is involved ("没有", "不涉及", "没花钱", "免费", "0", "无").

    Args:
        text: The answer to "涉及金额多少?".

    Returns:
        True for a no-money answer, False otherwise (also for an amount or an empty answer).
    """
    if not text:
        return False
    plain = re.sub(r"\s+", "", _nfkc(str(text)))
    value = parse_amount(plain)
    if value is not None and value != 0:
        return False
    return bool(_NO_AMOUNT_RE.match(plain)) or value == 0


def format_amount(amount: Decimal | float | int | None, unit: str) -> str | None:
    """An amount as the staff pages and the weekly report show it, in `unit` (the labels file's
    "元"): 2000 -> "2,000 元"; 399.5 -> "399.50 元"; None stays None."""
    if amount is None:
        return None
    text = f"{amount:,.2f}"
    return (text[:-3] if text.endswith(".00") else text) + f" {unit}"
