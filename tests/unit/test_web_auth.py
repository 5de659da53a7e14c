"""Staff sign-in, roles, throttling and the `xiaoan users` commands."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from click.testing import CliRunner
from flask import jsonify
from sqlalchemy import select

from xiaoan.cli import cli
from xiaoan.config import Settings
from xiaoan.db import session_scope, utcnow
from xiaoan.web import messages
from xiaoan.web.app import create_app
from xiaoan.web.accounts import LOCKOUT, LoginFailed, LoginLocked, UserError, authenticate, create_user, set_active
from xiaoan.web.auth import current_user, login_required
from xiaoan.web.auth_models import StaffLoginFailure, StaffUser

PASSWORD = "correct-horse-42"


def add_user(username: str, role: str, display_name: str | None = None, password: str = PASSWORD) -> None:
    with session_scope() as db:
        create_user(db, username, password, role, display_name)


@pytest.fixture()
def app(db_url):
    app = create_app(Settings(database_url=db_url, rasa_url="http://127.0.0.1:9",
                              web_secret_key="s" * 16 + "0123456789abcdefXYZ"), testing=True)

    # stand-ins for the other areas' pages, protected the way they will be
    @app.get("/console/test-inbox")
    @login_required("agent", "supervisor")
    def test_inbox():
        return f"inbox of {current_user().username}"

    @app.get("/console/api/test-kb")
    @login_required("maintainer")
    def test_kb_api():
        return jsonify(ok=True)

    @app.get("/console/test-any")
    @login_required
    def test_any():
        return "any staff"

    return app


def form_token(client, path: str = "/console/login") -> str:
    page = client.get(path)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)


def sign_in(client, username: str, password: str = PASSWORD, next_url: str | None = None):
    token = form_token(client)
    url = "/console/login" + (f"?next={next_url}" if next_url else "")
    return client.post(url, data={"username": username, "password": password, "csrf_token": token})


def sign_out(client):
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', client.get("/console").text).group(1)
    return client.post("/console/logout", data={"csrf_token": token})


# --- accounts --------------------------------------------------------------------------------

def test_create_user_validates_and_hashes(db_url):
    with session_scope() as db:
        user = create_user(db, "  WangLi ", PASSWORD, "agent", "王丽")
    assert (user.username, user.display_name, user.role, user.active) == ("wangli", "王丽", "agent", True)
    assert user.password_hash != PASSWORD and user.password_hash.startswith(("scrypt:", "pbkdf2:"))
    assert user.created_at.tzinfo is not None
    for args, fragment in [
        (("zhao", "short", "agent"), "at least 10"),
        (("zhao", PASSWORD, "boss"), "role"),
        (("a", PASSWORD, "agent"), "username"),
        (("bad name", PASSWORD, "agent"), "username"),
        (("wangli", PASSWORD, "admin"), "already exists"),
        (("zhaoqiang10", "ZhaoQiang10", "agent"), "username"),
    ]:
        with pytest.raises(UserError, match=fragment), session_scope() as db:
            create_user(db, *args)


# --- sign-in ---------------------------------------------------------------------------------

def test_login_page_is_chinese_with_a_csrf_field(app):
    page = app.test_client().get("/console/login")
    assert page.status_code == 200
    assert "工作人员登录" in page.text and 'name="csrf_token"' in page.text
    assert re.search(r'<meta name="csrf-token" content="[^"]+">', page.text)


def test_login_without_csrf_is_refused(app, db_url):
    add_user("wangli", "agent")
    client = app.test_client()
    resp = client.post("/console/login", data={"username": "wangli", "password": PASSWORD})
    assert resp.status_code == 400 and messages.CSRF_FAILED in resp.text
    assert client.get("/console").status_code == 302


def test_agent_signs_in_and_sees_only_the_inbox(app, db_url):
    add_user("wangli", "agent", "王丽")
    client = app.test_client()
    resp = sign_in(client, "WangLi")
    assert resp.status_code == 302 and resp.headers["Location"] == "/console"
    page = client.get("/console")
    assert page.status_code == 200
    assert "王丽" in page.text and 'href="/console/inbox"' in page.text and 'href="/console/kb"' not in page.text
    assert client.get("/console/test-inbox").text == "inbox of wangli"
    resp = client.get("/console/api/test-kb")
    assert (resp.status_code, resp.json) == (403, {"error": messages.FORBIDDEN})


@pytest.mark.parametrize("role,kb,inbox", [
    ("maintainer", True, False), ("agent", False, True), ("supervisor", True, True), ("admin", True, True)])
def test_landing_page_links_by_role(app, db_url, role, kb, inbox):
    add_user("staff01", role)
    client = app.test_client()
    sign_in(client, "staff01")
    page = client.get("/console").text
    assert ('href="/console/kb"' in page) is kb
    assert ('href="/console/inbox"' in page) is inbox


def test_wrong_role_page_is_403_and_admin_passes_everything(app, db_url):
    add_user("keeper", "maintainer")
    add_user("boss01", "admin")
    keeper, boss = app.test_client(), app.test_client()
    sign_in(keeper, "keeper")
    sign_in(boss, "boss01")
    page = keeper.get("/console/test-inbox")
    assert page.status_code == 403 and page.mimetype == "text/html" and messages.FORBIDDEN in page.text
    assert keeper.get("/console/api/test-kb").json == {"ok": True}
    assert boss.get("/console/test-inbox").status_code == 200
    assert boss.get("/console/api/test-kb").status_code == 200
    assert keeper.get("/console/test-any").text == "any staff"


def test_signed_out_pages_redirect_and_api_calls_get_401(app):
    client = app.test_client()
    resp = client.get("/console/test-inbox?tab=waiting")
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/console/login?next=/console/test-inbox?tab%3Dwaiting"
    resp = client.get("/console")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/console/login")
    resp = client.get("/console/api/test-kb")
    assert (resp.status_code, resp.json) == (401, {"error": messages.LOGIN_REQUIRED})


def test_login_returns_to_next_but_never_off_site(app, db_url):
    add_user("wangli", "agent")
    client = app.test_client()
    resp = sign_in(client, "wangli", next_url="/console/test-inbox")
    assert resp.headers["Location"] == "/console/test-inbox"
    for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        other = app.test_client()
        resp = sign_in(other, "wangli", next_url=evil)
        assert resp.status_code == 302 and resp.headers["Location"] == "/console"


def test_wrong_password_and_unknown_user_get_the_same_message(app, db_url):
    add_user("wangli", "agent")
    client = app.test_client()
    wrong = sign_in(client, "wangli", "not-the-password")
    unknown = sign_in(client, "nobody", PASSWORD)
    for resp in (wrong, unknown):
        assert resp.status_code == 401 and messages.LOGIN_FAILED in resp.text
    assert client.get("/console").status_code == 302


def test_empty_fields_get_chinese_messages(app):
    client = app.test_client()
    token = form_token(client)
    resp = client.post("/console/login", data={"username": "", "password": "", "csrf_token": token})
    assert resp.status_code == 400
    assert messages.USERNAME_REQUIRED in resp.text and messages.PASSWORD_REQUIRED in resp.text


def test_inactive_user_cannot_sign_in_and_deactivation_ends_sessions(app, db_url):
    add_user("wangli", "agent")
    client = app.test_client()
    sign_in(client, "wangli")
    assert client.get("/console").status_code == 200
    with session_scope() as db:
        set_active(db, "wangli", False)
    assert client.get("/console").status_code == 302
    assert sign_in(app.test_client(), "wangli").status_code == 401


def test_logout_needs_csrf_and_invalidates_a_copied_cookie(app, db_url):
    add_user("wangli", "agent")
    client = app.test_client()
    sign_in(client, "wangli")
    stolen = client.get_cookie("xiaoan_session").value
    assert client.post("/console/logout").status_code == 400  # no CSRF token
    assert client.get("/console").status_code == 200

    resp = sign_out(client)
    assert resp.status_code == 302 and resp.headers["Location"] == "/console/login"
    assert messages.LOGGED_OUT in client.get("/console/login").text
    assert client.get("/console").status_code == 302

    replay = app.test_client()
    replay.set_cookie("xiaoan_session", stolen)
    assert replay.get("/console").status_code == 302


def test_session_cookie_flags_after_sign_in(app, db_url):
    add_user("wangli", "agent")
    resp = sign_in(app.test_client(), "wangli")
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


# --- throttling ------------------------------------------------------------------------------

def test_five_failures_lock_the_username_for_fifteen_minutes(app, db_url):
    add_user("wangli", "agent")
    client = app.test_client()
    for _ in range(4):
        assert sign_in(client, "wangli", "wrong-password-x").status_code == 401
    fifth = sign_in(client, "wangli", "wrong-password-x")
    assert fifth.status_code == 429 and "锁定" in fifth.text and "15分钟" in fifth.text
    # now even the right password is refused, from any browser
    locked = sign_in(app.test_client(), "WANGLI", PASSWORD)
    assert locked.status_code == 429 and "锁定" in locked.text
    assert app.test_client().get("/console").status_code == 302
    with session_scope() as db:  # refused attempts during the lockout are not counted
        assert len(db.execute(select(StaffLoginFailure)).scalars().all()) == 5

    # another username is unaffected
    add_user("zhaoqiang", "agent")
    assert sign_in(app.test_client(), "zhaoqiang").status_code == 302

    # sixteen minutes later the lock is over
    with session_scope() as db:
        for failure in db.execute(select(StaffLoginFailure)).scalars():
            failure.failed_at -= dt.timedelta(minutes=16)
    other = app.test_client()
    assert sign_in(other, "wangli", PASSWORD).status_code == 302
    assert other.get("/console").status_code == 200
    with session_scope() as db:  # success clears the failures
        assert db.execute(select(StaffLoginFailure).where(StaffLoginFailure.username == "wangli")).first() is None


def test_throttling_window_and_lockout_times(db_url):
    with session_scope() as db:
        create_user(db, "wangli", PASSWORD, "agent")
    start = utcnow()

    def attempt(minutes: float, password: str = "wrong-password-x"):
        with session_scope() as db:
            return authenticate(db, "wangli", password, now=start + dt.timedelta(minutes=minutes))

    # failures spread so that no five fall within 15 minutes never lock
    for minute in (0, 4, 8, 12, 16, 20, 24.5):
        with pytest.raises(LoginFailed):
            attempt(minute)
    # one more soon after: 12, 16, 20, 24.5 and 25 are five within 15 minutes
    with pytest.raises(LoginLocked) as info:
        attempt(25)
    assert info.value.until == start + dt.timedelta(minutes=25) + LOCKOUT
    assert info.value.minutes_left == 15
    with pytest.raises(LoginLocked) as info:
        attempt(30, PASSWORD)
    assert info.value.minutes_left == 10
    with pytest.raises(LoginLocked) as info:
        attempt(39.9, PASSWORD)
    assert info.value.minutes_left == 1
    assert attempt(40.1, PASSWORD).username == "wangli"


# --- `xiaoan users` --------------------------------------------------------------------------

def test_users_add_and_list_json(db_url, monkeypatch):
    runner = CliRunner()
    monkeypatch.setenv("XIAOAN_NEW_USER_PASSWORD", PASSWORD)
    result = runner.invoke(cli, ["users", "add", "WangLi", "--role", "agent", "--display-name", "王丽"])
    assert result.exit_code == 0, result.output
    monkeypatch.delenv("XIAOAN_NEW_USER_PASSWORD")
    result = runner.invoke(cli, ["users", "add", "keeper", "--role", "maintainer"],
                           input="another-pass-99\nanother-pass-99\n")
    assert result.exit_code == 0, result.output
    assert "another-pass-99" not in result.output  # the prompt hides the password

    result = runner.invoke(cli, ["users", "list", "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.output)
    assert [(r["username"], r["display_name"], r["role"], r["active"]) for r in rows] == [
        ("keeper", "keeper", "maintainer", True), ("wangli", "王丽", "agent", True)]
    assert dt.datetime.fromisoformat(rows[0]["created_at"]).tzinfo is not None
    assert "password" not in json.dumps(rows)

    with session_scope() as db:
        assert authenticate(db, "keeper", "another-pass-99").role == "maintainer"


def test_users_add_refuses_bad_input(db_url, monkeypatch):
    runner = CliRunner()
    monkeypatch.setenv("XIAOAN_NEW_USER_PASSWORD", "short")
    result = runner.invoke(cli, ["users", "add", "wangli", "--role", "agent"])
    assert result.exit_code == 1 and "at least 10 characters" in result.output
    monkeypatch.setenv("XIAOAN_NEW_USER_PASSWORD", PASSWORD)
    result = runner.invoke(cli, ["users", "add", "wangli", "--role", "boss"])
    assert result.exit_code == 2 and "boss" in result.output
    assert runner.invoke(cli, ["users", "add", "wangli", "--role", "agent"]).exit_code == 0
    result = runner.invoke(cli, ["users", "add", "wangli", "--role", "admin"])
    assert result.exit_code == 1 and "already exists" in result.output
    with session_scope() as db:
        assert db.execute(select(StaffUser.role)).scalars().all() == ["agent"]


def test_users_set_password_and_deactivate(db_url, monkeypatch):
    runner = CliRunner()
    monkeypatch.setenv("XIAOAN_NEW_USER_PASSWORD", PASSWORD)
    runner.invoke(cli, ["users", "add", "wangli", "--role", "agent"])
    monkeypatch.setenv("XIAOAN_NEW_USER_PASSWORD", "a-brand-new-pass")
    assert runner.invoke(cli, ["users", "set-password", "wangli"]).exit_code == 0
    with session_scope() as db:
        assert authenticate(db, "wangli", "a-brand-new-pass")
    assert runner.invoke(cli, ["users", "deactivate", "wangli"]).exit_code == 0
    assert json.loads(runner.invoke(cli, ["users", "list", "--json"]).output)[0]["active"] is False
    with pytest.raises(LoginFailed), session_scope() as db:
        authenticate(db, "wangli", "a-brand-new-pass")
    assert runner.invoke(cli, ["users", "activate", "wangli"]).exit_code == 0
    result = runner.invoke(cli, ["users", "deactivate", "nobody"])
    assert result.exit_code == 1 and "no such user" in result.output
