"""Phone numbers: mobile numbers and Shanghai landlines in any way citizens type them.

- :func:`normalize_phone` — a bare number in any common format -> digits (the ticket format)
- :func:`parse_phone` — a whole answer to "您的联系电话?" ("手机是138 1234 5678", "幺三八…")
- :func:`find_phone` — a number inside a sentence; :func:`find_phone_span` also gives where

Output format (unchanged from ``xiaoan.tickets.validators.normalize_phone``): "13812345678" for a
mobile, "021" + 8 digits for a Shanghai landline ("02161234567").

Decisions:

- Only mobiles (1[3-9] + 9 digits) and Shanghai landlines (8 digits starting 2-9, with or
  without 021) are contact numbers. Other cities' landlines are refused: the hotline calls
  back from Shanghai and the forms ask again. 400/800 service numbers (10 digits) are refused
  too: they are a company's hotline, never the citizen's own number.
- Chinese digits are read as people dictate numbers: 幺 = 1, 洞 = 0, 拐 = 7, 勾 = 9 (radio
  style), but only in a run of at least 7 digits, so "一三八" alone or "三百" is not a phone.
"""

from __future__ import annotations

import re
import unicodedata

_PHONE_SEPARATORS = re.compile(r"[\s\-‐‑–—_.()·]")
_MOBILE_RE = re.compile(r"(?:\+?86|0086)?(1[3-9]\d{9})")
# Shanghai landline: 8 local digits starting 2-9, optionally after 021 / +86 21.
_LANDLINE_RE = re.compile(r"(?:(?:\+?86|0086)0?21|021)?([2-9]\d{7})")
# A run of digits with the separators people type inside phone numbers.
_PHONE_CANDIDATE_RE = re.compile(r"\+?\d[\d\s\-()]{5,18}\d")

_CN_PHONE_DIGITS = {
    "零": "0", "〇": "0", "洞": "0", "一": "1", "幺": "1", "么": "1", "二": "2", "三": "3", "四": "4",
    "五": "5", "六": "6", "七": "7", "拐": "7", "八": "8", "九": "9", "勾": "9",
}
# A dictated number: at least 7 Chinese or Arabic digits, separators allowed between them.
_CN_RUN_RE = re.compile("[0-9" + "".join(_CN_PHONE_DIGITS) + r"](?:[\s\-]*[0-9" + "".join(_CN_PHONE_DIGITS) + "]){6,}")

# Answer prefixes and fillers before a number given on its own ("我的手机号是：", "电话").
_PREFIX_RE = re.compile(
    r"^(?:(?:嗯+|哦+|好的?|那个|就是)[，,\s]*)?"
    r"(?:我的|本人)?(?:联系)?(?:手机号码|电话号码|手机号|联系方式|电话|手机|号码|座机|固话|tel|mobile)?"
    r"(?:号码)?(?:是|为|:|：)?\s*",
    re.IGNORECASE,
)


def _width(text: str) -> str:
    """Full-width digits, letters and signs to ASCII, one character for one (offsets kept)."""
    return "".join(
        chr(ord(ch) - 0xFEE0) if 0xFF01 <= ord(ch) <= 0xFF5E else (" " if ch == "\u3000" else ch)
        for ch in text
    )


def _dictated_digits(text: str) -> str:
    """Chinese digits to Arabic inside runs of 7+ digits ("幺三八…"), one character for one."""
    def convert(match: re.Match) -> str:
        return "".join(_CN_PHONE_DIGITS.get(ch, ch) for ch in match.group(0))
    return _CN_RUN_RE.sub(convert, text)


def normalize_phone(text: str | None) -> str | None:
    """Normalise a mobile number or a Shanghai landline given on its own.

    Spaces, dashes, dots and brackets are ignored, as is a +86 / 0086 prefix; full-width and
    dictated Chinese digits are read. Text around the number is not allowed (see
    :func:`parse_phone` for answers, :func:`find_phone` for sentences).

    Args:
        text: e.g. "138 1234 5678", "+86-138-1234-5678", "021-6123 4567", "61234567".

    Returns:
        "13812345678" for a mobile, "02161234567" for a landline (always with 021); None when
        it is neither.
    """
    if not text:
        return None
    plain = unicodedata.normalize("NFKC", _dictated_digits(_width(str(text)))).strip()
    digits = _PHONE_SEPARATORS.sub("", plain)
    mobile = _MOBILE_RE.fullmatch(digits)
    if mobile:
        return mobile.group(1)
    landline = _LANDLINE_RE.fullmatch(digits)
    if landline:
        return "021" + landline.group(1)
    return None


def parse_phone(text: str | None) -> str | None:
    """The phone number in a whole answer to "您的联系电话?".

    Like :func:`normalize_phone`, and also with a label before the number ("手机：", "我的电话是",
    "座机") and punctuation after it ("13812345678。"). Anything else around the number (a
    name, a second number) makes it not a bare answer: None, and :func:`find_phone` decides.

    Args:
        text: The reply.

    Returns:
        The normalised number, or None.
    """
    if not text:
        return None
    plain = _width(str(text)).strip().rstrip("。.!！~～，,;；")
    found = normalize_phone(plain)
    if found:
        return found
    stripped = _PREFIX_RE.sub("", plain, count=1)
    return normalize_phone(stripped) if stripped != plain else None


def find_phone_span(text: str | None) -> tuple[str, int, int] | None:
    """The first phone number inside a sentence and where it is.

    Args:
        text: Free text.

    Returns:
        (normalised number, start, end) with offsets into `text`, or None.
    """
    if not text:
        return None
    # Both conversions keep one character for one, so offsets stay valid for `text`.
    plain = _dictated_digits(_width(str(text)))
    for match in _PHONE_CANDIDATE_RE.finditer(plain):
        candidate = match.group(0)
        found = normalize_phone(candidate)
        if found and not _inside_longer_number(plain, match.start(), match.end()):
            return found, match.start(), match.end()
        # "2000元 13812345678" or "13812345678 61234567": the parts between spaces, then the
        # bare digit runs, each on its own.
        for part in re.finditer(r"\S+", candidate):
            found = normalize_phone(part.group(0))
            if found:
                return found, match.start() + part.start(), match.start() + part.end()
        for part in re.finditer(r"\d+", candidate):
            found = normalize_phone(part.group(0))
            if found:
                return found, match.start() + part.start(), match.start() + part.end()
    return None


def _inside_longer_number(text: str, start: int, end: int) -> bool:
    """Whether digits or letters touch the match: part of an order or account number."""
    before = text[start - 1] if start > 0 else ""
    after = text[end] if end < len(text) else ""
    return bool(re.match(r"[0-9A-Za-z]", before) or re.match(r"[0-9A-Za-z]", after))


def find_phone(text: str | None) -> str | None:
    """The first valid phone number inside a sentence ("我的电话是138 1234 5678，白天都在").

    Args:
        text: Free text.

    Returns:
        The normalised number (see :func:`normalize_phone`), or None when there is none.
    """
    if not text:
        return None
    whole = normalize_phone(text)
    if whole:
        return whole
    span = find_phone_span(text)
    return span[0] if span else None
