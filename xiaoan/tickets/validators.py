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

The phone and amount parsers are implemented in ``xiaoan.understanding.phones`` and
``xiaoan.understanding.money`` (the one home of value parsing, issue 10); the names here are
kept for existing callers.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from xiaoan.datafiles import load_cached
from xiaoan.tickets import numbering as _numbering
from xiaoan.understanding import money as _money
from xiaoan.understanding import phones as _phones

ROADS_PATH = Path(__file__).resolve().parent.parent / "resources" / "roads.yml"
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

# The amount parser lives in xiaoan.understanding.money (the one home of value parsing); the
# name is kept for the callers of this module.
parse_amount = _money.parse_amount


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


def _parse_roads(data: object, source: str) -> dict[str, str]:
    """roads.yml: road name (normalised) -> district code; the `ambiguous` list is documentation."""
    if not isinstance(data, dict) or not isinstance(data.get("districts"), dict):
        raise DistrictDataError(f"{source}: needs a mapping 'districts' of district code -> roads")
    codes = {d.code for d in load_districts().districts}
    roads: dict[str, str] = {}
    for code, names in data["districts"].items():
        if code not in codes:
            raise DistrictDataError(f"{source}: unknown district code {code!r}")
        if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
            raise DistrictDataError(f"{source}: districts.{code} must be a list of road names")
        for name in names:
            key = _district_key(name)
            if roads.get(key, code) != code:
                raise DistrictDataError(f"{source}: {name!r} is listed for both {roads[key]} and {code}")
            roads[key] = code
    return roads


def load_roads() -> dict[str, str]:
    """The road gazetteer (resources/roads.yml): roads that lie wholly in one district."""
    return load_cached(ROADS_PATH, _parse_roads, DistrictDataError, what="the road gazetteer")


def _district_of_roads(key: str) -> str | None:
    """The one district of the gazetteer's roads named in `key` (normalised), or None."""
    found = [(road, code) for road, code in load_roads().items() if road in key]
    # a road inside a longer road that is also named ("东路" in "南京东路") does not count
    found = [(road, code) for road, code in found if not any(road != other and road in other for other, _ in found)]
    codes = {code for _, code in found}
    return codes.pop() if len(codes) == 1 else None


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
        # no district, old name or place: a road of the gazetteer ("营口路" -> yangpu)
        return _district_of_roads(key) if path is None else None
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

# The ticket-number rule lives in xiaoan.tickets.numbering (one definition); the name is kept
# for the callers of this module.
normalize_ticket_no = _numbering.normalize_ticket_no
_LAST4_RE = re.compile(r"(?<!\d)(\d{4})(?!\d)")


def extract_phone_last4(text: str | None) -> str | None:
    """The last four digits of a phone from an answer: "5678", "尾号5678", or a whole number."""
    if not text:
        return None
    plain = _nfkc(str(text))
    plain = _numbering.TICKET_NO_IN_TEXT_RE.sub(" ", plain)  # a ticket number's last group is not the phone
    phone = extract_phone(plain)
    if phone:
        return phone[-4:]
    found = _LAST4_RE.findall(plain)
    return found[-1] if len(found) == 1 else None
