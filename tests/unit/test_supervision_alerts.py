"""Merchant early warning (xiaoan.supervision.alerts): name normalization, each rule firing and
not firing at its boundary with a fixed clock, severity, totals, rules-file validation."""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from decimal import Decimal

import pytest
import yaml

from xiaoan.config import Settings
from xiaoan.db import session_scope
from xiaoan.supervision import alerts as alerts_module
from xiaoan.supervision.alerts import (
    AlertRulesError,
    alert_json,
    find_alerts,
    load_alert_rules,
    normalize_merchant,
    parse_alert_rules,
    ticket_signals,
)
from xiaoan.tickets.routing import Router
from xiaoan.tickets.service import TicketDraft, TicketService

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 26, 2, 0, tzinfo=UTC)  # Thursday 10:00 in Shanghai
DAY = dt.timedelta(days=1)
PLAIN_FACTS = "买的课程老师经常换，上课质量差"          # carries no signal keyword
VANISH_FACTS = "健身房突然关门，老板跑路了，卡里还有两千"


def draft(**overrides) -> TicketDraft:
    fields = dict(
        kind="complaint", intent="complain_general", channel="web", conversation_id="conv-sv",
        complainant_name="张三丰", phone="13812345678", complainant_address="上海市徐汇区漕溪北路1号",
        respondent_name="乐活健身", respondent_address="上海市浦东新区张杨路100号", district="pudong",
        facts=PLAIN_FACTS, claim="退还费用", amount=Decimal("1000"),
    )
    fields.update(overrides)
    return TicketDraft(**fields)


def file_ticket(db_url: str, at: dt.datetime, **overrides) -> str:
    """Create a ticket through the tickets service as if filed at `at`; returns its number."""
    service = TicketService(Settings(database_url=db_url), clock=lambda: at,
                            router=Router(resolve_district=lambda text: None))
    return service.create(draft(**overrides), uuid.uuid4().hex).ticket_no


def alerts_at(db_url: str, now: dt.datetime = NOW, **kwargs):
    with session_scope(db_url) as session:
        return find_alerts(session, now=now, **kwargs)


def packaged_rules_data() -> dict:
    return yaml.safe_load(alerts_module.RULES_PATH.read_text(encoding="utf-8"))


# --- names ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [
    "乐活健身", "乐活健身房", "上海乐活健身有限公司", "乐活 健身", "上海市乐活健身", "乐活健身有限责任公司",
    "乐活健身股份有限公司", "乐活健身（徐汇店）", "乐活健身徐汇店", "乐活健身门店", "乐活·健身！",
    "上海市乐活健身房有限公司浦东分公司", "乐活(上海)健身有限公司", "乐活健身中心", "乐活健身\u3000俱乐部",
])
def test_spellings_of_one_merchant_normalize_alike(name):
    assert normalize_merchant(name) == "乐活健身"


def test_full_width_letters_and_digits_become_half_width_lower_case():
    assert normalize_merchant("ＬＥ活１号健身") == normalize_merchant("le活1号健身") == "le活1号健身"


@pytest.mark.parametrize("name, expected", [
    ("乐活瑜伽", "乐活瑜伽"),           # another business is not merged
    ("上海书店", "书店"),               # never shortened below two characters
    ("新天地店", "新天地"),             # a place name is not removed when nothing would remain
    ("美丽人生美容院", "美丽人生美容"),
    ("???", "???"),                     # punctuation only: keeps its own spelling
])
def test_normalization_limits(name, expected):
    assert normalize_merchant(name) == expected


def test_signals_come_from_the_intent_and_keywords_in_facts_or_claim():
    signals = load_alert_rules().signals
    assert ticket_signals("complain_prepaid", PLAIN_FACTS, None, signals) == ("complain_prepaid",)
    assert ticket_signals("complain_general", "老板 跑路 了", None, signals) == ("跑路",)
    assert ticket_signals("complain_general", "课程质量差", "店已转让，要求退钱", signals) == ("转让",)
    assert ticket_signals("complain_general", PLAIN_FACTS, "退还费用", signals) == ()


