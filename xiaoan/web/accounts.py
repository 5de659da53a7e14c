"""Staff accounts of the console (no Flask): creating and changing accounts, checking passwords with
throttling per username and per client address. Used by the sign-in views (`xiaoan.web.auth`) and
`xiaoan users` (`xiaoan.web.users_cli`); the tables are `xiaoan.web.auth_models`.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import secrets

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from xiaoan.db import utcnow
from xiaoan.input_checks import has_unreadable, replace_unreadable
from xiaoan.ratelimit import Decision, RateLimiter, limit_settings
from xiaoan.web.auth_models import ROLES, StaffLoginFailure, StaffUser
from xiaoan.web.limits import web_rate_limiter

MIN_PASSWORD_LENGTH = 10
MAX_FAILURES = 5
FAILURE_WINDOW = dt.timedelta(minutes=15)
LOCKOUT = dt.timedelta(minutes=15)
_USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,31}$")


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
