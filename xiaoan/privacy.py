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
