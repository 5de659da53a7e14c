"""One definition per concept (issue 14, item 1): channel, ticket number, phone, labels, Shanghai time.

Each test pins the single definition and checks that its callers go through it: a caller that
kept a private copy would not follow a change of the definition (the labels file is swapped, the
channel rule is exercised through every action that stores a channel).
"""

from __future__ import annotations

import ast
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import create_engine, select, text

from xiaoan import labels
from xiaoan.channels.names import channel_name
from xiaoan.config import Settings
from xiaoan.db import alembic_config, dispose_engines, session_scope
from xiaoan.handoff.models import REASONS
from xiaoan.localtime import (
    SHANGHAI,
    format_clock,
    format_minutes,
    format_seconds,
    iso_seconds,
    month_day,
    shanghai_date,
)
from xiaoan.ratings import ServiceRating
from xiaoan.tickets import numbering, validators
from xiaoan.tickets.routing import Router
from xiaoan.tickets.service import TicketDraft, TicketService, TicketValidationError

ROOT = Path(__file__).resolve().parents[2]
UTC = dt.timezone.utc


def tracker(sender: str, input_channel: str | None, text: str = "满意", intent: str = "rate_service",
            ranking: list[dict] | None = None) -> Tracker:
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "intent_ranking": ranking or [],
              "entities": []}
    events = [{"event": "action", "name": "action_listen"},
              {"event": "user", "text": text, "parse_data": latest, "input_channel": input_channel}]
    return Tracker(sender, {}, latest, events, False, None, {}, "action_listen")


# ------------------------------------------------------------------------------------ channel

CHANNELS = [
    # (Rasa input channel, conversation id, the project's channel)
    ("rest", "web-3f2a", "web"),        # the chat page over REST
    ("socketio", "abc", "web"),         # the chat page over socket.io
    ("socketio", "web-1", "web"),
    ("SocketIO ", "abc", "web"),
    ("rest", "e2e-1", "rest"),          # scripts and tests
    ("rest", "", "rest"),
    ("wechat", "oWx123", "wechat"),
    ("WeChat", "oWx123", "wechat"),
    ("xiaoan.channels.wechat.WeChatInput", "oWx123", "wechat"),
    ("web", "x", "web"),
    ("cmdline", "x", "cmdline"),
    (None, "x", "unknown"),
    ("", "web-1", "unknown"),
]


@pytest.mark.parametrize("input_channel, conversation_id, expected", CHANNELS)
def test_channel_of_every_input_channel(input_channel, conversation_id, expected):
    assert channel_name(input_channel, conversation_id) == expected


@pytest.mark.parametrize("input_channel, conversation_id, expected", CHANNELS)
def test_tickets_use_the_channel_rule(input_channel, conversation_id, expected):
    from actions.common import ticket_channel

    assert ticket_channel(tracker(conversation_id, input_channel)) == expected


@pytest.mark.parametrize("input_channel, conversation_id, expected",
                         [("socketio", "abc", "web"), ("rest", "web-9", "web"), ("rest", "t-1", "rest"),
                          ("wechat", "oWx1", "wechat")])
def test_ratings_store_the_same_channel_as_tickets(db_url, input_channel, conversation_id, expected):
    from actions.conversation import ActionRecordRating

    dispatcher = CollectingDispatcher()
    ActionRecordRating().run(dispatcher, tracker(conversation_id, input_channel, "很满意"), {})
    assert dispatcher.messages[0]["response"] == "utter_rating_thanks"
    with session_scope(db_url) as s:
        assert s.execute(select(ServiceRating.channel)).scalars().all() == [expected]


