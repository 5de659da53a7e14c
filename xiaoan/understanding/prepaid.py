"""What is left of a prepaid package or a stored-value card, reckoned from what a letter says.

A citizen whose gym, school or salon closed usually writes the sums they know and leaves the
reckoning to whoever reads: "20节课2800元，上了6节" (1,960 left), "充了两千 洗了8次 一次扣35"
(1,720), "年卡3600 用了3个月" (2,700), "私教课40节，单价260元，剩余24节未上" (6,240). The ticket
wants the sum in dispute, so :func:`remaining_value` does that arithmetic:

- a **package** of N sessions (节/次/堂/课时/晚/个月; a 年卡 is 12 months) with a unit price, or
  a package price to divide; the sessions left are stated ("还剩24节", "剩下两次") or are N
  minus the sessions used ("上了12节，不对，是14节": the correction counts);
- a **stored-value card**: what was paid in, less the uses times their price ("每次扣35",
  "每次原价280打8折") or less what was spent ("一共消费了6200元").

It answers None unless the letter gives everything the reckoning needs, and a result that is not
less than what was paid is no remainder. Pure Python; the letter reader decides when to use it.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from xiaoan.understanding.money import find_amounts, parse_amount

__all__ = ["Reckoning", "demanded_units_value", "reckon", "remaining_value"]

_CN_COUNT = "一二两三四五六七八九十"
_COUNT = rf"([0-9]{{1,3}}|[{_CN_COUNT}]{{1,3}})"
# The units a package is counted in; 课时 before 课, 个月 before 月. A count may take 个 before its unit
# ("96个课时", "62个小时"): _COUNTED is a count and its unit.
_UNIT = r"(课时|节|次|堂|晚|个月|期|小时)"
_COUNTED = _COUNT + r"\s*个?\s*" + _UNIT
_SAME_SENTENCE = r"[^。！!？?；;\n]"

_USED = re.compile(
    r"(?:已经|已|才|只|仅|一共|总共|共)?(?:用了|上了|上过|上课了?|做了|做过|洗了|拍了|练了|去了|消费了|剪了|来了|住了|"
    r"使用了|用掉了?|游了|学了|跳了|送了)"
    r"(?:不到|差不多|大概)?(?:[\u4e00-\u9fff]{1,6}?(?:共|一共|总共))?\s*" + _COUNT + r"(?!\s*个?半)\s*个?\s*" + _UNIT + r"?")
_LEFT = re.compile(
    r"(?:还剩下?|剩余|剩下的?|还有|没上的?|未上的?|没用的?|未使用的?|没做的?|后面的?|剩)\s*" + _COUNTED)
# A correction right after a count: "上了12节，不对，是14节".
_COUNT_CORRECTED = re.compile(r"\s*[，,]?\s*(?:不对|说错了|记错了|写错了)\s*[，,]?\s*(?:应该)?是\s*" + _COUNT + r"\s*" + _UNIT + r"?")
_PACKAGE = re.compile(r"(?:一共|共|总共|买了?|报了?|办了?|套餐|课包|次卡)?\s*" + _COUNTED)
# A card or a subscription by the year: "年卡3600", "两年会籍", "订了一年的鲜奶".
_YEAR_CARD = re.compile(r"([一两二三1-3半])?\s*年(?:的)?(?:卡|会员|会籍)"
                        r"|(?:订|办|买|签|交|报|续)了?(?:个)?([一两二三1-3半])\s*年(?![0-9级])")
_MONTHS_USED = re.compile(r"(?:用了|练了|去了|上了|过了)\s*" + _COUNT + r"\s*个?月")
_MONTHS_LEFT = re.compile(r"(?:还剩下?|剩余|剩下的?|还有)\s*" + _COUNT + r"\s*个?月")

_PRICE = r"([0-9]+(?:\.[0-9]+)?|[一二两三四五六七八九十百千]+)"
# The price of one session: "每节300", "一节150", "单价260元", "一个月合220", "每次按卡价380元", "300一节".
_UNIT_PRICE = re.compile(
    r"(?:(?<![0-9零一二两三四五六七八九十百千第])(?:每|一|单)(?:课时|节|次|堂|晚|个月|月|期|小时)(?:课)?|单价|课时费)"
    r"(?:的?(?:价格|单价|费用|课时费|卡价|原价)?)?(?:是|为|要|合|算|按|扣|收)?(?:卡价|原价)?\s*" + _PRICE + r"\s*(?:元|块)?")
_PRICE_FIRST = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(?:元|块)?\s*(?:一|每|/)(课时|节|次|堂|晚|个月|月|期|小时)(?!课|卡)")
# "打8折", "八折": the price of a use after the discount.
_DISCOUNT = re.compile(r"(?:打)?([1-9]|[一二三四五六七八九])(?:\.([0-9]))?折")
# Money paid into a card: "充了两千", "充值10000元", "储值卡里存了3000".
_PAID_IN = re.compile(r"(?:充值了?|充了|储值了?|存了|预存了?|预充了?|充)\s*")
_SPENT = re.compile(r"(?:一共|总共|累计|共)?(?:消费了|用掉了?|花掉了?|扣了|扣掉了?)\s*")


# A bare number that is money by its place ("年卡3600，用了3个月", "充了2000，做了3次"): not a count,
# a date, a share, a floor or a phone number.
_BARE_SUM = re.compile(
    r"(?<![0-9.第])([0-9]{2,6}(?:\.[0-9]{1,2})?)(?![0-9.])(?!\s*(?:节|次|堂|课|晚|个|月|年|日|号|楼|层|岁|人|张|件|瓶|斤|克|"
    r"%|％|折|倍|天|周|小时|分钟|米|平|公里|期|位|份|套|双|只|台|辆|间|晚))")


def _sums(text: str) -> list[Decimal]:
    """Sums of money in a piece of text: those written as money, else bare numbers in their place."""
    found = find_amounts(text)
    if found:
        return found
    return [Decimal(m.group(1)) for m in _BARE_SUM.finditer(text)]


def _count(text: str | None) -> int | None:
    if not text:
        return None
    value = parse_amount(text) if not text.isdigit() else Decimal(text)
    if value is None or value != int(value) or not 0 < value < 1000:
        return None
    return int(value)


def _unit(unit: str | None) -> str:
    return {"课时": "节", "堂": "节", "个月": "月"}.get(unit or "", unit or "")


def _money_after(text: str, start: int, reach: int = 12) -> Decimal | None:
    """The first amount written as money within `reach` characters after `start`, in the sentence."""
    window = re.match(_SAME_SENTENCE + "{0,%d}" % reach, text[start:]).group(0)
    found = _sums(window)
    return found[0] if found else None


def _round(value: Decimal) -> Decimal:
    value = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return Decimal(int(value)) if value == int(value) else value


def _unit_price(text: str) -> Decimal | None:
    match = _UNIT_PRICE.search(text)
    price = parse_amount(match.group(1)) if match else None
    if price is None:
        first = _PRICE_FIRST.search(text)
        price = parse_amount(first.group(1)) if first else None
    if price is None or price <= 0:
        return None
    tail = text[match.end():match.end() + 8] if match else ""
    discount = _DISCOUNT.match(tail.lstrip("，, "))
    if discount:
        tenths = _count(discount.group(1)) or 10
        extra = int(discount.group(2)) if discount.group(2) else 0
        price = price * (Decimal(tenths) + Decimal(extra) / 10) / 10
    return price


def _used(text: str) -> tuple[int | None, str]:
    """Sessions used (the last correction wins) and their unit."""
    used, unit = None, ""
    for match in _USED.finditer(text):
        count = _count(match.group(1))
        if count is None:
            continue
        corrected = _COUNT_CORRECTED.match(text, match.end())
        if corrected and _count(corrected.group(1)):
            count = _count(corrected.group(1))
        used, unit = count, _unit(match.group(2))
        if unit:
            break
    return used, unit


def _package(text: str, used_spans: list[tuple[int, int]]) -> tuple[int | None, str, int]:
    """The package's size, unit and where it is written: the largest count not used or left."""
    best: tuple[int, str, int] | None = None
    for match in _PACKAGE.finditer(text):
        if any(start <= match.start(1) < end for start, end in used_spans):
            continue
        count = _count(match.group(1))
        if count and count > 1 and (best is None or count > best[0]):
            best = (count, _unit(match.group(2)), match.start(1))
    return best if best else (None, "", -1)


