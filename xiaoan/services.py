"""The process's settings and long-lived services, in one place (issue 14).

Each entry point builds :class:`~xiaoan.config.Settings` once and installs it with
:func:`configure`: the ``xiaoan`` command (for the invocation, so also ``xiaoan web`` and
``xiaoan outbox run``), the action server when it starts (``xiaoan.action_server``). The web app
factory receives its settings and passes them down to its blueprints (``app.extensions``). Code
below an entry point asks :func:`settings`; without an entry point (a library call, a test that
changes the environment between cases) it reads the environment at that moment. Rasa's own
process builds its stores and channels once at start-up, each from :func:`settings`.

:func:`service` is the one per-process factory of long-lived services (the tickets service, the
hand-off service): built on first use from the process's settings, rebuilt in a forked child
(threads and connections do not survive a fork), forgotten by :func:`reset`.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable, TypeVar

from xiaoan.config import Settings

T = TypeVar("T")

_lock = threading.RLock()
_state: dict[str, Any] = {"settings": None, "services": {}, "pid": None}


def configure(settings: Settings | None = None) -> Settings:
    """Install the process's settings (default: read from the environment now) and forget the
    services built from earlier ones. Called once by an entry point; returns the settings."""
    settings = settings or Settings.from_env()
    with _lock:
        _state.update(settings=settings, services={}, pid=os.getpid())
    return settings


def settings() -> Settings:
    """The settings the entry point installed, else the environment read now."""
    with _lock:
        installed = _state["settings"]
    return installed if installed is not None else Settings.from_env()


def service(name: str, build: Callable[[Settings], T]) -> T:
    """The process's service called `name`, built by `build(settings())` on first use."""
    with _lock:
        if _state["pid"] != os.getpid():
            _state.update(services={}, pid=os.getpid())
        services = _state["services"]
        if name not in services:
            services[name] = build(settings())
        return services[name]


def reset(name: str | None = None) -> None:
    """Forget one service (`name`) or, with no name, every service and the installed settings
    (the end of a command; tests that change the environment)."""
    with _lock:
        if name is None:
            _state.update(settings=None, services={}, pid=None)
        else:
            _state["services"].pop(name, None)
