"""Background workers of a long-running process, started by its entry point — never by a
blueprint or a service on first use.

- The web app (`xiaoan.web.app.create_app`, not in testing mode): idle conversations go back to
  小安 every minute (`xiaoan.handoff.idle`), and, with `XIAOAN_OUTBOX_MODE=thread`, the ticket
  outbox delivery thread.
- The action server (`xiaoan.action_server`, at start-up): the outbox delivery thread with
  `XIAOAN_OUTBOX_MODE=thread`.

With `XIAOAN_OUTBOX_MODE=worker` (the default, what `make run` uses: the Procfile's `outbox:`
process, `xiaoan outbox run`) no process but the worker delivers tickets.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Optional

from xiaoan.config import Settings

logger = logging.getLogger(__name__)


@dataclass
class Workers:
    """The threads one process started (to stop them: tests, shutdown)."""

    idle_returner: Optional[Any] = None
    outbox_thread: Optional[Any] = None
    names: list[str] = field(default_factory=list)

    def stop(self) -> None:
        """Stop every thread started here."""
        if self.idle_returner is not None:
            self.idle_returner.stop()
        if self.outbox_thread is not None:
            from xiaoan.tickets import outbox

            outbox.stop_background_delivery()


def start(settings: Settings, *, rasa: Any = None) -> Workers:
    """Start the process's background workers.

    Args:
        settings: The process's settings.
        rasa: The Rasa client: given (the web app), idle conversations are handed back to 小安.

    Raises:
        ValueError: an unknown `XIAOAN_OUTBOX_MODE`.
    """
    from xiaoan.tickets import outbox

    workers = Workers()
    if outbox.delivers_in_process(settings):
        workers.outbox_thread = outbox.start_background_delivery(settings)
        workers.names.append("outbox")
    if rasa is not None:
        from xiaoan.handoff.idle import IdleReturner
        from xiaoan.handoff.service import HandoffService

        workers.idle_returner = IdleReturner(lambda: HandoffService(settings, rasa=rasa)).start()
        workers.names.append("idle-return")
        logger.info("idle conversations go back to the assistant after %d minutes",
                    HandoffService(settings, rasa=rasa).idle_minutes)
    return workers
