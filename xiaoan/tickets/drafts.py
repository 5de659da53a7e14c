"""The one `TicketDraft` builder (issue 14): what a conversation gathered, as a draft.

The complaint and report forms (``actions/forms.py``, from the slots) and the agents' inbox
(``xiaoan.handoff.inbox``, from the ticket form an agent completed) both call :func:`build_draft`.
It only assembles: the tickets service (:meth:`xiaoan.tickets.service.TicketService.create`)
checks the draft — required fields, lengths, the phone rule, the amount's range, the district —
and names the offending field, so no caller checks those again. The builder reads what only a
person typing can get wrong in free text (:func:`read_phone`, :func:`read_amount`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping, Optional

from xiaoan.tickets.service import TicketDraft
from xiaoan.understanding.money import parse_amount
from xiaoan.understanding.phones import find_phone

#: The intent a ticket records when the conversation's own is not a ticket intent.
DEFAULT_INTENTS = {"complaint": "complain_general", "report": "report_violation"}
#: The intents that start a complaint or a report (docs/interfaces.md §3).
TICKET_INTENTS = ("complain_refund", "complain_prepaid", "complain_general", "report_violation")
#: Fields an anonymous report never carries (the reporter's identity).
IDENTITY_FIELDS = ("complainant_name", "phone", "complainant_address")

PHONE_FORMAT = "电话号码格式不对，请填写11位手机号或带区号的固定电话。"
AMOUNT_FORMAT = "涉及金额请填写数字，如 2000 或 2000元。"


class DraftInputError(ValueError):
    """A typed value the builder cannot read (the message is for the person who typed it).

    Attributes:
        field: The draft field, e.g. "phone".
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def read_phone(typed: str) -> str:
    """The phone inside typed text ("138 1234 5678", "021-6123 4567").

    Raises:
        DraftInputError: no phone number in it.
    """
    phone = find_phone(typed)
    if not phone:
        raise DraftInputError("phone", PHONE_FORMAT)
    return phone


def read_amount(typed: str) -> Decimal:
    """The amount in typed text ("2000", "两千元").

    Raises:
        DraftInputError: no amount in it.
    """
    amount = parse_amount(typed)
    if amount is None:
        raise DraftInputError("amount", AMOUNT_FORMAT)
    return Decimal(amount)


def _optional_text(value: Any) -> Optional[str]:
    return str(value).strip() or None if value not in (None, "") else None


def build_draft(kind: str, values: Mapping[str, Any], *, intent: Optional[str], channel: str,
                conversation_id: str) -> TicketDraft:
    """The draft of a complaint or a report.

    Args:
        kind: "complaint" or "report".
        values: The gathered fields by draft name (complainant_name, phone, complainant_address,
            respondent_name, respondent_address, district, facts, claim, amount (a Decimal), anonymous,
            respondent_credit_code, online_platform, privacy_notice_version); a missing one is
            None. `anonymous` counts only for a report and drops the reporter's identity.
        intent: The intent that started it; None gives the kind's default (`DEFAULT_INTENTS`).
        channel: The channel name (`xiaoan.channels.names`).
        conversation_id: The Rasa conversation id.
    """
    anonymous = kind == "report" and values.get("anonymous") is True

    def value(name: str) -> Any:
        return None if anonymous and name in IDENTITY_FIELDS else values.get(name)

    optional = {"privacy_notice_version": values["privacy_notice_version"]} \
        if values.get("privacy_notice_version") else {}
    return TicketDraft(
        kind=kind,
        intent=intent or DEFAULT_INTENTS.get(kind, ""),
        channel=channel,
        conversation_id=conversation_id,
        complainant_name=value("complainant_name"),
        phone=value("phone"),
        complainant_address=value("complainant_address"),
        respondent_name=value("respondent_name"),
        respondent_address=value("respondent_address"),
        district=value("district"),
        facts=value("facts"),
        claim=value("claim"),
        amount=value("amount"),
        anonymous=anonymous,
        respondent_credit_code=_optional_text(value("respondent_credit_code")),
        online_platform=_optional_text(value("online_platform")),
        **optional,
    )
