"""TicketService: creation, numbering, idempotency, validation, status, history, logs.

On SQLite; the tests that depend on the database (storage, numbering and idempotency under
concurrency, status lookup, history, the ticket JSON) run on PostgreSQL too (`database_url`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import subprocess
import sys
import textwrap
import threading
from decimal import Decimal

import pytest
import yaml
from sqlalchemy import func, select

from tests.fakes.clock import Clock
from xiaoan.config import Settings
from xiaoan.db import session_scope
from xiaoan.tickets.models import OutboxMessage, Ticket, TicketStatusEvent
from xiaoan.tickets.numbering import TICKET_NO_RE
from xiaoan.tickets.routing import RULES_PATH, Router, RoutingRulesError
from xiaoan.tickets.service import (
    TicketDraft,
    TicketNotFound,
    TicketService,
    TicketValidationError,
)
from xiaoan.tickets.views import CONTRACT_FIELDS

UTC = dt.timezone.utc
PHONE = "13812345678"
NAME = "张三丰"


def draft(**overrides) -> TicketDraft:
    fields = dict(
        kind="complaint", intent="complain_prepaid", channel="rest", conversation_id="conv-1",
        complainant_name=NAME, phone=PHONE, complainant_address="上海市徐汇区漕溪北路1号",
        respondent_name="某某健身房", respondent_address="上海市浦东新区张杨路100号", district="pudong",
        facts="健身房关门跑路，卡里还有两千元", claim="退还余额", amount=Decimal("2000"),
    )
    fields.update(overrides)
    return TicketDraft(**fields)


@pytest.fixture()
def clock() -> Clock:
    # 2026-11-26 01:00 in Shanghai (a Thursday)
    return Clock(dt.datetime(2026, 11, 25, 17, 0, tzinfo=UTC))


def make_service(url, clock) -> TicketService:
    return TicketService(Settings(database_url=url), clock=clock,
                         router=Router(resolve_district=lambda text: "pudong" if "浦东" in text else None))


@pytest.fixture()
def service(db_url, clock) -> TicketService:
    """The service on SQLite (tests on both databases call `make_service(database_url, clock)`)."""
    return make_service(db_url, clock)


def count(url, model) -> int:
    with session_scope(url) as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_create_complaint_stores_every_field_and_returns_the_receipt(database_url, clock):
    service = make_service(database_url, clock)
    receipt = service.create(draft(respondent_credit_code="91310000MA1K00000X", privacy_notice_version="v2"),
                             "conv-1:1700000000.1")
    assert receipt.ticket_no == "XA-261126-0001"
    assert TICKET_NO_RE.match(receipt.ticket_no)
    assert (receipt.agency, receipt.agency_name) == ("dist-pudong", "浦东新区市场监督管理局")
    assert receipt.contact_by == dt.date(2026, 11, 27)
    assert receipt.resolve_by == dt.date(2026, 12, 3)   # 5 working days: 27, 30, 1, 2, 3
    assert receipt.created is True and receipt.forwarded is False
    with session_scope(database_url) as session:
        ticket = session.execute(select(Ticket)).scalar_one()
        assert ticket.phone == PHONE and ticket.complainant_name == NAME
        assert ticket.amount == Decimal("2000.00")
        assert ticket.respondent_credit_code == "91310000MA1K00000X"
        assert ticket.privacy_notice_version == "v2"
        assert ticket.routing_rule == "district" and ticket.district == "pudong"
        assert ticket.idempotency_key == "conv-1:1700000000.1"
        assert ticket.created_at == dt.datetime(2026, 11, 25, 17, 0, tzinfo=UTC)
        assert [(e.status, e.by) for e in ticket.history] == [("created", "xiaoan/rest")]
    # without XIAOAN_TICKET_API_URL the database is the system of record: no outbox
    assert count(database_url, OutboxMessage) == 0


def test_report_gets_fifteen_working_days(service):
    receipt = service.create(draft(kind="report", intent="report_violation", claim=None, amount=None), "k-report")
    assert receipt.resolve_by == dt.date(2026, 12, 17)
    assert receipt.contact_by == dt.date(2026, 11, 27)


def test_due_dates_skip_golden_week(service, clock):
    clock.now = dt.datetime(2026, 9, 30, 2, 0, tzinfo=UTC)
    receipt = service.create(draft(), "k-golden-week")
    assert receipt.ticket_no == "XA-260930-0001"
    assert (receipt.contact_by, receipt.resolve_by) == (dt.date(2026, 10, 8), dt.date(2026, 10, 13))


def test_numbers_follow_the_shanghai_day(service, clock):
    assert service.create(draft(), "a").ticket_no == "XA-261126-0001"
    assert service.create(draft(), "b").ticket_no == "XA-261126-0002"
    clock.now = dt.datetime(2026, 11, 26, 15, 59, tzinfo=UTC)      # 23:59 Shanghai, same day
    assert service.create(draft(), "c").ticket_no == "XA-261126-0003"
    clock.now = dt.datetime(2026, 11, 26, 16, 0, tzinfo=UTC)       # midnight Shanghai: a new day
    assert service.create(draft(), "d").ticket_no == "XA-261127-0001"


def test_same_idempotency_key_returns_the_same_ticket(database_url, clock):
    service = make_service(database_url, clock)
    first = service.create(draft(), "conv-1:42")
    clock.now += dt.timedelta(days=3)
    again = service.create(draft(facts="再次提交"), "conv-1:42")
    assert again.ticket_no == first.ticket_no
    assert (again.created, again.resolve_by, again.agency) == (False, first.resolve_by, first.agency)
    assert again == dataclasses.replace(first, created=False)
    assert count(database_url, Ticket) == 1
    assert count(database_url, TicketStatusEvent) == 1


def test_racing_creates_with_one_key_make_one_ticket(database_url, clock):
    service = make_service(database_url, clock)
    barrier = threading.Barrier(8)
    results, errors = [], []

    def submit():
        barrier.wait()
        try:
            results.append(service.create(draft(), "conv-race:1"))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len({r.ticket_no for r in results}) == 1
    assert sorted(r.created for r in results) == [False] * 7 + [True]
    assert count(database_url, Ticket) == 1
    # no number was burnt by the losers: the next ticket is the second
    assert service.create(draft(), "conv-race:2").ticket_no == "XA-261126-0002"


def test_concurrent_creates_get_distinct_consecutive_numbers(database_url, clock):
    service = make_service(database_url, clock)
    barrier = threading.Barrier(6)
    numbers, errors = [], []

    def submit(worker):
        barrier.wait()
        for i in range(5):
            try:
                numbers.append(service.create(draft(), f"w{worker}:{i}").ticket_no)
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

    threads = [threading.Thread(target=submit, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert sorted(numbers) == [f"XA-261126-{n:04d}" for n in range(1, 31)]


CHILD = textwrap.dedent("""
    import sys
    from xiaoan.config import Settings
    from xiaoan.tickets.routing import Router
    from xiaoan.tickets.service import TicketDraft, TicketService
    service = TicketService(Settings(database_url=sys.argv[1]), router=Router(resolve_district=lambda t: None))
    draft = TicketDraft(kind="report", intent="report_violation", channel="rest", conversation_id="p",
                        complainant_name=None, phone=None, complainant_address=None, respondent_name="某店",
                        respondent_address=None, district="huangpu", facts="卖过期食品", claim=None,
                        amount=None, anonymous=True)
    print("ready", flush=True)
    sys.stdin.readline()
    for i in range(10):
        print(service.create(draft, f"{sys.argv[2]}:{i}").ticket_no, flush=True)