def _package_price(text: str, at: int) -> Decimal | None:
    """The price of the whole package: money in the sentence that holds the package's count."""
    start = max(text.rfind(mark, 0, at) for mark in "。！!？?；;\n") + 1
    end_match = re.search(r"[。！!？?；;\n]", text[at:])
    end = at + end_match.start() if end_match else len(text)
    for piece in (text[start:end], _paragraph(text, at)):
        # the sentence first; a total written in an earlier sentence of the paragraph otherwise
        # ("学费一共1.68万，分三次交的 … 课程一共48次，我上了12次")
        without_prices = _UNIT_PRICE.sub("", _PRICE_FIRST.sub("", piece))
        amounts = [a for a in _sums(without_prices) if a >= 10]
        if amounts:
            return max(amounts)
    return None


def _paragraph(text: str, at: int) -> str:
    """The paragraph (between line breaks) that holds position `at`."""
    start = text.rfind("\n", 0, at) + 1
    end = text.find("\n", at)
    return text[start:end if end >= 0 else len(text)]


def _sums_right_after(cue: re.Pattern, text: str) -> list[Decimal]:
    """The sums written right after each `cue` ("充了两千", "消费了6200元"), in order."""
    return [value for m in cue.finditer(text)
            if re.match(r"[0-9一二两三四五六七八九十]", text[m.end():m.end() + 1]) and (value := _money_after(text, m.end(), 8))]


