"""Addresses: a whole answer to "地址是?" or an address inside a sentence, with its district.

- :func:`parse_address` — the answer -> :class:`Address` (text kept whole, district, outside
  Shanghai or not), None for non-answers
- :func:`find_address` — an address inside a sentence or letter ("位于徐汇区漕溪北路88号")

The district comes from ``xiaoan.tickets.validators.resolve_district`` (district names, short
forms, old names, towns and roads listed in ``resources/districts.yml``), so "漕溪北路88号" alone
is placed in Xuhui. An address in another province is accepted and flagged ``outside_shanghai``:
the form then tells the citizen which authority to turn to instead of asking again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from xiaoan.tickets.validators import is_outside_shanghai, resolve_district
from xiaoan.understanding.names import is_non_answer
from xiaoan.understanding.text import nfkc_keep_brackets, strip_affixes
from xiaoan.understanding.phones import parse_phone


@dataclass(frozen=True)
class Address:
    """An address as the citizen gave it.

    Attributes:
        text: The address, whole (answer prefixes like 在/地址是 stripped).
        district: District code without "dist-" ("xuhui", "pudong", "lingang"), or None.
        outside_shanghai: The address names another province or city and not 上海.
    """

    text: str
    district: str | None
    outside_shanghai: bool


MAX_ADDRESS_CHARS = 100
_TRIM = " \t\r\n。.！!？?，,、；;：:~～…\"'“”‘’"
_FILLER_RE = re.compile(r"^(?:(?:嗯+|哦+|噢+|呃+|额+)[，,、\s]*|(?:那个|好的?)[，,、\s]+)+")
_PREFIX_RE = re.compile(
    r"^(?:(?:我的|我家的?|家庭|联系|通讯|通信|居住|商家的?|店铺的?|店的?|公司的?|他们的?)?(?:地址|住址)(?:是|为|在)?[:：]?|"
    r"(?:我|我家|本人)?(?:住在|家住|住)|(?:我家|我|本人|商家|店铺|店|公司|他们|他家|那家店|门店)?(?:在|位于|开在)|位于|就在|是)\s*"
)
_TRAIL_RE = re.compile(r"(?:吧|啊|呀|呢)$")  # "附近", "一带" are kept: they are part of the answer
# What an address contains: a number, a road or building word, an administrative unit.
_ADDRESS_HINT_RE = re.compile(
    r"\d|[路街弄号村镇区室栋幢楼乡县市苑园坊巷道省州]|小区|公寓|大厦|广场|中心|商场|商城|新村|花园|大楼|门口|对面|旁边"
)
_UNKNOWN_RE = re.compile(r"^(?:我?(?:也)?(?:不知道|不清楚|不记得|记不清|忘了|忘记了|不晓得|说不清)(?:了|啊|呀)?(?:地址|具体地址|在哪|在哪里)?(?:了|啊)?|网上|网店|线上|没有地址|不方便说)$")
# A request or question rather than an address.
_NOT_AN_ADDRESS_RE = re.compile(r"^(?:我|本人)?(?:要|想|需要)?(?:投诉|举报|取消|转人工)|人工|客服|什么|[?？吗]$")




def _clean(text: str) -> str:
    return strip_affixes(nfkc_keep_brackets(str(text)), trim=_TRIM, fillers=_FILLER_RE, prefixes=_PREFIX_RE,
                         trailers=_TRAIL_RE)


def _address(text: str) -> Address:
    outside = is_outside_shanghai(text)
    return Address(text=text, district=None if outside else resolve_district(text), outside_shanghai=outside)


def parse_address(text: str | None) -> Address | None:
    """The address in a whole answer, with its district.

    Accepts street addresses ("漕溪北路88号", "上海市浦东新区张杨路500号3楼"), a district or a
    well-known place alone ("浦东", "七宝"), descriptions with a landmark ("万达广场对面"),
    and addresses outside Shanghai (flagged).

    Args:
        text: The reply.

    Returns:
        The :class:`Address`, or None for a non-answer, "不知道", a request, a phone number,
        digits only, or a reply with nothing that looks like a place (no number, road, building
        or district word).
    """
    if not text or len(str(text)) > MAX_ADDRESS_CHARS * 2:
        return None
    if re.search(r"[?？]\s*$", str(text)):
        return None
    plain = _clean(text)
    if not plain or len(plain) > MAX_ADDRESS_CHARS or len(plain) < 2:
        return None
    if is_non_answer(plain) or _UNKNOWN_RE.match(plain) or _NOT_AN_ADDRESS_RE.search(plain):
        return None
    if parse_phone(plain) or not re.search(r"[\u3400-\u9fffA-Za-z]", plain):
        return None
    # Clause punctuation inside: a story ("在漕溪北路88号，现在关门了"), only the address in it.
    if re.search(r"[,;!。，；！]", plain):
        return find_address(plain)
    found = _address(plain)
    if found.district or found.outside_shanghai or _ADDRESS_HINT_RE.search(plain):
        return found
    return None


# Cues before an address inside a sentence.
_CUE_RE = re.compile(r"位于|地址(?:是|为|在)?[:：]?|住址(?:是|为)?[:：]?|住在|家住|开在|坐落在|在")
# Where the address ends when reading rightwards after a cue.
_END_RE = re.compile(r"[，,。.！!？?；;\s）)】]|的(?!\d)|开了|开的|买|办|吃|卖|经营|附近的|那家|这家|一家|有一家|有家|上班|工作|消费")
# A street address without a cue: [city] [district] road number [building/room].
_STREET_RE = re.compile(
    r"(?:上海市?)?(?:[\u4e00-\u9fff]{2,4}区)?(?:[\u4e00-\u9fff]{2,4}镇)?[\u4e00-\u9fff]{1,8}(?:路|街|大道|公路)"
    r"(?:\d+弄)?\d+号(?:\d+(?:号楼|栋|幢|楼|层|室|单元))*"
)
# Everyday words with 路/街/号 in them that name no street.
_NOT_A_ROAD_RE = re.compile(r"跑路|走路|套路|思路|出路|网路|线路|电路|路子|一路|路上|路过|半路|上路|带路|让路|迷路|路费|路线|"
                            r"逛街|上街|街坊|号码|型号|账号|单号|挂号|信号|口号|编号|记号")
_BRACKETED_RE = re.compile(r"[（(【][^（()）【】]*[)）】]")
_STREET_HINT_RE = re.compile(r"[路街弄号村镇]|\d|小区|大厦|广场|公寓|新村|花园|商场|商城|园区")
_LEFT_STOP_RE = re.compile(r".*[在去到住于从的是和跟买我你他她了]")


def _score(address: Address, cue: str) -> int:
    """How surely a candidate is THE address of a message: a street number beats a road, a road
    beats a district alone; then a labelled address (地址/位于) beats a home (住在), which beats a
    bare 在 ("在小区门口" is a place, "地址在普陀区真北路2100号" is the address)."""
    text = address.text
    content = 3 if re.search(r"\d+(?:号|弄)", text) else 2 if re.search(r"路|街|大道|公路", text) else (
        1 if address.district or address.outside_shanghai else 0)
    strength = 2 if re.match(r"位于|地址|住址|开在|坐落", cue) else 1 if re.match(r"住在|家住", cue) else 0
    return content * 10 + strength


def find_address(text: str | None) -> Address | None:
    """The address inside a sentence or letter, or None when there is none.

    Candidates: after each cue (位于/地址是/住在/家住/在 ...) the clause up to a punctuation mark
    or a verb ("在徐汇区漕溪北路88号的店里买的" -> "徐汇区漕溪北路88号"), and any street address
    (road + number) without a cue. "在" is everywhere ("在家里", "在那边"), so a candidate must
    have a district, a place outside Shanghai or a street-like word. The best one wins (see
    :func:`_score`), the earliest among equals.

    Args:
        text: The message.

    Returns:
        The :class:`Address`, or None.
    """
    if not text:
        return None
    plain = nfkc_keep_brackets(str(text))
    best: tuple[int, Address] | None = None

    def consider(found: Address | None, cue: str) -> None:
        nonlocal best
        if found is None:
            return
        # The road of a branch name ("极致健身（呼兰路店）充值") is no address: look outside brackets.
        outside_brackets = re.sub(r"[（(【][^）)】]*$", "", _BRACKETED_RE.sub("", found.text))
        outside_brackets = _NOT_A_ROAD_RE.sub("", outside_brackets)  # 跑路, 套路: no road
        if not (found.district and resolve_district(outside_brackets) or found.outside_shanghai
                or _STREET_HINT_RE.search(outside_brackets)):
            return
        score = _score(found, cue)
        if best is None or score > best[0]:
            best = (score, found)

    for cue in _CUE_RE.finditer(plain):
        tail = plain[cue.end():]
        end = _END_RE.search(tail)
        clause = tail[:end.start()] if end else tail
        if clause and len(clause) <= MAX_ADDRESS_CHARS and not re.search(r"[,;!。，；！]", clause):
            consider(parse_address(clause), cue.group(0))
    for street in _STREET_RE.finditer(plain):
        span = street.group(0)
        left = _LEFT_STOP_RE.match(span)
        if left:
            span = span[left.end():]
        consider(parse_address(span), "")
    return best[1] if best else None
