"""`xiaoan users`: staff accounts of the web console (the accounts service is `xiaoan.web.accounts`)."""

from __future__ import annotations

import os

import click
from sqlalchemy import select

from xiaoan.cli_support import echo_json
from xiaoan.db import session_scope
from xiaoan.web.accounts import UserError, create_user, normalize_username, set_active, set_password
from xiaoan.web.auth_models import ROLES, StaffUser


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
        echo_json(rows)
        return
    for row in rows:
        state = "" if row["active"] else "  (inactive)"
        click.echo(f"{row['username']:<20} {row['role']:<11} {row['display_name']}{state}")


def _change(username: str, change, done: str) -> None:
    """Run `change(db, username)` in one transaction; a UserError becomes the command's error."""
    try:
        with session_scope() as db:
            change(db, username)
    except UserError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(done.format(user=normalize_username(username)))


@users.command("set-password")
@click.argument("username")
def users_set_password(username: str) -> None:
    """Change a password (XIAOAN_NEW_USER_PASSWORD or a hidden prompt); signs the user out."""
    password = _read_password()
    _change(username, lambda db, name: set_password(db, name, password), "password of {user} changed")


@users.command("deactivate")
@click.argument("username")
def users_deactivate(username: str) -> None:
    """Disable an account and sign it out everywhere."""
    _change(username, lambda db, name: set_active(db, name, False), "user {user} deactivated")


@users.command("activate")
@click.argument("username")
def users_activate(username: str) -> None:
    """Enable a disabled account again."""
    _change(username, lambda db, name: set_active(db, name, True), "user {user} activated")
