"""The staff console in tests, on Flask's test client: the web app against a fake Rasa, staff
accounts, and signing in through the real login form (CSRF token included).

Fixtures (import them into a test module to use them): `rasa` (tests/fakes/rasa_server.FakeRasa
with `TOKEN`), `settings`, `app`, `service` (the hand-off service on the same fake Rasa)."""

from __future__ import annotations

import re

import pytest

from tests.fakes.rasa_server import FakeRasa
from xiaoan.config import Settings
from xiaoan.db import session_scope
from xiaoan.handoff.service import HandoffService
from xiaoan.rasa_client import RasaClient
from xiaoan.web.accounts import create_user
from xiaoan.web.app import create_app

TOKEN = "console-test-token"
PASSWORD = "agent-password-1"
_CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@pytest.fixture()
def rasa(monkeypatch):
    monkeypatch.setenv("XIAOAN_RASA_TOKEN", TOKEN)
    with FakeRasa(token=TOKEN) as fake:
        yield fake


@pytest.fixture()
def settings(db_url, rasa) -> Settings:
    return Settings(database_url=db_url, rasa_url=rasa.url, web_secret_key="console-tests-0123456789abcdefghijkl")


@pytest.fixture()
def app(settings):
    return create_app(settings, testing=True)


@pytest.fixture()
def service(settings) -> HandoffService:
    return HandoffService(settings, rasa=RasaClient(settings, token=TOKEN))


def add_user(username: str, role: str = "agent", display_name: str | None = None, password: str = PASSWORD) -> int:
    """A staff account in the current database; its id."""
    with session_scope() as db:
        return create_user(db, username, password, role, display_name or username).id


def login_form_token(client) -> str:
    """The CSRF token of the login form."""
    return _CSRF_FIELD.search(client.get("/console/login").text).group(1)


def sign_in(app, username: str, password: str = PASSWORD):
    """A test client signed in as `username` (the login must succeed)."""
    client = app.test_client()
    response = client.post("/console/login", data={"username": username, "password": password,
                                                    "csrf_token": login_form_token(client)})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return client


def csrf(client, path: str = "/console/inbox") -> str:
    """The CSRF token a console page carries for its scripts (``<meta name="csrf-token">``)."""
    return _CSRF_META.search(client.get(path).text).group(1)
