"""Forwarding through the transactional outbox, against a real local HTTP server that fails on purpose.

On SQLite; retries, permanent failures and concurrent deliverers run on PostgreSQL too (`database_url`)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.fakes.clock import Clock
from tests.waiting import wait_until
from xiaoan.config import Settings
from xiaoan.db import session_scope
from xiaoan.tickets import outbox, service as service_module
from tests.fakes.ticket_platform import FakePlatform, unused_url
from xiaoan.tickets.models import OutboxMessage, Ticket
from xiaoan.tickets.outbox import LEASE_SECONDS, OutboxDeliverer, backoff_delay, list_outbox
from xiaoan.tickets.platform_client import PlatformClient, PlatformRejected, PlatformUnavailable
from xiaoan.tickets.routing import Router
from xiaoan.tickets.service import TicketDraft, TicketService, get_ticket_service, reset_ticket_service
from xiaoan.tickets.views import CONTRACT_FIELDS

UTC = dt.timezone.utc
PHONE = "13812345678"
NAME = "张三丰"


def draft(**overrides) -> TicketDraft:
    fields = dict(
        kind="complaint", intent="complain_refund", channel="wechat", conversation_id="conv-9",
        complainant_name=NAME, phone=PHONE, complainant_address="上海市静安区康定路1号",
        respondent_name="某某旅行社", respondent_address="上海市黄浦区四川中路1号", district="huangpu",
        facts="疫情取消旅游，旅行社不退团费", claim="退还团费", amount=Decimal("5800"),
        online_platform=None, respondent_credit_code="91310101MA1FP0000X",
    )
    fields.update(overrides)
    return TicketDraft(**fields)


@pytest.fixture()
def fake():
    with FakePlatform() as platform:
        yield platform


@pytest.fixture()
def clock() -> Clock:
    return Clock(dt.datetime(2026, 11, 25, 17, 0, tzinfo=UTC))


def make_service(db_url, url, clock) -> TicketService:
    settings = Settings(database_url=db_url, ticket_api_url=url)
    deliverer = OutboxDeliverer(settings, clock=clock, rng=lambda: 0.0)   # no jitter: exact schedule
    return TicketService(settings, clock=clock, router=Router(resolve_district=lambda t: None), deliverer=deliverer)


def outbox_row(db_url) -> OutboxMessage:
    with session_scope(db_url) as session:
        return session.execute(select(OutboxMessage)).scalar_one()


def ticket_row(db_url) -> Ticket:
    with session_scope(db_url) as session:
        ticket = session.execute(select(Ticket)).scalar_one()
        ticket.history  # noqa: B018 - load before the session closes
        return ticket


def test_create_forwards_at_once_with_idempotency_key_and_full_phone(db_url, fake, clock):
    service = make_service(db_url, fake.url, clock)
    receipt = service.create(draft(), "conv-9:1")
    assert receipt.forwarded is True and receipt.created is True
    assert len(fake.requests) == 1
    request = fake.requests[0]
    row = outbox_row(db_url)
    assert request.headers["Idempotency-Key"] == row.idempotency_key
    assert request.headers["Content-Type"].startswith("application/json")
    body = request.body
    assert set(CONTRACT_FIELDS) <= set(body)
    assert body["ticket_no"] == receipt.ticket_no and body["agency"] == "dist-huangpu"
    assert body["phone"] == PHONE and body["phone_masked"] == "138****5678"
    assert body["complainant_name"] == NAME and body["amount"] == 5800
    assert body["agency_name"] == "黄浦区市场监督管理局"
    assert body["respondent_credit_code"] == "91310101MA1FP0000X" and body["anonymous"] is False
    assert body["privacy_notice_version"] == "v1"
    assert (row.state, row.attempts, row.lock_token) == ("delivered", 1, None)
    assert row.payload["phone"] is None            # the stored copy forgets the full number once delivered
    ticket = ticket_row(db_url)
    assert (ticket.status, ticket.external_id) == ("forwarded", "WO-000001")
    assert [(e.status, e.by, e.note) for e in ticket.history] == [
        ("created", "xiaoan/wechat", None), ("forwarded", "outbox", "platform id WO-000001")]
    # a repeated confirmation neither creates nor sends again
    again = service.create(draft(), "conv-9:1")
    assert (again.ticket_no, again.created, again.forwarded) == (receipt.ticket_no, False, True)
    assert len(fake.requests) == 1


def test_outbox_row_is_written_in_the_ticket_transaction(db_url, fake, clock, monkeypatch):
    def broken_payload(*args, **kwargs):
        raise RuntimeError("payload cannot be built")

    monkeypatch.setattr(service_module, "platform_payload", broken_payload)
    with pytest.raises(RuntimeError):
        make_service(db_url, fake.url, clock).create(draft(), "k")
    with session_scope(db_url) as session:
        assert session.execute(select(func.count()).select_from(Ticket)).scalar_one() == 0
        assert session.execute(select(func.count()).select_from(OutboxMessage)).scalar_one() == 0


def test_server_errors_are_retried_with_backoff_until_delivered(database_url, fake, clock):
    fake.fail_next(500, 503)
    service = make_service(database_url, fake.url, clock)
    receipt = service.create(draft(), "k")
    assert receipt.forwarded is False
    row = outbox_row(database_url)
    assert (row.state, row.attempts, row.last_status_code) == ("pending", 1, 500)
    assert "HTTP 500" in row.last_error
    assert row.next_attempt_at == clock.now + dt.timedelta(seconds=5)

    deliverer = service.deliverer
    assert deliverer.deliver_pending().attempted == 0            # not due yet
    clock.advance(5)
    report = deliverer.deliver_pending()
    assert report.retrying == [receipt.ticket_no]
    row = outbox_row(database_url)
    assert (row.attempts, row.last_status_code) == (2, 503)
    assert row.next_attempt_at == clock.now + dt.timedelta(seconds=10)
    clock.advance(9)
    assert deliverer.deliver_pending().attempted == 0
    clock.advance(1)
    assert deliverer.deliver_pending().delivered == [receipt.ticket_no]
    assert outbox_row(database_url).state == "delivered"
    assert ticket_row(database_url).status == "forwarded"
    assert [r.status for r in fake.requests] == [500, 503, 201]
    # every attempt is the same order under the same key (the fake keeps one order per key, so
    # counting its orders would prove nothing)
    assert len({r.headers["Idempotency-Key"] for r in fake.requests}) == 1
    assert all(r.body == fake.requests[0].body for r in fake.requests)
    assert ticket_row(database_url).external_id == "WO-000001"


class HeldPlatform(FakePlatform):
    """The fake platform, but the request scripted "hold" is answered only when the test says so:
    a platform slower than any client timeout, with no clock involved."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.holding = threading.Event()     # set while a request is held
        self.released_in_time = None

    def _next_behaviour(self):
        behaviour = super()._next_behaviour()
        if behaviour == "hold":
            self.holding.set()
            self.released_in_time = self.release.wait(60)
            self.holding.clear()
            return None                      # then record the order and answer 201, too late
        return behaviour


