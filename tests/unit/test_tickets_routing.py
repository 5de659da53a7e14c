"""Routing of tickets by the rules in routing_rules.yml (docs/domain.md §5, docs/interfaces.md §4)."""

from __future__ import annotations

import sys
import types
from decimal import Decimal

import pytest
import yaml

from xiaoan.tickets.routing import RULES_PATH, Router, RoutingRulesError, load_rules, parse_rules
from xiaoan.tickets.service import TicketDraft

CONTRACT_AGENCIES = (
    "dist-huangpu dist-xuhui dist-changning dist-jingan dist-putuo dist-hongkou dist-yangpu dist-minhang "
    "dist-baoshan dist-jiading dist-pudong dist-jinshan dist-songjiang dist-qingpu dist-fengxian "
    "dist-chongming dist-lingang city-drug city-ip city-consumer-council city-samr"
).split()
DISTRICTS = [code.removeprefix("dist-") for code in CONTRACT_AGENCIES if code.startswith("dist-")]

# A stand-in for developer F's resolve_district (xiaoan/tickets/validators.py).
_PLACES = [("临港", "lingang"), ("南汇新城", "lingang"), ("浦东", "pudong"), ("静安", "jingan"),
           ("普陀", "putuo"), ("徐汇", "xuhui"), ("黄浦", "huangpu")]


def fake_resolve(text: str) -> str | None:
    for place, code in _PLACES:
        if place in text:
            return code
    return None


def draft(**overrides) -> TicketDraft:
    fields = dict(
        kind="complaint", intent="complain_general", channel="rest", conversation_id="conv-1",
        complainant_name="张三", phone="13812345678", complainant_address="上海市徐汇区漕溪北路1号",
        respondent_name="某某电器店", respondent_address="上海市静安区南京西路1号", district="jingan",
        facts="买的冰箱用了一周就坏了，商家不管", claim="退货退款", amount=Decimal("2999"),
    )
    fields.update(overrides)
    return TicketDraft(**fields)


@pytest.fixture()
def router() -> Router:
    return Router(resolve_district=fake_resolve)


def write_rules(tmp_path, mutate) -> Router:
    data = yaml.safe_load(RULES_PATH.read_text(encoding="utf-8"))
    mutate(data)
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return Router(path, resolve_district=fake_resolve)


def test_packaged_rules_are_valid_and_name_every_contract_agency():
    rules = load_rules()
    assert set(CONTRACT_AGENCIES) <= set(rules.agencies)
    assert rules.agency_name("dist-pudong") == "浦东新区市场监督管理局"
    assert rules.agency_name("city-drug") == "上海市药品监督管理局"
    assert rules.deadlines.contact_by == 1
    assert dict(rules.deadlines.resolve_by) == {"complaint": 5, "report": 15}
    assert rules.rules[-1].id == "triage" and rules.rules[-1].agency == "city-samr"


@pytest.mark.parametrize("district", DISTRICTS)
def test_each_district_goes_to_its_bureau(router, district):
    decision = router.route(draft(district=district))
    assert decision.agency == f"dist-{district}"
    assert decision.district == district
    assert decision.agency_name.endswith("市场监督管理局")


def test_district_given_with_prefix_is_accepted(router):
    assert router.route(draft(district="dist-xuhui")).agency == "dist-xuhui"


def test_lingang_goes_to_lingang_bureau_and_can_be_switched_to_pudong(router, tmp_path):
    decision = router.route(draft(district="lingang"))
    assert (decision.agency, decision.rule_id) == ("dist-lingang", "lingang-bureau")

    def switch_off(data):
        next(r for r in data["rules"] if r["id"] == "lingang-bureau")["enabled"] = False

    switched = write_rules(tmp_path, switch_off)
    decision = switched.route(draft(district="lingang"))
    assert (decision.agency, decision.rule_id, decision.district) == ("dist-pudong", "lingang-to-pudong", "lingang")
    assert decision.agency_name == "浦东新区市场监督管理局"
    # other districts are unaffected
    assert switched.route(draft(district="pudong")).agency == "dist-pudong"


def test_no_district_goes_to_city_triage(router):
    decision = router.route(draft(district=None))
    assert (decision.agency, decision.rule_id, decision.district) == ("city-samr", "triage", None)
    assert decision.agency_name == "上海市市场监督管理局"


