"""Addresses: whole answers and addresses inside sentences, with the district."""

from __future__ import annotations

import pytest

from xiaoan.understanding.addresses import Address, find_address, parse_address


@pytest.mark.parametrize(
    ("text", "expected_text", "district", "outside"),
    [
        ("徐汇区漕溪北路88号", "徐汇区漕溪北路88号", "xuhui", False),
        ("在漕溪北路88号", "漕溪北路88号", "xuhui", False),  # district from the road
        ("地址是：上海市浦东新区张杨路500号3楼", "上海市浦东新区张杨路500号3楼", "pudong", False),
        ("浦东", "浦东", "pudong", False),
        ("七宝", "七宝", "minhang", False),
        ("我住在闵行区七宝镇七莘路100弄5号301室", "闵行区七宝镇七莘路100弄5号301室", "minhang", False),
        ("浙江省杭州市西湖区文三路1号", "浙江省杭州市西湖区文三路1号", None, True),
        ("万达广场对面", "万达广场对面", None, False),
        ("南汇新城镇环湖西二路", "南汇新城镇环湖西二路", "lingang", False),
        ("闸北区共和新路", "闸北区共和新路", "jingan", False),
        ("长宁区", "长宁区", "changning", False),
        ("嗯，家住宝山区友谊路街道", "宝山区友谊路街道", "baoshan", False),
        ("商家在静安寺附近吧", "静安寺附近", "jingan", False),
        ("位于上海市黄浦区南京东路100号", "上海市黄浦区南京东路100号", "huangpu", False),
        ("我家的地址：杨浦区国定路335号2号楼", "杨浦区国定路335号2号楼", "yangpu", False),
        ("松江大学城文汇路1号。", "松江大学城文汇路1号", "songjiang", False),
        ("上海市某某路123弄4号", "上海市某某路123弄4号", None, False),
        ("（某某路店）徐汇区天钥桥路1号", "（某某路店）徐汇区天钥桥路1号", "xuhui", False),
    ],
)
def test_parse_address(text, expected_text, district, outside):
    assert parse_address(text) == Address(expected_text, district, outside)


@pytest.mark.parametrize(
    "text",
    ["", None, "不知道", "不清楚具体地址", "好的", "嗯", "网上", "网店", "13812345678", "123", "我要投诉",
     "家里", "李明", "地址是什么？", "a" * 300],
)
def test_parse_address_refuses(text):
    assert parse_address(text) is None


@pytest.mark.parametrize(
    ("text", "expected_text", "district"),
    [
        ("商家位于徐汇区漕溪北路88号，老板跑了", "徐汇区漕溪北路88号", "xuhui"),
        ("我在徐汇区漕溪北路88号的店里买的", "徐汇区漕溪北路88号", "xuhui"),
        ("我家住在浦东新区张杨路500号", "浦东新区张杨路500号", "pudong"),
        ("他们在七宝开了一家店", "七宝", "minhang"),
        ("去年在上海市静安区南京西路1266号恒隆广场买的包", "上海市静安区南京西路1266号恒隆广场", "jingan"),
        ("健身房地址是长宁区天山路100号，已经关门", "长宁区天山路100号", "changning"),
        ("我去漕溪北路88号那家店问过", "漕溪北路88号", "xuhui"),
    ],
)
def test_find_address_inside_a_sentence(text, expected_text, district):
    found = find_address(text)
    assert found is not None and (found.text, found.district) == (expected_text, district)


def test_find_address_outside_shanghai():
    assert find_address("店就在杭州市西湖区") == Address("杭州市西湖区", None, True)


@pytest.mark.parametrize("text", ["我在网上买的", "我在家里", "今天很热", "", "我在那边等了很久"])
def test_find_address_none(text):
    assert find_address(text) is None


def test_parse_address_keeps_only_the_address_of_a_story():
    assert parse_address("那家店在徐汇区漕溪北路88号，现在已经关门了") == Address("徐汇区漕溪北路88号", "xuhui", False)


@pytest.mark.parametrize(
    ("text", "expected_text"),
    [
        # a labelled street address beats the writer's home district and a place said with 在
        ("我住在闵行区。门店地址是闵行区七宝镇七莘路1888号2楼。", "闵行区七宝镇七莘路1888号2楼"),
        ("上个月在小区门口听了讲座，店名叫康寿堂，地址在普陀区真北路2100号。", "普陀区真北路2100号"),
    ],
)
def test_find_address_prefers_the_street_address(text, expected_text):
    assert find_address(text).text == expected_text


# The road of a branch name is no address; a closing bracket ends an address.
@pytest.mark.parametrize(("text", "expected"), [
    ("我在极致健身（呼兰路店）充值办了年卡，现在店突然关门跑路", None),
    ("前几天在苏宁易购（营口路店）换屏，用了两天屏幕就失灵", None),
    ("盈港东路23号的小饭店（地址：青浦盈港东路23号）的违法问题", "青浦盈港东路23号"),
])
def test_branch_roads_are_no_address(text, expected):
    found = find_address(text)
    assert (found.text if found else None) == expected


@pytest.mark.parametrize("text", ["继续填写", "算了不弄了", "接着填"])
def test_steering_the_form_is_no_address(text):
    assert parse_address(text) is None