# --- rule 1: 3 complaints within 14 days --------------------------------------------------------

def test_cluster_rule_fires_with_three_complaints_within_fourteen_days(db_url):
    numbers = [file_ticket(db_url, NOW - 14 * DAY), file_ticket(db_url, NOW - 5 * DAY),
               file_ticket(db_url, NOW - DAY)]
    (alert,) = alerts_at(db_url)
    assert alert.rules == ("cluster-14d",)
    assert alert.severity == "medium" and alert.signals == ()
    assert alert.ticket_nos == tuple(numbers) and alert.count == 3


def test_cluster_rule_does_not_fire_when_the_first_is_just_outside_the_window(db_url):
    file_ticket(db_url, NOW - 14 * DAY - dt.timedelta(seconds=1))
    file_ticket(db_url, NOW - 5 * DAY)
    file_ticket(db_url, NOW - DAY)
    assert alerts_at(db_url) == []


def test_cluster_rule_does_not_fire_with_two_complaints(db_url):
    file_ticket(db_url, NOW - 2 * DAY)
    file_ticket(db_url, NOW - DAY)
    assert alerts_at(db_url) == []


def test_different_spellings_are_counted_together_and_others_apart(db_url):
    file_ticket(db_url, NOW - 3 * DAY, respondent_name="乐活健身房")
    file_ticket(db_url, NOW - 2 * DAY, respondent_name="上海乐活健身有限公司")
    file_ticket(db_url, NOW - DAY, respondent_name="乐活 健身")
    file_ticket(db_url, NOW - DAY, respondent_name="乐活瑜伽")
    file_ticket(db_url, NOW - DAY, respondent_name="好味餐厅")
    (alert,) = alerts_at(db_url)
    assert alert.merchant == "乐活健身" and alert.count == 3


# --- rule 2: 2 prepaid / vanishing complaints within 7 days -------------------------------------

def test_prepaid_rule_fires_with_two_prepaid_complaints_within_seven_days(db_url):
    file_ticket(db_url, NOW - 7 * DAY, intent="complain_prepaid")
    file_ticket(db_url, NOW, intent="complain_prepaid")
    (alert,) = alerts_at(db_url)
    assert alert.rules == ("prepaid-or-vanishing-7d",)
    assert alert.severity == "high" and alert.signals == ("complain_prepaid",)


def test_prepaid_rule_does_not_fire_when_one_is_just_outside_seven_days(db_url):
    file_ticket(db_url, NOW - 7 * DAY - dt.timedelta(minutes=1), intent="complain_prepaid")
    file_ticket(db_url, NOW, intent="complain_prepaid")
    assert alerts_at(db_url) == []


def test_vanishing_keywords_in_facts_fire_the_prepaid_rule(db_url):
    file_ticket(db_url, NOW - 2 * DAY, facts="店门口贴了转让，课还没上完")
    file_ticket(db_url, NOW - DAY, facts=VANISH_FACTS)
    (alert,) = alerts_at(db_url)
    assert alert.rules == ("prepaid-or-vanishing-7d",) and alert.severity == "high"
    assert set(alert.signals) == {"转让", "跑路", "关门"}


def test_one_signal_among_two_complaints_is_not_enough(db_url):
    file_ticket(db_url, NOW - 2 * DAY, intent="complain_prepaid")
    file_ticket(db_url, NOW - DAY)
    assert alerts_at(db_url) == []


def test_both_rules_fire_and_the_alert_lists_every_ticket_of_their_windows(db_url):
    old = file_ticket(db_url, NOW - 12 * DAY)
    prepaid = [file_ticket(db_url, NOW - 3 * DAY, intent="complain_prepaid"),
               file_ticket(db_url, NOW - DAY, intent="complain_prepaid", facts=VANISH_FACTS)]
    (alert,) = alerts_at(db_url)
    assert alert.rules == ("prepaid-or-vanishing-7d", "cluster-14d")  # most severe first
    assert alert.ticket_nos == (old, *prepaid) and alert.severity == "high"


