"""Idle conversations go back to 小安: `HandoffService.return_idle` every minute, in a daemon thread.

Started by the web app factory (`xiaoan.workers`, not in testing mode); `xiaoan handoff
return-idle` does the same from cron; running both is safe (each return is a conditional UPDATE,
so a conversation is returned once).
"""

from __future__ import annotations

import logging
import threading
from typing import Optional

logger = logging.getLogger(__name__)

IDLE_CHECK_SECONDS = 60


class IdleReturner:
    """A daemon thread that calls `HandoffService.return_idle()` every `interval` seconds.

    Args:
        make_service: builds the service (called each round, so settings changes apply).
        interval: seconds between rounds.
    """

    def __init__(self, make_service, interval: float = IDLE_CHECK_SECONDS) -> None:
        self.make_service = make_service
        self.interval = interval
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> "IdleReturner":
        """Start the thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="handoff-idle-return", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5) -> None:
        """Stop after the current round."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_once(self) -> list[int]:
        """One round; errors are logged, never raised (the thread must live on)."""
        try:
            return self.make_service().return_idle()
        except Exception:  # noqa: BLE001
            logger.exception("idle return round failed")
            return []

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.run_once()