class SubmitSpy:
    """Records the (connect, read) timeout of every platform call a deliverer makes."""

    def __init__(self, deliverer, monkeypatch) -> None:
        self.timeouts: list = []
        submit = deliverer.client.submit

        def spy(payload, key, *, timeout=None):
            self.timeouts.append(timeout)
            return submit(payload, key, timeout=timeout)

        monkeypatch.setattr(deliverer.client, "submit", spy)


def test_slow_platform_never_keeps_the_citizen_waiting_and_makes_no_duplicate(db_url, clock, monkeypatch):
    with HeldPlatform() as fake:
        fake.fail_next("hold")
        service = make_service(db_url, fake.url, clock)
        spy = SubmitSpy(service.deliverer, monkeypatch)
        receipt = service.create(draft(), "k")
        # create() came back while the platform still holds the request: the citizen did not wait
        # for it, only for the short first-attempt timeout
        assert fake.holding.is_set()
        assert spy.timeouts == [outbox.QUICK_TIMEOUT]
        assert receipt.forwarded is False
        row = outbox_row(db_url)
        assert row.state == "pending" and "timeout" in row.last_error
        fake.release.set()                   # the slow platform finishes and records the order anyway
        wait_until(lambda: fake.orders, what="the held order")
        assert fake.released_in_time
        clock.advance(60)
        assert service.deliverer.deliver_pending().delivered == [receipt.ticket_no]
        assert [r.status for r in fake.requests] == [201, 200]    # the retry found the held order
        first, retry = fake.requests
        assert first.headers["Idempotency-Key"] == retry.headers["Idempotency-Key"]
        assert first.body == retry.body
        assert ticket_row(db_url).external_id == fake.orders[first.headers["Idempotency-Key"]] == "WO-000001"


