"""The handoff queue: ordering, estimates, atomic take, replies, hand-back, close, idle return,
callbacks — against a real local fake of Rasa's HTTP API (tests.fakes.rasa_server.FakeRasa)."""

from __future__ import annotations

import datetime as dt
import threading
from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine, select

from tests.fakes.clock import Clock
from xiaoan.config import Settings
from xiaoan.db import Base, session_scope
from xiaoan.channels.names import channel_name
from xiaoan.handoff.models import AgentMessage, HandoffSession
from xiaoan.handoff.service import (
    DEFAULT_IDLE_MINUTES,
    AlreadyTaken,
    DeliveryFailed,
    HandoffError,
    HandoffService,
    InvalidInput,
    NotHolder,
    SessionEnded,
    WeChatNotifier,
    idle_minutes_from,
    load_messages,
)
from xiaoan.rasa_client import RasaClient
from xiaoan.web.accounts import create_user
from tests.fakes.rasa_server import FakeRasa

TOKEN = "handoff-test-token"
T0 = dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.timezone.utc)
MESSAGES = load_messages()


@pytest.fixture()
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture()
def rasa():
    with FakeRasa(token=TOKEN) as fake:
        yield fake


def make_service(url: str, rasa: FakeRasa, clock: Clock, **kwargs) -> HandoffService:
    settings = Settings(database_url=url, rasa_url=rasa.url)
    return HandoffService(settings, rasa=RasaClient(settings, token=TOKEN), clock=clock, **kwargs)


@pytest.fixture()
def service(db_url, rasa, clock) -> HandoffService:
    return make_service(db_url, rasa, clock)


def add_agent(username: str, display_name: str, url: str | None = None, role: str = "agent") -> int:
    with session_scope(url) as db:
        return create_user(db, username, "agent-password-1", role, display_name).id


def posted(rasa: FakeRasa, conversation_id: str) -> list[list[dict]]:
    """The event lists POSTed to a conversation's /tracker/events, in order."""
    path = f"/conversations/{conversation_id}/tracker/events"
    return [c["json"] for c in rasa.calls if c["method"] == "POST" and c["path"] == path]


def active_session(service: HandoffService, clock: Clock, conv: str = "web-1", agent: str = "wangfang"):
    agent_id = add_agent(agent, "王芳")
    queued = service.enqueue(conv, "web", "requested", input_channel="rest", intent="complain_refund",
                             slots={"complainant_name": "张三", "phone": "13812345678"})
    service.take(queued.session_id, agent_id, "王芳")
    return queued.session_id, agent_id


# --- queue ----------------------------------------------------------------------------------------

def test_queue_serves_urgent_first_then_the_longest_waiting(service, clock):
    a = service.enqueue("web-a", "web", "requested")
    clock.advance(minutes=1)
    b = service.enqueue("wx-b", "wechat", "angry", input_channel="wechat")
    clock.advance(minutes=1)
    c = service.enqueue("web-c", "web", "urgent")
    clock.advance(minutes=1)
    d = service.enqueue("web-d", "web", "urgent")
    assert [v.conversation_id for v in service.queue()] == ["web-c", "web-d", "web-a", "wx-b"]
    assert [service.position(q.session_id).position for q in (a, b, c, d)] == [3, 4, 1, 2]
    assert (a.position, b.position, c.position, d.position) == (1, 2, 1, 2)  # at the time they joined
    assert service.estimate("requested").position == 5
    assert service.estimate("urgent").position == 3


def test_enqueue_is_idempotent_while_open(service, clock):
    first = service.enqueue("web-1", "web", "requested", slots={"amount": __import__("decimal").Decimal("2000")})
    again = service.enqueue("web-1", "web", "angry")
    assert (again.session_id, again.created, first.created) == (first.session_id, False, True)
    view = service.get(first.session_id)
    assert (view.reason, view.slots) == ("requested", {"amount": "2000"})  # JSON-safe snapshot
    with session_scope(service.settings.database_url) as db:
        assert db.execute(select(HandoffSession)).scalars().all().__len__() == 1


def test_enqueue_rejects_unknown_reasons(service):
    with pytest.raises(InvalidInput):
        service.enqueue("web-1", "web", "bored")


def test_estimate_without_agents_offers_a_callback(service):
    estimate = service.estimate("requested")
    assert (estimate.position, estimate.wait_minutes, estimate.agents_online) == (1, None, 0)
    assert estimate.should_offer_callback


