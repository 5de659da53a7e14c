"""Status changes reported by the work-order platform (issue 15, part 2): the signed, idempotent
endpoint, `xiaoan.tickets.updates`, the notices they queue, and the CLI path."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text

from tests.notify_support import OPENID, PHONE, PLATFORM_SECRET, make_ticket, settings, signed, web_app
from xiaoan.db import session_scope
from xiaoan.notify.models import TicketNotification, TicketStatusUpdate, TicketSurvey
from xiaoan.tickets.models import STATUSES, Ticket
from xiaoan.tickets.routing import load_rules
from xiaoan.tickets.service import TicketNotFound, TicketValidationError
from xiaoan.tickets.updates import StatusUpdateConflict, apply_status_update, normalize_status

URL = "/api/platform/tickets/{}/status"


def notices(db_url) -> list[tuple[str, str, str]]:
    with session_scope(db_url) as session:
        return [(n.kind, n.channel, n.params["status"]) for n in
                session.execute(select(TicketNotification).order_by(TicketNotification.id)).scalars()]


def count(db_url, model) -> int:
    with session_scope(db_url) as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def ticket_row(db_url, number) -> dict:
    with session_scope(db_url) as session:
        t = session.execute(select(Ticket).where(Ticket.ticket_no == number)).scalar_one()
        return {"status": t.status, "agency": t.agency, "history": [(h.status, h.by) for h in t.history]}


def test_every_status_has_a_chinese_label_and_the_platform_names_map_to_them():
    labels = load_rules().status_labels
    assert set(labels) == set(STATUSES)
    assert labels["transferred"] == "已转办" and labels["mediated"] == "已调解"
    assert [normalize_status(s) for s in ("accepted", "Transferred", "调解", "已办结")] == [
        "accepted", "transferred", "mediated", "closed"]
    with pytest.raises(TicketValidationError) as exc:
        normalize_status("reopened")
    assert exc.value.field == "status"


def test_a_web_ticket_with_a_phone_gets_a_web_notice_and_an_sms(db_url):
    number = make_ticket(db_url)
    result = apply_status_update(number, "accepted", source="platform", event_id="e1",
                                 settings=settings(db_url, sms_url="http://sms.invalid/send"))
    assert (result.applied, result.duplicate, result.notifications, result.current_status) == (True, False, 2, "accepted")
    assert notices(db_url) == [("status", "web", "accepted"), ("status", "sms", "accepted")]
    assert ticket_row(db_url, number)["history"][-1] == ("accepted", "platform")


def test_without_an_sms_gateway_a_web_ticket_gets_only_the_web_notice(db_url):
    number = make_ticket(db_url)
    apply_status_update(number, "accepted", source="platform", event_id="e1", settings=settings(db_url))
    assert notices(db_url) == [("status", "web", "accepted")]


def test_a_wechat_ticket_is_told_on_wechat_only_and_an_anonymous_report_never(db_url):
    wechat = make_ticket(db_url, channel="wechat", conversation_id=OPENID)
    anonymous = make_ticket(db_url, kind="report", anonymous=True, conversation_id="web-" + "b" * 32)
    s = settings(db_url, sms_url="http://sms.invalid/send")
    apply_status_update(wechat, "mediated", source="platform", event_id="w1", settings=s)
    result = apply_status_update(anonymous, "accepted", source="platform", event_id="a1", settings=s)
    assert result.applied and result.notifications == 0
    assert notices(db_url) == [("status", "wechat", "mediated")]
    with session_scope(db_url) as session:
        row = session.execute(select(TicketNotification)).scalar_one()
        assert row.recipient == OPENID
        stored = session.execute(text("SELECT recipient FROM ticket_notifications")).scalar_one()
    assert OPENID not in stored  # encrypted at rest


def test_closure_queues_the_status_notice_and_one_satisfaction_question(database_url):
    db_url = database_url  # SQLite and PostgreSQL
    number = make_ticket(db_url)
    s = settings(db_url)
    apply_status_update(number, "closed", source="platform", event_id="c1", settings=s)
    assert notices(db_url) == [("status", "web", "closed"), ("survey", "web", "closed")]
    assert count(db_url, TicketSurvey) == 1


def test_the_same_event_twice_changes_nothing_and_other_content_is_a_conflict(database_url):
    db_url = database_url  # SQLite and PostgreSQL
    number = make_ticket(db_url)
    s = settings(db_url)
    first = apply_status_update(number, "transferred", source="platform", event_id="t1", agency="dist-xuhui", settings=s)
    again = apply_status_update(number, "transferred", source="platform", event_id="t1", agency="dist-xuhui", settings=s)
    assert first.notifications == 1 and again.duplicate and again.notifications == 0
    assert count(db_url, TicketStatusUpdate) == 1 and len(notices(db_url)) == 1
    row = ticket_row(db_url, number)
    assert row["agency"] == "dist-xuhui" and [h for h in row["history"] if h[0] == "transferred"] == [("transferred", "platform")]
    with pytest.raises(StatusUpdateConflict):
        apply_status_update(number, "closed", source="platform", event_id="t1", settings=s)


def test_a_change_after_closure_is_history_only(db_url):
    number = make_ticket(db_url)
    s = settings(db_url)
    apply_status_update(number, "closed", source="platform", event_id="c1", settings=s)
    late = apply_status_update(number, "accepted", source="platform", event_id="late", settings=s)
    assert (late.applied, late.current_status, late.notifications) == (False, "closed", 0)
    assert ticket_row(db_url, number)["history"][-1] == ("accepted", "platform")
    assert len(notices(db_url)) == 2


@pytest.mark.parametrize("kwargs, field", [
    ({"status": "reopened"}, "status"),
    ({"status": "accepted", "agency": "dist-xuhui"}, "agency"),
    ({"status": "transferred", "agency": "dist-nowhere"}, "agency"),
    ({"status": "accepted", "note": "x" * 501}, "note"),
    ({"status": "accepted", "at": dt.datetime(2026, 12, 1, 8, 0)}, "at"),
    ({"status": "accepted", "at": dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)}, "at"),
    ({"status": "accepted", "event_id": "e" * 200}, "event_id"),
])
def test_bad_reports_are_refused_and_store_nothing(db_url, kwargs, field):
    number = make_ticket(db_url)
    kwargs.setdefault("event_id", "bad")
    status = kwargs.pop("status")
    with pytest.raises(TicketValidationError) as exc:
        apply_status_update(number, status, source="platform", settings=settings(db_url), **kwargs)
    assert exc.value.field == field
    assert count(db_url, TicketStatusUpdate) == 0 and notices(db_url) == []
    assert ticket_row(db_url, number)["status"] == "created"


def test_an_unknown_ticket_is_not_found(db_url):
    with pytest.raises(TicketNotFound):
        apply_status_update("XA-261126-9999", "accepted", source="platform", event_id="x", settings=settings(db_url))


# ---------------------------------------------------------------- the endpoint


@pytest.fixture()
def client(db_url):
    return web_app(db_url).test_client()


def post(client, number, body, **kw):
    raw, headers = signed(body, **kw)
    return client.post(URL.format(number), data=raw, headers=headers)


def test_a_signed_report_is_applied_once(client, db_url):
    number = make_ticket(db_url)
    body = {"event_id": "evt-1", "status": "accepted", "at": "2026-12-01T09:00:00+08:00", "note": "已联系"}
    first = post(client, number, body)
    assert first.status_code == 200, first.get_json()
    assert first.get_json() == {"ticket_no": number, "status": "accepted", "current_status": "accepted",
                                "duplicate": False, "applied": True, "notifications": 1}
    again = post(client, number, body)
    assert again.status_code == 200 and again.get_json()["duplicate"] is True
    assert count(db_url, TicketStatusUpdate) == 1 and len(notices(db_url)) == 1
    # the ticket number in any usual spelling
    assert post(client, number.replace("-", "").lower(), {**body, "event_id": "evt-2", "status": "mediated"}).status_code == 200


def test_idempotency_key_header_stands_for_the_event_id(client, db_url):
    number = make_ticket(db_url)
    raw, headers = signed({"status": "accepted"})
    headers["Idempotency-Key"] = "key-7"
    assert client.post(URL.format(number), data=raw, headers=headers).status_code == 200
    assert client.post(URL.format(number), data=raw, headers=headers).get_json()["duplicate"] is True


@pytest.mark.parametrize("case", ["no_signature", "wrong_secret", "stale", "tampered"])
def test_unsigned_or_stale_reports_are_refused_with_401(client, db_url, case):
    number = make_ticket(db_url)
    body = {"event_id": "e", "status": "closed"}
    if case == "no_signature":
        resp = client.post(URL.format(number), json=body)
    elif case == "wrong_secret":
        resp = post(client, number, body, secret="another-secret-of-enough-length-000000")
    elif case == "stale":
        resp = post(client, number, body, timestamp=1_700_000_000)
    else:
        raw, headers = signed(body)
        resp = client.post(URL.format(number), data=raw.replace(b"closed", b"accepted"), headers=headers)
    assert resp.status_code == 401
    assert resp.get_json()["error"] in {"bad_signature", "stale_timestamp"} and resp.get_json()["message"]
    assert count(db_url, TicketStatusUpdate) == 0


def test_clear_errors_for_bad_requests(client, db_url):
    number = make_ticket(db_url)
    cases = [
        (post(client, number, b"not json"), 400, "bad_json"),
        (post(client, number, {"status": "accepted"}), 400, "missing_event_id"),
        (post(client, "XA-261126-9999", {"event_id": "a", "status": "accepted"}), 404, "not_found"),
        (post(client, number, {"event_id": "b", "status": "lost"}), 422, "invalid"),
        (post(client, number, {"event_id": "c", "status": "accepted", "at": "yesterday"}), 422, "invalid"),
        (post(client, number, {"event_id": {"x": 1}, "status": "accepted"}), 422, "invalid"),
    ]
    post(client, number, {"event_id": "d", "status": "accepted"})
    cases.append((post(client, number, {"event_id": "d", "status": "closed"}), 409, "conflict"))
    for resp, status, code in cases:
        assert resp.status_code == status, (code, resp.get_json())
        data = resp.get_json()
        assert data["error"] == code and any("\u4e00" <= ch <= "\u9fff" for ch in data["message"])
    assert cases[3][0].get_json()["field"] == "status"


def test_the_endpoint_is_off_without_a_secret(db_url):
    from xiaoan.config import Settings
    from xiaoan.web.app import create_app

    number = make_ticket(db_url)
    client = create_app(Settings(database_url=db_url), testing=True).test_client()
    raw, headers = signed({"event_id": "e", "status": "accepted"})
    resp = client.post(URL.format(number), data=raw, headers=headers)
    assert resp.status_code == 404 and resp.get_json()["error"] == "not_configured"


# ---------------------------------------------------------------- the command line


def test_cli_set_status_records_and_queues_notices(db_url, monkeypatch):
    from xiaoan.cli import cli

    number = make_ticket(db_url)
    runner = CliRunner()
    result = runner.invoke(cli, ["tickets", "set-status", number, "closed", "--by", "王坐席", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["status"] == "closed" and data["history"][-1]["by"] == "王坐席"
    assert notices(db_url) == [("status", "web", "closed"), ("survey", "web", "closed")]
    quiet = make_ticket(db_url, conversation_id="web-" + "c" * 32)
    result = runner.invoke(cli, ["tickets", "set-status", quiet, "accepted", "--by", "王坐席", "--no-notify"])
    assert result.exit_code == 0, result.output
    assert len(notices(db_url)) == 2
    missing = runner.invoke(cli, ["tickets", "set-status", "XA-261126-9999", "accepted", "--by", "x"])
    assert missing.exit_code == 1 and "找不到工单" in missing.output
    assert PHONE not in result.output


def test_retention_removes_the_notices_with_the_complainants_data(db_url):
    from xiaoan.retention import anonymise_closed_tickets

    number = make_ticket(db_url)
    apply_status_update(number, "closed", source="platform", event_id="c1",
                        settings=settings(db_url, sms_url="http://sms.invalid/send"))
    assert len(notices(db_url)) == 4
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
    assert anonymise_closed_tickets(db_url, later, now=later) == 1
    assert notices(db_url) == [] and count(db_url, TicketSurvey) == 1  # the answer stays for the figures


def test_production_refuses_weak_status_secrets_and_sms_in_clear():
    from xiaoan.production_checks import problems

    strong = "Zq8v3Lw0pXr7Nc2Kd5Hs9Tf4Yb6Mj1Ga"
    found = problems({"XIAOAN_PLATFORM_SECRET": "changeme", "XIAOAN_SMS_TOKEN": strong,
                      "XIAOAN_SMS_URL": "http://sms.example.org/send"})
    assert any(p.startswith("XIAOAN_PLATFORM_SECRET") for p in found)
    assert any(p.startswith("XIAOAN_SMS_URL is not https") for p in found)
    assert not any(p.startswith("XIAOAN_SMS_TOKEN") for p in found)
    fine = problems({"XIAOAN_PLATFORM_SECRET": strong, "XIAOAN_SMS_URL": "https://sms.example.org/send"})
    assert not any("PLATFORM" in p or "SMS" in p for p in fine)


def test_the_same_event_posted_twice_at_once_is_applied_once(database_url):
    import threading

    number = make_ticket(database_url)
    results, errors = [], []
    barrier = threading.Barrier(4)

    def report():
        barrier.wait()
        try:
            results.append(apply_status_update(number, "closed", source="platform", event_id="race",
                                               settings=settings(database_url)))
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=report) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(r.duplicate for r in results) == [False, True, True, True]
    assert count(database_url, TicketStatusUpdate) == 1 and count(database_url, TicketSurvey) == 1
    assert notices(database_url) == [("status", "web", "closed"), ("survey", "web", "closed")]
    assert [h for h in ticket_row(database_url, number)["history"] if h[0] == "closed"] == [("closed", "platform")]