def test_client_error_is_permanent_visible_and_replayable(database_url, fake, clock):
    fake.fail_next(("status", 400, {}, {"error": f"invalid field phone {PHONE}"}))
    service = make_service(database_url, fake.url, clock)
    receipt = service.create(draft(), "k")
    assert receipt.forwarded is False
    row = outbox_row(database_url)
    assert (row.state, row.last_status_code, row.attempts) == ("failed", 400, 1)
    assert "HTTP 400" in row.last_error and "138****5678" in row.last_error and PHONE not in row.last_error
    clock.advance(86400)
    assert service.deliverer.deliver_pending().attempted == 0    # not retried blindly
    assert service.deliverer.deliver_pending(force=True).attempted == 0
    assert len(fake.requests) == 1
    listed = list_outbox(service.settings)
    assert [(r["ticket_no"], r["state"], r["last_status_code"]) for r in listed] == [(receipt.ticket_no, "failed", 400)]
    assert PHONE not in str(listed)
    report = service.deliverer.deliver_pending(force=True, include_failed=True)
    assert report.delivered == [receipt.ticket_no]
    assert list_outbox(service.settings) == []
    assert [r.status for r in fake.requests] == [400, 201]
    assert ticket_row(database_url).external_id == "WO-000001"


@pytest.mark.parametrize("status", [408, 429, 502])
def test_retryable_statuses(db_url, fake, clock, status):
    fake.fail_next(status)
    make_service(db_url, fake.url, clock).create(draft(), "k")
    assert outbox_row(db_url).state == "pending"


def test_retry_after_is_honoured(db_url, fake, clock):
    fake.fail_next(("status", 429, {"Retry-After": "120"}))
    make_service(db_url, fake.url, clock).create(draft(), "k")
    assert outbox_row(db_url).next_attempt_at == clock.now + dt.timedelta(seconds=120)


def test_connection_refused_loses_nothing(db_url, fake, clock, monkeypatch):
    service = make_service(db_url, unused_url(), clock)
    spy = SubmitSpy(service.deliverer, monkeypatch)
    receipts = [service.create(draft(conversation_id=f"c{i}"), f"k{i}") for i in range(4)]
    # one short attempt per ticket while the citizen waits, no retries in line
    assert spy.timeouts == [outbox.QUICK_TIMEOUT] * 4
    assert not any(r.forwarded for r in receipts)
    assert all("connection error" in r["last_error"] for r in list_outbox(service.settings))
    # the platform comes back (at another address): everything pending is delivered once
    clock.advance(3600)
    settings = Settings(database_url=db_url, ticket_api_url=fake.url)
    report = OutboxDeliverer(settings, clock=clock).deliver_pending()
    assert sorted(report.delivered) == sorted(r.ticket_no for r in receipts)
    assert len(fake.requests) == 4 and len({r.headers["Idempotency-Key"] for r in fake.requests}) == 4
    assert {r.body["ticket_no"] for r in fake.requests} == {r.ticket_no for r in receipts}


