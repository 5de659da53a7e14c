"""Ticket numbers: format, reading them back, the per-day sequence."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from xiaoan.db import session_scope
from xiaoan.tickets.models import Ticket, TicketSequence
from xiaoan.tickets.numbering import (
    TICKET_NO_RE,
    TicketNumbersExhausted,
    allocate_ticket_no,
    format_ticket_no,
    normalize_ticket_no,
)


def test_format():
    assert format_ticket_no(dt.date(2026, 11, 26), 42) == "XA-261126-0042"
    assert format_ticket_no(dt.date(2027, 1, 5), 9999) == "XA-270105-9999"
    assert TICKET_NO_RE.match(format_ticket_no(dt.date(2026, 1, 1), 1))
    with pytest.raises(TicketNumbersExhausted):
        format_ticket_no(dt.date(2026, 11, 26), 10000)


@pytest.mark.parametrize("typed, expected", [
    ("XA-261126-0042", "XA-261126-0042"),
    ("xa2611260042", "XA-261126-0042"),
    ("XA 261126 0042", "XA-261126-0042"),
    ("Xa-261126 - 0042", "XA-261126-0042"),
    ("ＸＡ２６１１２６００４２", "XA-261126-0042"),
    ("2611260042", "XA-261126-0042"),
    ("XA-261126-042", None),
    ("13812345678", None),        # a phone number is not a ticket number
    ("XB-261126-0042", None),
    ("", None),
    (None, None),
])
def test_normalize(typed, expected):
    assert normalize_ticket_no(typed) == expected


def test_allocation_counts_per_day_and_rolls_back_with_the_transaction(db_url):
    day = dt.date(2026, 11, 26)
    with session_scope(db_url) as session:
        assert allocate_ticket_no(session, day) == "XA-261126-0001"
        assert allocate_ticket_no(session, day) == "XA-261126-0002"
        assert allocate_ticket_no(session, dt.date(2026, 11, 27)) == "XA-261127-0001"
    with pytest.raises(RuntimeError):
        with session_scope(db_url) as session:
            assert allocate_ticket_no(session, day) == "XA-261126-0003"
            raise RuntimeError("the ticket insert failed")
    with session_scope(db_url) as session:       # the rolled-back number is given out again
        assert allocate_ticket_no(session, day) == "XA-261126-0003"


def test_exhausted_day_fails_clearly_and_stores_nothing(db_url):
    from xiaoan.config import Settings
    from xiaoan.tickets.routing import Router
    from xiaoan.tickets.service import TicketDraft, TicketService

    moment = dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.timezone.utc)
    with session_scope(db_url) as session:
        session.add(TicketSequence(day="261126", last_value=9999))
    service = TicketService(Settings(database_url=db_url), clock=lambda: moment,
                            router=Router(resolve_district=lambda t: None))
    draft = TicketDraft(kind="report", intent="report_violation", channel="rest", conversation_id="c",
                        complainant_name=None, phone=None, complainant_address=None, respondent_name="某店",
                        respondent_address=None, district=None, facts="无证经营", claim=None, amount=None,
                        anonymous=True)
    with pytest.raises(TicketNumbersExhausted):
        service.create(draft, "k")
    with session_scope(db_url) as session:
        assert session.execute(select(func.count()).select_from(Ticket)).scalar_one() == 0
