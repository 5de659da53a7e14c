"""Staff sign-in for the console (`/console`: sign-in, sign-out, the landing page) and the role
checks other blueprints use. Accounts themselves are `xiaoan.web.accounts`; `xiaoan users` is
`xiaoan.web.users_cli`.

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

import functools
import secrets
import time
from typing import Callable

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired

from xiaoan import labels
from xiaoan.web import messages
from xiaoan.web.accounts import LoginFailed, LoginLocked, authenticate, login_refusal, record_login_failure
from xiaoan.web.auth_models import ROLES, StaffUser
from xiaoan.web.deps import db_session
from xiaoan.web.errors import error_response, is_api_request
from xiaoan.web.limits import client_ip

bp = Blueprint("auth", __name__)

KB_ROLES = ("maintainer", "supervisor", "admin")
"""Who may open the knowledge-base console (/console/kb)."""
INBOX_ROLES = ("agent", "supervisor", "admin")
"""Who may open the agents' inbox (/console/inbox)."""

SIGN_IN_LIFETIME_SECONDS = 12 * 3600

_SESSION_USER = "staff_user_id"
_SESSION_EPOCH = "staff_epoch"
_SESSION_AT = "staff_signed_in_at"


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
    """The sign-in form (CSRF token included by FlaskForm); its wording is the labels file's."""

    username = StringField(validators=[DataRequired()])
    password = PasswordField(validators=[DataRequired()])

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.username.label.text = labels.message("console.username")
        self.password.label.text = labels.message("console.password")
        self.username.validators = [DataRequired(messages.USERNAME_REQUIRED)]
        self.password.validators = [DataRequired(messages.PASSWORD_REQUIRED)]


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
        areas.append({"href": "/console/kb", "title": labels.message("console.area_kb_title"),
                      "text": labels.message("console.area_kb_text")})
    if has_role(user, *INBOX_ROLES):
        areas.append({"href": "/console/inbox", "title": labels.message("console.area_inbox_title"),
                      "text": labels.message("console.area_inbox_text")})
    return render_template("console/index.html", areas=areas, holiday_warning=coverage_warning())


@bp.app_context_processor
def _inject_user():
    return {"current_user": current_user, "has_role": has_role, "KB_ROLES": KB_ROLES, "INBOX_ROLES": INBOX_ROLES}
