"""Masking of citizens' personal data for logs and listings (PIPL, DOMAIN.md §7)."""

from __future__ import annotations

import re

_PHONE_RE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
_LANDLINE_RE = re.compile(r"(?<!\d)((?:0\d{2,3}-?)?)(\d{4})(\d{4})(?!\d)")


def mask_phone(phone: str | None) -> str | None:
    """Mask a phone number: `13812345678` -> `138****5678`; landlines keep the last four digits."""
    if not phone:
        return phone
    digits = re.sub(r"[\s-]", "", phone)
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


def mask_text(text: str | None) -> str | None:
    """Mask every mobile number inside free text (for log lines)."""
    if not text:
        return text
    return _PHONE_RE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
