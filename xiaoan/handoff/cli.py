"""`xiaoan handoff`: the human-handoff queue for scripts, monitoring and cron (docs/interfaces.md §6)."""

from __future__ import annotations

import click

from xiaoan.cli_support import echo_json
from xiaoan.handoff.models import CALLBACK_DONE, CALLBACK_OPEN


def _service():
    from xiaoan.handoff.service import get_handoff_service

    return get_handoff_service()


@click.group()
def handoff() -> None:
    """Conversations waiting for or held by a human agent, and callback requests."""


@handoff.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list (docs/interfaces.md §6 fields).")
def handoff_list(as_json: bool) -> None:
    """Waiting conversations in queue order, then those held by agents."""
    views = _service().open_sessions()
    if as_json:
        echo_json([v.contract_json() for v in views])
        return
    if not views:
        click.echo("no conversation is waiting for or held by a human")
        return
    for v in views:
        holder = f"  agent {v.agent_name}" if v.agent_name and v.status == "active" else ""
        click.echo(f"{v.status:<8} {v.reason:<12} {v.channel:<8} since {v.waiting_since.isoformat()}  "
                   f"{v.conversation_id}{holder}")


@handoff.command("callbacks")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list (phone numbers masked).")
@click.option("--status", type=click.Choice([CALLBACK_OPEN, CALLBACK_DONE, "all"]), default=CALLBACK_OPEN,
              show_default=True, help="Which requests to list.")
def handoff_callbacks(as_json: bool, status: str) -> None:
    """Callback requests citizens left (open ones first in, first listed)."""
    views = _service().callbacks(None if status == "all" else status)
    if as_json:
        echo_json([v.listing_json() for v in views])
        return
    if not views:
        click.echo(f"no {status} callback request" if status != "all" else "no callback request")
        return
    for v in views:
        done = f"  done by {v.handled_by}" if v.handled_by else ""
        click.echo(f"#{v.id:<5} {v.status:<5} {v.phone_masked:<13} {v.preferred_time}  "
                   f"({v.channel}, {v.created_at.isoformat()}){done}")


@handoff.command("return-idle")
def handoff_return_idle() -> None:
    """Hand back to 小安 the conversations agents left idle (XIAOAN_HANDOFF_IDLE_MINUTES, default 30)."""
    service = _service()
    returned = service.return_idle()
    click.echo(f"returned {len(returned)} idle conversation(s) to the assistant "
               f"(idle limit {service.idle_minutes} min)")
