"""The `xiaoan` command (docs/interfaces.md §6). Each area's sub-commands live in its own module and are
imported only when used, so that `xiaoan kb search` does not load the web app."""

from __future__ import annotations

import importlib
import logging
import sys

import click

from xiaoan import services

# name -> "module:attribute" of a click command or group
SUBCOMMANDS = {
    "db": "xiaoan.cli:db",
    "kb": "xiaoan.kb.cli:kb",
    "tickets": "xiaoan.tickets.cli:tickets",
    "handoff": "xiaoan.handoff.cli:handoff",
    "web": "xiaoan.web.app:web_command",
    "users": "xiaoan.web.users_cli:users",
    "alerts": "xiaoan.supervision.cli:alerts",
    "report": "xiaoan.supervision.cli:report",
    "audit": "xiaoan.privacy_audit:audit",
    "outbox": "xiaoan.ops_cli:outbox",
    "keys": "xiaoan.ops_cli:keys",
    "retention": "xiaoan.ops_cli:retention",
    "notify": "xiaoan.notify.cli:notify",
}

#: Sub-commands that start a long-running process: refused in production with unsafe settings.
PROCESS_COMMANDS = {"web": "web"}


class LazyGroup(click.Group):
    """A group whose sub-commands are imported on first use."""

    def list_commands(self, ctx):
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx, name):
        target = SUBCOMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup)
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """小安 command line."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # the settings of this invocation, built once and read by every sub-command (xiaoan.services)
    ctx.obj = services.configure()
    ctx.call_on_close(services.reset)
    component = PROCESS_COMMANDS.get(ctx.invoked_subcommand or "")
    if component is not None:
        from xiaoan.production_checks import enforce

        enforce(component)  # XIAOAN_ENV=production with unsafe settings: exits with the reasons


@click.group()
def db() -> None:
    """The project database at DATABASE_URL."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema (Alembic)."""
    from xiaoan.db import upgrade

    url = services.settings().database_url
    upgrade(url)
    click.echo(f"database schema is up to date ({url.split('@')[-1]})")
    from xiaoan.tickets.due import coverage_warning  # operators run this on every deployment

    warning = coverage_warning()
    if warning:
        click.secho(f"警告：{warning}", fg="yellow", err=True)


def main() -> None:
    """Entry point of the console script."""
    try:
        cli(standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