@pytest.mark.parametrize("respondent, facts", [
    ("某某制药有限公司", "这家药厂生产的感冒药质量有问题，吃了没效果"),
    ("某某医疗科技公司", "医疗器械批发公司把没有注册证的医疗器械卖给诊所"),
    ("某某日化公司", "这款化妆品根本没有注册备案，是小作坊生产的"),
    ("某某生物科技公司", "举报某制药公司生产假药"),
])
def test_drug_production_wholesale_registration_goes_to_city_drug(router, respondent, facts):
    decision = router.route(draft(kind="report", intent="report_violation", respondent_name=respondent,
                                  facts=facts, claim=None, district="minhang"))
    assert (decision.agency, decision.rule_id) == ("city-drug", "drug-production-wholesale-registration")


def test_a_shop_as_respondent_keeps_drug_matters_with_the_district(router):
    decision = router.route(draft(respondent_name="某某大药房", facts="卖的药品是假药，说是厂家直供", district="minhang"))
    assert decision.agency == "dist-minhang"


@pytest.mark.parametrize("facts", [
    "吃了这个药品出现严重不良反应",
    "用了这款化妆品后出现不良反应，脸上起红疹",
    "医疗器械不良事件：血糖仪读数错误导致用药过量，在药店买的",
])
def test_adverse_reactions_go_to_city_drug_even_when_bought_in_a_shop(router, facts):
    assert router.route(draft(facts=facts, district="putuo")).agency == "city-drug"


@pytest.mark.parametrize("facts", [
    "楼下药店卖过期药品",
    "药房把处方药当非处方药卖，还说是厂家直销",
    "商场化妆品专柜卖的化妆品是假货，说是工厂直供",
    "超市卖的护肤品生产日期被涂改了",
    "买的化妆品生产日期是假的",
])
def test_retail_of_drugs_and_cosmetics_stays_with_the_district(router, facts):
    decision = router.route(draft(facts=facts, district="yangpu"))
    assert decision.agency == "dist-yangpu", decision.rule_id


@pytest.mark.parametrize("facts", [
    "对方公司生产的产品侵犯了我的发明专利，要求停止侵权",
    "我们有实用新型专利，这家厂仿制我们的产品，专利侵权纠纷",
])
def test_patent_infringement_disputes_go_to_city_ip(router, facts):
    assert router.route(draft(facts=facts, claim="停止侵权", district="jiading")).agency == "city-ip"


@pytest.mark.parametrize("facts", [
    "商品包装上标的专利号是假的，假冒专利",
    "产品上印了专利标识，实际上根本没有专利，侵犯消费者权益",
    "小店卖假冒商标的运动鞋，商标侵权",
])
def test_fake_patent_marks_and_counterfeit_trademarks_stay_with_the_district(router, facts):
    assert router.route(draft(kind="report", intent="report_violation", facts=facts, claim=None,
                              district="hongkou")).agency == "dist-hongkou"


@pytest.mark.parametrize("claim", ["只要调解，不需要处罚", "希望消保委调解退款", "只想调解一下"])
def test_mediation_only_requests_go_to_the_consumer_council(router, claim):
    decision = router.route(draft(claim=claim, district="changning"))
    assert (decision.agency, decision.rule_id) == ("city-consumer-council", "mediation-only")
    assert decision.agency_name == "上海市消费者权益保护委员会"


def test_refusing_mediation_is_not_a_mediation_request(router):
    assert router.route(draft(claim="不需要消保委调解，要求查处并退款", district="changning")).agency == "dist-changning"


def test_mediation_rule_applies_to_complaints_only(router):
    decision = router.route(draft(kind="report", intent="report_violation", claim="只要调解", district="changning"))
    assert decision.agency == "dist-changning"


def test_online_seller_is_routed_by_the_address_shown_on_the_platform(router):
    decision = router.route(draft(online_platform="淘宝", district="jingan",
                                  respondent_address="上海市浦东新区张江路100号"))
    assert (decision.agency, decision.district) == ("dist-pudong", "pudong")


@pytest.mark.parametrize("address", [
    "浙江省杭州市余杭区文一西路",
    "舟山市普陀区沈家门",           # has a 普陀区, but not Shanghai's
    "广东省深圳市南山区",
    None,
    "不清楚，页面上没写",
])
def test_online_seller_outside_shanghai_or_unknown_goes_to_triage(router, address):
    decision = router.route(draft(online_platform="拼多多", district="jingan", respondent_address=address))
    assert (decision.agency, decision.district) == ("city-samr", None)


def test_online_seller_in_a_shanghai_street_named_after_a_city_stays_in_shanghai(router):
    decision = router.route(draft(online_platform="京东", district=None, respondent_address="上海市黄浦区北京东路1号"))
    assert decision.agency == "dist-huangpu"