def test_estimate_counts_free_agents_and_fresh_heartbeats_only(service, clock):
    one, two, gone = add_agent("a1", "坐席一"), add_agent("a2", "坐席二"), add_agent("a3", "坐席三")
    service.heartbeat(gone, "坐席三")
    clock.advance(minutes=3)                      # a3's heartbeat is now stale
    service.heartbeat(one, "坐席一")
    service.heartbeat(two, "坐席二")
    assert service.agents_online() == 2
    estimate = service.estimate("requested")
    assert (estimate.position, estimate.wait_minutes) == (1, 1)  # a free agent takes it at once
    assert not estimate.should_offer_callback

    held = service.enqueue("web-held", "web", "requested")
    service.take(held.session_id, one, "坐席一")     # a1 busy, a2 free
    for i in range(4):
        service.enqueue(f"web-{i}", "web", "requested")
    # positions 1 (free agent) .. 4; the 5th waits (5 - 1 free) * 6 min default / 2 agents = 12 min
    estimate = service.estimate("requested")
    assert (estimate.position, estimate.wait_minutes, estimate.agents_online) == (5, 12, 2)
    assert estimate.should_offer_callback  # more than 10 minutes


def test_estimate_learns_the_handling_time(service, clock):
    agent = add_agent("a1", "坐席一")
    for i in range(3):                            # three conversations of 2 minutes each
        q = service.enqueue(f"web-{i}", "web", "requested")
        service.take(q.session_id, agent, "坐席一")
        clock.advance(minutes=2)
        service.close(q.session_id, agent, "坐席一")
    service.heartbeat(agent, "坐席一")
    blocker = service.enqueue("web-busy", "web", "requested")
    service.take(blocker.session_id, agent, "坐席一")
    for i in range(3):
        service.enqueue(f"web-w{i}", "web", "requested")
    assert service.estimate("requested").wait_minutes == 8   # 4th in line * 2 min / 1 agent


# --- take -----------------------------------------------------------------------------------------

def test_take_pauses_and_tells_the_citizen(service, rasa):
    agent = add_agent("wangfang", "王芳")
    queued = service.enqueue("web-1", "web", "requested", input_channel="rest")
    view = service.take(queued.session_id, agent, "王芳")
    assert (view.status, view.agent_id, view.agent_name) == ("active", agent, "王芳")
    assert posted(rasa, "web-1") == [[
        {"event": "pause"},
        {"event": "bot", "text": MESSAGES["taken"].format(agent="王芳"), "metadata": {"agent": "王芳"}},
    ]]
    assert service.queue() == []
    with pytest.raises(AlreadyTaken, match="王芳"):
        service.take(queued.session_id, add_agent("lisi", "李四"), "李四")


def test_take_still_holds_when_rasa_is_down(service, rasa):
    agent = add_agent("wangfang", "王芳")
    queued = service.enqueue("web-1", "web", "requested")
    rasa.fail_status = 503
    assert service.take(queued.session_id, agent, "王芳").status == "active"


def _race(service: HandoffService, session_id: int, agents: list[int]) -> list[object]:
    barrier = threading.Barrier(len(agents))
    results: list[object] = [None] * len(agents)

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            results[i] = service.take(session_id, agents[i], f"坐席{i}").agent_id
        except HandoffError as exc:
            results[i] = exc

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(agents))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def _assert_one_winner(service, session_id, agents, results):
    winners = [r for r in results if isinstance(r, int)]
    assert len(winners) == 1, results
    assert all(isinstance(r, AlreadyTaken) for r in results if not isinstance(r, int))
    view = service.get(session_id)
    assert (view.status, view.agent_id) == ("active", winners[0])


def test_two_agents_cannot_take_the_same_conversation_sqlite(service):
    agents = [add_agent(f"agent{i}", f"坐席{i}") for i in range(6)]
    queued = service.enqueue("web-race", "web", "requested")
    _assert_one_winner(service, queued.session_id, agents, _race(service, queued.session_id, agents))


