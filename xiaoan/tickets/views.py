"""JSON shapes of a ticket: the docs/interfaces.md §6 listing, the history, and the platform payload."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from xiaoan.localtime import iso_seconds
from xiaoan.privacy import mask_address, mask_known, mask_name, mask_phone
from xiaoan.tickets.attachments import contract_json
from xiaoan.tickets.models import Ticket

#: The ticket JSON fields of docs/interfaces.md §6, in order (`xiaoan tickets list --json`).
CONTRACT_FIELDS = (
    "ticket_no", "kind", "intent", "status", "created_at", "channel", "conversation_id",
    "complainant_name", "phone_masked", "complainant_address", "respondent_name",
    "respondent_address", "district", "agency", "facts", "claim", "amount", "contact_by", "resolve_by",
    "attachments",
)


def iso_datetime(moment: dt.datetime | None) -> str | None:
    """ISO-8601 in Shanghai time with its offset, e.g. `2026-11-26T10:30:00+08:00`."""
    return iso_seconds(moment)


def amount_number(amount: Decimal | None) -> int | float | None:
    """A JSON number for an amount: 2000 stays an integer, 399.50 becomes 399.5."""
    if amount is None:
        return None
    amount = Decimal(amount)
    if amount == amount.to_integral_value():
        return int(amount)
    return float(amount)


def ticket_json(ticket: Ticket) -> dict[str, Any]:
    """Exactly the docs/interfaces.md §6 fields; the phone masked, the name null when anonymous."""
    return {
        "ticket_no": ticket.ticket_no,
        "kind": ticket.kind,
        "intent": ticket.intent,
        "status": ticket.status,
        "created_at": iso_datetime(ticket.created_at),
        "channel": ticket.channel,
        "conversation_id": ticket.conversation_id,
        "complainant_name": None if ticket.anonymous else ticket.complainant_name,
        "phone_masked": None if ticket.anonymous else mask_phone(ticket.phone),
        "complainant_address": None if ticket.anonymous else ticket.complainant_address,
        "respondent_name": ticket.respondent_name,
        "respondent_address": ticket.respondent_address,
        "district": ticket.district,
        "agency": ticket.agency,
        "facts": ticket.facts,
        "claim": ticket.claim,
        "amount": amount_number(ticket.amount),
        "contact_by": ticket.contact_by.isoformat(),
        "resolve_by": ticket.resolve_by.isoformat(),
        # evidence (issue 15): [{name, content_type, size, sha256}], [] when none
        "attachments": [contract_json(a) for a in ticket.attachments],
    }


def masked_ticket_json(item: dict[str, Any]) -> dict[str, Any]:
    """A `ticket_json` listing entry with the complainant's personal data masked (same fields):
    the name `张**`, the address `上海市杨浦区****`, and inside the facts and the claim the
    complainant's own name and address and every phone, ID and bank card number
    (`xiaoan.privacy.mask_known`). `xiaoan tickets list` shows this unless `--reveal`."""
    name, address = item.get("complainant_name"), item.get("complainant_address")
    names, addresses = [name] if name else [], [address] if address else []
    return {
        **item,
        "complainant_name": mask_name(name),
        "complainant_address": mask_address(address),
        "facts": mask_known(item.get("facts"), names, addresses),
        "claim": mask_known(item.get("claim"), names, addresses),
        # a file name may carry the citizen's name or number too ("张三丰身份证.jpg")
        "attachments": [{**a, "name": mask_known(a.get("name"), names, addresses)} for a in item.get("attachments") or []],
    }


def history_json(ticket: Ticket) -> list[dict[str, Any]]:
    """The status history, oldest first."""
    return [
        {"status": e.status, "at": iso_datetime(e.at), "by": e.by, "note": e.note}
        for e in ticket.history
    ]


def platform_payload(ticket: Ticket, agency_name: str) -> dict[str, Any]:
    """The body POSTed to the work-order platform.

    The docs/interfaces.md §6 fields plus what the handling unit needs: the FULL phone number (the
    bureau calls the citizen back), the agency's name, the credit code, the online platform,
    the anonymity flag and the version of the privacy notice the citizen saw. The attachments'
    bytes are not stored in the outbox: they are added when the body is sent
    (`xiaoan.tickets.attachments.AttachmentStore.with_content`).
    """
    payload = ticket_json(ticket)
    payload.update({
        "phone": None if ticket.anonymous else ticket.phone,
        "agency_name": agency_name,
        "anonymous": bool(ticket.anonymous),
        "respondent_credit_code": ticket.respondent_credit_code,
        "online_platform": ticket.online_platform,
        "privacy_notice_version": ticket.privacy_notice_version,
        "source": "xiaoan",
    })
    return payload
