"""The core ticket behaviours on PostgreSQL: numbering under concurrency (threads and processes),
idempotency races, status lookup, history, the outbox against a failing local platform."""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import sys
import textwrap
import threading
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, func, select

import xiaoan.models  # noqa: F401
from xiaoan.config import Settings
from xiaoan.db import Base, session_scope
from xiaoan.tickets.fake_platform import FakePlatform
from xiaoan.tickets.models import OutboxMessage, Ticket
from xiaoan.tickets.numbering import TICKET_NO_RE
from xiaoan.tickets.outbox import OutboxDeliverer
from xiaoan.tickets.routing import Router
from xiaoan.tickets.service import TicketDraft, TicketService
from xiaoan.tickets.views import CONTRACT_FIELDS

pytestmark = pytest.mark.postgres

UTC = dt.timezone.utc
PHONE = "13912345678"


class Clock:
    def __init__(self, moment: dt.datetime) -> None:
        self.now = moment

    def __call__(self) -> dt.datetime:
        return self.now


def draft(**overrides) -> TicketDraft:
    fields = dict(
        kind="complaint", intent="complain_prepaid", channel="rest", conversation_id="pg-1",
        complainant_name="李四", phone=PHONE, complainant_address="上海市闵行区莘庄1号",
        respondent_name="某某美发店", respondent_address="上海市闵行区七宝1号", district="minhang",
        facts="美发店关门，预付卡余额无法退还", claim="退还余额", amount=Decimal("1234.56"),
    )
    fields.update(overrides)
    return TicketDraft(**fields)


@pytest.fixture()
def pg(postgres_url) -> str:
    engine = create_engine(postgres_url, future=True)
    Base.metadata.create_all(engine)
    engine.dispose()
    return postgres_url


@pytest.fixture()
def clock() -> Clock:
    return Clock(dt.datetime(2026, 9, 30, 1, 0, tzinfo=UTC))   # the eve of Golden Week


def make_service(url, clock, api_url=None) -> TicketService:
    settings = Settings(database_url=url, ticket_api_url=api_url)
    return TicketService(settings, clock=clock, router=Router(resolve_district=lambda t: None),
                         deliverer=OutboxDeliverer(settings, clock=clock, rng=lambda: 0.0))


def count(url, model) -> int:
    with session_scope(url) as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_create_show_and_status_on_postgres(pg, clock):
    service = make_service(pg, clock)
    receipt = service.create(draft(), "pg:1")
    assert receipt.ticket_no == "XA-260930-0001"
    assert (receipt.agency, receipt.contact_by, receipt.resolve_by) == (
        "dist-minhang", dt.date(2026, 10, 8), dt.date(2026, 10, 13))
    data = service.show(receipt.ticket_no)
    assert list(data) == list(CONTRACT_FIELDS) + ["history"]
    assert data["amount"] == 1234.56 and data["phone_masked"] == "139****5678"
    with session_scope(pg) as session:
        assert session.execute(select(Ticket.amount)).scalar_one() == Decimal("1234.56")
    assert service.status("xa 260930 0001", "5678").status_label == "已登记"
    assert service.status("XA-260930-0001", "5670") is None
    assert service.status("XA-260930-0002", "5678") is None
    service.set_status("XA-260930-0001", "accepted", "闵行区局", "已受理")
    assert [h["status"] for h in service.show("XA-260930-0001")["history"]] == ["created", "accepted"]
    assert service.status("XA-260930-0001", "5678").status_label == "已受理"


def test_sequential_and_racing_idempotency_on_postgres(pg, clock):
    service = make_service(pg, clock)
    first = service.create(draft(), "same")
    assert service.create(draft(), "same") == dataclasses.replace(first, created=False)
    barrier = threading.Barrier(8)
    results, errors = [], []

    def submit():
        barrier.wait()
        try:
            results.append(service.create(draft(), "race"))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len({r.ticket_no for r in results}) == 1 and sum(r.created for r in results) == 1
    assert count(pg, Ticket) == 2
    # no number was burnt by the losers: the next ticket is the third
    assert service.create(draft(), "next").ticket_no == "XA-260930-0003"


def test_concurrent_numbering_on_postgres(pg, clock):
    service = make_service(pg, clock)
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
    assert sorted(numbers) == [f"XA-260930-{n:04d}" for n in range(1, 31)]


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


def test_two_processes_on_postgres_get_different_numbers(pg):
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, pg, f"proc{n}"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in range(2)]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outputs]
    numbers = [line for out, _ in outputs for line in out.split()]
    assert len(set(numbers)) == 20 and all(TICKET_NO_RE.match(n) for n in numbers)
    assert sorted(int(n[-4:]) for n in numbers) == list(range(1, 21))


def test_outbox_on_postgres(pg, clock):
    with FakePlatform() as fake:
        fake.fail_next(500, 503, 503)
        service = make_service(pg, clock, fake.url)
        receipts = [service.create(draft(conversation_id=f"c{i}"), f"k{i}") for i in range(3)]
        assert not any(r.forwarded for r in receipts)
        with session_scope(pg) as session:
            rows = session.execute(select(OutboxMessage)).scalars().all()
            assert {(r.state, r.attempts) for r in rows} == {("pending", 1)}
        clock.now += dt.timedelta(seconds=5)
        deliverers = [OutboxDeliverer(service.settings, clock=clock) for _ in range(3)]
        barrier = threading.Barrier(3)
        reports = []

        def run(d):
            barrier.wait()
            reports.append(d.deliver_pending())

        threads = [threading.Thread(target=run, args=(d,)) for d in deliverers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        delivered = sorted(n for r in reports for n in r.delivered)
        assert delivered == sorted(r.ticket_no for r in receipts)
        assert len(fake.requests) == 6 and len(fake.orders) == 3
        with session_scope(pg) as session:
            assert {t.status for t in session.execute(select(Ticket)).scalars()} == {"forwarded"}

        fake.fail_next(400)
        rejected = service.create(draft(), "k-bad")
        clock.now += dt.timedelta(days=1)
        assert service.deliverer.deliver_pending().attempted == 0
        assert service.deliverer.deliver_pending(force=True, include_failed=True).delivered == [rejected.ticket_no]