@pytest.mark.postgres
def test_two_agents_cannot_take_the_same_conversation_postgres(postgres_url, rasa, clock):
    engine = create_engine(postgres_url, future=True)
    Base.metadata.create_all(engine)
    engine.dispose()
    service = make_service(postgres_url, rasa, clock)
    agents = [add_agent(f"agent{i}", f"坐席{i}", postgres_url) for i in range(6)]
    for round_ in range(3):
        queued = service.enqueue(f"web-race-{round_}", "web", "requested")
        _assert_one_winner(service, queued.session_id, agents, _race(service, queued.session_id, agents))
    # the partial unique index: one open session per conversation, on PostgreSQL too
    again = service.enqueue("web-race-0", "web", "requested")
    assert not again.created


# --- replies --------------------------------------------------------------------------------------

def test_reply_appends_a_bot_event_with_the_agent_and_is_audited(service, rasa, clock):
    session_id, agent = active_session(service, clock)
    clock.advance(minutes=5)
    message = service.reply(session_id, agent, "王芳", "  您好，请问订单号是多少？ ")
    assert posted(rasa, "web-1")[-1] == [
        {"event": "bot", "text": "您好，请问订单号是多少？", "metadata": {"agent": "王芳"}}]
    assert (message.text, message.delivered, message.agent_name) == ("您好，请问订单号是多少？", True, "王芳")
    assert service.get(session_id).last_agent_activity_at == clock.now
    assert [m.text for m in service.messages_of(session_id)] == ["您好，请问订单号是多少？"]


def test_reply_checks_input_and_holder(service, rasa, clock):
    session_id, agent = active_session(service, clock)
    with pytest.raises(InvalidInput, match="请输入"):
        service.reply(session_id, agent, "王芳", "   ")
    with pytest.raises(InvalidInput, match="1000字以内"):
        service.reply(session_id, agent, "王芳", "字" * 1001)
    other = add_agent("lisi", "李四")
    with pytest.raises(NotHolder):
        service.reply(session_id, other, "李四", "我来回答")
    supervisor_reply = service.reply(session_id, other, "李四", "我是班长", override=True)
    assert supervisor_reply.delivered
    service.hand_back(session_id, agent, "王芳")
    with pytest.raises(SessionEnded):
        service.reply(session_id, agent, "王芳", "还在吗")


def test_reply_when_rasa_is_down_is_recorded_as_undelivered(service, rasa, clock):
    session_id, agent = active_session(service, clock)
    rasa.stop()
    with pytest.raises(DeliveryFailed, match="未能发出"):
        service.reply(session_id, agent, "王芳", "请稍等")
    (audit,) = service.messages_of(session_id)
    assert (audit.text, audit.delivered, audit.error) == ("请稍等", False, "rasa_unavailable")


@pytest.mark.parametrize("channel, input_channel, output_channel", [
    ("wechat", "wechat", "wechat"),
    ("web", "socketio", "socketio"),
    ("web", "rest", None),
])
def test_rasa_delivers_to_the_citizens_channel(service, rasa, channel, input_channel, output_channel):
    """WeChat / socket.io: events appended with output_channel, Rasa's channel sends them."""
    agent = add_agent("wangfang", "王芳")
    queued = service.enqueue("conv-1", channel, "requested", input_channel=input_channel)
    service.take(queued.session_id, agent, "王芳")
    service.reply(queued.session_id, agent, "王芳", "您好")
    service.hand_back(queued.session_id, agent, "王芳")
    calls = [c for c in rasa.calls if c["path"] == "/conversations/conv-1/tracker/events"]
    assert len(calls) == 3
    for call in calls:
        if output_channel:
            assert call["query"] == {"token": TOKEN, "output_channel": output_channel, "execute_side_effects": "true"}
        else:
            assert call["query"] == {"token": TOKEN}


def test_wechat_notifier_sends_through_the_customer_service_api(db_url, rasa, clock):
    sent: list[tuple[str, str]] = []
    settings = Settings(database_url=db_url, rasa_url=rasa.url)
    client = RasaClient(settings, token=TOKEN)
    ok = {"value": True}

    def send_text(openid: str, text: str) -> bool:
        sent.append((openid, text))
        return ok["value"]

    service = HandoffService(settings, rasa=client, clock=clock,
                             notifier_for=lambda view: WeChatNotifier(client, send_text))
    agent = add_agent("wangfang", "王芳")
    queued = service.enqueue("oWx123openid", "wechat", "requested", input_channel="wechat")
    service.take(queued.session_id, agent, "王芳")
    service.reply(queued.session_id, agent, "王芳", "您好")
    assert sent == [("oWx123openid", MESSAGES["taken"].format(agent="王芳")), ("oWx123openid", "您好")]
    assert posted(rasa, "oWx123openid")[-1] == [{"event": "bot", "text": "您好", "metadata": {"agent": "王芳"}}]
    ok["value"] = False                               # WeChat refuses (e.g. the 48-hour window)
    with pytest.raises(DeliveryFailed, match="微信未能送达"):
        service.reply(queued.session_id, agent, "王芳", "还在吗")
    assert service.messages_of(queued.session_id)[-1].error == "channel_undelivered"
    assert posted(rasa, "oWx123openid")[-1][0]["text"] == "还在吗"  # the transcript has it


