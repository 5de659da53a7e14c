"""The settable clock of the tests: services take a `clock` callable; this one only moves when a
test moves it (no sleeping, no wall clock)."""

from __future__ import annotations

import datetime as dt
from typing import Generic, TypeVar

Moment = TypeVar("Moment", dt.datetime, float)


class Clock(Generic[Moment]):
    """Returns `now` when called: an aware datetime, or seconds since 1970 (a float).

    Example::

        clock = Clock(dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.timezone.utc))
        service = TicketService(settings, clock=clock)
        clock.advance(minutes=5)
    """

    def __init__(self, now: Moment) -> None:
        self.now = now

    def __call__(self) -> Moment:
        return self.now

    def advance(self, seconds: float = 0, **delta: float) -> Moment:
        """Move on by `seconds` and any `datetime.timedelta` keywords (``minutes=5``); the new time."""
        step = dt.timedelta(seconds=seconds, **delta)
        self.now = self.now + (step if isinstance(self.now, dt.datetime) else step.total_seconds())
        return self.now