def test_two_deliverers_at_once_send_each_row_once(database_url, fake, clock):
    fake.fail_next(*[503] * 6)
    service = make_service(database_url, fake.url, clock)
    for i in range(6):
        service.create(draft(conversation_id=f"c{i}"), f"k{i}")
    clock.advance(3600)
    first_requests = len(fake.requests)
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
    delivered = [n for r in reports for n in r.delivered]
    assert len(delivered) == 6 and len(set(delivered)) == 6
    sent = fake.requests[first_requests:]
    assert len(sent) == 6 and all(r.status == 201 for r in sent)
    assert len({r.headers["Idempotency-Key"] for r in sent}) == 6     # six tickets, each sent once
    with session_scope(database_url) as session:
        assert [t.status for t in session.execute(select(Ticket)).scalars()] == ["forwarded"] * 6


def test_a_creator_that_died_before_sending_is_covered_after_the_lease(db_url, fake, clock, monkeypatch):
    service = make_service(db_url, fake.url, clock)

    def crash(*args, **kwargs):
        raise RuntimeError("process died")

    monkeypatch.setattr(service.deliverer, "deliver_message", crash)
    receipt = service.create(draft(), "k")
    assert receipt.forwarded is False                  # the ticket exists; the citizen has the number
    monkeypatch.undo()
    deliverer = OutboxDeliverer(service.settings, clock=clock)
    assert deliverer.deliver_pending().attempted == 0  # still leased by the creator
    clock.advance(LEASE_SECONDS + 1)
    assert deliverer.deliver_pending().delivered == [receipt.ticket_no]
    assert len(fake.requests) == 1


def test_describe_error_keeps_sql_parameters_out_of_logs():
    from sqlalchemy.exc import IntegrityError

    exc = IntegrityError("INSERT INTO tickets (complainant_name, phone) VALUES (?, ?)", (NAME, PHONE),
                         Exception("UNIQUE constraint failed: tickets.idempotency_key"))
    assert NAME in str(exc) and PHONE in str(exc)
    text = outbox.describe_error(exc)
    assert text == "IntegrityError: UNIQUE constraint failed: tickets.idempotency_key"
    assert outbox.describe_error(RuntimeError(f"call {PHONE}")) == "RuntimeError: call 138****5678"


def test_backoff_schedule_is_exponential_capped_and_jittered():
    assert [backoff_delay(n, rng=lambda: 0.0) for n in range(1, 8)] == [5, 10, 20, 40, 80, 160, 320]
    assert backoff_delay(11, rng=lambda: 0.0) == 3600          # 5 * 2**10 = 5120 -> capped
    assert backoff_delay(500, rng=lambda: 0.0) == 3600
    assert backoff_delay(3, rng=lambda: 1.0) == 15               # at most 25 % shorter
    samples = [backoff_delay(20) for _ in range(200)]
    assert all(2700 <= s <= 3600 for s in samples)
    assert len(set(samples)) > 100                                # really random
    with pytest.raises(ValueError):
        backoff_delay(0)


def test_platform_client_outcomes(fake):
    client = PlatformClient(fake.url)
    fake.fail_next(404, ("status", 301, {"Location": "http://example.invalid/"}), 500)
    with pytest.raises(PlatformRejected) as err:
        client.submit({"a": 1}, "key-1")
    assert err.value.status_code == 404
    with pytest.raises(PlatformRejected):          # redirects are not followed (a POST would become a GET)
        client.submit({"a": 1}, "key-1")
    with pytest.raises(PlatformUnavailable):
        client.submit({"a": 1}, "key-1")
    ack = client.submit({"a": "中文"}, "key-1")
    assert (ack.status_code, ack.external_id) == (201, "WO-000001")
    assert fake.requests[-1].body == {"a": "中文"}
    assert client.submit({"a": 1}, "key-1").status_code == 200     # repeat: same order
    client.close()