""")


def test_two_processes_creating_at_once_get_different_numbers(database_url):
    # on SQLite a fresh file in rollback-journal mode: both processes also race to switch it to WAL
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, database_url, f"proc{n}"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in range(2)]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(err for _, err in outputs)
    numbers = [line for out, _ in outputs for line in out.split()]
    assert len(numbers) == 20 and len(set(numbers)) == 20
    assert all(TICKET_NO_RE.match(n) for n in numbers)
    assert sorted(int(n[-4:]) for n in numbers) == list(range(1, 21))


def test_anonymous_report_keeps_no_identity(service, db_url):
    receipt = service.create(draft(kind="report", intent="report_violation", anonymous=True, claim=None,
                                   amount=None), "anon-1")
    with session_scope(db_url) as session:
        ticket = session.execute(select(Ticket)).scalar_one()
        assert (ticket.complainant_name, ticket.phone, ticket.complainant_address) == (None, None, None)
        assert ticket.anonymous is True
    data = service.show(receipt.ticket_no)
    assert data["complainant_name"] is None and data["phone_masked"] is None
    assert service.status(receipt.ticket_no, "5678") is None


@pytest.mark.parametrize("overrides, field", [
    ({"anonymous": True}, "anonymous"),                   # complaints cannot be anonymous
    ({"phone": None}, "phone"),
    ({"phone": "call me"}, "phone"),
    ({"complainant_name": "  "}, "complainant_name"),
    ({"complainant_address": None}, "complainant_address"),
    ({"respondent_name": ""}, "respondent_name"),
    ({"facts": None}, "facts"),
    ({"kind": "question"}, "kind"),
    ({"district": "nanhui"}, "district"),
    ({"amount": Decimal("-1")}, "amount"),
    ({"amount": "两千"}, "amount"),
    ({"respondent_credit_code": "123"}, "respondent_credit_code"),
])
def test_invalid_drafts_are_refused_and_nothing_is_stored(service, db_url, overrides, field):
    with pytest.raises(TicketValidationError) as err:
        service.create(draft(**overrides), "k-invalid")
    assert err.value.field == field
    assert count(db_url, Ticket) == 0


def test_empty_idempotency_key_is_refused(service):
    with pytest.raises(TicketValidationError):
        service.create(draft(), " ")


def test_real_name_report_needs_no_address_and_phone_is_normalized(service, db_url):
    service.create(draft(kind="report", intent="report_violation", complainant_address=None, phone="+86 138-1234-5678",
                         claim=None, amount=None, district="dist-jingan"), "k-rn")
    with session_scope(db_url) as session:
        ticket = session.execute(select(Ticket)).scalar_one()
        assert (ticket.phone, ticket.district, ticket.agency) == (PHONE, "jingan", "dist-jingan")


def test_broken_rules_fail_clearly_and_store_nothing(db_url, clock, tmp_path):
    data = yaml.safe_load(RULES_PATH.read_text(encoding="utf-8"))
    data["rules"][0]["agency"] = "city-nowhere"
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    service = TicketService(Settings(database_url=db_url), clock=clock, router=Router(path))
    with pytest.raises(RoutingRulesError, match="city-nowhere"):
        service.create(draft(), "k")
    assert count(db_url, Ticket) == 0


@pytest.mark.parametrize("typed", ["XA-261126-0001", "xa2611260001", "XA 261126 0001", "ＸＡ－２６１１２６－０００１",
                                   "261126-0001", " xa-261126 0001 "])
def test_status_accepts_the_usual_spellings(database_url, clock, typed):
    service = make_service(database_url, clock)
    service.create(draft(), "k")
    view = service.status(typed, "5678")
    assert view is not None and view.ticket_no == "XA-261126-0001"
    assert (view.status, view.status_label) == ("created", "已登记")
    assert view.agency_name == "浦东新区市场监督管理局"
    assert (view.contact_by, view.resolve_by) == (dt.date(2026, 11, 27), dt.date(2026, 12, 3))
    assert view.overdue is False and view.near_due is False


@pytest.mark.parametrize("ticket_no, last4", [
    ("XA-261126-0001", "5679"),     # wrong phone
    ("XA-261126-0002", "5678"),     # wrong number
    ("XA-261126-0001", ""),
    ("XA-261126-0001", "567"),
    ("not a number", "5678"),
    ("", ""),
])
def test_status_reveals_nothing_unless_both_match(database_url, clock, ticket_no, last4):
    service = make_service(database_url, clock)
    service.create(draft(), "k")
    assert service.status(ticket_no, last4) is None


def test_status_accepts_the_whole_phone(service):
    service.create(draft(), "k")
    assert service.status("XA-261126-0001", "138 1234 5678") is not None


def test_status_is_locked_after_repeated_wrong_digits(service, clock):
    service.create(draft(), "k")
    for guess in ("0000", "1111", "2222", "3333", "4444"):
        assert service.status("XA-261126-0001", guess) is None
    assert service.status("XA-261126-0001", "5678") is None      # locked even with the right digits
    # the shared counter's sliding window lets the wrong guesses fade out within two windows
    clock.now += dt.timedelta(minutes=30)
    assert service.status("XA-261126-0001", "5678") is not None


def test_status_flags_overdue_and_near_due(service, clock):
    service.create(draft(), "k")
    clock.now = dt.datetime(2026, 12, 2, 2, 0, tzinfo=UTC)      # resolve_by 12-03 is one working day away
    view = service.status("XA-261126-0001", "5678")
    assert (view.overdue, view.near_due) == (False, True)
    clock.now = dt.datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
    view = service.status("XA-261126-0001", "5678")
    assert (view.overdue, view.near_due) == (True, False)
    service.set_status("XA-261126-0001", "closed", "王科员", "已调解，退款到账")
    view = service.status("XA-261126-0001", "5678")
    assert (view.overdue, view.near_due, view.status_label) == (False, False, "已办结")


def test_set_status_records_history_with_who_and_when(database_url, clock):
    service = make_service(database_url, clock)
    service.create(draft(), "k")
    clock.now += dt.timedelta(hours=2)
    service.set_status("xa2611260001", "accepted", "浦东新区局", None)
    clock.now += dt.timedelta(hours=3)
    data = service.set_status("XA-261126-0001", "in_progress", "李四", "已联系商家")
    assert data["status"] == "in_progress"
    assert [(h["status"], h["by"], h["note"]) for h in data["history"]] == [
        ("created", "xiaoan/rest", None), ("accepted", "浦东新区局", None), ("in_progress", "李四", "已联系商家")]
    assert data["history"][2]["at"] == "2026-11-26T06:00:00+08:00"
    view = service.status("XA-261126-0001", "5678")
    assert view.last_update_at == clock.now and view.status_label == "处理中"


def test_set_status_refuses_unknown_status_ticket_or_author(service):
    service.create(draft(), "k")
    with pytest.raises(TicketValidationError):
        service.set_status("XA-261126-0001", "done", "x")
    with pytest.raises(TicketValidationError):
        service.set_status("XA-261126-0001", "created", "x")
    with pytest.raises(TicketValidationError):
        service.set_status("XA-261126-0001", "closed", " ")
    with pytest.raises(TicketNotFound):
        service.set_status("XA-261126-0099", "closed", "x")


def test_ticket_json_has_exactly_the_contract_fields(database_url, clock):
    service = make_service(database_url, clock)
    service.create(draft(amount=Decimal("2999.50")), "k")
    item = service.list_tickets()[0]
    assert tuple(item) == CONTRACT_FIELDS
    shown = service.show(item["ticket_no"])
    assert list(shown) == list(CONTRACT_FIELDS) + ["history"]
    assert {k: v for k, v in shown.items() if k != "history"} == item
    assert item["phone_masked"] == "138****5678"
    assert item["amount"] == 2999.5
    assert item["district"] == "pudong" and item["agency"] == "dist-pudong"
    assert item["created_at"] == "2026-11-26T01:00:00+08:00"
    assert (item["contact_by"], item["resolve_by"]) == ("2026-11-27", "2026-12-03")
    assert PHONE not in json.dumps(item)


def test_list_since(service, clock):
    service.create(draft(), "a")
    clock.now += dt.timedelta(days=1)
    service.create(draft(), "b")
    assert len(service.list_tickets()) == 2
    assert [t["ticket_no"] for t in service.list_tickets(dt.datetime(2026, 11, 26, 12, tzinfo=UTC))] == ["XA-261127-0001"]


def test_logs_never_contain_the_phone_or_name(service, caplog):
    caplog.set_level(logging.DEBUG)
    receipt = service.create(draft(), "k")
    service.status(receipt.ticket_no, "0000")
    service.status(receipt.ticket_no, "5678")
    service.set_status(receipt.ticket_no, "accepted", "staff")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert receipt.ticket_no in text
    assert PHONE not in text and NAME not in text and "丰" not in text
