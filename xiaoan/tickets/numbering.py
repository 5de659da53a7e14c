"""Ticket numbers a citizen can read over the phone: `XA-YYMMDD-NNNN`.

YYMMDD is the Shanghai date of creation, NNNN the day's sequence number (from 0001). The
number is taken from a per-day row of `ticket_sequences`, incremented in the same
transaction that inserts the ticket: the row lock (PostgreSQL) or the database write lock
(SQLite) serializes concurrent creators, and a rolled-back ticket gives its number back.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from xiaoan.tickets.models import TicketSequence

PREFIX = "XA"
MAX_PER_DAY = 9999
TICKET_NO_RE = re.compile(r"^XA-\d{6}-\d{4}$")
_LOOSE_RE = re.compile(r"^(?:XA)?(\d{6})(\d{4})$")


class TicketNumbersExhausted(RuntimeError):
    """More than MAX_PER_DAY tickets on one day: the NNNN part would overflow."""


def format_ticket_no(day: dt.date, seq: int) -> str:
    """`XA-YYMMDD-NNNN` for the `seq`-th ticket of `day`."""
    if not 1 <= seq <= MAX_PER_DAY:
        raise TicketNumbersExhausted(f"sequence {seq} out of range 1..{MAX_PER_DAY} for {day:%Y-%m-%d}")
    return f"{PREFIX}-{day:%y%m%d}-{seq:04d}"


def normalize_ticket_no(text: str | None) -> str | None:
    """Read a ticket number however it was typed or spoken.

    Accepts lower case, spaces, dashes, full-width characters and a missing "XA":
    "xa2611260042", "XA 261126 0042", "ＸＡ－２６１１２６－００４２", "261126-0042".

    Returns:
        The canonical `XA-YYMMDD-NNNN`, or None when it is not a ticket number.
    """
    if not text:
        return None
    compact = re.sub(r"[\s\-_—–·.]+", "", unicodedata.normalize("NFKC", text)).upper()
    match = _LOOSE_RE.match(compact)
    if not match:
        return None
    return f"{PREFIX}-{match.group(1)}-{match.group(2)}"


def allocate_ticket_no(session: Session, day: dt.date) -> str:
    """Take the next number of `day` inside the caller's transaction.

    The caller must insert the ticket and commit in the same transaction; on rollback the
    number is released with it.
    """
    key = f"{day:%y%m%d}"
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(postgresql.insert(TicketSequence).values(day=key, last_value=0)
                        .on_conflict_do_nothing(index_elements=["day"]))
    elif dialect == "sqlite":
        session.execute(sqlite.insert(TicketSequence).values(day=key, last_value=0)
                        .on_conflict_do_nothing(index_elements=["day"]))
    else:
        raise RuntimeError(f"ticket numbering supports PostgreSQL and SQLite, not {dialect}")
    session.execute(update(TicketSequence).where(TicketSequence.day == key)
                    .values(last_value=TicketSequence.last_value + 1))
    seq = session.execute(select(TicketSequence.last_value).where(TicketSequence.day == key)).scalar_one()
    return format_ticket_no(day, seq)
