"""Checks and normalisation of what citizens type into the complaint and report forms.

Pure functions without Rasa, shared by the form actions (``actions/forms.py``), the tickets
service and the routing. The interface agreed with the tickets service
(docs/tickets-interface.md):

- :func:`normalize_phone` — mobile or Shanghai landline -> digits, else None
- :func:`parse_amount` — "2000", "2,000元", "两千", "2k", "2.5万", "¥399" ... -> Decimal, else None
- :func:`resolve_district` — free-text address -> district code without "dist-", else None
- :func:`check_credit_code` — 统一社会信用代码 check digit (GB 32100-2015)

and helpers for the forms: :func:`extract_phone` (a phone inside a sentence),
:func:`find_credit_code`, :func:`detect_online_platform`, :func:`is_outside_shanghai`,
:func:`normalize_ticket_no`, :func:`extract_phone_last4`, :func:`district_name`.

District names, aliases, old names and places are data: ``xiaoan/resources/districts.yml``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import NamedTuple

from xiaoan.datafiles import load_cached
from xiaoan.understanding import phones as _phones

DISTRICTS_PATH = Path(__file__).resolve().parent.parent / "resources" / "districts.yml"


def _nfkc(text: str) -> str:
    """Full-width digits, letters and punctuation to their ASCII forms (２０００ -> 2000, ￥ -> ¥)."""
    return unicodedata.normalize("NFKC", text)


# --------------------------------------------------------------------------------------------
# Phone numbers
# --------------------------------------------------------------------------------------------

# The phone parsers live in xiaoan.understanding.phones (the one home of value parsing); the
# names below are kept for the callers of this module.
normalize_phone = _phones.normalize_phone
extract_phone = _phones.find_phone


# --------------------------------------------------------------------------------------------
# Amounts
# --------------------------------------------------------------------------------------------

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
_NOT_MONEY_AFTER = re.compile(r"[年月日号点时分秒岁个次件天周期楼层室栋幢路弄包折%‰倍克斤米位人家台辆瓶盒]")
_AMOUNT_MAX = Decimal("10000000000")

_ARABIC_AMOUNT_RE = re.compile(
    r"(?<![\d.,A-Za-z])"
    r"(?P<cur>[¥$]|rmb|人民币)?\s*"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?:(?P<unit>[kK](?![A-Za-z])|[wW](?![A-Za-z])|千|万|百)(?P<tail>[0-9一二两三四五六七八九](?![0-9]))?)?"
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
        digits_only = m.group("num").replace(",", "").replace(".", "")
        if not marked and not unit and len(digits_only) >= 7:
            continue  # a phone, an order or card number: not an amount
        found.append(_AmountCandidate(m.start(), value, marked or bool(unit)))
    return found


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


def parse_amount(text: str | None) -> Decimal | None:
    """The amount of money in a citizen's answer.

    Understands Arabic and Chinese numerals, thousands separators, currency signs and the
    units people use: "2000", "2,000元", "两千", "两千五百元", "2k", "2.5万", "¥399",
    "三百块", "一千二" (1200), "两万五" (25000), "3千5" (3500), "2000多" (2000).
    A number marked as money (¥, 元, 块, 千, 万, k, w) wins; otherwise a single bare number is
    taken. Dates, counts and long digit runs (phones, order numbers) are not amounts.

    Args:
        text: The answer, e.g. "大概两千五百块吧".

    Returns:
        The amount as a Decimal (whole numbers without decimals), or None when there is none.
    """
    if not text:
        return None
    plain = re.sub(r"\s+", "", _nfkc(str(text)))
    plain = plain.replace("￥", "¥")
    candidates = sorted(_arabic_candidates(plain) + _chinese_candidates(plain))
    strong = [c for c in candidates if c.strong]
    if strong:
        chosen = strong[0]
    elif len(candidates) == 1:
        chosen = candidates[0]
    else:
        return None
    if chosen.value < 0 or chosen.value > _AMOUNT_MAX:
        return None
    return _clean_decimal(chosen.value)


# --------------------------------------------------------------------------------------------
# Districts
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class District:
    """One district of districts.yml."""

    code: str
    name: str
    aliases: tuple[str, ...]
    old_names: tuple[str, ...]
    places: tuple[str, ...]
    within: tuple[str, ...]


@dataclass(frozen=True)
class DistrictData:
    """The parsed districts.yml: districts in file order, terms and outside-Shanghai markers."""

    districts: tuple[District, ...]
    # term -> (code, kind) with kind "name" (alias or old name) or "place"
    terms: dict[str, tuple[str, str]]
    max_term_length: int
    outside_markers: tuple[str, ...]


class DistrictDataError(ValueError):
    """districts.yml is malformed (raised with the file and the field at fault)."""


_ROAD_AFTER_RE = re.compile(r"[东南西北中]?(?:路|街|大街|大道|弄|巷|公路|支路)")


def _district_key(term: str) -> str:
    return re.sub(r"\s+", "", _nfkc(term)).lower()


def _parse_districts(data: object, source: str) -> DistrictData:
    if not isinstance(data, dict) or not isinstance(data.get("districts"), dict):
        raise DistrictDataError(f"{source}: needs a mapping 'districts'")
    districts: list[District] = []
    terms: dict[str, tuple[str, str]] = {}
    for code, raw in data["districts"].items():
        if not isinstance(code, str) or not re.fullmatch(r"[a-z]+", code):
            raise DistrictDataError(f"{source}: district codes are lower-case latin letters, got {code!r}")
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise DistrictDataError(f"{source}: districts.{code} needs a 'name'")

        def names(key: str, code: str = code, raw: dict = raw) -> tuple[str, ...]:
            value = raw.get(key) or []
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                raise DistrictDataError(f"{source}: districts.{code}.{key} must be a list of names")
            return tuple(value)

        district = District(code, raw["name"], names("aliases"), names("old_names"), names("places"), names("within"))
        districts.append(district)
        for kind, values in (("name", (district.name,) + district.aliases + district.old_names),
                             ("place", district.places)):
            for value in values:
                key = _district_key(value)
                other = terms.get(key)
                if other and other[0] != code:
                    raise DistrictDataError(f"{source}: {value!r} is listed for both {other[0]} and {code}")
                terms[key] = (code, kind)
    codes = {d.code for d in districts}
    for district in districts:
        unknown = set(district.within) - codes
        if unknown:
            raise DistrictDataError(f"{source}: districts.{district.code}.within names unknown codes {sorted(unknown)}")
    markers = data.get("outside_shanghai") or []
    if not isinstance(markers, list) or not all(isinstance(m, str) and m for m in markers):
        raise DistrictDataError(f"{source}: outside_shanghai must be a list of strings")
    return DistrictData(tuple(districts), terms, max(len(t) for t in terms),
                        tuple(_district_key(m) for m in markers))


def load_districts(path: str | Path | None = None) -> DistrictData:
    """The district data of `path` (default: the packaged districts.yml), re-read when it changes.

    Raises:
        DistrictDataError: the file is missing, not YAML, or malformed.
    """
    return load_cached(path or DISTRICTS_PATH, _parse_districts, DistrictDataError, what="the district data")


def district_codes(path: str | Path | None = None) -> list[str]:
    """Every district code in file order ("huangpu", ..., "lingang")."""
    return [d.code for d in load_districts(path).districts]


def district_name(code: str | None, path: str | Path | None = None) -> str | None:
    """The Chinese name of a district code, with or without "dist-" ("pudong" -> "浦东新区")."""
    if not code:
        return None
    code = code[5:] if code.startswith("dist-") else code
    for district in load_districts(path).districts:
        if district.code == code:
            return district.name
    return None


def is_outside_shanghai(text: str | None, path: str | Path | None = None) -> bool:
    """Whether an address names another province or city and not 上海 ("浙江省杭州市..." -> True)."""
    if not text:
        return False
    key = _district_key(text)
    if "上海" in key:
        return False
    return any(marker in key for marker in load_districts(path).outside_markers)


def resolve_district(text: str | None, path: str | Path | None = None) -> str | None:
    """The Shanghai district of a free-text address or district name.

    Knows official names, short forms, common typos and pinyin, old names (闸北 -> jingan,
    南汇 -> pudong, 卢湾 -> huangpu), and well-known towns and areas (陆家嘴, 七宝, 朱家角 ...).
    The Lingang New Area wins over the district containing it ("浦东新区南汇新城镇" ->
    lingang). A street named after a district ("奉贤路", in 静安) does not count as it.

    Args:
        text: An address ("上海市闵行区七宝镇七莘路100号"), a district ("浦东") or a place.
        path: Another districts.yml (tests); default the packaged one.

    Returns:
        The code without "dist-" ("minhang"), or None when no district, several districts, or
        an address outside Shanghai.
    """
    if not text:
        return None
    data = load_districts(path)
    key = _district_key(text)
    if is_outside_shanghai(key, path):
        return None
    matches: list[tuple[str, str]] = []
    i = 0
    while i < len(key):
        hit = None
        for length in range(min(data.max_term_length, len(key) - i), 0, -1):
            term = key[i:i + length]
            if term in data.terms:
                hit = term
                break
        if hit is None:
            i += 1
            continue
        code, kind = data.terms[hit]
        end = i + len(hit)
        if not (kind == "name" and _ROAD_AFTER_RE.match(key, end)):
            matches.append((code, kind))
        i = end
    if not matches:
        return None
    matched = {code for code, _ in matches}
    overridden = {c for d in data.districts if d.code in matched for c in d.within}
    names = {code for code, kind in matches if kind == "name" and code not in overridden}
    places = {code for code, kind in matches if kind == "place" and code not in overridden}
    candidates = names or places
    return next(iter(candidates)) if len(candidates) == 1 else None


# --------------------------------------------------------------------------------------------
# 统一社会信用代码 (unified social credit code), GB 32100-2015
# --------------------------------------------------------------------------------------------

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, S, V, Z
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_CANDIDATE_RE = re.compile(r"(?<![0-9A-Za-z])[0-9A-Za-z]{18}(?![0-9A-Za-z])")
_USCC_KEYWORDS = ("信用代码", "社会信用", "统一代码", "营业执照", "执照号", "注册号", "税号")
_NOT_USCC_KEYWORDS = ("订单", "单号", "运单", "快递", "卡号", "银行", "身份证", "账号")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def check_credit_code(code: str | None) -> bool:
    """Whether `code` is a well-formed 统一社会信用代码 with a correct check digit.

    GB 32100-2015: 18 characters from "0-9 A-H J-N P-R T U W-Y" (no I, O, S, V, Z); characters
    3-8 are the administrative division code (digits); the 18th is the check character
    C18 = 31 - (sum of value_i * weight_i, i = 1..17) mod 31 (31 becoming 0).

    Args:
        code: The code; surrounding spaces and lower case are tolerated.

    Returns:
        True when it is valid.
    """
    if not isinstance(code, str):
        return False
    value = _nfkc(code).strip().upper()
    if len(value) != 18 or any(ch not in _USCC_ALPHABET for ch in value) or not value[2:8].isdigit():
        return False
    total = sum(_USCC_ALPHABET.index(ch) * weight for ch, weight in zip(value[:17], _USCC_WEIGHTS))
    return _USCC_ALPHABET[(31 - total % 31) % 31] == value[17]


def _is_id_card_number(value: str) -> bool:
    """A valid 18-digit resident ID number (ISO 7064 MOD 11-2): never taken for a credit code."""
    if not re.fullmatch(r"\d{17}[\dX]", value):
        return False
    total = sum(int(ch) * w for ch, w in zip(value[:17], _ID_WEIGHTS))
    return "10X98765432"[total % 11] == value[17]


class CreditCodeMatch(NamedTuple):
    """An 18-character code found in a message and whether its check digit is right."""

    code: str
    valid: bool


def find_credit_code(text: str | None) -> CreditCodeMatch | None:
    """Find a 统一社会信用代码 the citizen gave anywhere in a message.

    A code with a correct check digit is always returned. One with a wrong check digit is
    returned (valid=False) only when it plausibly was meant as a credit code: the message
    names it (信用代码, 营业执照 ...) or it has letters and the 6-digit division code.
    Resident ID numbers, and 18-digit numbers in a message about orders, parcels or bank
    cards, are ignored.

    Args:
        text: The message.

    Returns:
        The match, or None.
    """
    if not text:
        return None
    plain = _nfkc(str(text))
    named = any(k in plain for k in _USCC_KEYWORDS)
    other_number = any(k in plain for k in _NOT_USCC_KEYWORDS)
    for m in _USCC_CANDIDATE_RE.finditer(plain):
        value = m.group(0).upper()
        if _is_id_card_number(value):
            continue
        if check_credit_code(value):
            if other_number and not named and value.isdigit():
                continue
            return CreditCodeMatch(value, True)
        plausible = not value.isdigit() and value[2:8].isdigit()
        if named or (plausible and not other_number):
            return CreditCodeMatch(value, False)
    return None


def strip_credit_code(text: str, code: str) -> str:
    """`text` without the code and a label before it ("XX公司 信用代码：9131..." -> "XX公司")."""
    plain = _nfkc(text)
    label = r"(?:(?:统一)?社会信用代码|信用代码|营业执照(?:号|号码)?|执照号|注册号|税号)?\s*(?:是|为|:)?\s*"
    stripped = re.sub(label + re.escape(code), "", plain, flags=re.IGNORECASE)
    return stripped.strip(" \t\n,，。;；:：、")


# --------------------------------------------------------------------------------------------
# Online platforms
# --------------------------------------------------------------------------------------------

# (name stored with the ticket, pattern). Order matters: 天猫 before 淘宝 ("淘宝天猫店" -> 天猫).
_PLATFORMS: tuple[tuple[str, str], ...] = (
    ("天猫", r"天猫|tmall"),
    ("淘宝", r"淘宝|taobao|手淘"),
    ("拼多多", r"拼多多|拼夕夕|pdd"),
    ("京东", r"京东(?!方)|jd\.com"),
    ("抖音", r"抖音|抖店|douyin"),
    ("快手", r"快手"),
    ("美团", r"美团"),
    ("饿了么", r"饿了么"),
    ("小红书", r"小红书"),
    ("闲鱼", r"闲鱼"),
    ("唯品会", r"唯品会"),
    ("大众点评", r"大众点评"),
    ("携程", r"携程"),
    ("飞猪", r"飞猪"),
    ("得物", r"得物"),
    ("苏宁易购", r"苏宁易购"),
    ("1688", r"(?<!\d)1688(?=平台|网|上|批发|店)"),
    ("微店", r"微店"),
    ("视频号", r"视频号"),
    ("微信小程序", r"小程序"),
)
# Buying online without a platform name: (name stored, pattern).
_GENERIC_ONLINE: tuple[tuple[str, str], ...] = (
    ("直播间", r"直播间|直播带货|主播"),
    ("网店", r"网店|网上店铺|网络店铺|网购|网上买|网上购买|网上下单|线上下单|线上购买|电商平台|网络平台|app上买"),
)


def detect_online_platform(text: str | None) -> str | None:
    """The online platform a message mentions ("在拼多多买的" -> "拼多多").

    Args:
        text: The message.

    Returns:
        The platform's name; "直播间" or "网店" for a purchase online without a platform
        name ("网上买的", "主播推荐的"); None when nothing points to an online seller.
    """
    if not text:
        return None
    plain = _nfkc(str(text))
    for name, pattern in _PLATFORMS + _GENERIC_ONLINE:
        if re.search(pattern, plain, flags=re.IGNORECASE):
            return name
    return None


# --------------------------------------------------------------------------------------------
# Ticket status look-up
# --------------------------------------------------------------------------------------------

_TICKET_NO_RE = re.compile(r"(?<![A-Za-z0-9])[Xx][Aa]\s*-?\s*(\d{6})\s*-?\s*(\d{4})(?!\d)")
_LAST4_RE = re.compile(r"(?<!\d)(\d{4})(?!\d)")


def normalize_ticket_no(text: str | None) -> str | None:
    """The ticket number in a message, normalised ("xa2611260042" -> "XA-261126-0042")."""
    if not text:
        return None
    m = _TICKET_NO_RE.search(_nfkc(str(text)))
    return f"XA-{m.group(1)}-{m.group(2)}" if m else None


def extract_phone_last4(text: str | None) -> str | None:
    """The last four digits of a phone from an answer: "5678", "尾号5678", or a whole number."""
    if not text:
        return None
    plain = _nfkc(str(text))
    plain = _TICKET_NO_RE.sub(" ", plain)  # a ticket number's last group is not the phone
    phone = extract_phone(plain)
    if phone:
        return phone[-4:]
    found = _LAST4_RE.findall(plain)
    return found[-1] if len(found) == 1 else None
