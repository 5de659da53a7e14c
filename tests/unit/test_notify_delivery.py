"""The notification worker (`xiaoan.notify.delivery`) against the fake WeChat API and the fake SMS
gateway: the 48-hour window, subscribe messages within WeChat's field limits, SMS fall-back,
retries with backoff, masked logs."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from sqlalchemy import select

from tests.fakes.sms_gateway import TOKEN as SMS_TOKEN
from tests.fakes.sms_gateway import FakeSmsGateway
from tests.fakes.wechat_server import APPID, SECRET, FakeWeChatServer
from tests.notify_support import OPENID, PHONE, make_ticket, settings
from xiaoan.channels import wechat_store
from xiaoan.channels.wechat_api import WeChatApiClient, subscribe_value
from xiaoan.db import session_scope
from xiaoan.notify.delivery import MAX_ATTEMPTS, NotificationDeliverer
from xiaoan.notify.models import TicketNotification
from xiaoan.notify.sms import SmsGateway, SmsRejected
from xiaoan.tickets.updates import apply_status_update

TEMPLATE = "tmpl-status-0001"


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1)  # after the queued rows

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture()
def wechat():
    with FakeWeChatServer() as server:
        yield server


@pytest.fixture()
def sms():
    with FakeSmsGateway() as gateway:
        yield gateway


def deliverer(db_url, wechat, sms, clock=None, **extra):
    s = settings(db_url, wechat_appid=APPID, wechat_secret=SECRET, wechat_api_url=wechat.url, sms_url=sms.url,
                 sms_token=SMS_TOKEN, **extra)
    client = WeChatApiClient(wechat.url, APPID, SECRET, database_url=db_url, attempts=1, backoff=0)
    return s, NotificationDeliverer(s, clock=clock or Clock(), wechat=client)


def rows(db_url) -> list[dict]:
    with session_scope(db_url) as session:
        return [{"channel": n.channel, "kind": n.kind, "state": n.state, "via": n.via, "attempts": n.attempts,
                 "error": n.last_error, "next": n.next_attempt_at}
                for n in session.execute(select(TicketNotification).order_by(TicketNotification.id)).scalars()]


def test_inside_the_48_hour_window_a_customer_service_message_goes_out(db_url, wechat, sms):
    s, worker = deliverer(db_url, wechat, sms)
    number = make_ticket(db_url, channel="wechat", conversation_id=OPENID)
    wechat_store.record_citizen_message(db_url, OPENID)
    apply_status_update(number, "accepted", source="platform", event_id="e1", settings=s)
    counts = worker.deliver_pending()
    assert len(counts.sent) == 1
    [message] = wechat.messages
    assert message.touser == OPENID and number in message.content and "浦东新区市场监督管理局" in message.content
    assert rows(db_url)[0]["state"] == "delivered" and rows(db_url)[0]["via"] == "cs"
    assert wechat_store.cs_sent_count(db_url, OPENID) == 1  # counted against WeChat's budget of 5
    assert sms.messages == []  # a WeChat citizen gets no SMS while WeChat works
    assert worker.deliver_pending().attempted == 0  # sent once


def test_outside_the_window_a_subscribe_message_within_the_field_limits(db_url, wechat, sms):
    s, worker = deliverer(db_url, wechat, sms, wechat_status_template_id=TEMPLATE)
    number = make_ticket(db_url, channel="wechat", conversation_id=OPENID)
    apply_status_update(number, "closed", source="platform", event_id="c1", settings=s)  # status + survey
    assert len(worker.deliver_pending().sent) == 2
    assert wechat.messages == []
    status, survey = wechat.subscribe_messages
    assert status["template_id"] == TEMPLATE and status["touser"] == OPENID
    assert status["data"]["character_string1"] == number and status["data"]["phrase2"] == "已办结"
    assert survey["data"]["thing3"] == "回复1满意2基本满意3不满意"
    assert all(len(m["data"]["thing3"]) <= 20 for m in (status, survey))
    assert [r["via"] for r in rows(db_url)] == ["subscribe", "subscribe"]


def test_budget_used_up_also_goes_to_the_subscribe_message(db_url, wechat, sms):
    s, worker = deliverer(db_url, wechat, sms, wechat_status_template_id=TEMPLATE)
    number = make_ticket(db_url, channel="wechat", conversation_id=OPENID)
    wechat_store.record_citizen_message(db_url, OPENID)
    for _ in range(wechat_store.CS_MESSAGE_LIMIT):
        assert wechat_store.reserve_cs_slot(db_url, OPENID) is None
    apply_status_update(number, "accepted", source="platform", event_id="e1", settings=s)
    worker.deliver_pending()
    assert wechat.messages == [] and len(wechat.subscribe_messages) == 1


def test_45015_falls_through_to_the_subscribe_message(db_url, wechat, sms):
    s, worker = deliverer(db_url, wechat, sms, wechat_status_template_id=TEMPLATE)
    number = make_ticket(db_url, channel="wechat", conversation_id=OPENID)
    wechat_store.record_citizen_message(db_url, OPENID)
    wechat.reject_openid(OPENID, 45015)
    apply_status_update(number, "accepted", source="platform", event_id="e1", settings=s)
    worker.deliver_pending()
    assert len(wechat.subscribe_messages) == 1
    assert wechat_store.cs_sent_count(db_url, OPENID) == 0  # the refused message gave its slot back


@pytest.mark.parametrize("refuse", [True, False], ids=["43101", "no-template"])
def test_when_wechat_cannot_deliver_an_sms_is_sent_instead(db_url, wechat, sms, refuse, caplog):
    extra = {"wechat_status_template_id": TEMPLATE} if refuse else {}
    s, worker = deliverer(db_url, wechat, sms, **extra)
    number = make_ticket(db_url, channel="wechat", conversation_id=OPENID)
    if refuse:
        wechat.refuse_subscribe(OPENID)
    apply_status_update(number, "mediated", source="platform", event_id="m1", settings=s)
    caplog.set_level(logging.INFO, logger="xiaoan")
    first = worker.deliver_pending()
    assert len(first.failed) == 1
    second = worker.deliver_pending()  # the SMS queued by the failure
    assert len(second.sent) == 1
    [text] = sms.messages
    assert text.to == PHONE and number in text.text and "调解" in text.text
    assert [(r["channel"], r["state"]) for r in rows(db_url)] == [("wechat", "failed"), ("sms", "delivered")]
    assert PHONE not in caplog.text and OPENID not in caplog.text and "138****5678" in caplog.text


def test_sms_retries_with_backoff_and_the_same_idempotency_key(db_url, wechat, sms):
    clock = Clock()
    s, worker = deliverer(db_url, wechat, sms, clock=clock)
    number = make_ticket(db_url)
    apply_status_update(number, "accepted", source="platform", event_id="e1", settings=s)
    sms.fail_next(503, 429)
    assert len(worker.deliver_pending().retrying) == 1
    row = [r for r in rows(db_url) if r["channel"] == "sms"][0]
    assert row["attempts"] == 1 and row["next"] > clock.now and "503" in row["error"]
    assert worker.deliver_pending().attempted == 0  # not due yet
    clock.now += dt.timedelta(hours=2)
    assert len(worker.deliver_pending().retrying) == 1
    clock.now += dt.timedelta(hours=2)
    assert len(worker.deliver_pending().sent) == 1
    [message] = sms.messages
    assert message.key.startswith("xiaoan-notice-") and sms.requests == 3
    # the web notice is not the worker's: it waits for the chat page
    assert [(r["channel"], r["state"]) for r in rows(db_url)] == [("web", "pending"), ("sms", "delivered")]


def test_a_rejected_sms_fails_at_once_and_a_flaky_one_gives_up_after_max_attempts(db_url, wechat, sms):
    clock = Clock()
    s, worker = deliverer(db_url, wechat, sms, clock=clock)
    number = make_ticket(db_url)
    apply_status_update(number, "accepted", source="platform", event_id="e1", settings=s)
    sms.fail_next(400)
    assert len(worker.deliver_pending().failed) == 1
    other = make_ticket(db_url, conversation_id="web-" + "d" * 32)
    apply_status_update(other, "accepted", source="platform", event_id="e2", settings=s)
    sms.fail_next(*([500] * MAX_ATTEMPTS))
    for _ in range(MAX_ATTEMPTS):
        worker.deliver_pending()
        clock.now += dt.timedelta(hours=2)
    states = [r["state"] for r in rows(db_url) if r["channel"] == "sms"]
    assert states == ["failed", "failed"] and sms.messages == []


def test_the_sms_client_masks_the_phone_and_refuses_overlong_texts(sms):
    gateway = SmsGateway(sms.url, "wrong-token")
    with pytest.raises(SmsRejected) as exc:
        gateway.send(PHONE, "您好", "k1")
    assert "138****5678" in str(exc.value) and PHONE not in str(exc.value)
    with pytest.raises(SmsRejected):
        SmsGateway(sms.url, SMS_TOKEN).send(PHONE, "长" * 300, "k2")


def test_subscribe_values_are_cut_to_the_field_limits():
    assert subscribe_value("thing3", "一" * 25) == "一" * 19 + "…"
    assert subscribe_value("phrase2", "已转交承办单位") == "已转交承…"
    assert subscribe_value("character_string1", "XA-261126-0001") == "XA-261126-0001"


def test_two_workers_never_send_the_same_notice_twice(db_url, wechat, sms):
    s, first = deliverer(db_url, wechat, sms)
    _, second = deliverer(db_url, wechat, sms)
    number = make_ticket(db_url)
    apply_status_update(number, "accepted", source="platform", event_id="e1", settings=s)
    with session_scope(db_url) as session:
        notice_id = session.execute(select(TicketNotification.id).where(TicketNotification.channel == "sms")).scalar_one()
    assert first._claim(notice_id, first.clock())
    assert second.deliver(notice_id) is None  # leased by the first
    assert sms.messages == []


def test_notify_cli_lists_the_queue_masked_and_sends_once(db_url, wechat, sms, monkeypatch):
    import json

    from click.testing import CliRunner

    from xiaoan.cli import cli

    monkeypatch.setenv("XIAOAN_SMS_URL", sms.url)
    monkeypatch.setenv("XIAOAN_SMS_TOKEN", SMS_TOKEN)
    number = make_ticket(db_url)
    apply_status_update(number, "accepted", source="platform", event_id="e1",
                        settings=settings(db_url, sms_url=sms.url))
    runner = CliRunner()
    listed = runner.invoke(cli, ["notify", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    data = json.loads(listed.output)
    assert [(r["channel"], r["state"]) for r in data] == [("web", "pending"), ("sms", "pending")]
    assert data[1]["recipient"] == "138****5678" and PHONE not in listed.output
    sent = runner.invoke(cli, ["notify", "run", "--once"])
    assert sent.exit_code == 0 and "1 sent" in sent.output, sent.output
    assert [m.to for m in sms.messages] == [PHONE]
    assert "通知队列" not in runner.invoke(cli, ["notify", "list"]).output  # the web notice still waits


def test_the_outbox_worker_sends_the_notices_on_each_pass(db_url, wechat, sms):
    from xiaoan.tickets.outbox import OutboxWorker

    s, notifier = deliverer(db_url, wechat, sms)
    number = make_ticket(db_url)
    apply_status_update(number, "accepted", source="platform", event_id="e1", settings=s)
    OutboxWorker(s, retention=None, notifier=notifier).run_pass()
    assert [m.to for m in sms.messages] == [PHONE]
    assert isinstance(OutboxWorker(s, retention=None).notifier, NotificationDeliverer)  # on by default
