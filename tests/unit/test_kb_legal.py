"""The register of legal instruments (resources/laws.yml) and the reading of an entry's basis."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from xiaoan.kb import legal
from xiaoan.kb.legal import (
    Register,
    RegisterError,
    basis_problems,
    chinese_number,
    load_register,
    name_key,
    parse_basis,
    validate_register,
)


@pytest.fixture(scope="module")
def register() -> Register:
    return load_register()


def test_the_shipped_register_is_valid_and_covers_the_main_instruments(register):
    data = yaml.safe_load(legal.REGISTER_FILE.read_text(encoding="utf-8"))
    instruments, errors = validate_register(data)
    assert errors == []
    assert len(register) == len(instruments) >= 60
    levels = {i.level for i in register.instruments}
    assert {"law", "administrative_regulation", "departmental_rule", "local_regulation"} <= levels
    # the instruments the contract topics rest on, by every name they are cited with
    for name, iid in [
        ("中华人民共和国消费者权益保护法", "consumer-protection-law"),
        ("消法", "consumer-protection-law"),
        ("消费者权益保护法实施条例", "consumer-protection-implementing-regulation"),
        ("食品安全法", "food-safety-law"),
        ("市场主体登记管理条例", "market-entity-registration-regulation"),
        ("市场监管总局令第121号", "complaint-report-measures"),
        ("上海市单用途预付消费卡管理规定", "shanghai-prepaid-card-provisions"),
        ("上海市消费者权益保护条例", "shanghai-consumer-protection-regulation"),
        ("明码标价和禁止价格欺诈规定", "price-marking-provisions"),
    ]:
        assert register.find(name).id == iid, name
    company = register.find("公司法")
    assert company.effective == dt.date(2024, 7, 1) and company.status == "amended"
    # the replaced 2019 rule: repealed the day Order 121 took effect, pointing at it
    old = register.find("市场监督管理投诉举报处理暂行办法")
    assert old.repealed and old.repealed_on == dt.date(2026, 4, 15)
    assert register.by_id(old.superseded_by).title == "市场监督管理投诉举报处理办法"
    for instrument in register.instruments:
        if instrument.superseded_by:
            assert register.by_id(instrument.superseded_by) is not None


def test_chinese_article_numbers():
    assert [chinese_number(t) for t in ("一", "十", "十二", "二十", "二十五", "一百", "一百零五", "一百四十八",
                                        "二百一十", "25", "２５")] == [1, 10, 12, 20, 25, 100, 105, 148, 210, 25, 25]
    assert chinese_number("条") is None and chinese_number("") is None


def test_names_are_compared_without_the_state_prefix_quotes_or_bracket_style():
    assert name_key("《中华人民共和国公司法》") == name_key("公司法")
    assert name_key("沪府办[2018]62号") == name_key("沪府办〔2018〕62号") == name_key("沪府办（2018）62号")
    assert name_key("中华人民共和国") == "中华人民共和国"  # the prefix alone stays a name


def test_parse_the_basis_format_the_content_uses(register):
    basis = "《中华人民共和国消费者权益保护法》第二十五条；《上海市消费者权益保护条例》第二十六条"
    citations = parse_basis(basis, register)
    assert [(c.title, c.articles, c.instrument.id) for c in citations] == [
        ("中华人民共和国消费者权益保护法", (25,), "consumer-protection-law"),
        ("上海市消费者权益保护条例", (26,), "shanghai-consumer-protection-regulation"),
    ]
    assert basis_problems(basis, register) == []


@pytest.mark.parametrize(
    "basis, expected",
    [
        ("《食品安全法》第一百四十八条第二款、第一百五十条", [("food-safety-law", (148, 150))]),
        ("《公司法》（2024年7月1日起施行）第四十七条", [("company-law", (47,))]),
        ("《消费者权益保护法》第24条和第55条", [("consumer-protection-law", (24, 55))]),
        ("《消费者权益保护法》第五十三条规定的第三方第九条", [("consumer-protection-law", (53,))]),
        ("《市场主体登记管理条例》及其实施细则",
         [("market-entity-registration-regulation", ()), ("market-entity-registration-rules", ())]),
        ("《市场监督管理投诉举报处理办法》（市场监管总局令第121号）", [("complaint-report-measures", ())]),
        ("沪府办〔2018〕62号", [("shanghai-hotline-rules-2018", ())]),
        ("依据沪府办规〔2024〕2号", [("shanghai-residential-premises-2024", ())]),
        ("《消费者权益保护法》第五十五条; 《民法典》\n《电子商务法》", [("consumer-protection-law", (55,)),
                                                             ("civil-code", ()), ("e-commerce-law", ())]),
    ],
)
def test_parse_basis_variants(register, basis, expected):
    got = [(c.instrument.id if c.instrument else None, c.articles) for c in parse_basis(basis, register)]
    assert got == expected


def test_basis_problems_name_what_is_wrong(register):
    assert [p.code for p in basis_problems(None, register)] == ["missing"]
    assert [p.code for p in basis_problems("  ", register)] == ["missing"]
    unknown = basis_problems("《上海市不存在的条例》第三条；《消费者权益保护法》", register)
    assert [p.code for p in unknown] == ["unknown"] and "《上海市不存在的条例》不在法规库中" in unknown[0].message
    unparsed = basis_problems("国家商品“三包”有关规定", register)
    assert [p.code for p in unparsed] == ["unparsed"] and "没有写出法规名称" in unparsed[0].message
    repealed = basis_problems("《个体工商户条例》第八条", register)
    assert [p.code for p in repealed] == ["repealed"]
    assert repealed[0].message == "《个体工商户条例》已于 2022-11-01 废止，由《促进个体工商户发展条例》取代"
    assert repealed[0].citation.articles == (8,)


def test_parse_basis_without_a_register_keeps_every_citation():
    citations = parse_basis("《甲法》第一条；乙规定")
    assert [(c.title, c.articles, c.instrument) for c in citations] == [("甲法", (1,), None), ("乙规定", (), None)]
    assert parse_basis(None) == [] and parse_basis("；；") == []


def _item(**changes):
    item = {"id": "x-law", "title": "某某法", "aliases": [], "level": "law", "issuer": "全国人民代表大会常务委员会",
            "effective": "2020-01-01", "status": "in_force"}
    item.update(changes)
    return item


@pytest.mark.parametrize(
    "item, message",
    [
        (_item(id="X Law"), "编号 id 应为小写英文"),
        (_item(title="《某某法》"), "标题不要带书名号"),
        (_item(level="statute"), "层级 level 应为"),
        (_item(status="old"), "状态 status 应为"),
        (_item(effective="2020-13-01"), "施行日期 effective“2020-13-01”应为 YYYY-MM-DD"),
        (_item(status="amended"), "应写出修改日期 amendments"),
        (_item(status="amended", amendments=["2021-01-01", "2019-01-01"]), "从早到晚排列"),
        (_item(status="amended", amendments=["2021-01-01"]), "晚于现行版本施行日期"),
        (_item(status="repealed"), "应写出废止日期 repealed_on"),
        (_item(superseded_by="y-law"), "只有已废止（repealed）的才能有"),
        (_item(colour="red"), "未知字段 colour"),
        (_item(issuer=""), "缺少制定机关"),
    ],
)
def test_validate_register_refuses_bad_items(item, message):
    instruments, errors = validate_register({"instruments": [item]})
    assert instruments == [] and len(errors) == 1 and message in errors[0], errors


def test_validate_register_checks_across_items():
    _, errors = validate_register({"instruments": [
        _item(), _item(title="另一个法"),  # duplicate id
        _item(id="y-law", title="丙法", aliases=["某某法"]),  # alias naming another instrument
        _item(id="z-law", title="丁法", status="repealed", repealed_on="2022-01-01", superseded_by="nope"),
    ]})
    assert "编号“x-law”重复" in errors
    assert any("同时指向“x-law”和“y-law”" in e for e in errors)
    assert "“z-law”的 superseded_by“nope”不在法规库中" in errors
    assert validate_register([]) == ([], ["法规库应有 instruments 列表"])


def test_an_invalid_register_file_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "laws.yml"
    path.write_text(yaml.safe_dump({"instruments": [_item(level="statute")]}, allow_unicode=True), encoding="utf-8")
    with pytest.raises(RegisterError, match="laws.yml: .*层级 level"):
        load_register(path)
    path.write_text(yaml.safe_dump({"instruments": [_item()]}, allow_unicode=True), encoding="utf-8")
    assert load_register(path).find("《中华人民共和国某某法》").id == "x-law"


def test_every_shipped_entry_cites_only_instruments_of_the_register(register):
    """Issue 11 item 6: each basis of knowledge_base/ names instruments the register knows, none repealed."""
    from xiaoan.kb.loader import DEFAULT_DIR, read_dir

    result = read_dir(DEFAULT_DIR)
    assert result.errors == [] and len(result.entries) > 300
    problems = {e.id: [p.message for p in basis_problems(e.basis, register)] for e in result.entries}
    assert {k: v for k, v in problems.items() if v} == {}
    # a few of the instruments added for it, by the names the entries use
    for name, iid in [
        ("中华人民共和国民事诉讼法", "civil-procedure-law"),
        ("国务院关于实施〈中华人民共和国公司法〉注册资本登记管理制度的规定", "company-law-registered-capital-provisions"),
        ("国务院令第784号", "company-law-registered-capital-provisions"),
        ("计量法实施细则", "metrology-implementing-rules"),
        ("市场监管总局令第88号", "false-enterprise-registration-provisions"),
        ("财政部 国家发展改革委关于清理规范一批行政事业性收费有关政策的通知", "registration-fee-exemption-notice-2017"),
        ("上海市住房租赁条例", "shanghai-housing-rental-regulation"),
    ]:
        assert register.find(name).id == iid, name
    assert register.find("民事诉讼法").effective == dt.date(2024, 1, 1)
    assert register.find("防范和查处假冒企业登记违法行为规定").effective == dt.date(2024, 3, 15)
    # a date the compiler was unsure of stays unknown, and the note says so
    taxi = register.find("上海市出租汽车管理条例")
    assert taxi.effective is None and "未核实" in taxi.note
    # the fitness cooling-off entry now names its instruments
    fitness = next(e for e in result.entries if e.id == "consumer.fitness-cooling-off")
    assert [c.instrument.id for c in parse_basis(fitness.basis, register)] == [
        "shanghai-prepaid-card-provisions", "contract-supervision-measures"]
