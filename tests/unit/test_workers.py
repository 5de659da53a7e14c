"""Background workers are started by a process's entry point (the web app factory, the action
server's start), and XIAOAN_OUTBOX_MODE decides who forwards tickets: one mechanism."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from xiaoan import services
from xiaoan.config import Settings
from xiaoan.web.app import ConfigurationError, create_app

PLATFORM = "http://127.0.0.1:9/api"   # never reached: no ticket is waiting


def outbox_threads():
    return [t for t in threading.enumerate() if t.name == "xiaoan-ticket-outbox"]


def web_settings(db_url, **more):
    return Settings(database_url=db_url, rasa_url="http://127.0.0.1:9", ticket_api_url=PLATFORM,
                    web_secret_key="s" * 16 + "0123456789abcdefXYZ", **more)


def test_the_web_app_in_worker_mode_starts_no_outbox_thread(db_url):
    app = create_app(web_settings(db_url))
    started = app.extensions["xiaoan"]["workers"]
    try:
        assert outbox_threads() == [] and started.outbox_thread is None
        assert started.idle_returner._thread.is_alive()
    finally:
        started.stop()


def test_the_web_app_in_thread_mode_starts_one_outbox_thread_and_testing_mode_none(db_url):
    testing = create_app(web_settings(db_url, outbox_mode="thread"), testing=True)
    assert "workers" not in testing.extensions["xiaoan"] and outbox_threads() == []
    app = create_app(web_settings(db_url, outbox_mode="thread"))
    started = app.extensions["xiaoan"]["workers"]
    try:
        assert len(outbox_threads()) == 1
    finally:
        started.stop()
    assert outbox_threads() == [] and not started.idle_returner._thread.is_alive()


def test_an_unknown_mode_stops_the_web_app_with_the_variable_named(db_url):
    with pytest.raises(ConfigurationError, match="XIAOAN_OUTBOX_MODE"):
        create_app(web_settings(db_url, outbox_mode="both"))


def test_the_action_servers_start_builds_its_settings_once_and_its_workers(db_url, monkeypatch):
    from xiaoan.action_server import _start_process, _stop_process

    monkeypatch.setenv("XIAOAN_TICKET_API_URL", PLATFORM)
    monkeypatch.setenv("XIAOAN_OUTBOX_MODE", "thread")
    app = SimpleNamespace(ctx=SimpleNamespace())
    _start_process(app)
    try:
        installed = services.settings()
        monkeypatch.setenv("DATABASE_URL", "sqlite:///elsewhere.db")
        assert services.settings() is installed and installed.database_url == db_url
        assert len(outbox_threads()) == 1
    finally:
        _stop_process(app)
    assert outbox_threads() == [] and services.settings().database_url == "sqlite:///elsewhere.db"
