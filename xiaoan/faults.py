"""Fault injection for the crash tests: `kill -9` of the current process at a named point.

Off unless `XIAOAN_FAULT_ARM_FILE` is set (only the crash tests and `bench/crash_bench.py` set
it; `xiaoan.production_checks` refuses to start production with it). A test arms one crash by
writing the point's name into that file; the process that reaches the point deletes the file
(so the restarted process does not crash again) and sends itself SIGKILL — no cleanup, no
`finally` blocks, no reply: exactly what an out-of-memory kill or a power cut does.

Points (see `xiaoan.tickets.service.TicketService.create` and `actions/forms.py`):

- ``submit:before_create``        the action received the confirmed form, nothing written yet
- ``ticket_create:before_commit`` the ticket row is inserted but its transaction not committed
- ``ticket_create:after_commit``  the ticket is committed; the citizen has not been told
- ``submit:after_create``         the action has the receipt but has not replied to Rasa
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

logger = logging.getLogger(__name__)

ENV = "XIAOAN_FAULT_ARM_FILE"
POINTS = ("submit:before_create", "ticket_create:before_commit", "ticket_create:after_commit",
          "submit:after_create")


def enabled() -> bool:
    """Whether fault injection is configured in this process (never in production)."""
    return bool(os.environ.get(ENV))


def crash_point(name: str) -> None:
    """SIGKILL this process if the armed point is `name` (once); otherwise do nothing."""
    path = os.environ.get(ENV)
    if not path:
        return
    arm = Path(path)
    try:
        wanted = arm.read_text().strip()
    except OSError:
        return
    if wanted != name:
        return
    try:
        arm.unlink()  # once: a concurrent caller or the restarted process finds nothing armed
    except FileNotFoundError:
        return
    logger.error("fault injection: SIGKILL at %s (pid %d)", name, os.getpid())
    os.kill(os.getpid(), signal.SIGKILL)
