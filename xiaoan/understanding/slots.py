"""One entry point for the forms: parse a reply as a value of the slot the form asked for.

When a form has requested a slot, the reply is first read as a VALUE of that slot's type; only
when no value parses does the intent classifier get a say (a bare "李明" is a name, whatever
the classifier thinks of it). :func:`parse_slot_value` dispatches to the parsers of this package
and also returns the other slots an answer fills on the way ("李娜 13812345678" gives the name
and the phone).

Slot names are those of the complaint and report forms (CONTRACT.md §7).
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field

from xiaoan.understanding.addresses import find_address, parse_address
from xiaoan.understanding.dates import parse_date
from xiaoan.understanding.merchants import parse_merchant
from xiaoan.understanding.money import is_no_amount, parse_amount
from xiaoan.understanding.names import find_name, is_non_answer, parse_name
from xiaoan.understanding.phones import find_phone_span, parse_phone


@dataclass(frozen=True)
class SlotValue:
    """What a reply gives the requested slot, and the other slots it fills too.

    Attributes:
        value: The slot's value: a str (amounts as a decimal string, "none" for no money
            involved; dates as ISO strings), or a bool for ``anonymous``.
        extra: Other slots this reply also fills, e.g. ``{"district": "xuhui"}`` or
            ``{"phone": "13812345678"}`` beside a name.
    """

    value: object
    extra: dict = field(default_factory=dict)


MIN_FACTS_CHARS = 8  # fewer Han or alphanumeric characters cannot describe what happened
MIN_CLAIM_CHARS = 2
_CONTENT_RE = re.compile(r"[\u3400-\u9fffA-Za-z0-9]")
_UNKNOWN_RE = re.compile(r"^(?:我?(?:也)?(?:不知道|不清楚|不记得|记不清|忘了|不晓得|说不清|没什么|没有什么))(?:了|啊|呀|吧)?[。.!！]*$")
# 匿名 / 实名: the negated forms first ("不匿名" is 实名, "不想留名" is 匿名).
_NOT_ANONYMOUS_RE = re.compile(r"不(?:要|用|想|需要|必)?匿名|实名|可以留名|愿意留名|留真名|留名字|留姓名|写我的?名字|不用保密")
_ANONYMOUS_RE = re.compile(r"匿名|不留名|不想留名|不要留名|不留姓名|不愿意留名|保密|不想透露")
# How long a reply may be before it is read as a letter, where only what is found counts.
_SHORT_REPLY_CHARS = 20


def _without(text: str, start: int, end: int) -> str:
    """`text` with [start, end) removed, the two sides joined by a space."""
    return (text[:start] + " " + text[end:]).strip(" ，,。.；;、:：")


def _name_value(text: str) -> SlotValue | None:
    span = find_phone_span(text)
    if span:
        rest = _without(text, span[1], span[2])
        name = parse_name(rest) or find_name(rest) if rest else None
        return SlotValue(name, {"phone": span[0]}) if name else None
    name = parse_name(text) or (find_name(text) if len(text) > _SHORT_REPLY_CHARS // 2 else None)
    return SlotValue(name) if name else None


def _phone_value(text: str) -> SlotValue | None:
    phone = parse_phone(text)
    if phone:
        return SlotValue(phone)
    span = find_phone_span(text)
    if not span:
        return None
    rest = _without(text, span[1], span[2])
    name = parse_name(rest) or find_name(rest) if rest else None
    return SlotValue(span[0], {"complainant_name": name} if name else {})


def _address_value(text: str) -> SlotValue | None:
    address = parse_address(text)
    if address is None and len(text) > _SHORT_REPLY_CHARS:
        address = find_address(text)  # a long reply: the address inside it
    if address is None:
        return None
    return SlotValue(address.text, {"district": address.district} if address.district else {})


def _amount_value(text: str) -> SlotValue | None:
    if is_no_amount(text):
        return SlotValue("none")
    amount = parse_amount(text)
    return SlotValue(str(amount)) if amount is not None else None


def _text_value(text: str, min_chars: int) -> SlotValue | None:
    plain = text.strip()
    if is_non_answer(plain) or _UNKNOWN_RE.match(plain) or len(_CONTENT_RE.findall(plain)) < min_chars:
        return None
    return SlotValue(plain)


def _anonymous_value(text: str) -> SlotValue | None:
    if _NOT_ANONYMOUS_RE.search(text):
        return SlotValue(False)
    if _ANONYMOUS_RE.search(text):
        return SlotValue(True)
    return None


def parse_slot_value(slot: str, text: str | None, *, today: datetime.date | None = None) -> SlotValue | None:
    """Read a reply as a value of the requested slot.

    - ``complainant_name``: :func:`~xiaoan.understanding.names.parse_name`; a phone number in the
      same line goes to ``extra["phone"]``.
    - ``phone``: :func:`~xiaoan.understanding.phones.parse_phone`, else the number inside the
      reply; a name beside it goes to ``extra["complainant_name"]``.
    - ``complainant_address`` / ``respondent_address``: :func:`parse_address` (a long reply:
      :func:`find_address`); the district goes to ``extra["district"]``.
    - ``respondent_name``: :func:`parse_merchant`.
    - ``amount``: "none" when no money is involved, else the amount as a decimal string.
    - ``facts``: the text when it has at least 8 Han or alphanumeric characters and is not a
      non-answer; ``claim``: the same with at least 2.
    - ``anonymous``: True for 匿名/不留名, False for 实名/可以留名/不匿名.
    - a slot named ``date`` or ``*_date``: the date (ISO) relative to `today`.
    - any other slot: None.

    Args:
        slot: The requested slot.
        text: The citizen's reply.
        today: The date the reply was written (dates only; default today).

    Returns:
        The :class:`SlotValue`, or None when the reply is no value of that slot.
    """
    if not text or not str(text).strip() or str(text).startswith("/"):  # a button payload
        return None
    text = str(text).strip()
    if slot == "complainant_name":
        return _name_value(text)
    if slot == "phone":
        return _phone_value(text)
    if slot in ("complainant_address", "respondent_address"):
        return _address_value(text)
    if slot == "respondent_name":
        merchant = parse_merchant(text)
        return SlotValue(merchant) if merchant else None
    if slot == "amount":
        return _amount_value(text)
    if slot == "facts":
        return _text_value(text, MIN_FACTS_CHARS)
    if slot == "claim":
        return _text_value(text, MIN_CLAIM_CHARS)
    if slot == "anonymous":
        return _anonymous_value(text)
    if slot == "date" or slot.endswith("_date"):
        found = parse_date(text, today or datetime.date.today())
        return SlotValue(found.isoformat()) if found else None
    return None
