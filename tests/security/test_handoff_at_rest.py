"""Issue 12, item 4 (rest of it): the hand-off's personal data encrypted at rest — the callback
phone number and the slots snapshots of hand-off sessions and callback requests — key rotation
over them, and migration `0007_sec` that encrypts existing rows and decrypts them on downgrade.

On a real SQLite database, and on PostgreSQL at 127.0.0.1:5432 when reachable (marker `postgres`)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from tests.security.at_rest import KEY_A, KEY_B, BACKENDS, data_key, raw_rows, upgraded_from  # noqa: F401
from xiaoan import crypto
from xiaoan.config import Settings
from xiaoan.db import alembic_config, dispose_engines, upgrade
from xiaoan.handoff.service import HandoffService
from xiaoan.tickets.service import rotate_personal_data

UTC = dt.timezone.utc
PHONE, NAME, ADDRESS = "13912345678", "李四光", "上海市徐汇区漕溪北路88号"
SLOTS = {"complainant_name": NAME, "phone": PHONE, "complainant_address": ADDRESS, "amount": 2000}


def handoff(url: str) -> HandoffService:
    return HandoffService(Settings(database_url=url), notifier_for=lambda view: _Silent())


class _Silent:
    def deliver(self, conversation_id, events):
        return None


def fill(url: str) -> tuple[int, int]:
    svc = handoff(url)
    queued = svc.enqueue("web-at-rest", "web", "requested", input_channel="rest", slots=dict(SLOTS))
    callback = svc.add_callback("web-at-rest-2", "web", PHONE, "今天下午", slots=dict(SLOTS))
    return queued.session_id, callback.id


def test_callback_phone_and_slots_are_encrypted_in_the_database_and_plain_through_the_service(database_url):
    session_id, callback_id = fill(database_url)
    (slots,) = raw_rows(database_url, "SELECT slots FROM handoff_sessions")[0]
    phone, cb_slots = raw_rows(database_url, "SELECT phone, slots FROM handoff_callbacks")[0]
    for stored in (slots, phone, cb_slots):
        assert crypto.is_encrypted(stored)
        for secret in (PHONE, NAME, ADDRESS, "漕溪北路"):
            assert secret not in stored
    svc = handoff(database_url)
    assert svc.get(session_id).slots == SLOTS
    view = svc.get_callback(callback_id)
    assert view.phone == PHONE and view.slots == SLOTS
    assert view.phone_masked == "139****5678"
    # a value copied into the other column does not decrypt: the column is bound into each value
    with pytest.raises(crypto.DataKeyError):
        crypto.keyring().decrypt(phone, "handoff_sessions.slots")


def test_rotation_re_encrypts_the_handoff_tables_too(database_url, monkeypatch):
    session_id, callback_id = fill(database_url)
    monkeypatch.setenv("XIAOAN_DATA_KEY", f"{KEY_B},{KEY_A}")
    result = rotate_personal_data(Settings(database_url=database_url))
    assert result["handoff_sessions"] == 1 and result["callbacks"] == 1 and result["remaining_old"] == 0
    stored = raw_rows(database_url, "SELECT slots FROM handoff_sessions") + raw_rows(
        database_url, "SELECT phone, slots FROM handoff_callbacks")
    assert {crypto.key_id_of(v) for row in stored for v in row} == {"kb"}
    monkeypatch.setenv("XIAOAN_DATA_KEY", KEY_B)  # the old key gone: everything still reads
    svc = handoff(database_url)
    assert svc.get(session_id).slots == SLOTS and svc.get_callback(callback_id).phone == PHONE


def _insert_plain_handoff_rows(url: str) -> None:
    now = dt.datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    engine = create_engine(url, future=True)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO handoff_sessions (conversation_id, channel, reason, priority, status, slots, waiting_since)"
            " VALUES ('web-old', 'web', 'requested', 1, 'waiting', :slots, :now)"),
            {"slots": json.dumps(SLOTS, ensure_ascii=False), "now": now})
        conn.execute(text(
            "INSERT INTO handoff_callbacks (conversation_id, channel, phone, preferred_time, reason, slots, status,"
            " created_at) VALUES ('web-old', 'web', :phone, '明天上午', 'requested', :slots, 'open', :now)"),
            {"phone": PHONE, "slots": json.dumps(SLOTS, ensure_ascii=False), "now": now})
        conn.execute(text(
            "INSERT INTO personal_data_views (at, actor, action, subject, source)"
            " VALUES (:now, 'wangfang', 'ticket_show', 'ticket:XA-261120-0001', 'cli')"), {"now": now})
    engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_migration_0007_encrypts_existing_rows_and_downgrades(backend, tmp_path, request):
    url = upgraded_from(backend, tmp_path, request, "0006_onedef", _insert_plain_handoff_rows)
    (slots,) = raw_rows(url, "SELECT slots FROM handoff_sessions")[0]
    phone, cb_slots = raw_rows(url, "SELECT phone, slots FROM handoff_callbacks")[0]
    assert all(crypto.is_encrypted(v) for v in (slots, phone, cb_slots))
    assert PHONE not in phone + slots + cb_slots
    svc = handoff(url)
    assert svc.open_sessions()[0].slots == SLOTS
    assert svc.callbacks()[0].phone == PHONE
    # the new audit actions are accepted by the migrated schema's check constraint
    from xiaoan.db import session_scope
    from xiaoan.privacy_audit import TICKET_LIST_REVEAL, TICKET_PAGE_REVEAL, record_view

    with session_scope(url) as db:
        record_view(db, actor="cli-user", action=TICKET_LIST_REVEAL, subject="ticket:XA-261120-0001", source="cli")
        record_view(db, actor="wangfang", action=TICKET_PAGE_REVEAL, subject="ticket:XA-261120-0001")
    dispose_engines()
    # upgrading again changes nothing (already encrypted values are left as they are)
    upgrade(url)
    dispose_engines()
    assert raw_rows(url, "SELECT phone FROM handoff_callbacks")[0][0] == phone

    command.downgrade(alembic_config(url), "0006_onedef")
    dispose_engines()
    (plain_slots,) = raw_rows(url, "SELECT slots FROM handoff_sessions")[0]
    plain_phone, plain_cb = raw_rows(url, "SELECT phone, slots FROM handoff_callbacks")[0]
    assert plain_phone == PHONE
    assert (json.loads(plain_slots) if isinstance(plain_slots, str) else plain_slots) == SLOTS
    assert (json.loads(plain_cb) if isinstance(plain_cb, str) else plain_cb) == SLOTS
    # the audit rows survive the downgrade (as the older schema's nearest action), none is lost
    actions = sorted(a for (a,) in raw_rows(url, "SELECT action FROM personal_data_views"))
    assert actions == ["ticket_show"] * 3
    # and the older schema refuses the new actions again
    engine = create_engine(url, future=True)
    try:
        with pytest.raises(Exception), engine.begin() as conn:
            conn.execute(text("INSERT INTO personal_data_views (at, actor, action, subject, source)"
                              " VALUES (CURRENT_TIMESTAMP, 'x', 'ticket_page_reveal', 'ticket:x', 'console')"))
    finally:
        engine.dispose()
    dispose_engines()