# --- severity, totals, ordering ------------------------------------------------------------------

def test_a_signal_raises_a_cluster_alert_to_high(db_url):
    file_ticket(db_url, NOW - 10 * DAY)
    file_ticket(db_url, NOW - 5 * DAY, facts="老板联系不上了")
    file_ticket(db_url, NOW - DAY)
    (alert,) = alerts_at(db_url)
    assert alert.rules == ("cluster-14d",)
    assert alert.severity == "high" and alert.signals == ("联系不上",)


def test_totals_names_districts_and_times(db_url):
    first = NOW - 6 * DAY
    file_ticket(db_url, first, respondent_name="乐活健身房", amount=Decimal("2000"), district="pudong")
    file_ticket(db_url, NOW - 4 * DAY, respondent_name="乐活健身", amount=Decimal("1500.50"), district="xuhui")
    file_ticket(db_url, NOW - 2 * DAY, respondent_name="乐活健身", amount=None, district="xuhui")
    (alert,) = alerts_at(db_url)
    assert alert.total_amount == Decimal("3500.50")
    assert alert.display_name == "乐活健身"          # the most frequent spelling
    assert alert.districts == ("xuhui", "pudong")    # most frequent first
    assert (alert.first_at, alert.last_at) == (first, NOW - 2 * DAY)
    data = alert_json(alert)
    assert data["total_amount"] == 3500.5 and data["first_at"] == "2026-11-20T10:00:00+08:00"


def test_alerts_are_ordered_by_severity_then_count(db_url):
    for days in (9, 8, 7, 6):
        file_ticket(db_url, NOW - days * DAY, respondent_name="好味餐厅")
    file_ticket(db_url, NOW - 2 * DAY, respondent_name="星光婚纱摄影", intent="complain_prepaid")
    file_ticket(db_url, NOW - DAY, respondent_name="星光婚纱影楼", intent="complain_prepaid")
    for days in (3, 2, 1):
        file_ticket(db_url, NOW - days * DAY, respondent_name="便民超市")
    assert [(a.merchant, a.severity, a.count) for a in alerts_at(db_url)] == [
        ("星光婚纱摄影", "high", 2), ("好味餐厅", "medium", 4), ("便民超市", "medium", 3)]


def test_reports_count_and_later_tickets_are_ignored(db_url):
    file_ticket(db_url, NOW - 2 * DAY)
    file_ticket(db_url, NOW - DAY, kind="report", intent="report_violation", anonymous=True,
                complainant_name=None, phone=None, complainant_address=None, claim=None, amount=None)
    file_ticket(db_url, NOW + DAY)
    assert alerts_at(db_url) == []                     # only two up to now
    (alert,) = alerts_at(db_url, now=NOW + DAY)
    assert alert.count == 3


def test_since_examines_older_windows(db_url):
    for days in (40, 39, 38):
        file_ticket(db_url, NOW - days * DAY)
    assert alerts_at(db_url) == []
    (alert,) = alerts_at(db_url, since=NOW - 60 * DAY)
    assert alert.count == 3 and alert.rules == ("cluster-14d",)
    assert alerts_at(db_url, since=NOW - 38 * DAY) == []   # only one of them after `since`


def test_group_by_district_and_kinds_come_from_the_rules(db_url):
    for days, district in ((3, "pudong"), (2, "xuhui"), (1, "xuhui")):
        file_ticket(db_url, NOW - days * DAY, district=district)
    file_ticket(db_url, NOW - DAY, district="xuhui", kind="report", intent="report_violation",
                complainant_address=None, claim=None)
    data = packaged_rules_data()
    data["group_by_district"] = True
    (alert,) = alerts_at(db_url, rules=parse_alert_rules(data))
    assert alert.districts == ("xuhui",) and alert.count == 3
    data["kinds"] = ["complaint"]
    assert alerts_at(db_url, rules=parse_alert_rules(data)) == []