def test_topic_rules_apply_to_online_sellers_too(router):
    decision = router.route(draft(online_platform="淘宝", respondent_address="浙江省杭州市",
                                  facts="网上买的药品出现不良反应"))
    assert decision.agency == "city-drug"


def test_default_resolver_is_developer_f_resolve_district(monkeypatch):
    calls = []
    module = types.ModuleType("xiaoan.tickets.validators")
    module.resolve_district = lambda text: calls.append(text) or "xuhui"
    monkeypatch.setitem(sys.modules, "xiaoan.tickets.validators", module)
    decision = Router().route(draft(online_platform="美团", respondent_address="徐家汇某路1号"))
    assert decision.agency == "dist-xuhui"
    assert calls == ["徐家汇某路1号"]


def test_edited_rules_file_is_picked_up_without_restart(tmp_path):
    path = tmp_path / "rules.yml"
    path.write_text(RULES_PATH.read_text(encoding="utf-8"), encoding="utf-8")
    router = Router(path, resolve_district=fake_resolve)
    assert router.route(draft(district="lingang")).agency == "dist-lingang"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    next(r for r in data["rules"] if r["id"] == "lingang-bureau")["enabled"] = False
    data["agencies"]["dist-pudong"] = "浦东新区市场监管局（测试）"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    decision = router.route(draft(district="lingang"))
    assert (decision.agency, decision.agency_name) == ("dist-pudong", "浦东新区市场监管局（测试）")


def _valid() -> dict:
    return yaml.safe_load(RULES_PATH.read_text(encoding="utf-8"))


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["rules"][1].update(agency="city-unknown"), "rule #2 (patent-infringement): unknown agency 'city-unknown'"),
    (lambda d: d["rules"][0].update(agnecy="city-ip"), "unknown keys ['agnecy']"),
    (lambda d: d["rules"].pop(), "the last rule must be enabled and have no conditions"),
    (lambda d: d["rules"][-1].update(enabled=False), "the last rule must be enabled"),
    (lambda d: d["rules"][2].update(id="mediation-only"), "duplicate id"),
    (lambda d: d["rules"][0].update(kinds=["complain"]), "unknown kinds ['complain']"),
    (lambda d: d["rules"][4].update(district=["lingan"]), "unknown district codes ['lingan']"),
    (lambda d: d["rules"][0].update(any=[]), "must be a non-empty list of strings"),
    (lambda d: d["rules"][0].update(fields=["fact"]), "unknown fields ['fact']"),
    (lambda d: d["rules"][6].pop("district"), "agency dist-{district} needs a district condition"),
    (lambda d: d["agencies"].pop("dist-jinshan"), "agency dist-jinshan (for district jinshan) is not in agencies"),
    (lambda d: d["deadlines"]["resolve_by"].pop("report"), "deadlines.resolve_by"),
    (lambda d: d["deadlines"].update(contact_by=0), "deadlines.contact_by: must be an integer >= 1"),
    (lambda d: d["status_labels"].pop("closed"), "status_labels"),
    (lambda d: d.update(rulez=[]), "unknown keys ['rulez']"),
    (lambda d: d["rules"][3].update(enabled="yes"), "enabled must be true or false"),
])
def test_bad_rules_fail_clearly(mutate, message):
    data = _valid()
    mutate(data)
    with pytest.raises(RoutingRulesError) as err:
        parse_rules(data, "routing_rules.yml")
    assert message in str(err.value)
    assert str(err.value).startswith("routing_rules.yml: ")


def test_broken_yaml_and_missing_file_fail_clearly(tmp_path):
    path = tmp_path / "rules.yml"
    path.write_text("rules: [\n  - id: x\n agency", encoding="utf-8")
    with pytest.raises(RoutingRulesError, match="not valid YAML"):
        load_rules(path)
    with pytest.raises(RoutingRulesError, match="cannot read the routing rules"):
        load_rules(tmp_path / "missing.yml")


@pytest.mark.parametrize("address, agency", [
    ("上海市闵行区七宝镇七莘路100号", "dist-minhang"),
    ("浦东新区南汇新城镇环湖西二路1号", "dist-lingang"),
    ("浙江省杭州市余杭区文一西路", "city-samr"),
    ("舟山市普陀区沈家门", "city-samr"),
])
def test_online_seller_with_the_real_district_resolver(address, agency):
    decision = Router().route(draft(online_platform="淘宝", district="jingan", respondent_address=address))
    assert decision.agency == agency
