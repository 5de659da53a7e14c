"""Form input checks: phones, amounts, districts, credit codes, platforms, ticket look-ups."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from xiaoan.tickets import validators as v
from xiaoan.tickets.validators import (
    CreditCodeMatch,
    DistrictDataError,
    check_credit_code,
    detect_online_platform,
    district_codes,
    district_name,
    extract_phone,
    extract_phone_last4,
    find_credit_code,
    is_outside_shanghai,
    load_districts,
    normalize_phone,
    normalize_ticket_no,
    parse_amount,
    resolve_district,
    strip_credit_code,
)

ROOT = Path(__file__).resolve().parents[2]

# ---------------------------------------------------------------------------------- phones


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("13812345678", "13812345678"),
        ("138 1234 5678", "13812345678"),
        ("138-1234-5678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("+8613812345678", "13812345678"),
        ("008613812345678", "13812345678"),
        ("１３８１２３４５６７８", "13812345678"),  # full-width digits
        ("19912345678", "19912345678"),
        ("021-61234567", "02161234567"),
        ("021 6123 4567", "02161234567"),
        ("(021)61234567", "02161234567"),
        ("（021）61234567", "02161234567"),
        ("61234567", "02161234567"),
        ("+86 21 6123 4567", "02161234567"),
        ("+86-021-61234567", "02161234567"),
    ],
)
def test_normalize_phone_accepts_mobiles_and_shanghai_landlines(text, expected):
    assert normalize_phone(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "", None, "12345678901",  # mobiles start 13-19
        "1381234567",  # ten digits
        "138123456789",  # twelve digits
        "010-61234567",  # Beijing landline
        "0571-61234567",
        "01234567",  # local numbers start 2-9
        "6123456",  # seven digits
        "电话13812345678",  # free text: extract_phone's job
        "abc",
    ],
)
def test_normalize_phone_rejects_everything_else(text):
    assert normalize_phone(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我的电话是138 1234 5678，白天都在", "13812345678"),
        ("手机：+86-139-0000-1111", "13900001111"),
        ("座机021-61234567，工作日打", "02161234567"),
        ("2000元 13812345678", "13812345678"),
        ("打这个13812345678或者61234567都行", "13812345678"),
        ("没有电话", None),
        ("订单号123456789012345678", None),
    ],
)
def test_extract_phone_finds_the_number_inside_a_sentence(text, expected):
    assert extract_phone(text) == expected


# ---------------------------------------------------------------------------------- amounts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2000", "2000"),
        ("2,000元", "2000"),
        ("两千", "2000"),
        ("两千五百元", "2500"),
        ("2k", "2000"),
        ("2K", "2000"),
        ("2.5万", "25000"),
        ("¥399", "399"),
        ("￥399", "399"),
        ("三百块", "300"),
        ("一千二", "1200"),
        ("两万五", "25000"),
        ("三百五", "350"),
        ("一万二千", "12000"),
        ("一万零五百", "10500"),
        ("一百零五元", "105"),
        ("十五块", "15"),
        ("二十元", "20"),
        ("3千5", "3500"),
        ("1万2", "12000"),
        ("2000多", "2000"),
        ("五百多块钱", "500"),
        ("1.2w", "12000"),
        ("5w", "50000"),
        ("￥1,299.00", "1299"),
        ("399.50元", "399.5"),
        ("一点五万", "15000"),
        ("RMB 800", "800"),
        ("人民币800元", "800"),
        ("２０００元", "2000"),
        ("大概两千块吧", "2000"),
        ("卡里还剩两千，当时充了五千", "2000"),  # the first amount named
        ("2023年办的卡，还剩3000", "3000"),  # a year is not money
        ("买了3件衣服花了450", "450"),
        ("三", "3"),  # a lone numeral is an answer when it is the whole answer
    ],
)
def test_parse_amount_understands_common_forms(text, expected):
    assert parse_amount(text) == Decimal(expected)


@pytest.mark.parametrize(
    "text",
    [
        "", None, "没有", "不涉及", "不清楚",
        "十分不满意",  # 十分 = very
        "七天无理由退货",  # a count of days
        "一下", "统一处理", "万一商家跑了",
        "13812345678",  # a phone number
        "2026年11月3日",  # a date
        "第一次",
        "我打了3次电话",
    ],
)
def test_parse_amount_finds_no_amount(text):
    assert parse_amount(text) is None


def test_parse_amount_returns_whole_numbers_without_decimals():
    assert str(parse_amount("2.5万")) == "25000"
    assert str(parse_amount("¥399.90")) == "399.9"


# ---------------------------------------------------------------------------------- districts

EVERY_DISTRICT = [
    "huangpu", "xuhui", "changning", "jingan", "putuo", "hongkou", "yangpu", "minhang",
    "baoshan", "jiading", "pudong", "jinshan", "songjiang", "qingpu", "fengxian", "chongming",
    "lingang",
]


def test_districts_yml_covers_every_contract_district_code():
    assert district_codes() == EVERY_DISTRICT
    assert district_name("pudong") == "浦东新区"
    assert district_name("dist-lingang") == "临港新片区"
    assert district_name("nowhere") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # official names, short forms, typos, pinyin
        ("浦东新区", "pudong"),
        ("浦东", "pudong"),
        ("我在浦东", "pudong"),
        ("静安区", "jingan"),
        ("徐汇区", "xuhui"),
        ("黄埔区", "huangpu"),  # common typo
        ("闽行区", "minhang"),
        ("Pudong", "pudong"),
        ("jing an", "jingan"),
        # old names
        ("闸北区天目西路", "jingan"),
        ("闸北", "jingan"),
        ("南汇", "pudong"),
        ("南汇区惠南镇", "pudong"),
        ("卢湾区", "huangpu"),
        ("川沙", "pudong"),
        # Lingang and its places, also inside the district that contains them
        ("临港", "lingang"),
        ("南汇新城", "lingang"),
        ("洋山港", "lingang"),
        ("滴水湖旁边", "lingang"),
        ("上海市浦东新区南汇新城镇环湖西二路888号", "lingang"),
        # towns, streets and areas
        ("陆家嘴", "pudong"),
        ("徐家汇", "xuhui"),
        ("五角场", "yangpu"),
        ("七宝", "minhang"),
        ("莘庄", "minhang"),
        ("安亭", "jiading"),
        ("朱家角", "qingpu"),
        ("泗泾", "songjiang"),
        ("南桥", "fengxian"),
        ("枫泾", "jinshan"),
        ("城桥", "chongming"),
        ("长兴岛", "chongming"),
        ("新江湾城", "yangpu"),
        ("虹桥镇", "minhang"),
        # full addresses
        ("上海市闵行区七宝镇七莘路100号", "minhang"),
        ("上海市静安区南京西路1266号", "jingan"),
        ("宝山区友谊路1号", "baoshan"),
        ("松江区九亭镇涞寅路", "songjiang"),
        # streets named after districts lie elsewhere
        ("奉贤路100号", "jingan"),
        ("宝山路街道", "jingan"),
        ("长宁区长宁路1018号", "changning"),
        ("浦东大道1000号", "pudong"),
        ("崇明路", "hongkou"),
        ("青浦路88号", "hongkou"),
    ],
)
def test_resolve_district(text, expected):
    assert resolve_district(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "", None, "上海", "不清楚", "XX路100号", "就在地铁站旁边",
        "长宁路",  # a street through 长宁 and 普陀, not a district: the form asks
        "金山路88号",  # a street named after 金山区 that is not listed: not 金山区
        "徐汇区和静安区都有门店",  # two districts: ask
        "广州市黄埔区",  # outside Shanghai
        "浙江省杭州市余杭区",
        "江苏省昆山市花桥镇",
    ],
)
def test_resolve_district_returns_none_when_unknown_ambiguous_or_outside(text):
    assert resolve_district(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("浙江省杭州市余杭区", True),
        ("杭州市西湖区文三路", True),
        ("广东省深圳市南山区", True),
        ("北京市朝阳区", True),
        ("上海市浦东新区", False),
        ("南京西路", False),  # a Shanghai street named after a city
        ("浙江中路", False),
        ("四川北路", False),
        ("", False),
    ],
)
def test_is_outside_shanghai(text, expected):
    assert is_outside_shanghai(text) is expected


def test_every_nlu_district_synonym_resolves_to_its_code():
    """The NLU synonyms (data/nlu/synonyms.yml) and districts.yml must agree on every name."""
    data = yaml.safe_load((ROOT / "data" / "nlu" / "synonyms.yml").read_text(encoding="utf-8"))
    checked = 0
    for item in data["nlu"]:
        if not str(item.get("synonym", "")).startswith("dist-"):
            continue
        code = item["synonym"][len("dist-"):]
        for line in item["examples"].splitlines():
            name = line.strip().lstrip("- ").strip()
            if name:
                assert resolve_district(name) == code, name
                checked += 1
    assert checked > 50


def _write_districts(tmp_path, data) -> Path:
    path = tmp_path / "districts.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_district_data_is_read_from_the_yaml_file(tmp_path):
    path = _write_districts(tmp_path, {
        "districts": {
            "alpha": {"name": "甲区", "aliases": ["甲"], "old_names": ["旧甲"], "places": ["甲镇"]},
            "beta": {"name": "乙区", "places": ["乙港"], "within": ["alpha"]},
        },
        "outside_shanghai": ["外省"],
    })
    assert resolve_district("旧甲", path) == "alpha"
    assert resolve_district("甲区乙港路1号", path) == "beta"  # `within` wins over the container
    assert resolve_district("外省甲镇", path) is None
    assert district_codes(path) == ["alpha", "beta"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"nothing": 1}, "districts"),
        ({"districts": {"Bad-Code": {"name": "x"}}}, "lower-case"),
        ({"districts": {"alpha": {"aliases": ["甲"]}}}, "name"),
        ({"districts": {"alpha": {"name": "甲", "places": "甲镇"}}}, "places"),
        ({"districts": {"alpha": {"name": "甲区", "places": ["镇"]}, "beta": {"name": "乙区", "places": ["镇"]}}},
         "both"),
        ({"districts": {"alpha": {"name": "甲区", "within": ["nowhere"]}}}, "unknown"),
    ],
)
def test_malformed_district_data_fails_clearly(tmp_path, data, message):
    with pytest.raises(DistrictDataError, match=message):
        load_districts(_write_districts(tmp_path, data))


def test_district_data_is_reloaded_when_the_file_changes(tmp_path):
    path = _write_districts(tmp_path, {"districts": {"alpha": {"name": "甲区"}}})
    assert resolve_district("乙区", path) is None
    import os
    path.write_text(yaml.safe_dump({"districts": {"alpha": {"name": "甲区"}, "beta": {"name": "乙区"}}},
                                   allow_unicode=True), encoding="utf-8")
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + 10))
    assert resolve_district("乙区", path) == "beta"


# ---------------------------------------------------------------------------------- credit codes

# Published codes of well-known companies (their check digits are right).
REAL_CODES = ["9144030071526726XG", "914403001922038216", "91110108551385082Q", "91330100799655058B"]


@pytest.mark.parametrize("code", REAL_CODES)
def test_check_credit_code_accepts_real_codes(code):
    assert check_credit_code(code)
    assert check_credit_code(code.lower())
    assert check_credit_code(f" {code} ")


def _with_check_digit(first17: str) -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    total = sum(alphabet.index(c) * w for c, w in zip(first17, weights))
    return first17 + alphabet[(31 - total % 31) % 31]


def test_check_credit_code_computes_the_gb_32100_check_character():
    # a Shanghai code whose check character is computed independently here
    code = _with_check_digit("91310115MA1K3YJ20")
    assert check_credit_code(code)
    # every other check character is rejected
    for wrong in "0123456789ABCDEFGHJKLMNPQRTUWXY":
        if wrong != code[-1]:
            assert not check_credit_code(code[:-1] + wrong)


@pytest.mark.parametrize(
    "code",
    [
        "", None, 12345, "9144030071526726X",  # 17 characters
        "9144030071526726XGG",  # 19
        "9144030071526726XI",  # I is not in the alphabet
        "91AB030071526726XG",  # characters 3-8 must be digits
        "9144030071526726X0",  # wrong check character
        "91440300-1526726XG",
    ],
)
def test_check_credit_code_rejects_malformed_codes(code):
    assert not check_credit_code(code)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("商家的统一社会信用代码是9144030071526726XG", CreditCodeMatch("9144030071526726XG", True)),
        ("9144030071526726xg", CreditCodeMatch("9144030071526726XG", True)),
        ("营业执照上写的91440300715267260G", CreditCodeMatch("91440300715267260G", False)),
        ("代码91310115MA1K3YJ2XX不知道对不对", CreditCodeMatch("91310115MA1K3YJ2XX", False)),
        ("身份证310101199001011237", None),  # a valid resident ID number is never a credit code
        ("订单号123456789012345678", None),
        ("没有代码", None),
        ("", None),
    ],
)
def test_find_credit_code(text, expected):
    assert find_credit_code(text) == expected


def test_strip_credit_code_keeps_the_rest_of_the_answer():
    assert strip_credit_code("上海某某健身有限公司，统一社会信用代码：9144030071526726XG", "9144030071526726XG") \
        == "上海某某健身有限公司"
    assert strip_credit_code("9144030071526726XG", "9144030071526726XG") == ""


# ---------------------------------------------------------------------------------- platforms


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("在拼多多上买的衣服不给退", "拼多多"),
        ("淘宝店铺", "淘宝"),
        ("天猫旗舰店", "天猫"),
        ("京东自营", "京东"),
        ("抖音直播间买的", "抖音"),
        ("美团外卖", "美团"),
        ("看直播间买的面膜", "直播间"),
        ("一家网店", "网店"),
        ("网购的鞋子", "网店"),
        ("网上买的衣服商家不给退款", "网店"),
        ("主播推荐的减肥茶", "直播间"),
        ("楼下小超市", None),
        ("京东方的显示器在实体店买的", None),
        ("花了1688元", None),
        ("", None),
    ],
)
def test_detect_online_platform(text, expected):
    assert detect_online_platform(text) == expected


# ---------------------------------------------------------------------------------- ticket look-up


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("XA-261126-0042", "XA-261126-0042"),
        ("xa2611260042", "XA-261126-0042"),
        ("工单号是 XA 261126 0042", "XA-261126-0042"),
        ("XA-2611260042", "XA-261126-0042"),
        ("261126", None),
        ("", None),
    ],
)
def test_normalize_ticket_no(text, expected):
    assert normalize_ticket_no(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5678", "5678"),
        ("尾号5678", "5678"),
        ("13812345678", "5678"),
        ("XA-261126-0042 尾号1234", "1234"),
        ("56789", None),
        ("12 34", None),
        ("不记得了", None),
    ],
)
def test_extract_phone_last4(text, expected):
    assert extract_phone_last4(text) == expected


def test_module_exposes_the_agreed_interface():
    """docs/tickets-interface.md: the four functions the tickets service relies on."""
    for name in ("normalize_phone", "parse_amount", "resolve_district", "check_credit_code"):
        assert callable(getattr(v, name))


# The road gazetteer (resources/roads.yml): roads wholly in one district.
@pytest.mark.parametrize(("text", "expected"), [
    ("营口路", "yangpu"), ("嘉唐公路店", "jiading"), ("苏宁易购（营口路店）", "yangpu"),
    ("开心路88号", None), ("营口路和嘉唐公路之间", None),
])
def test_roads_of_the_gazetteer_name_their_district(text, expected):
    from xiaoan.tickets.validators import resolve_district
    assert resolve_district(text) == expected


def test_the_gazetteer_lists_no_road_twice():
    import yaml
    from xiaoan.tickets.validators import ROADS_PATH, load_roads
    data = yaml.safe_load(ROADS_PATH.read_text(encoding="utf-8"))
    listed = [road for roads in data["districts"].values() for road in roads]
    assert len(listed) == len(set(listed)) == len(load_roads())
    assert not set(listed) & set(data.get("ambiguous") or [])
