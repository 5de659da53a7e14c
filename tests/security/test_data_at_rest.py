"""Issue 12, item 5 (data at rest): column encryption of the complainant's name, phone and address,
key rotation, the migration that encrypts existing rows, retention jobs, the bounded event queue.

On a real SQLite database, and on PostgreSQL at 127.0.0.1:5432 when reachable (marker `postgres`,
skipped with a reason otherwise)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, select, text

from tests.fakes.clock import Clock
from tests.security.at_rest import KEY_A, KEY_B, BACKENDS, data_key, raw_rows, upgraded_from  # noqa: F401
from xiaoan import crypto
from xiaoan.config import Settings
from xiaoan.db import alembic_config, dispose_engines, session_scope, upgrade
from xiaoan.tickets.models import OutboxMessage, Ticket
from xiaoan.tickets.routing import Router
from xiaoan.tickets.service import TicketDraft, TicketService, rotate_personal_data

ROOT = Path(__file__).resolve().parents[2]
XIAOAN = Path(sys.executable).parent / "xiaoan"
UTC = dt.timezone.utc
NAME, PHONE, ADDRESS = "张三丰", "13812345678", "上海市静安区康定路1号"


def draft(n: int = 1, **overrides) -> TicketDraft:
    fields = dict(kind="complaint", intent="complain_refund", channel="web", conversation_id=f"conv-{n}",
                  complainant_name=NAME, phone=PHONE, complainant_address=ADDRESS, respondent_name="某某旅行社",
                  respondent_address="上海市黄浦区四川中路1号", district="huangpu", facts="疫情取消旅游，旅行社不退团费",
                  claim="退还团费", amount=Decimal("5800"))
    fields.update(overrides)
    return TicketDraft(**fields)


def service(url: str, clock=None, ticket_api_url: str | None = None) -> TicketService:
    return TicketService(Settings(database_url=url, ticket_api_url=ticket_api_url), router=Router(),
                         clock=clock or Clock(dt.datetime(2026, 11, 26, 2, 0, tzinfo=UTC)))


# -- encryption ------------------------------------------------------------------------------------

def test_personal_data_is_encrypted_in_the_database_and_plain_through_the_service(database_url):
    from tests.fakes.ticket_platform import unused_url

    svc = service(database_url, ticket_api_url=unused_url())  # an outbox row with the full phone
    receipt = svc.create(draft(), "k1")
    rows = raw_rows(database_url, "SELECT complainant_name, phone, complainant_address, phone_hash FROM tickets")
    name, phone, address, phone_hash = rows[0]
    for stored in (name, phone, address):
        assert crypto.is_encrypted(stored) and crypto.key_id_of(stored) == "ka"
    dump = json.dumps(rows, ensure_ascii=False) + json.dumps(
        raw_rows(database_url, "SELECT CAST(payload AS TEXT) FROM ticket_outbox"), ensure_ascii=False)
    for secret in (NAME, PHONE, "5678", ADDRESS, "康定路"):
        assert secret not in dump
    assert len(phone_hash) == 64 and PHONE not in phone_hash
    shown = svc.show(receipt.ticket_no)
    assert (shown["complainant_name"], shown["phone_masked"], shown["complainant_address"]) == \
        (NAME, "138****5678", ADDRESS)
    with session_scope(database_url) as session:
        assert session.execute(select(OutboxMessage)).scalar_one().payload["phone"] == PHONE
    # the status lookup still compares the last four digits (decrypted), nothing else changed
    assert svc.status(receipt.ticket_no, "5678") is not None
    assert svc.status(receipt.ticket_no, "5679") is None


def test_lookup_by_phone_goes_through_the_keyed_hash(database_url):
    svc = service(database_url)
    first = svc.create(draft(1), "k1").ticket_no
    svc.create(draft(2, phone="13900001111"), "k2")
    third = svc.create(draft(3, phone="+86 138-1234-5678"), "k3").ticket_no
    assert svc.tickets_for_phone("138 1234 5678") == [first, third]
    assert svc.tickets_for_phone("13700000000") == []
    # the hash depends on the key: a database copy without the key cannot be searched by phone
    ring_b = crypto.KeyRing.parse(KEY_B)
    assert ring_b.lookup_hash(PHONE) != crypto.KeyRing.parse(KEY_A).lookup_hash(PHONE)


def test_a_value_moved_to_another_column_or_tampered_does_not_decrypt():
    ring = crypto.KeyRing.parse(KEY_A)
    sealed = ring.encrypt(PHONE, "tickets.phone")
    assert ring.decrypt(sealed, "tickets.phone") == PHONE
    with pytest.raises(crypto.DataKeyError):
        ring.decrypt(sealed, "tickets.complainant_name")
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    with pytest.raises(crypto.DataKeyError):
        ring.decrypt(tampered, "tickets.phone")
    with pytest.raises(crypto.DataKeyError, match="not in XIAOAN_DATA_KEY"):
        crypto.KeyRing.parse(KEY_B).decrypt(sealed, "tickets.phone")
    assert ring.encrypt(PHONE, "tickets.phone") != sealed  # random nonce: equal phones, different text


@pytest.mark.parametrize("value, message", [
    ("", "no key"), ("short", "shorter than 32"), ("bad id!:" + "x" * 40, "key id"),
    (KEY_A + "," + KEY_A, "duplicate"),
])
def test_malformed_keys_are_refused_clearly(value, message):
    with pytest.raises(crypto.DataKeyError, match=message):
        crypto.KeyRing.parse(value)


def test_development_generates_the_key_into_var_once(tmp_path, monkeypatch):
    from xiaoan import config

    monkeypatch.delenv("XIAOAN_DATA_KEY")
    monkeypatch.setattr(config, "VAR_DIR", tmp_path)
    first = crypto.data_key_setting()
    assert (tmp_path / "data_key").read_text().strip() == first
    assert crypto.data_key_setting() == first and len(first) >= 32
    assert oct((tmp_path / "data_key").stat().st_mode & 0o777) == "0o600"


# -- rotation --------------------------------------------------------------------------------------

def test_rotation_re_encrypts_everything_with_the_new_key(database_url, monkeypatch):
    from tests.fakes.ticket_platform import unused_url

    svc = service(database_url, ticket_api_url=unused_url())
    numbers = [svc.create(draft(n), f"k{n}").ticket_no for n in range(3)]
    # step 1: the new key first, the old one still there to decrypt
    monkeypatch.setenv("XIAOAN_DATA_KEY", f"{KEY_B},{KEY_A}")
    assert service(database_url).show(numbers[0])["complainant_name"] == NAME  # old rows still readable
    new = service(database_url).create(draft(9), "k9").ticket_no                 # new rows under kb
    # step 2: rotate
    result = rotate_personal_data(Settings(database_url=database_url))
    assert result == {"key_id": "kb", "tickets": 4, "outbox": 3, "handoff_sessions": 0, "callbacks": 0,
                      "remaining_old": 0}  # k9: no platform, no outbox
    stored = raw_rows(database_url, "SELECT complainant_name, phone, complainant_address FROM tickets")
    assert {crypto.key_id_of(v) for row in stored for v in row} == {"kb"}
    # step 3: the old key removed; everything still reads and the phone lookup uses the new hash
    monkeypatch.setenv("XIAOAN_DATA_KEY", KEY_B)
    svc_b = service(database_url)
    assert [svc_b.show(n)["complainant_address"] for n in numbers + [new]] == [ADDRESS] * 4
    assert svc_b.tickets_for_phone(PHONE) == numbers + [new]
    with session_scope(database_url) as session:
        assert all(m.payload["phone"] == PHONE for m in session.execute(select(OutboxMessage)).scalars())


def test_keys_cli_rotates_and_generates(db_url, monkeypatch):
    service(db_url).create(draft(), "k1")
    env = {**os.environ, "DATABASE_URL": db_url, "PYTHONPATH": str(ROOT), "XIAOAN_DATA_KEY": f"{KEY_B},{KEY_A}"}
    result = subprocess.run([str(XIAOAN), "keys", "rotate", "--json"], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["remaining_old"] == 0
    generated = subprocess.run([str(XIAOAN), "keys", "generate"], env=env, capture_output=True, text=True,
                               timeout=120)
    crypto.KeyRing.parse(generated.stdout.strip())  # a valid entry
    bad = subprocess.run([str(XIAOAN), "keys", "rotate"], env={**env, "XIAOAN_DATA_KEY": "short"},
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "shorter than 32" in bad.stderr and "Traceback" not in bad.stderr


# -- the migration encrypts existing rows ----------------------------------------------------------

def _insert_plain_rows(url: str) -> None:
    engine = create_engine(url, future=True)
    now = dt.datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO tickets (ticket_no, kind, intent, status, created_at, updated_at, channel, conversation_id,"
            " complainant_name, phone, complainant_address, respondent_name, agency, facts, anonymous,"
            " privacy_notice_version, contact_by, resolve_by, idempotency_key)"
            " VALUES ('XA-261120-0001', 'complaint', 'complain_refund', 'created', :now, :now, 'web', 'c-old',"
            " :name, :phone, :address, '某某旅行社', 'dist-huangpu', '不退团费', false, 'v1', '2026-11-21',"
            " '2026-12-04', 'old-key')"), {"now": now, "name": NAME, "phone": PHONE, "address": ADDRESS})
        ticket_id = conn.execute(text("SELECT id FROM tickets")).scalar_one()
        conn.execute(text(
            "INSERT INTO ticket_outbox (ticket_id, payload, idempotency_key, state, attempts, next_attempt_at,"
            " created_at) VALUES (:t, :p, 'ob-1', 'pending', 0, :now, :now)"),
            {"t": ticket_id, "p": json.dumps({"phone": PHONE, "complainant_name": NAME}, ensure_ascii=False),
             "now": now})
    engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_upgrade_encrypts_rows_written_before_encryption(backend, tmp_path, request):
    url = upgraded_from(backend, tmp_path, request, "0001", _insert_plain_rows)
    name, phone, address, phone_hash = raw_rows(
        url, "SELECT complainant_name, phone, complainant_address, phone_hash FROM tickets")[0]
    assert all(crypto.is_encrypted(v) for v in (name, phone, address))
    assert phone_hash == crypto.KeyRing.parse(KEY_A).lookup_hash(PHONE)
    (payload,) = raw_rows(url, "SELECT payload FROM ticket_outbox")[0]
    assert crypto.is_encrypted(payload) and PHONE not in payload
    svc = service(url)
    assert svc.show("XA-261120-0001")["complainant_name"] == NAME
    assert svc.tickets_for_phone(PHONE) == ["XA-261120-0001"]
    with session_scope(url) as session:
        assert session.execute(select(OutboxMessage)).scalar_one().payload == {"phone": PHONE, "complainant_name": NAME}
    dispose_engines()


# -- retention ---------------------------------------------------------------------------------------

def _tracker_url(database_url: str, tmp_path: Path) -> str:
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'tracker.db'}"
    return database_url  # the test's own PostgreSQL database holds Rasa's events table too


def _save_conversation(tracker_url: str, sender: str, at: dt.datetime) -> None:
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from xiaoan.rasa_stores import EnvSQLTrackerStore

    os.environ["XIAOAN_TRACKER_STORE_URL"] = tracker_url.replace("postgresql+psycopg2://", "postgresql://")
    store = EnvSQLTrackerStore(domain=Domain.from_dict({"intents": ["greet"]}))
    tracker = DialogueStateTracker(sender, [])
    for event in (UserUttered("我的电话是13812345678", {"name": "greet", "confidence": 1}),
                  ActionExecuted("action_listen")):
        event.timestamp = at.timestamp()
        tracker.update(event)
    asyncio.run(store.save(tracker))
    store.engine.dispose()


def test_retention_removes_what_is_past_its_period_and_nothing_else(database_url, tmp_path, monkeypatch):
    from xiaoan.handoff.models import AgentMessage, CallbackRequest, HandoffSession
    from xiaoan.kb.models import KbUnanswered
    from xiaoan.retention import RetentionPeriods, run_all

    now = dt.datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    old, recent = now - dt.timedelta(days=400), now - dt.timedelta(days=10)
    very_old = now - dt.timedelta(days=800)
    tracker_url = _tracker_url(database_url, tmp_path)
    monkeypatch.setenv("XIAOAN_TRACKER_STORE_URL", tracker_url)
    _save_conversation(tracker_url, "old-conv", old)
    _save_conversation(tracker_url, "new-conv", recent)

    with session_scope(database_url) as session:
        for status, ended in (("closed", old), ("returned", old), ("closed", recent), ("active", None)):
            s = HandoffSession(conversation_id=f"h-{uuid.uuid4().hex[:6]}", channel="web", reason="requested",
                               status=status, slots={"phone": PHONE}, waiting_since=old, ended_at=ended)
            session.add(s)
            session.flush()
            session.add(AgentMessage(session_id=s.id, conversation_id=s.conversation_id, agent_name="李四",
                                     text="您好", sent_at=old))
        session.add(CallbackRequest(conversation_id="cb-old", channel="web", phone=PHONE, preferred_time="下午",
                                    status="done", created_at=old, handled_at=old, slots={}))
        session.add(CallbackRequest(conversation_id="cb-open", channel="web", phone=PHONE, preferred_time="下午",
                                    status="open", created_at=old, slots={}))
        session.add(KbUnanswered(text="问题一", created_at=old))
        session.add(KbUnanswered(text="问题二", created_at=recent))

    from tests.fakes.ticket_platform import unused_url

    svc = service(database_url, clock=Clock(very_old), ticket_api_url=unused_url())
    closed_long_ago = svc.create(draft(1), "t1").ticket_no
    still_open = svc.create(draft(2), "t2").ticket_no
    svc.clock = Clock(very_old)
    svc.set_status(closed_long_ago, "closed", "张科长")
    svc.clock = Clock(recent)
    closed_recently = svc.create(draft(3), "t3").ticket_no
    svc.set_status(closed_recently, "closed", "张科长")

    periods = RetentionPeriods(tracker_events=180, handoff=180, unanswered_questions=365, closed_tickets=730)
    settings = Settings(database_url=database_url)
    dry = run_all(settings, periods=periods, tracker_url=tracker_url, now=now, dry_run=True)
    expected = {"tracker_conversations": 1, "handoff_sessions": 2, "callbacks": 1, "unanswered_questions": 1,
                "closed_tickets_anonymised": 1,
                "attachments_abandoned": 0, "attachments_of_closed_tickets": 0}  # tests/unit/test_attachments.py
    assert dry["counts"] == expected
    report = run_all(settings, periods=periods, tracker_url=tracker_url, now=now)
    assert report["counts"] == expected
    again = run_all(settings, periods=periods, tracker_url=tracker_url, now=now)
    assert set(again["counts"].values()) == {0}  # idempotent

    senders = {r[0] for r in raw_rows(tracker_url.replace("postgresql://", "postgresql+psycopg2://"),
                                      "SELECT DISTINCT sender_id FROM events")}
    assert senders == {"new-conv"}
    with session_scope(database_url) as session:
        assert sorted(s.status for s in session.execute(select(HandoffSession)).scalars()) == ["active", "closed"]
        assert session.execute(select(AgentMessage)).scalars().all().__len__() == 2
        assert [c.conversation_id for c in session.execute(select(CallbackRequest)).scalars()] == ["cb-open"]
        assert [q.text for q in session.execute(select(KbUnanswered)).scalars()] == ["问题二"]
        tickets = {t.ticket_no: t for t in session.execute(select(Ticket)).scalars()}
        gone = tickets[closed_long_ago]
        assert (gone.complainant_name, gone.phone, gone.complainant_address, gone.phone_hash) == (None,) * 4
        assert gone.personal_data_removed_at == now and gone.facts  # the case itself stays
        assert tickets[still_open].phone == PHONE and tickets[closed_recently].phone == PHONE
        payloads = {m.ticket_id: m.payload for m in session.execute(select(OutboxMessage)).scalars()}
        assert payloads[gone.id]["phone"] is None and payloads[gone.id]["complainant_name"] is None
        assert payloads[tickets[still_open].id]["phone"] == PHONE
    assert svc.tickets_for_phone(PHONE) == [still_open, closed_recently]


@pytest.mark.parametrize("value", ["abc", "0", "-3", "1.5"])
def test_bad_retention_periods_are_refused_by_the_cli(db_url, value):
    env = {**os.environ, "DATABASE_URL": db_url, "PYTHONPATH": str(ROOT), "XIAOAN_RETENTION_TRACKER_DAYS": value}
    result = subprocess.run([str(XIAOAN), "retention", "run", "--dry-run"], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2 and "XIAOAN_RETENTION_TRACKER_DAYS" in result.stderr
    assert "Traceback" not in result.stderr


def test_retention_cli_runs_on_an_empty_database(db_url, tmp_path):
    env = {**os.environ, "DATABASE_URL": db_url, "PYTHONPATH": str(ROOT),
           "XIAOAN_TRACKER_STORE_URL": f"sqlite:///{tmp_path / 'none.db'}"}
    result = subprocess.run([str(XIAOAN), "retention", "run", "--json"], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout)["counts"].values()) == {0}


def test_downgrade_decrypts_back(tmp_path):
    url = f"sqlite:///{tmp_path / 'down.db'}"
    upgrade(url)
    service(url).create(draft(), "k1")
    dispose_engines()
    command.downgrade(alembic_config(url), "0001")
    assert raw_rows(url, "SELECT complainant_name, phone, complainant_address FROM tickets") == [(NAME, PHONE, ADDRESS)]
    dispose_engines()
