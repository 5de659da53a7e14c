"""Staff sign-in for the console (`/console`), role checks for other blueprints, `xiaoan users`.

Other blueprints protect their routes like this::

    from xiaoan.web.auth import KB_ROLES, current_user, login_required

    @bp.get("/console/kb")
    @login_required(*KB_ROLES)
    def kb_index():
        ...

Pages of a signed-out visitor redirect to the sign-in form; `/console/api/...` calls answer
401/403 JSON. The role `admin` passes every check.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import re
import secrets
import time
from typing import Callable

import click
from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired

from xiaoan.db import session_scope, utcnow
from xiaoan.input_checks import has_unreadable, replace_unreadable
from xiaoan.ratelimit import Decision, RateLimiter, limit_settings
from xiaoan.web import messages
from xiaoan.web.auth_models import ROLES, StaffLoginFailure, StaffUser
from xiaoan.web.deps import db_session
from xiaoan.web.errors import error_response, is_api_request
from xiaoan.web.limits import client_ip, web_rate_limiter

bp = Blueprint("auth", __name__)

KB_ROLES = ("maintainer", "supervisor", "admin")
"""Who may open the knowledge-base console (/console/kb)."""
INBOX_ROLES = ("agent", "supervisor", "admin")
"""Who may open the agents' inbox (/console/inbox)."""

MIN_PASSWORD_LENGTH = 10
MAX_FAILURES = 5
FAILURE_WINDOW = dt.timedelta(minutes=15)
LOCKOUT = dt.timedelta(minutes=15)
SIGN_IN_LIFETIME_SECONDS = 12 * 3600
_USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,31}$")

_SESSION_USER = "staff_user_id"
_SESSION_EPOCH = "staff_epoch"
_SESSION_AT = "staff_signed_in_at"


# --- accounts (no Flask: used by the CLI and the views) ---------------------------------------

class UserError(ValueError):
    """An account cannot be created or changed as asked (the message says why, for operators)."""


class LoginFailed(Exception):
    """Wrong username or password, or an inactive account (deliberately not told apart)."""


