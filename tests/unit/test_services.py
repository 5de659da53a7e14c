"""Settings built once per process by the entry point, and the one per-process service factory."""

from __future__ import annotations

import os

import click
from click.testing import CliRunner

from xiaoan import services
from xiaoan.cli import SUBCOMMANDS, cli
from xiaoan.config import Settings
from xiaoan.handoff.service import HandoffService, get_handoff_service, reset_handoff_service
from xiaoan.tickets.service import TicketService, get_ticket_service, reset_ticket_service


def test_without_an_entry_point_the_environment_is_read_at_each_call(monkeypatch, tmp_path):
    services.reset()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'a.db'}")
    assert services.settings().database_url.endswith("a.db")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'b.db'}")
    assert services.settings().database_url.endswith("b.db")


def test_the_entry_points_settings_are_built_once_and_passed_down(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'a.db'}")
    installed = services.configure()
    try:
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'b.db'}")
        assert services.settings() is installed
        assert get_ticket_service().settings is installed and get_handoff_service().settings is installed
    finally:
        services.reset()
    assert services.settings().database_url.endswith("b.db")


def test_one_factory_caches_each_service_and_forgets_it_on_reset(db_url):
    services.reset()
    try:
        tickets, handoff = get_ticket_service(), get_handoff_service()
        assert isinstance(tickets, TicketService) and isinstance(handoff, HandoffService)
        assert get_ticket_service() is tickets and get_handoff_service() is handoff
        reset_ticket_service()
        assert get_ticket_service() is not tickets and get_handoff_service() is handoff
        reset_handoff_service()
        assert get_handoff_service() is not handoff
        built = []
        assert services.service("other", lambda s: built.append(s) or object()) is services.service(
            "other", lambda s: built.append(s) or object())
        assert len(built) == 1 and isinstance(built[0], Settings)
    finally:
        services.reset()


def test_a_command_sees_the_settings_of_its_invocation_and_they_end_with_it(monkeypatch, tmp_path):
    seen = []

    @click.command("probe")
    @click.pass_obj
    def probe(obj):
        seen.append((obj, services.settings(), os.environ["DATABASE_URL"]))

    monkeypatch.setitem(SUBCOMMANDS, "probe", f"{__name__}:PROBE")
    monkeypatch.setattr(__import__(__name__, fromlist=["x"]), "PROBE", probe, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    result = CliRunner().invoke(cli, ["probe"])
    assert result.exit_code == 0, result.output
    ((obj, current, url),) = seen
    assert obj is current and current.database_url == url
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'after.db'}")
    assert services.settings().database_url.endswith("after.db")   # not the command's any more