def _stored_value(text: str, used: int | None) -> Decimal | None:
    """A card's balance: paid in, less the uses times their price or less what was spent."""
    paid_in = _sums_right_after(_PAID_IN, text)
    if len(paid_in) != 1:
        return None
    paid = paid_in[0]
    spent = _sums_right_after(_SPENT, text)
    if spent:
        left = paid - spent[0]
    else:
        price = _unit_price(text)
        if not used or not price:
            return None
        left = paid - used * price
    return _round(left) if 0 < left < paid else None


class Reckoning(NamedTuple):
    """What is left of a package or card (None when the letter does not give what the sum needs),
    and whether it was reckoned from a written unit price (sessions left × "每节300")."""

    value: Decimal | None
    priced: bool


def remaining_value(text: str, priced_only: bool = False) -> Decimal | None:
    """The value left of a prepaid package or card, when the letter gives what the sum needs.

    With `priced_only`, only sessions left at a written unit price ("每节300 … 上了15节" of a
    40-session package): the reckoning a letter implies even when it does not ask for "the rest".
    """
    reckoned = reckon(text)
    return reckoned.value if reckoned.priced or not priced_only else None


def reckon(text: str) -> Reckoning:
    """The reckoning behind `remaining_value`, done once for a caller that needs both kinds."""
    used, used_unit = _used(text)
    used_spans = [(m.start(), m.end()) for m in _USED.finditer(text)]
    used_spans += [(m.start(), m.end()) for m in _LEFT.finditer(text)]
    used_spans += [(m.start(), m.end()) for m in _COUNT_CORRECTED.finditer(text)]
    left_match = _LEFT.search(text)
    left = _count(left_match.group(1)) if left_match else None
    size, unit, at = _package(text, used_spans)

    year = _YEAR_CARD.search(text)
    if size is None and year:  # "年卡3600 用了3个月": a card of 12 (or 24) months
        years = {"两": 2, "二": 2, "2": 2, "三": 3, "3": 3, "半": 0.5}.get(year.group(1) or year.group(2) or "", 1)
        months_used = _MONTHS_USED.search(text)
        months_left = _MONTHS_LEFT.search(text)
        size, unit, at = int(12 * years), "月", year.start()
        if months_left and _count(months_left.group(1)):
            left = _count(months_left.group(1))
        elif months_used and _count(months_used.group(1)):
            used, used_unit = _count(months_used.group(1)), "月"
        else:
            size = None

    if left is None and size and used is not None and (not used_unit or used_unit == unit):
        left = size - used
    if not left or left <= 0 or (size and left >= size):
        return Reckoning(_stored_value(text, used) if size is None else None, False)

    price = _unit_price(text)
    paid = [a for a in _sums(text) if a >= 10]
    if price is not None:
        value = price * left
    elif size:
        package_price = _package_price(text, at)
        if package_price is None:
            return Reckoning(None, False)
        value = package_price * left / size
    else:
        return Reckoning(None, False)
    if paid and max(paid) > (price or 0) and value >= max(paid):
        return Reckoning(None, price is not None)  # not less than anything paid: a count or a price was misread
    return Reckoning(_round(value), price is not None)


# What is demanded back counted in units at a unit price: "198一张 买了两张 … 要求退还两张团购款"
# (396), "每个月199 … 要求退还这三个月的钱" (597), "每晚588 … 要求退后面两晚的房费" (1,176).
_ITEM_UNIT = r"(张|瓶|件|晚|个月|份|盒|双|套|位|次|节)"
_DEMANDED_UNITS = re.compile(r"(?:退还|退回|退给我|退我|退|要回|返还)(?:这|后面的?|剩下的?|其余的?|其他的?)?\s*"
                             + _COUNT + r"\s*" + _ITEM_UNIT)


def _price_of(text: str, unit: str) -> Decimal | None:
    """The price of one `unit`: "每张198", "一晚588元", "198一张", "1499元/瓶"."""
    before = re.search(r"(?:每|一|单)" + unit + r"(?:的?(?:价格|单价|房费|票价|费用))?(?:是|为|要|合|收)?\s*" + _PRICE
                       + r"\s*(?:元|块)?", text)
    if before:
        return parse_amount(before.group(1))
    after = re.search(r"(?<![0-9.])([0-9]+(?:\.[0-9]+)?)\s*(?:元|块)?\s*(?:一|每|/)" + unit, text)
    return parse_amount(after.group(1)) if after else None


def demanded_units_value(text: str) -> Decimal | None:
    """The sum of the units demanded back, at their unit price, when the letter gives both."""
    for match in _DEMANDED_UNITS.finditer(text):
        count = _count(match.group(1))
        price = _price_of(text, match.group(2))
        if count and price and price >= 10:
            return _round(price * count)
    return None