# --- hand-back, close, idle return ----------------------------------------------------------------

def test_hand_back_posts_resume_message_and_listen(service, rasa, clock):
    session_id, agent = active_session(service, clock)
    clock.advance(minutes=3)
    view = service.hand_back(session_id, agent, "王芳")
    assert posted(rasa, "web-1")[-1] == [
        {"event": "resume"},
        {"event": "bot", "text": MESSAGES["handed_back"], "metadata": {"handoff": "returned"}},
        {"event": "action", "name": "action_listen"},
    ]
    assert (view.status, view.ended_by, view.ended_at) == ("returned", "王芳", clock.now)
    assert service.open_sessions() == []
    with pytest.raises(SessionEnded):
        service.hand_back(session_id, agent, "王芳")


def test_close_also_ends_the_open_form(service, rasa, clock):
    session_id, agent = active_session(service, clock)
    with pytest.raises(NotHolder):
        service.close(session_id, add_agent("lisi", "李四"), "李四")
    assert service.close(session_id, agent, "王芳").status == "closed"
    assert posted(rasa, "web-1")[-1] == [
        {"event": "resume"},
        {"event": "active_loop", "name": None},
        {"event": "slot", "name": "requested_slot", "value": None},
        {"event": "bot", "text": MESSAGES["closed"], "metadata": {"handoff": "closed"}},
        {"event": "action", "name": "action_listen"},
    ]


def test_hand_back_when_rasa_is_down_keeps_the_conversation(service, rasa, clock):
    session_id, agent = active_session(service, clock)
    rasa.fail_status = 502
    with pytest.raises(DeliveryFailed):
        service.hand_back(session_id, agent, "王芳")
    view = service.get(session_id)
    assert (view.status, view.ended_at, view.ended_by) == ("active", None, None)
    rasa.fail_status = None
    assert service.hand_back(session_id, agent, "王芳").status == "returned"


def test_idle_conversations_go_back_after_the_configured_minutes(service, rasa, clock):
    assert service.idle_minutes == DEFAULT_IDLE_MINUTES == 30
    session_id, agent = active_session(service, clock)
    other_id, other_agent = active_session(service, clock, conv="web-2", agent="lisi")
    clock.advance(minutes=20)
    service.reply(other_id, other_agent, "王芳", "我在查")   # activity restarts web-2's clock
    clock.advance(minutes=10, seconds=1)
    assert service.return_idle() == [session_id]
    assert posted(rasa, "web-1")[-1] == [
        {"event": "resume"},
        {"event": "bot", "text": MESSAGES["idle_returned"], "metadata": {"handoff": "returned"}},
        {"event": "action", "name": "action_listen"},
    ]
    view = service.get(session_id)
    assert (view.status, view.ended_by) == ("returned", "idle")
    assert service.get(other_id).status == "active"
    clock.advance(minutes=21)
    rasa.fail_status = 503                              # Rasa down: stays with the agent, retried later
    assert service.return_idle() == []
    assert service.get(other_id).status == "active"
    rasa.fail_status = None
    assert service.return_idle() == [other_id]


def test_idle_minutes_come_from_settings(db_url, rasa, clock):
    assert idle_minutes_from(SimpleNamespace(handoff_idle_minutes=5)) == 5
    assert idle_minutes_from(SimpleNamespace(handoff_idle_minutes="12")) == 12
    assert idle_minutes_from(SimpleNamespace(handoff_idle_minutes=0)) == 30
    assert idle_minutes_from(SimpleNamespace()) == 30
    service = make_service(db_url, rasa, clock, idle_minutes=5)
    session_id, _ = active_session(service, clock)
    clock.advance(minutes=5, seconds=1)
    assert service.return_idle() == [session_id]


def test_waiting_conversations_are_never_returned_for_idleness(service, clock):
    service.enqueue("web-1", "web", "requested")
    clock.advance(hours=3)
    assert service.return_idle() == []