def test_no_module_answers_the_channel_question_itself():
    """Only xiaoan/channels/names.py tells web conversations by their id."""
    offenders = [str(p.relative_to(ROOT)) for p in list((ROOT / "xiaoan").rglob("*.py")) + list((ROOT / "actions").rglob("*.py"))
                 if 'startswith("web-")' in p.read_text(encoding="utf-8")
                 or '{"socketio", "web"}' in p.read_text(encoding="utf-8")]
    assert offenders == []
    source = (ROOT / "xiaoan" / "channels" / "names.py").read_text(encoding="utf-8")
    assert "startswith(WEB_CONVERSATION_PREFIX)" in source


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request, tmp_path) -> str:
    """An empty database (no tables) on SQLite, and on PostgreSQL (marker `postgres`)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'm.db'}"
    return request.getfixturevalue("postgres_url")


def test_migration_0006_rewrites_stored_rating_channels(empty_url):
    from alembic import command

    url = empty_url
    command.upgrade(alembic_config(url), "0005_crash")
    engine = create_engine(url, future=True)
    rows = [("web-1", "rest"), ("t-2", "rest"), ("c-3", "socketio"), ("oWx", "wechat"), ("n-4", None)]
    with engine.begin() as conn:
        for conversation_id, channel in rows:
            conn.execute(text("INSERT INTO service_ratings (conversation_id, channel, level, created_at) "
                              "VALUES (:c, :ch, 'satisfied', '2026-11-26 02:00:00')"),
                         {"c": conversation_id, "ch": channel})
    command.upgrade(alembic_config(url), "head")
    with engine.connect() as conn:
        stored = dict(conn.execute(text("SELECT conversation_id, channel FROM service_ratings")).all())
    engine.dispose()
    dispose_engines()
    assert stored == {"web-1": "web", "t-2": "rest", "c-3": "web", "oWx": "wechat", "n-4": None}


# ------------------------------------------------------------------------------ ticket number

@pytest.mark.parametrize("typed, expected", [
    ("XA-261126-0042", "XA-261126-0042"),
    ("xa2611260042", "XA-261126-0042"),
    ("XA 261126 0042", "XA-261126-0042"),
    ("Xa-261126 - 0042", "XA-261126-0042"),
    ("XA-2611260042", "XA-261126-0042"),
    ("ＸＡ－２６１１２６－００４２", "XA-261126-0042"),
    ("2611260042", "XA-261126-0042"),               # a whole answer without "XA"
    ("261126.0042", "XA-261126-0042"),
    ("工单号是 XA 261126 0042", "XA-261126-0042"),   # inside a sentence "XA" is required
    ("我的工单XA2611260042，尾号5678", "XA-261126-0042"),
    ("工单号是 2611260042", None),
    ("XA-261126-042", None),
    ("XA-261126-00421", None),
    ("13812345678", None),                          # a phone number is not a ticket number
    ("XB-261126-0042", None),
    ("261126", None),
    ("", None),
    (None, None),
])
def test_one_ticket_number_rule(typed, expected):
    assert numbering.normalize_ticket_no(typed) == expected


def test_every_caller_reads_ticket_numbers_with_the_same_function():
    import actions.tickets
    import xiaoan.supervision.console
    import xiaoan.tickets.cli  # noqa: F401 - reads it at call time, checked in its source below
    import xiaoan.tickets.service

    one = numbering.normalize_ticket_no
    assert validators.normalize_ticket_no is one
    assert actions.tickets.normalize_ticket_no is one
    assert xiaoan.supervision.console.normalize_ticket_no is one
    assert xiaoan.tickets.service.normalize_ticket_no is one
    defined = [str(p.relative_to(ROOT)) for p in (ROOT / "xiaoan").rglob("*.py")
               if "def normalize_ticket_no" in p.read_text(encoding="utf-8")]
    assert defined == ["xiaoan/tickets/numbering.py"]


# -------------------------------------------------------------------------------------- phone

def _service(url: str) -> TicketService:
    return TicketService(Settings(database_url=url),
                         clock=lambda: dt.datetime(2026, 11, 25, 17, 0, tzinfo=UTC),
                         router=Router(resolve_district=lambda text: "pudong" if "浦东" in text else None))


def _draft(phone: str, conversation_id: str = "conv-1") -> TicketDraft:
    return TicketDraft(kind="complaint", intent="complain_prepaid", channel="web", conversation_id=conversation_id,
                       complainant_name="张三丰", phone=phone, complainant_address="上海市徐汇区漕溪北路1号",
                       respondent_name="某某健身房", respondent_address="上海市浦东新区张杨路100号",
                       district="pudong", facts="健身房关门跑路，卡里还有两千元", claim="退还余额",
                       amount=Decimal("2000"))


@pytest.mark.parametrize("phone", ["1234567", "123456789012345", "010-12345678", "4008123123", "12812345678"])
def test_tickets_refuse_what_the_forms_refuse(db_url, phone):
    assert validators.normalize_phone(phone) is None
    with pytest.raises(TicketValidationError) as info:
        _service(db_url).create(_draft(phone), f"key-{phone}")
    assert info.value.field == "phone"


@pytest.mark.parametrize("typed, stored", [
    ("+86 138-1234-5678", "13812345678"),
    ("６１２３４５６７", "02161234567"),
    ("021-6123 4567", "02161234567"),
])
def test_tickets_store_the_phone_as_the_forms_do_and_find_it_by_hash(db_url, typed, stored):
    service = _service(db_url)
    receipt = service.create(_draft(typed), "key-1")
    assert validators.normalize_phone(typed) == stored
    assert service.show(receipt.ticket_no)["phone_masked"].endswith(stored[-4:])
    assert service.tickets_for_phone(stored) == [receipt.ticket_no]
    assert service.tickets_for_phone(typed) == [receipt.ticket_no]


# ------------------------------------------------------------------------------------- labels

def _domain_intents() -> set[str]:
    items = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["intents"]
    return {item if isinstance(item, str) else next(iter(item)) for item in items}


def test_the_labels_file_covers_every_intent_reason_and_channel():
    data = labels.load_labels()
    intents = _domain_intents()
    assert len(intents) >= 19
    assert intents | {"nlu_fallback"} == set(data.intents)
    assert set(REASONS) == set(data.handoff_reasons)
    assert {"web", "wechat"} == set(data.channels)
    assert set(data.buttons) <= intents and "request_human" in data.buttons
    assert all(text.strip() for text in [*data.intents.values(), *data.buttons.values(),
                                         *data.handoff_reasons.values(), *data.channels.values()])


def test_every_page_and_the_assistant_take_their_labels_from_the_one_file(tmp_path, monkeypatch):
    from actions.conversation import ActionFallbackClarify
    from xiaoan.handoff import presenters
    from xiaoan.supervision import stats

    changed = yaml.safe_load(labels.LABELS_PATH.read_text(encoding="utf-8"))
    changed["intents"]["complain_prepaid"] = {"label": "甲", "button": "乙"}
    changed["handoff_reasons"]["urgent"] = "丙"
    changed["channels"]["wechat"] = "丁"
    path = tmp_path / "labels.yml"
    path.write_text(yaml.safe_dump(changed, allow_unicode=True), encoding="utf-8")
    monkeypatch.setattr(labels, "LABELS_PATH", path)

    assert presenters.intent_label("complain_prepaid") == "甲（complain_prepaid）"
    assert stats.intent_label("complain_prepaid") == "甲"
    assert labels.handoff_reason("urgent") == "丙" and labels.channel("wechat") == "丁"
    dispatcher = CollectingDispatcher()
    ranking = [{"name": "complain_prepaid", "confidence": 0.4}, {"name": "greet", "confidence": 0.3}]
    ActionFallbackClarify().run(dispatcher, tracker("c", "rest", "卡", "nlu_fallback", ranking), {})
    assert [b["title"] for b in dispatcher.messages[0]["buttons"]] == ["乙", "都不是"]


def test_labels_used_by_staff_and_citizens():
    assert labels.intent("complain_prepaid") == "预付卡纠纷"
    assert labels.intent("no_such_intent") is None
    assert labels.handoff_reason("requested") == "市民要求转人工"
    assert labels.handoff_reason("new_reason") == "new_reason"
    assert labels.channel("web") == "网页" and labels.channel("rest") == "rest"
    assert labels.clarify_buttons()["check_ticket_status"] == "查询工单进度"


def test_a_broken_labels_file_is_named_in_the_error(tmp_path, monkeypatch):
    path = tmp_path / "labels.yml"
    rest = ("handoff_reasons: {}\nchannels: {}\nslots: {ticket: {}, other: {}}\nsession_statuses: {}\nforms: {}\n"
            "ticket_kinds: {}\ndue_flags: {}\nmessages: {}\n")
    path.write_text("intents:\n  greet: {label: ''}\n" + rest, encoding="utf-8")
    with pytest.raises(labels.LabelsError, match="intents.greet.label"):
        labels.load_labels(path)
    path.write_text("intents: []\n", encoding="utf-8")
    with pytest.raises(labels.LabelsError, match=str(path)):
        labels.load_labels(path)


def test_no_module_keeps_its_own_label_table():
    """The label dictionaries the issue found in three modules are gone."""
    names = {"INTENT_LABELS", "REASON_LABELS", "HANDOFF_REASON_LABELS", "CHANNEL_LABELS", "CLARIFY_LABELS",
             "SLOT_LABELS", "TICKET_SLOT_LABELS", "OTHER_SLOT_LABELS", "STATUS_LABELS", "FORM_LABELS",
             "KIND_LABELS", "_KIND_LABELS", "FLAG_LABELS", "_FLAG_LABELS"}
    offenders = []
    for path in list((ROOT / "xiaoan").rglob("*.py")) + list((ROOT / "actions").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                offenders += [f"{path.relative_to(ROOT)}:{t.id}" for t in targets
                              if isinstance(t, ast.Name) and t.id in names]
    assert offenders == []


# ------------------------------------------------------------------------------ Shanghai time

MOMENT = dt.datetime(2026, 11, 26, 17, 3, 9, tzinfo=UTC)   # 2026-11-27 01:03:09 in Shanghai


def test_shanghai_formats():
    assert format_minutes(MOMENT) == "2026-11-27 01:03"
    assert format_seconds(MOMENT) == "2026-11-27 01:03:09"
    assert iso_seconds(MOMENT) == "2026-11-27T01:03:09+08:00"
    assert shanghai_date(MOMENT) == dt.date(2026, 11, 27)
    assert month_day(MOMENT) == "11月27日" and month_day(dt.date(2027, 1, 5)) == "1月5日"
    assert format_clock(MOMENT, now=dt.datetime(2026, 11, 26, 23, 0, tzinfo=UTC)) == "01:03"
    assert format_clock(MOMENT, now=dt.datetime(2026, 11, 27, 23, 0, tzinfo=UTC)) == "11-27 01:03"
    assert format_minutes(dt.datetime(2026, 11, 26, 17, 3)) == "2026-11-27 01:03"   # naive = UTC
    assert format_minutes(None) == format_seconds(None) == format_clock(None) == ""
    assert iso_seconds(None) is None
    with pytest.raises(ValueError):
        shanghai_date(dt.datetime(2026, 11, 26, 17, 3))


def test_callers_format_shanghai_time_the_same_way():
    from actions.common import zh_date
    from xiaoan.handoff import presenters
    from xiaoan.supervision import console, stats
    from xiaoan.tickets.views import iso_datetime

    domain = {"responses": {"utter_label_date": [{"text": "{month}月{day}日"}]}}
    assert zh_date(domain, MOMENT) == month_day(MOMENT) == "11月27日"
    assert zh_date({}, MOMENT) == "11月27日"
    assert iso_datetime(MOMENT) == stats.to_json(MOMENT) == iso_seconds(MOMENT)
    assert console._time(MOMENT) == format_minutes(MOMENT)
    assert presenters.local_time(MOMENT) == format_clock(MOMENT)


def test_the_time_zone_is_defined_once():
    import xiaoan.db
    import xiaoan.tickets.due

    assert xiaoan.db.SHANGHAI is SHANGHAI and xiaoan.tickets.due.shanghai_date is shanghai_date
    offenders = [str(p.relative_to(ROOT)) for p in list((ROOT / "xiaoan").rglob("*.py")) + list((ROOT / "actions").rglob("*.py"))
                 if any(s in p.read_text(encoding="utf-8") for s in ("hours=8", 'ZoneInfo("Asia/Shanghai")'))]
    assert offenders == ["xiaoan/localtime.py"]
