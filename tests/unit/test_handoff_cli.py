"""`xiaoan handoff list / callbacks / return-idle` (docs/interfaces.md §6)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json

import pytest
from click.testing import CliRunner

from xiaoan.cli import cli
from xiaoan.db import session_scope
from xiaoan.handoff.models import HandoffSession
from xiaoan.handoff.service import get_handoff_service, reset_handoff_service
from xiaoan.web.accounts import create_user
from tests.fakes.rasa_server import FakeRasa


@pytest.fixture(autouse=True)
def fresh_service(db_url):
    reset_handoff_service()
    yield
    reset_handoff_service()


def invoke(*args: str):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@contextlib.contextmanager
def service_on_fake_rasa(monkeypatch):
    """The process's hand-off service (the one the CLI uses), built anew against a fake Rasa; and the fake."""
    with FakeRasa(token="t") as rasa:
        monkeypatch.setenv("XIAOAN_RASA_URL", rasa.url)
        monkeypatch.setenv("XIAOAN_RASA_TOKEN", "t")
        reset_handoff_service()
        yield get_handoff_service(), rasa


def agent(username: str) -> int:
    with session_scope() as db:
        return create_user(db, username, "agent-password-1", "agent", username).id


def test_list_json_has_exactly_the_contract_fields(monkeypatch):
    with service_on_fake_rasa(monkeypatch) as (service, rasa):
        waiting = service.enqueue("web-a", "web", "requested")
        urgent = service.enqueue("oWx1", "wechat", "urgent", input_channel="wechat")
        held = service.enqueue("web-b", "web", "angry")
        service.take(held.session_id, agent("wangfang"), "王芳")
        ended = service.enqueue("web-c", "web", "fallback")
        service.take(ended.session_id, agent("lisi"), "李四")
        service.close(ended.session_id, service.get(ended.session_id).agent_id, "李四")
    rows = json.loads(invoke("handoff", "list", "--json"))
    assert [set(r) for r in rows] == [{"conversation_id", "channel", "reason", "status", "waiting_since"}] * 3
    assert [(r["conversation_id"], r["channel"], r["reason"], r["status"]) for r in rows] == [
        ("oWx1", "wechat", "urgent", "waiting"),     # urgent first
        ("web-a", "web", "requested", "waiting"),
        ("web-b", "web", "angry", "active"),
    ]
    since = dt.datetime.fromisoformat(rows[1]["waiting_since"])
    assert since.tzinfo is not None and since == service.get(waiting.session_id).waiting_since
    assert urgent.session_id


def test_list_empty_and_human_readable():
    assert json.loads(invoke("handoff", "list", "--json")) == []
    assert "no conversation" in invoke("handoff", "list")
    get_handoff_service().enqueue("web-a", "web", "requested")
    assert "waiting" in invoke("handoff", "list") and "web-a" in invoke("handoff", "list")


def test_callbacks_json_masks_phones():
    service = get_handoff_service()
    first = service.add_callback("web-a", "web", "13812345678", "今天下午")
    service.add_callback("web-b", "web", "021-61234567", "明天上午")
    service.complete_callback(first.id, "王芳")
    open_rows = json.loads(invoke("handoff", "callbacks", "--json"))
    assert [(r["conversation_id"], r["phone_masked"], r["status"]) for r in open_rows] == [
        ("web-b", "021****4567", "open")]
    all_rows = json.loads(invoke("handoff", "callbacks", "--json", "--status", "all"))
    assert {r["conversation_id"] for r in all_rows} == {"web-a", "web-b"}
    text = invoke("handoff", "callbacks", "--status", "all")
    assert "138****5678" in text and "13812345678" not in text and "done by 王芳" in text


def test_return_idle_command(monkeypatch):
    with service_on_fake_rasa(monkeypatch) as (service, rasa):
        queued = service.enqueue("web-a", "web", "requested")
        service.take(queued.session_id, agent("wangfang"), "王芳")
        assert "returned 0 idle" in invoke("handoff", "return-idle")
        with session_scope() as db:  # the agent went quiet 31 minutes ago
            row = db.get(HandoffSession, queued.session_id)
            row.last_agent_activity_at = row.last_agent_activity_at - dt.timedelta(minutes=31)
        assert "returned 1 idle conversation(s)" in invoke("handoff", "return-idle")
        assert rasa.events("web-a")[-1] == {**rasa.events("web-a")[-1], "event": "action", "name": "action_listen"}
    assert service.get(queued.session_id).status == "returned"