def test_a_ticket_is_remembered_and_the_citizen_told(service, rasa, clock):
    session_id, agent = active_session(service, clock)
    receipt = SimpleNamespace(ticket_no="XA-261126-0042", agency_name="浦东新区市场监督管理局",
                              contact_by=dt.date(2026, 11, 27))
    view = service.record_ticket(session_id, agent, receipt)
    assert view.ticket_no == "XA-261126-0042"
    (event,) = posted(rasa, "web-1")[-1]
    assert event["metadata"] == {"agent": "王芳"}
    assert "XA-261126-0042" in event["text"] and "浦东新区市场监督管理局" in event["text"]
    assert "11月27日" in event["text"]
    service.hand_back(session_id, agent, "王芳")
    assert {"event": "active_loop", "name": None} in posted(rasa, "web-1")[-1]  # the form's work is done


# --- callbacks ------------------------------------------------------------------------------------

def test_callbacks_are_normalized_listed_masked_and_done_once(service, clock):
    first = service.add_callback("web-1", "web", "我的电话是138 1234 5678", "今天下午", reason="requested",
                                 slots={"facts": "退款"})
    clock.advance(minutes=1)
    second = service.add_callback("oWx1", "wechat", "021-6123 4567", "工作日晚上")
    assert (first.phone, first.phone_masked) == ("13812345678", "138****5678")
    assert second.phone == "02161234567"
    assert [c.id for c in service.callbacks()] == [first.id, second.id]
    listing = first.listing_json()
    assert listing["phone_masked"] == "138****5678" and "13812345678" not in str(listing)
    done = service.complete_callback(first.id, "王芳", "已回电，市民已撤诉")
    assert (done.status, done.handled_by, done.note) == ("done", "王芳", "已回电，市民已撤诉")
    with pytest.raises(HandoffError, match="王芳"):
        service.complete_callback(first.id, "李四")
    assert [c.id for c in service.callbacks()] == [second.id]
    assert [c.id for c in service.callbacks(None)] == [second.id, first.id]


@pytest.mark.parametrize("phone, time, field", [
    ("12345", "今天下午", "phone"),
    ("", "今天下午", "phone"),
    ("13812345678", "  ", "preferred_time"),
    ("13812345678", "时" * 101, "preferred_time"),
])
def test_bad_callback_requests_are_refused_with_a_reason(service, phone, time, field):
    with pytest.raises(InvalidInput) as info:
        service.add_callback("web-1", "web", phone, time)
    assert info.value.field == field
    assert service.callbacks(None) == []


# --- helpers --------------------------------------------------------------------------------------

@pytest.mark.parametrize("input_channel, conversation_id, expected", [
    ("rest", "web-3f2a", "web"),
    ("socketio", "web-3f2a", "web"),
    ("wechat", "oWx123", "wechat"),
    ("rest", "tester", "rest"),
    (None, "x", "unknown"),
])
def test_channel_names(input_channel, conversation_id, expected):
    assert channel_name(input_channel, conversation_id) == expected


def test_agent_messages_survive_in_the_audit_table(service, clock):
    session_id, agent = active_session(service, clock)
    service.reply(session_id, agent, "王芳", "第一条")
    service.reply(session_id, agent, "王芳", "第二条")
    with session_scope(service.settings.database_url) as db:
        rows = db.execute(select(AgentMessage.text, AgentMessage.conversation_id)
                          .order_by(AgentMessage.id)).all()
    assert rows == [("第一条", "web-1"), ("第二条", "web-1")]


def test_the_action_server_can_queue_without_the_web_app_loaded(tmp_path):
    """The action server never imports the web app; the staff_users table the handoff tables
    reference must still be known, or the first handoff fails at flush."""
    import subprocess
    import sys

    from xiaoan.db import upgrade

    url = f"sqlite:///{tmp_path / 'actions-only.db'}"
    upgrade(url)
    code = (
        "import sys\n"
        "from xiaoan.config import Settings\n"
        "from xiaoan.handoff.service import HandoffService\n"
        "assert 'xiaoan.web.app' not in sys.modules\n"
        f"service = HandoffService(Settings(database_url={url!r}))\n"
        "queued = service.enqueue('web-isolated', 'web', 'requested', input_channel='rest', intent='request_human',"
        " active_form=None, slots={})\n"
        "print(queued.position)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "1"