class LoginLocked(Exception):
    """Too many failed attempts for this username; sign-in refused until `until`."""

    def __init__(self, until: dt.datetime, now: dt.datetime) -> None:
        super().__init__(f"locked until {until.isoformat()}")
        self.until = until
        self.minutes_left = max(1, -(-int((until - now).total_seconds()) // 60))
        self.retry_after = max(1, -(-int((until - now).total_seconds()) // 1))
        """Whole seconds until the lockout ends (the Retry-After header)."""


def normalize_username(username: str) -> str:
    """Usernames are case-insensitive: stored and compared lower-case."""
    return (username or "").strip().lower()


def create_user(session: Session, username: str, password: str, role: str,
                display_name: str | None = None) -> StaffUser:
    """Add an active staff account.

    Raises:
        UserError: bad username, role, display name or password, or the username is taken.
    """
    username = normalize_username(username)
    if not _USERNAME_RE.match(username):
        raise UserError("username must be 2-32 characters: a-z, 0-9, '.', '_' or '-', starting with a letter or digit")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    display_name = (display_name or username).strip()
    if not 1 <= len(display_name) <= 64:
        raise UserError("display name must be 1-64 characters")
    if has_unreadable(display_name) or not display_name.isprintable():
        raise UserError("display name must not contain control characters")
    _check_password(password, username)
    if session.execute(select(StaffUser.id).where(StaffUser.username == username)).first():
        raise UserError(f"user {username!r} already exists")
    user = StaffUser(username=username, display_name=display_name, role=role,
                     password_hash=generate_password_hash(password), active=True, created_at=utcnow())
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, username: str, password: str) -> StaffUser:
    """Change a password; signs the user out everywhere.

    Raises:
        UserError: unknown user or a too-short password.
    """
    user = _get_user(session, username)
    _check_password(password, user.username)
    user.password_hash = generate_password_hash(password)
    user.session_epoch = secrets.token_hex(16)
    return user


def set_active(session: Session, username: str, active: bool) -> StaffUser:
    """Enable or disable an account; disabling signs the user out everywhere.

    Raises:
        UserError: unknown user.
    """
    user = _get_user(session, username)
    user.active = active
    if not active:
        user.session_epoch = secrets.token_hex(16)
    return user


def authenticate(session: Session, username: str, password: str, now: dt.datetime | None = None) -> StaffUser:
    """Check a username and password, with throttling.

    After `MAX_FAILURES` failures for a username within `FAILURE_WINDOW`, every attempt (even a
    correct one) is refused for `LOCKOUT`. Refused attempts during a lockout are not counted.
    A failure is committed on `session` before the exception is raised.

    Raises:
        LoginLocked: the username is locked out.
        LoginFailed: wrong username or password, or the account is inactive.
    """
    now = now or utcnow()
    # a NUL (PostgreSQL refuses it) or a lone surrogate (not UTF-8) never names an account; replaced,
    # the attempt still fails, counts and hashes like any other
    username = replace_unreadable(normalize_username(username)[:64])
    readable_password = not has_unreadable(password or "")
    until = lockout_until(session, username, now)
    if until is not None:
        raise LoginLocked(until, now)
    user = session.execute(select(StaffUser).where(StaffUser.username == username)).scalar_one_or_none()
    # hash even for unknown users so that response time does not reveal which usernames exist
    password_ok = check_password_hash(user.password_hash if user else _dummy_hash(),
                                      replace_unreadable(password or "")) and readable_password
    if user is None or not user.active or not password_ok:
        session.add(StaffLoginFailure(username=username, failed_at=now))
        session.execute(delete(StaffLoginFailure).where(
            StaffLoginFailure.username == username,
            StaffLoginFailure.failed_at < now - FAILURE_WINDOW - LOCKOUT))
        # committed here: the failure must count even though the caller's unit of work fails
        session.commit()
        until = lockout_until(session, username, now)
        if until is not None:
            raise LoginLocked(until, now)
        raise LoginFailed()
    session.execute(delete(StaffLoginFailure).where(StaffLoginFailure.username == username))
    return user


def login_refusal(ip: str, limiter: RateLimiter | None = None) -> Decision | None:
    """Whether client `ip` may try to sign in now: None, or the refusing decision.

    Called before the username is looked at and before any password hash (each scrypt hash
    costs the 2-core server real CPU). Refused when the client made too many failed attempts
    (`login_ip_failures`: password spraying across usernames, which the per-username lockout
    does not see) or too many attempts at all (`login_ip_attempts`: counted here, before the
    hash, so that parallel requests cannot all slip past the failure count). A refused attempt
    is not counted.
    """
    limiter = limiter or web_rate_limiter()
    limits = limit_settings()
    failures = limiter.peek(limits.login_ip_failures, ip)
    if not failures.allowed:
        return failures
    attempts = limiter.hit(limits.login_ip_attempts, ip)
    return None if attempts.allowed else attempts


def record_login_failure(ip: str, limiter: RateLimiter | None = None) -> None:
    """Count a failed sign-in of client `ip` (for `login_refusal`)."""
    (limiter or web_rate_limiter()).record(limit_settings().login_ip_failures, ip)


def lockout_until(session: Session, username: str, now: dt.datetime) -> dt.datetime | None:
    """When the lockout of `username` ends, or None when it may try to sign in now."""
    stamps = session.execute(
        select(StaffLoginFailure.failed_at)
        .where(StaffLoginFailure.username == replace_unreadable(normalize_username(username)),
               StaffLoginFailure.failed_at > now - FAILURE_WINDOW - LOCKOUT)
        .order_by(StaffLoginFailure.failed_at.desc())
        .limit(MAX_FAILURES)
    ).scalars().all()
    if len(stamps) < MAX_FAILURES or stamps[0] - stamps[-1] > FAILURE_WINDOW:
        return None
    until = stamps[0] + LOCKOUT
    return until if until > now else None


def _get_user(session: Session, username: str) -> StaffUser:
    if has_unreadable(username or ""):
        raise UserError(f"no such user: {username!r}")
    user = session.execute(
        select(StaffUser).where(StaffUser.username == normalize_username(username))).scalar_one_or_none()
    if user is None:
        raise UserError(f"no such user: {username!r}")
    return user


def _check_password(password: str, username: str) -> None:
    if not password or len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if has_unreadable(password):
        raise UserError("password must not contain NUL or unpaired surrogate characters")
    if password.strip().lower() == username:
        raise UserError("password must not be the username")


@functools.lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return generate_password_hash(secrets.token_hex(16))


# --- the signed-in user (Flask) --------------------------------------------------------------

def current_user() -> StaffUser | None:
    """The signed-in, active staff member of this request, or None."""
    if "staff_user" in g:
        return g.staff_user
    user = None
    user_id, epoch, signed_in_at = session.get(_SESSION_USER), session.get(_SESSION_EPOCH), session.get(_SESSION_AT)
    if (isinstance(user_id, int) and isinstance(epoch, str) and isinstance(signed_in_at, (int, float))
            and 0 <= time.time() - signed_in_at < SIGN_IN_LIFETIME_SECONDS):
        with db_session() as db:
            found = db.get(StaffUser, user_id)
            if found is not None and found.active and secrets.compare_digest(found.session_epoch, epoch):
                user = found
    g.staff_user = user
    return user


def has_role(user: StaffUser | None, *roles: str) -> bool:
    """Whether `user` holds one of `roles` (admin holds every role; no roles = any staff)."""
    return user is not None and (not roles or user.role in roles or user.role == "admin")


def login_required(*roles: str | Callable) -> Callable:
    """Decorator: only signed-in staff holding one of `roles` (none given = any role).

    Usable as `@login_required`, `@login_required()` or `@login_required("agent", "supervisor")`.
    Signed-out: pages redirect to the sign-in form, API calls get 401 JSON. Wrong role: 403.
    """
    if len(roles) == 1 and callable(roles[0]):
        return login_required()(roles[0])
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise ValueError(f"unknown roles: {unknown}")

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            user = current_user()
            if user is None:
                if is_api_request():
                    return error_response(401, messages.LOGIN_REQUIRED)
                target = request.full_path if request.query_string else request.path
                return redirect(url_for("auth.login", next=target))
            if not has_role(user, *roles):
                return error_response(403, messages.FORBIDDEN)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def _login_user(user: StaffUser) -> None:
    session[_SESSION_USER] = user.id
    session[_SESSION_EPOCH] = user.session_epoch
    session[_SESSION_AT] = time.time()
    session.permanent = True
    g.staff_user = user


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, host or protocol-relative URL)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("auth.console_index")


class LoginForm(FlaskForm):
    """The sign-in form (CSRF token included by FlaskForm)."""

    username = StringField("用户名", validators=[DataRequired(messages.USERNAME_REQUIRED)])
    password = PasswordField("密码", validators=[DataRequired(messages.PASSWORD_REQUIRED)])


@bp.route("/console/login", methods=["GET", "POST"])
def login():
    """The staff sign-in form."""
    next_url = _safe_next(request.values.get("next"))
    if request.method == "GET" and current_user() is not None:
        return redirect(next_url)
    form = LoginForm()
    error, status, headers = None, 200, {}
    if form.validate_on_submit():
        ip = client_ip()
        refused = login_refusal(ip)  # before any hash: per client IP
        if refused is not None:
            error, status = messages.LOGIN_RATE_LIMITED.format(minutes=refused.retry_after_minutes), 429
            headers["Retry-After"] = str(refused.retry_after)
        else:
            with db_session() as db:
                try:
                    user = authenticate(db, form.username.data, form.password.data)
                except LoginLocked as exc:
                    error, status = messages.LOGIN_LOCKED.format(minutes=exc.minutes_left), 429
                    headers["Retry-After"] = str(exc.retry_after)
                except LoginFailed:
                    error, status = messages.LOGIN_FAILED, 401
                else:
                    _login_user(user)
            if error is not None:
                record_login_failure(ip)
        if error is None:
            return redirect(next_url)
    elif request.method == "POST":
        status = 400
    return render_template("console/login.html", form=form, error=error, next_url=next_url), status, headers


@bp.post("/console/logout")
def logout():
    """Sign out (and invalidate this user's other sessions)."""
    user = current_user()
    if user is not None:
        with db_session() as db:
            found = db.get(StaffUser, user.id)
            if found is not None:
                found.session_epoch = secrets.token_hex(16)
    for key in (_SESSION_USER, _SESSION_EPOCH, _SESSION_AT):
        session.pop(key, None)
    g.staff_user = None
    flash(messages.LOGGED_OUT)
    return redirect(url_for("auth.login"))


@bp.get("/console/")
@bp.get("/console")  # applied first, so url_for() gives this form
@login_required()
def console_index():
    """The console landing page: links to the areas this role may use."""
    from xiaoan.tickets.due import coverage_warning  # imported at use: tickets code stays out of the sign-in path

    user = current_user()
    areas = []
    if has_role(user, *KB_ROLES):
        areas.append({"href": "/console/kb", "title": "知识库", "text": "维护小安回答市民问题所用的知识条目。"})
    if has_role(user, *INBOX_ROLES):
        areas.append({"href": "/console/inbox", "title": "人工坐席", "text": "接待转人工的市民对话。"})
    return render_template("console/index.html", areas=areas, holiday_warning=coverage_warning())


@bp.app_context_processor
def _inject_user():
    return {"current_user": current_user, "has_role": has_role, "KB_ROLES": KB_ROLES, "INBOX_ROLES": INBOX_ROLES}


# --- `xiaoan users` --------------------------------------------------------------------------

@click.group()
def users() -> None:
    """Staff accounts of the web console."""


def _read_password() -> str:
    password = os.environ.get("XIAOAN_NEW_USER_PASSWORD")
    if password:
        return password
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@users.command("add")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(ROLES), help="What the user may do.")
@click.option("--display-name", default=None, help="Name shown in the console (default: the username).")
def users_add(username: str, role: str, display_name: str | None) -> None:
    """Add a staff account; the password comes from XIAOAN_NEW_USER_PASSWORD or a hidden prompt."""
    password = _read_password()
    try:
        with session_scope() as db:
            user = create_user(db, username, password, role, display_name)
            name, role = user.username, user.role
    except UserError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"created user {name} ({role})")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def users_list(as_json: bool) -> None:
    """List staff accounts."""
    with session_scope() as db:
        rows = [{"username": u.username, "display_name": u.display_name, "role": u.role, "active": u.active,
                 "created_at": u.created_at.isoformat()}
                for u in db.execute(select(StaffUser).order_by(StaffUser.username)).scalars()]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        state = "" if row["active"] else "  (inactive)"
        click.echo(f"{row['username']:<20} {row['role']:<11} {row['display_name']}{state}")


@users.command("set-password")
@click.argument("username")
def users_set_password(username: str) -> None:
    """Change a password (XIAOAN_NEW_USER_PASSWORD or a hidden prompt); signs the user out."""
    password = _read_password()
    try:
        with session_scope() as db:
            set_password(db, username, password)
    except UserError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"password of {normalize_username(username)} changed")


@users.command("deactivate")
@click.argument("username")
def users_deactivate(username: str) -> None:
    """Disable an account and sign it out everywhere."""
    try:
        with session_scope() as db:
            set_active(db, username, False)
    except UserError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"user {normalize_username(username)} deactivated")


@users.command("activate")
@click.argument("username")
def users_activate(username: str) -> None:
    """Enable a disabled account again."""
    try:
        with session_scope() as db:
            set_active(db, username, True)
    except UserError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"user {normalize_username(username)} activated")
