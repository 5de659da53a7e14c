"""Masking of citizens' personal data for logs, listings and transcripts (PIPL, docs/domain.md §7).

What is recognised inside free text (`mask_text`, `find_personal_numbers`):

- mobile numbers, also with a country code (`+86`, `0086`, `(+86)`, `86` run on) and with
  spaces or dashes between the groups: `138 1234 5678`, `+86-138-1234-5678` -> `138****5678`;
- landlines with an area code (`021-6123 4567`, `(021)61234567`, `+86 21 6123 4567`) ->
  `021****4567`, and bare Shanghai 8-digit numbers (`6123-4567`) -> `****4567` (not when the
  digits read as a date or an amount: `20261126`, `12000000元`);
- 18-character resident ID numbers (the last may be X), also split 6-8-4 -> `**************123X`;
- bank card numbers of 16-19 digits, contiguous or in groups of four, that pass the Luhn check
  -> every digit but the last four starred.

Full-width digits (`１３８…`), full-width plus, dashes and spaces are read like their ASCII forms.
Masks always keep the last four characters only (and the mobile prefix / area code), so a masked
text never holds more than four consecutive digits of a number it masked.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Optional

# --- normalisation --------------------------------------------------------------------------------

#: One code point for one code point, so spans found in the normalised text fit the original.
_NORMALISE = str.maketrans({
    **{chr(0xFF10 + i): str(i) for i in range(10)},          # full-width digits
    "＋": "+", "－": "-", "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "﹣": "-",
    "\u3000": " ", "\u00a0": " ", "\u2009": " ", "\u202f": " ",
    "Ｘ": "X", "ｘ": "x", "（": "(", "）": ")",
})


def normalize_digits(text: str) -> str:
    """Full-width digits, plus signs, dashes, spaces and brackets as ASCII (same length)."""
    return text.translate(_NORMALISE)


def luhn_ok(digits: str) -> bool:
    """Whether a string of digits passes the Luhn check (bank card numbers do)."""
    if not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


# --- single values --------------------------------------------------------------------------------

_PHONE_JUNK = re.compile(r"[\s\-().]")


def _phone_digits(phone: str) -> str:
    """A phone number's digits without country code; a landline's area code keeps its 0."""
    digits = _PHONE_JUNK.sub("", normalize_digits(phone))
    national = None
    if digits.startswith("+86"):
        national = digits[3:]
    elif digits.startswith("0086"):
        national = digits[4:]
    elif digits.startswith("86") and len(digits) == 13 and digits[2] == "1":
        national = digits[2:]
    if national is None:
        return digits
    if national.startswith("1") or national.startswith("0"):
        return national
    return "0" + national  # +86 21 6123 4567 -> 021 6123 4567


def mask_phone(phone: str | None) -> str | None:
    """Mask a phone number: `13812345678` -> `138****5678`; landlines keep the area code and the
    last four digits (`021-61234567` -> `021****4567`). A country code is dropped
    (`+86 138 1234 5678` -> `138****5678`); full-width digits are read as digits."""
    if not phone:
        return phone
    digits = _phone_digits(phone)
    if len(digits) == 11 and digits.startswith("1"):
        return f"{digits[:3]}****{digits[-4:]}"
    if len(digits) >= 8:
        return f"{digits[:-8]}****{digits[-4:]}"
    return "****"


def mask_name(name: str | None) -> str | None:
    """Keep the first character of a name: `张三丰` -> `张**`."""
    if not name:
        return name
    return name[0] + "*" * max(1, len(name) - 1)


def _keep_last4(compact: str) -> str:
    return "*" * (len(compact) - 4) + compact[-4:]


def mask_id_number(value: str | None) -> str | None:
    """An ID card number with only its last four characters: `**************123X`."""
    if not value:
        return value
    compact = re.sub(r"[\s-]", "", normalize_digits(value)).upper()
    return _keep_last4(compact) if len(compact) > 4 else "****"


def mask_bank_card(value: str | None) -> str | None:
    """A bank card number with only its last four digits: `***************1234`."""
    if not value:
        return value
    compact = re.sub(r"[\s-]", "", normalize_digits(value))
    return _keep_last4(compact) if len(compact) > 4 else "****"


# --- numbers inside free text ---------------------------------------------------------------------

_ID_RE = re.compile(
    r"(?<!\d)"
    r"[1-9]\d{5}[ -]?"                                                  # region
    r"(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])[ -]?"   # date of birth
    r"\d{3}[0-9Xx]"                                                     # sequence, check character
    r"(?!\d)")
_CARD_RE = re.compile(r"(?<!\d)(?:\d{16,19}|\d{4}(?:[ -]\d{4}){3}(?:[ -]?\d{1,3})?)(?!\d)")
_MOBILE_RE = re.compile(
    r"(?<!\d)"
    r"(?:(?:\(\s*(?:\+|00)86\s*\)|(?:\+|00)86)[ -]?|86(?=1[3-9]))?"     # country code
    r"(1[3-9]\d)[ -]?(\d{4})[ -]?(\d{4})(?!\d)")
_AREA_LANDLINE_RE = re.compile(
    r"(?<!\d)"
    r"(?:\(\s*(?:(?:\+|00)86[ -]?)?(0?[1-9]\d{1,2})\s*\)|(?:\+|00)86[ -]?0?([1-9]\d{1,2})|(0[1-9]\d{1,2}))"
    r"[ -]?([2-9]\d{3})[ -]?(\d{4})(?!\d)")
_BARE_LANDLINE_RE = re.compile(r"(?<![\d.\-])([2-9]\d{3})[ -]?(\d{4})(?![\d]|\.\d|\s*[元块圆万千百亿%％])")
_DATE_LIKE = re.compile(r"(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])")


@dataclasses.dataclass(frozen=True)
class Finding:
    """A number of personal data found in a text: its kind, its span in the text, its mask."""

    kind: str  # "id_number" | "bank_card" | "mobile" | "landline"
    start: int
    end: int
    masked: str


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _id_mask(match: re.Match) -> Optional[str]:
    return mask_id_number(match.group(0))


def _card_mask(match: re.Match) -> Optional[str]:
    digits = _digits(match.group(0))
    return mask_bank_card(digits) if 16 <= len(digits) <= 19 and luhn_ok(digits) else None


def _mobile_mask(match: re.Match) -> Optional[str]:
    return f"{match.group(1)}****{match.group(3)}"


def _area_landline_mask(match: re.Match) -> Optional[str]:
    area = next(g for g in match.group(1, 2, 3) if g)
    area = area if area.startswith("0") else "0" + area
    return f"{area}****{match.group(5)}"


def _bare_landline_mask(match: re.Match) -> Optional[str]:
    if _DATE_LIKE.fullmatch(match.group(1) + match.group(2)):
        return None
    return f"****{match.group(2)}"


_PASSES = (
    ("id_number", _ID_RE, _id_mask),
    ("bank_card", _CARD_RE, _card_mask),
    ("mobile", _MOBILE_RE, _mobile_mask),
    ("landline", _AREA_LANDLINE_RE, _area_landline_mask),
    ("landline", _BARE_LANDLINE_RE, _bare_landline_mask),
)


def find_personal_numbers(text: str | None) -> list[Finding]:
    """Every phone, ID and bank card number in `text`, in order, with its mask.

    The passes run from the most specific (ID numbers) to the least (bare 8-digit landlines); what
    one pass found is blanked out for the next, so the findings never overlap.
    """
    if not text:
        return []
    work = normalize_digits(text)
    found: list[Finding] = []
    for kind, pattern, masker in _PASSES:
        hits = []
        for match in pattern.finditer(work):
            masked = masker(match)
            if masked is not None:
                hits.append(Finding(kind, match.start(), match.end(), masked))
        for hit in hits:
            work = work[:hit.start] + "*" * (hit.end - hit.start) + work[hit.end:]
        found.extend(hits)
    return sorted(found, key=lambda f: f.start)


def mask_text(text: str | None) -> str | None:
    """Mask every phone, ID card and bank card number inside free text (log lines, transcripts,
    listings): `电话138 1234 5678` -> `电话138****5678`. Anything else is left as it was."""
    if not text:
        return text
    findings = find_personal_numbers(text)
    if not findings:
        return text
    out, position = [], 0
    for finding in findings:
        out.append(text[position:finding.start])
        out.append(finding.masked)
        position = finding.end
    out.append(text[position:])
    return "".join(out)


# --- the citizen's own name and address inside free text -----------------------------------------
#
# A name or an address cannot be recognised in free text in general (the masker above leaves them),
# but where a ticket or a hand-off knows *this* citizen's name and address (the form asked for them),
# their occurrences in what the citizen typed are found by value and masked like the fields:
# `我叫张三丰，住国权路1号` -> `我叫张**，住****`.

MIN_KNOWN_CHARS = 2
"""Known values shorter than this are never searched for (a one-character name would mask every
occurrence of that character)."""

_CITY_PREFIX = re.compile(r"^\s*(?:中国)?\s*上海(?:市)?\s*")
_DISTRICT_PREFIX = re.compile(r"^.{1,6}?(?:新区|区|县)")
_HOUSE_NUMBER_END = re.compile(r"^.*?\d+\s*(?:号|弄|幢|栋|室)")


def mask_address(address: str | None) -> str | None:
    """Keep the city and district, star the rest: `上海市杨浦区国权路1号` -> `上海市杨浦区****`;
    an address without a district keeps nothing: `国权路1号` -> `****`."""
    if not address:
        return address
    text = address.strip()
    city = _CITY_PREFIX.match(text)
    kept = city.group(0) if city else ""
    district = _DISTRICT_PREFIX.match(text[len(kept):])
    if district:
        kept += district.group(0)
    return kept + "****" if len(kept) < len(text) else kept


def address_variants(address: str | None) -> list[str]:
    """The spellings of `address` a citizen is likely to type, longest first: the whole address,
    without 上海市, without the district, and the street part up to the house number
    (`上海市杨浦区国权路1号3楼` -> also `杨浦区国权路1号3楼`, `国权路1号3楼`, `国权路1号`)."""
    if not address or not address.strip():
        return []
    full = address.strip()
    variants = [full]
    no_city = full[_CITY_PREFIX.match(full).end():] if _CITY_PREFIX.match(full) else full
    variants.append(no_city)
    district = _DISTRICT_PREFIX.match(no_city)
    street = no_city[district.end():] if district else no_city
    variants.append(street)
    house = _HOUSE_NUMBER_END.match(street)
    if house:
        variants.append(house.group(0))
    # a street part without a number names a road, not a home: only the longer forms are kept then
    keep = []
    for value in variants:
        value = value.strip()
        if len(value) < 4 or value in keep:
            continue
        if value not in (full, no_city) and not re.search(r"\d", normalize_digits(value)):
            continue
        keep.append(value)
    return sorted(keep, key=len, reverse=True)


def mask_known(text: str | None, names=(), addresses=()) -> str | None:
    """Mask the citizen's own name(s) and address(es), known from a ticket or a hand-off, where they
    occur inside free text (full-width digits matched like ASCII), then every phone, ID and bank card
    number (`mask_text`).

    Names become `mask_name` (`张**`), addresses `mask_address`. Values shorter than
    `MIN_KNOWN_CHARS` are ignored.
    """
    if not text:
        return text
    replacements: list[tuple[str, str]] = []
    for name in names or ():
        if isinstance(name, str) and len(name.strip()) >= MIN_KNOWN_CHARS:
            replacements.append((name.strip(), mask_name(name.strip()) or ""))
    for address in addresses or ():
        if isinstance(address, str):
            for variant in address_variants(address):
                replacements.append((variant, mask_address(variant) or ""))
    return mask_text(replace_values(text, replacements))


def replace_values(text: str, replacements) -> str:
    """Replace each known value (pairs `(value, replacement)`) where it occurs in `text`, longest
    first (a whole address before a part of it), matching full-width digits like ASCII ones."""
    work = text
    for value, masked in sorted(replacements, key=lambda pair: len(pair[0]), reverse=True):
        if not value:
            continue
        needle = normalize_digits(value)
        haystack = normalize_digits(work)  # one code point for one: positions fit the original
        out, position = [], 0
        start = haystack.find(needle)
        while start != -1:
            out.append(work[position:start])
            out.append(masked)
            position = start + len(needle)
            start = haystack.find(needle, position)
        if out:
            out.append(work[position:])
            work = "".join(out)
    return work


def identity_masker(slots: dict | None):
    """`text -> masked text` for one conversation: its own name and address (the form's
    `complainant_name` / `complainant_address` slots, when known) and every number (`mask_known`)."""
    slots = slots or {}
    names = [v for v in (slots.get("complainant_name"),) if isinstance(v, str)]
    addresses = [v for v in (slots.get("complainant_address"),) if isinstance(v, str)]
    return lambda text: mask_known(text, names, addresses)