def test_background_loop_delivers_what_is_pending(db_url, fake):
    settings = Settings(database_url=db_url, ticket_api_url=unused_url())
    receipt = TicketService(settings, router=Router(resolve_district=lambda t: None)).create(draft(), "k")
    assert receipt.forwarded is False
    with session_scope(db_url) as session:   # make it due now
        session.execute(OutboxMessage.__table__.update().values(next_attempt_at=dt.datetime.now(UTC)))
    stop = threading.Event()
    live = Settings(database_url=db_url, ticket_api_url=fake.url)
    thread = threading.Thread(target=outbox.run_delivery_loop, args=(live, stop), kwargs={"interval": 0.05})
    thread.start()
    try:
        wait_until(lambda: outbox_row(db_url).state == "delivered", what="the background delivery")
    finally:
        stop.set()
        thread.join(5)
    assert outbox_row(db_url).state == "delivered"
    assert not thread.is_alive()


def outbox_threads():
    return [t for t in threading.enumerate() if t.name == "xiaoan-ticket-outbox"]


def test_get_ticket_service_is_cached_and_starts_no_thread(db_url, fake, monkeypatch):
    reset_ticket_service()
    monkeypatch.setenv("XIAOAN_TICKET_API_URL", fake.url)
    monkeypatch.setenv("XIAOAN_OUTBOX_MODE", "thread")
    try:
        first = get_ticket_service()
        assert get_ticket_service() is first
        assert first.forwarding
        assert outbox_threads() == []          # the process's start-up starts it, not a service
    finally:
        reset_ticket_service()


def test_thread_mode_the_start_up_runs_one_delivery_thread(db_url, fake):
    from xiaoan import workers

    settings = Settings(database_url=db_url, ticket_api_url=fake.url, outbox_mode="thread")
    started = workers.start(settings)
    try:
        assert len(outbox_threads()) == 1 and outbox_threads()[0].daemon
        workers.start(settings)             # a second start-up in the process: still one thread
        assert len(outbox_threads()) == 1
        assert worker_deliverer(settings) is None   # the worker process leaves delivery to it
    finally:
        started.stop()
    assert outbox_threads() == []


def test_worker_mode_no_process_but_the_worker_delivers(db_url, fake):
    from xiaoan import workers

    settings = Settings(database_url=db_url, ticket_api_url=fake.url)
    assert settings.outbox_mode == "worker"
    started = workers.start(settings)
    assert started.outbox_thread is None and outbox_threads() == []
    assert worker_deliverer(settings) is not None


def test_an_unknown_outbox_mode_is_refused_with_its_name(db_url, fake):
    from xiaoan import workers

    with pytest.raises(ValueError, match="XIAOAN_OUTBOX_MODE"):
        workers.start(Settings(database_url=db_url, ticket_api_url=fake.url, outbox_mode="both"))
    assert outbox_threads() == []


def worker_deliverer(settings):
    return outbox.OutboxWorker(settings, retention=None).deliverer


def test_without_the_url_no_thread_and_no_outbox(db_url, monkeypatch):
    reset_ticket_service()
    monkeypatch.delenv("XIAOAN_TICKET_API_URL", raising=False)
    try:
        service = get_ticket_service()
        assert not service.forwarding
        assert outbox_threads() == []
    finally:
        reset_ticket_service()


def test_delivery_logs_are_masked(db_url, fake, clock, caplog):
    caplog.set_level(logging.DEBUG)
    fake.fail_next(("status", 500, {}, {"error": f"{NAME} {PHONE} rejected"}))
    service = make_service(db_url, fake.url, clock)
    receipt = service.create(draft(), "k")
    stored = outbox_row(db_url).last_error
    assert "张** 138****5678 rejected" in stored and NAME not in stored and PHONE not in stored
    clock.advance(10)
    service.deliverer.deliver_pending()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert receipt.ticket_no in text and "张** 138****5678" in text
    assert PHONE not in text and NAME not in text
