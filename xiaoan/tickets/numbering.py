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
# A whole answer that is a ticket number once separators are dropped ("XA" may be missing).
_WHOLE_RE = re.compile(r"^(?:XA)?(\d{6})(\d{4})$")
_SEPARATORS_RE = re.compile(r"[\s\-_—–·.]+")
#: A ticket number inside a sentence ("工单号是 XA 261126 0042"): here the "XA" is required, so
#: that other numbers in a message are not taken for one.
TICKET_NO_IN_TEXT_RE = re.compile(r"(?<![A-Za-z0-9])[Xx][Aa]\s*-?\s*(\d{6})\s*-?\s*(\d{4})(?!\d)")


class TicketNumbersExhausted(RuntimeError):
    """More than MAX_PER_DAY tickets on one day: the NNNN part would overflow."""


def format_ticket_no(day: dt.date, seq: int) -> str:
    """`XA-YYMMDD-NNNN` for the `seq`-th ticket of `day`."""
    if not 1 <= seq <= MAX_PER_DAY:
        raise TicketNumbersExhausted(f"sequence {seq} out of range 1..{MAX_PER_DAY} for {day:%Y-%m-%d}")
    return f"{PREFIX}-{day:%y%m%d}-{seq:04d}"


def normalize_ticket_no(text: str | None) -> str | None:
    """Read a ticket number however it was typed or spoken: the one rule of the project.

    - A text that is a ticket number on its own, in lower case, with spaces, dashes, dots or
      full-width characters, with or without "XA": "xa2611260042", "XA 261126 0042",
      "ＸＡ－２６１１２６－００４２", "261126-0042".
    - Else the first "XA" number inside a sentence: "工单号是 XA 261126 0042，尾号5678".

    Returns:
        The canonical `XA-YYMMDD-NNNN`, or None when the text holds no ticket number.
    """
    if not text:
        return None
    plain = unicodedata.normalize("NFKC", str(text))
    whole = _WHOLE_RE.match(_SEPARATORS_RE.sub("", plain).upper())
    if whole:
        return f"{PREFIX}-{whole.group(1)}-{whole.group(2)}"
    found = TICKET_NO_IN_TEXT_RE.search(plain)
    return f"{PREFIX}-{found.group(1)}-{found.group(2)}" if found else None


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
