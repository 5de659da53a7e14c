"""Waiting for an event instead of sleeping for a guessed time: `wait_until(condition)` polls until
the condition holds. Its bound only stops a hung test; it is never an assertion about speed (the
machine is shared and slow; speed is measured by the scripts in bench/)."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float = 60.0, what: str = "the condition",
               interval: float = 0.02) -> T:
    """Call `condition` until it returns something truthy and return that; AssertionError naming
    `what` when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(interval)
