"""Issue 12, item 6: crash safety of ticket creation, the outbox worker, production refusals.

The kill -9 test runs against the real stack (trained model, Rasa server, action server): the
action server kills itself with SIGKILL at a crash point while creating the ticket
(`xiaoan.faults`), is started again, and the citizen's next message must tell the number of
the one ticket in the database. bench/crash_bench.py runs the same 100 times.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ActiveLoop, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from tests.fakes.clock import Clock
from tests.processes import require_model, started
from tests.security.crash_stack import CRASH_POINTS, CrashStack
from xiaoan import faults
from xiaoan.config import Settings
from xiaoan.db import dispose_engines, session_scope, upgrade
from xiaoan.production_checks import ProductionConfigError, enforce, problems
from xiaoan.rasa_stores import ResumingTracker, interrupted_submission
from xiaoan.tickets import outbox
from tests.fakes.ticket_platform import FakePlatform, unused_url
from xiaoan.tickets.models import OutboxMessage
from xiaoan.tickets.routing import Router
from xiaoan.tickets.service import TicketDraft, TicketService

ROOT = Path(__file__).resolve().parents[2]
XIAOAN = Path(sys.executable).parent / "xiaoan"
UTC = dt.timezone.utc

DOMAIN = Domain.from_dict({
    "intents": ["greet", "affirm"],
    "slots": {
        "confirmation": {"type": "text", "mappings": [{"type": "custom"}]},
        "ticket_retry": {"type": "text", "mappings": [{"type": "custom"}]},
    },
    "actions": ["action_submit_complaint", "action_submit_report"],
    "forms": {"complaint_form": {"required_slots": ["confirmation"]}},
})


# -- which conversations are resumed (pure, no servers) -------------------------------------------

def _confirmed_then(*after) -> DialogueStateTracker:
    events = [
        ActionExecuted("action_listen"), UserUttered("我要投诉", {"name": "complain_general", "confidence": 1}),
        ActionExecuted("complaint_form"), ActiveLoop("complaint_form"),
        ActionExecuted("action_listen"), UserUttered("确认", {"name": "affirm", "confidence": 1}),
        ActionExecuted("complaint_form"), SlotSet("confirmation", "confirmed"), ActiveLoop(None),
        *after,
    ]
    return DialogueStateTracker.from_events("c1", events, DOMAIN.slots)


def test_a_submission_cut_off_by_a_crash_is_resumed():
    crashed = _confirmed_then(ActionExecuted("action_submit_complaint"), ActionExecuted("action_listen"))
    assert interrupted_submission(crashed) == "action_submit_complaint"
    # the crash came before Rasa even logged the next action
    assert interrupted_submission(_confirmed_then(ActionExecuted("action_submit_complaint"))) == \
        "action_submit_complaint"


def test_a_report_cut_off_by_a_crash_is_resumed_too():
    crashed = _confirmed_then(ActionExecuted("action_submit_report"), ActionExecuted("action_listen"),
                              UserUttered("喂", {"name": "greet", "confidence": 1}),
                              ActionExecuted("action_submit_report"), ActionExecuted("action_listen"))
    # the resumed run died as well (action server still down): try again at the next message
    assert interrupted_submission(crashed) == "action_submit_report"


def test_finished_or_reported_submissions_are_not_resumed():
    told = _confirmed_then(ActionExecuted("action_submit_complaint"), BotUttered("已受理，工单号 XA-261126-0001"),
                           SlotSet("confirmation", None), ActionExecuted("action_listen"))
    assert interrupted_submission(told) is None
    failed = _confirmed_then(ActionExecuted("action_submit_complaint"), BotUttered("抱歉，工单没有提交成功"),
                             SlotSet("ticket_retry", "complaint"), ActionExecuted("action_listen"))
    assert interrupted_submission(failed) is None
    not_yet = _confirmed_then()
    assert interrupted_submission(not_yet) is None


def test_the_resumed_action_runs_right_after_the_next_user_message():
    crashed = _confirmed_then(ActionExecuted("action_submit_complaint"), ActionExecuted("action_listen"))
    tracker = ResumingTracker.from_events("c1", list(crashed.events), DOMAIN.slots)
    tracker.resume_action = "action_submit_complaint"
    tracker.update(UserUttered("喂？", {"name": "greet", "confidence": 1}))
    assert tracker.followup_action == "action_submit_complaint"
    # the processor logs the action and its receipt; then the turn ends (no fallback and rewind)
    tracker.clear_followup_action()
    tracker.update(ActionExecuted("action_submit_complaint", policy="followup_action"))
    tracker.update(BotUttered("已受理，工单号 XA-261126-0001"))
    tracker.update(SlotSet("confirmation", None))
    assert tracker.followup_action == "action_listen"
    assert interrupted_submission(tracker) is None
    # once: the processor's copies and later messages are plain
    tracker.clear_followup_action()
    tracker.update(ActionExecuted("action_listen"))
    tracker.update(UserUttered("谢谢", {"name": "thank", "confidence": 1}))
    assert tracker.followup_action is None
    assert type(tracker.copy()) is DialogueStateTracker


def test_nothing_is_resumed_in_a_new_session():
    from rasa.shared.core.events import SessionStarted

    crashed = _confirmed_then(ActionExecuted("action_submit_complaint"), ActionExecuted("action_listen"))
    tracker = ResumingTracker.from_events("c1", list(crashed.events), DOMAIN.slots)
    tracker.resume_action = "action_submit_complaint"
    for event in (ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen"),
                  UserUttered("你好", {"name": "greet", "confidence": 1})):
        tracker.update(event)
    assert tracker.followup_action is None


# -- fault injection ----------------------------------------------------------------------------

def test_fault_injection_is_off_without_the_variable(monkeypatch):
    monkeypatch.delenv(faults.ENV, raising=False)
    faults.crash_point("ticket_create:after_commit")  # returns: nothing armed


def test_an_armed_point_kills_the_process_with_sigkill_once(tmp_path):
    arm = tmp_path / "arm"
    arm.write_text("ticket_create:after_commit")
    code = ("from xiaoan import faults\n"
            "faults.crash_point('ticket_create:before_commit')\n"
            "print('passed other point', flush=True)\n"
            "faults.crash_point('ticket_create:after_commit')\n"
            "print('not reached', flush=True)\n")
    env = {**os.environ, faults.ENV: str(arm), "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == -9
    assert "passed other point" in result.stdout and "not reached" not in result.stdout
    assert not arm.exists()
    again = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "not reached" in again.stdout


# -- kill -9 against the real stack --------------------------------------------------------------

@pytest.fixture(scope="module")
def crash_stack(tmp_path_factory):
    require_model()
    with started(CrashStack(tmp_path_factory.mktemp("crash"))) as stack:
        yield stack


@pytest.mark.e2e
@pytest.mark.parametrize("point", ["ticket_create:after_commit", "ticket_create:before_commit",
                                   "submit:after_create"])
def test_kill_9_while_creating_a_ticket_loses_nothing_and_tells_the_number(crash_stack, point):
    assert point in CRASH_POINTS
    result = crash_stack.run_once(point, next_message="喂？怎么没反应了")
    context = f"{result}\n--- actions log ---\n{crash_stack.log('actions')[-2000:]}"
    assert result.crashed, f"the action server was not killed at {point}: {context}"
    assert not result.lost, f"ticket lost: {context}"
    assert not result.duplicate, f"duplicate tickets: {context}"
    assert result.told == result.tickets, f"the citizen was not told the number: {context}"
    # the conversation goes on normally afterwards: the form is over, nothing is resumed again
    tracker = crash_stack.tracker(result.conversation_id)
    assert tracker["slots"].get("confirmation") is None
    assert tracker["slots"].get("last_ticket_no") == result.tickets[0]


# -- the outbox as its own process, with alerts ---------------------------------------------------

def _draft(n: int) -> TicketDraft:
    return TicketDraft(kind="complaint", intent="complain_refund", channel="web", conversation_id=f"conv-{n}",
                       complainant_name="张三丰", phone="13812345678", complainant_address="上海市静安区康定路1号",
                       respondent_name="某某旅行社", respondent_address="上海市黄浦区四川中路1号",
                       district="huangpu", facts="疫情取消旅游，旅行社不退团费", claim="退还团费",
                       amount=Decimal("5800"))


@pytest.fixture()
def db_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'xiaoan.db'}"
    upgrade(url)
    yield url
    dispose_engines()


def test_the_worker_delivers_alerts_on_old_and_failed_rows_and_runs_retention_daily(db_url, caplog):
    clock = Clock(dt.datetime(2026, 11, 26, 2, 0, tzinfo=UTC))
    with FakePlatform() as platform:
        settings = Settings(database_url=db_url, ticket_api_url=unused_url())  # platform down
        service = TicketService(settings, router=Router(), clock=clock)
        service.create(_draft(1), "k1")
        retention_calls = []
        worker = outbox.OutboxWorker(settings, clock=clock, retention=retention_calls.append,
                                     old_after=dt.timedelta(minutes=30))
        health = worker.run_pass()
        assert (health.pending, health.old_pending, health.failed) == (1, 0, 0)
        assert worker.alerts_logged == 0 and len(retention_calls) == 1

        clock.now += dt.timedelta(minutes=31)
        caplog.set_level(logging.ERROR, logger="xiaoan.tickets.outbox")
        health = worker.run_pass()
        assert health.old_pending == 1 and health.alerting
        alerts = [r for r in caplog.records if r.levelno == logging.ERROR and "OUTBOX ALERT" in r.getMessage()]
        assert len(alerts) == 1 and "13812345678" not in alerts[0].getMessage()
        worker.run_pass()  # unchanged: not logged again within the hour
        assert worker.alerts_logged == 1
        assert len(retention_calls) == 1
        clock.now += dt.timedelta(days=1)
        worker.run_pass()
        assert len(retention_calls) == 2

        # the platform answers 422: the row is failed, which alerts too
        platform.fail_next(("status", 422, {}, {"error": "bad"}))
        worker.deliverer = outbox.OutboxDeliverer(Settings(database_url=db_url, ticket_api_url=platform.url),
                                                  clock=clock)
        with session_scope(db_url) as session:
            session.query(OutboxMessage).update({"next_attempt_at": clock.now, "locked_until": None})
        health = worker.run_pass()
        assert health.failed == 1 and health.pending == 0
        assert worker.alerts_logged == 2


def test_outbox_status_cli_exits_1_while_alerting(db_url, tmp_path):
    env = {**os.environ, "DATABASE_URL": db_url, "PYTHONPATH": str(ROOT), "XIAOAN_OUTBOX_ALERT_MINUTES": "30"}
    ok = subprocess.run([str(XIAOAN), "outbox", "status", "--json"], env=env, capture_output=True, text=True,
                        timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert '"alerting": false' in ok.stdout
    settings = Settings(database_url=db_url, ticket_api_url=unused_url())
    clock = Clock(dt.datetime(2026, 11, 26, 2, 0, tzinfo=UTC))
    clock.now = dt.datetime.now(UTC) - dt.timedelta(hours=2)
    TicketService(settings, router=Router(), clock=clock).create(_draft(2), "k2")
    bad = subprocess.run([str(XIAOAN), "outbox", "status"], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    assert "告警" in bad.stderr and "13812345678" not in bad.stderr + bad.stdout
    wrong = subprocess.run([str(XIAOAN), "outbox", "status"], env={**env, "XIAOAN_OUTBOX_ALERT_MINUTES": "soon"},
                           capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr


def test_outbox_run_once_in_development(db_url, tmp_path):
    env = {**os.environ, "DATABASE_URL": db_url, "PYTHONPATH": str(ROOT),
           "XIAOAN_TRACKER_STORE_URL": f"sqlite:///{tmp_path / 'tracker.db'}"}
    env.pop("XIAOAN_TICKET_API_URL", None)
    env.pop("XIAOAN_ENV", None)
    result = subprocess.run([str(XIAOAN), "outbox", "run", "--once"], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "0 pending, 0 failed, 0 old" in result.stdout


def test_the_procfile_runs_the_outbox_worker():
    lines = (ROOT / "Procfile").read_text().splitlines()
    assert any(line.startswith("outbox:") and "xiaoan outbox run" in line for line in lines)


# -- XIAOAN_ENV=production refuses unsafe settings ------------------------------------------------

STRONG = "k3J9xQ2mP7vL4tR8wZ1cY6nB5hG0dF3s"
SAFE_KEY = "k2:" + "Qw8eR4tY6uI2oP0aS5dF7gH9jK3lZ1xC"
SAFE = {
    "XIAOAN_ENV": "production",
    "DATABASE_URL": "postgresql://xiaoan@db/xiaoan",
    "XIAOAN_TRACKER_STORE_URL": "postgresql://rasa@db/rasa",
    "XIAOAN_LOCK_STORE_URL": "redis://redis:6379/1",
    "XIAOAN_RASA_TOKEN": STRONG,
    "XIAOAN_WEB_SECRET_KEY": STRONG[::-1],
    "XIAOAN_REST_SECRET": "R" + STRONG[1:],
    "XIAOAN_ACTION_SECRET": "A" + STRONG[1:],
    "XIAOAN_DATA_KEY": "k1:" + "A" * 20 + STRONG + "," + SAFE_KEY,
    "RASA_TELEMETRY_ENABLED": "false",
    "XIAOAN_TICKET_API_URL": "https://12345.example.gov.cn/api",
    "XIAOAN_WECHAT_TOKEN": "wechat-token",
    "XIAOAN_WECHAT_AES_KEY": "a" * 22 + "B" * 21,
}


def test_safe_production_settings_pass():
    assert problems(SAFE) == []
    enforce("web", SAFE)


@pytest.mark.parametrize("change, fragment", [
    ({"DATABASE_URL": "sqlite:////srv/xiaoan.db"}, "DATABASE_URL is SQLite"),
    ({"DATABASE_URL": None}, "DATABASE_URL is SQLite"),
    ({"XIAOAN_TRACKER_STORE_URL": None}, "XIAOAN_TRACKER_STORE_URL is SQLite"),
    ({"XIAOAN_LOCK_STORE_URL": None}, "in-memory locks"),
    ({"XIAOAN_RASA_TOKEN": "short-token"}, "XIAOAN_RASA_TOKEN shorter than 32"),
    ({"XIAOAN_WEB_SECRET_KEY": "change-me-change-me-change-me-change-me"}, "placeholder"),
    ({"XIAOAN_DATA_KEY": None}, "XIAOAN_DATA_KEY is unset"),
    ({"XIAOAN_REST_SECRET": None}, "XIAOAN_REST_SECRET is unset"),
    ({"XIAOAN_ACTION_SECRET": "short"}, "XIAOAN_ACTION_SECRET shorter than 32"),
    ({"XIAOAN_DATA_KEY": "k1:" + "Ab3" * 7 + "," + SAFE_KEY}, "shorter than 32"),
    ({"XIAOAN_DATA_KEY": "k1:" + "changeme" * 5}, "placeholder"),
    ({"RASA_TELEMETRY_ENABLED": None}, "RASA_TELEMETRY_ENABLED"),
    ({"RASA_TELEMETRY_ENABLED": "true"}, "RASA_TELEMETRY_ENABLED"),
    ({"XIAOAN_WECHAT_AES_KEY": None}, "plaintext mode"),
    ({"XIAOAN_WECHAT_ALLOW_PLAINTEXT": "1"}, "accepts plaintext"),
    ({"XIAOAN_TICKET_API_URL": "http://12345.example.gov.cn/api"}, "not https://"),
    ({"XIAOAN_FAULT_ARM_FILE": "/tmp/arm"}, "fault injection"),
])
def test_each_unsafe_setting_is_refused_with_a_clear_reason(change, fragment):
    env = dict(SAFE)
    for key, value in change.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    found = problems(env)
    assert len(found) == 1 and fragment in found[0], found
    with pytest.raises(ProductionConfigError) as info:
        enforce("rasa", env)
    assert fragment in str(info.value.code) and "XIAOAN_ENV=production" in str(info.value.code)
    enforce("rasa", {**env, "XIAOAN_ENV": "development"})  # development starts with anything


def _refused(cmd: list[str], env: dict) -> subprocess.CompletedProcess:
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), **env,
            "XIAOAN_ENV": "production", "DATABASE_URL": "sqlite:////tmp/never.db"}
    return subprocess.run(cmd, env=full, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_web_app_and_outbox_worker_refuse_to_start():
    for args in (["web", "--port", "1"], ["outbox", "run", "--once"]):
        result = _refused([str(XIAOAN), *args], {})
        assert result.returncode != 0
        assert "DATABASE_URL is SQLite" in result.stderr and "Traceback" not in result.stderr


def test_action_server_refuses_to_start():
    # rasa-sdk imports the actions package first thing; the refusal happens there
    result = _refused([sys.executable, "-c", "import actions.forms"], {})
    assert result.returncode != 0 and "DATABASE_URL is SQLite" in result.stderr


def test_rasa_tracker_store_refuses_to_start():
    result = _refused([sys.executable, "-c", "from xiaoan.rasa_stores import EnvSQLTrackerStore; EnvSQLTrackerStore()"],
                      {})
    assert result.returncode != 0 and "DATABASE_URL is SQLite" in result.stderr