def test_a_disabled_rule_is_not_applied(db_url):
    file_ticket(db_url, NOW - 2 * DAY, intent="complain_prepaid")
    file_ticket(db_url, NOW - DAY, intent="complain_prepaid")
    data = packaged_rules_data()
    data["rules"][0]["enabled"] = False
    assert alerts_at(db_url, rules=parse_alert_rules(data)) == []


def test_alerts_never_carry_the_complainants_personal_data(db_url):
    for days in (3, 2, 1):
        file_ticket(db_url, NOW - days * DAY, facts=f"{VANISH_FACTS}，我是张三丰，电话13812345678")
    (alert,) = alerts_at(db_url)
    text = repr(alert) + repr(alert_json(alert))
    for secret in ("张三丰", "13812345678", "5678", "漕溪北路"):
        assert secret not in text


# --- the rules file --------------------------------------------------------------------------------

def test_the_packaged_rules_have_the_agreed_defaults():
    rules = load_alert_rules()
    cluster, prepaid = rules.rule("cluster-14d"), rules.rule("prepaid-or-vanishing-7d")
    assert (cluster.min_count, cluster.window_days, cluster.signals_only) == (3, 14, False)
    assert (prepaid.min_count, prepaid.window_days, prepaid.signals_only, prepaid.severity) == (2, 7, True, "high")
    assert rules.signals.intents == ("complain_prepaid",)
    assert {"跑路", "关门", "倒闭", "联系不上", "人去楼空", "转让"} <= set(rules.signals.keywords)


@pytest.mark.parametrize("change, where", [
    (lambda d: d["rules"][0].update(min_count=0), "rules[0].min_count"),
    (lambda d: d["rules"][1].update(window_days="14天"), "rules[1].window_days"),
    (lambda d: d["rules"][0].update(severity="urgent"), "rules[0].severity"),
    (lambda d: d["rules"][0].pop("label"), "rules[0]"),
    (lambda d: d["rules"][1].update(id="prepaid-or-vanishing-7d"), "rules[1].id"),
    (lambda d: d["signals"].update(intents=["complain_prepay"]), "signals.intents[0]"),
    (lambda d: d.update(kinds=["complaint", "inquiry"]), "kinds[1]"),
    (lambda d: d.update(thresholds=3), "(top level)"),
    (lambda d: d["normalize"]["endings"].update({"健身": "健身房"}), "normalize.endings"),
    (lambda d: d["normalize"].update(branch_suffixes=["分号"]), "normalize.branch_suffixes"),
    (lambda d: d.update(signals={}), "rules[0].signals_only"),
])
def test_invalid_rules_are_refused_naming_the_key(change, where):
    data = copy.deepcopy(packaged_rules_data())
    change(data)
    with pytest.raises(AlertRulesError) as info:
        parse_alert_rules(data, "alert_rules.yml")
    assert str(info.value).startswith(f"alert_rules.yml: {where}")


def test_unreadable_files_are_refused_clearly(tmp_path):
    with pytest.raises(AlertRulesError, match="cannot read the alert rules"):
        load_alert_rules(tmp_path / "missing.yml")
    broken = tmp_path / "broken.yml"
    broken.write_text("rules: [\n", encoding="utf-8")
    with pytest.raises(AlertRulesError, match="not valid YAML"):
        load_alert_rules(broken)


def test_an_edited_file_is_reloaded(tmp_path):
    path = tmp_path / "rules.yml"
    data = packaged_rules_data()
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert load_alert_rules(path).rule("cluster-14d").min_count == 3
    data["rules"][1]["min_count"] = 5
    path.write_text(yaml.safe_dump(data, allow_unicode=True) + "\n# edited\n", encoding="utf-8")
    assert load_alert_rules(path).rule("cluster-14d").min_count == 5
