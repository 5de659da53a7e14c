"""`xiaoan.kb.locality.other_city`: questions about another city, and what is not one."""

from __future__ import annotations

import pytest

from xiaoan.kb.locality import CITIES_FILE, load_cities, other_city


@pytest.mark.parametrize(
    ("text", "city"),
    [
        ("深圳的个体户补贴有哪些", "深圳"),
        ("成都办食品许可要多久", "成都"),
        ("在北京注销公司要什么材料", "北京"),
        ("我在杭州开的网店被投诉了哪能办", "杭州"),
        ("去苏州开个分公司怎么弄", "苏州"),
        ("浙江省的食品经营许可证怎么申请", "浙江"),
        ("广州市个体户年报在哪报", "广州"),
        ("中山市注册公司流程", "中山"),
        ("马鞍山的营业执照丢了", "马鞍山"),
        ("北京人社局电话多少", "北京"),
        ("南京西路那家店跑路了，我在南京也买过他们家的卡", "南京"),
    ],
)
def test_questions_about_another_city(text, city):
    assert other_city(text) == city


@pytest.mark.parametrize(
    "text",
    [
        "",
        "个体户营业执照怎么办",
        "上海注销公司要多久",
        "北京东路的饭店不开发票",
        "南京西路的健身房关门了，预付卡怎么退",
        "四川北路一家店卖过期食品",
        "西藏中路有商家缺斤短两",
        "福州路上的书店不给退货",
        "嘉兴路街道的小饭店没有许可证",
        "苏州河边上有人无证摆摊",
        "我是从外地来沪的，想开个小店",
        "我从安徽来沪打工，想办个体户",
        "我是河南人，在这边开店要什么手续",
        "老家四川的，想在这里开个面馆",
        "江西户口能在这里办营业执照吗",
        "买的新疆哈密瓜坏了",
        "超市卖的云南白药是假的",
        "北京烤鸭店不卫生",
        "兰州拉面馆价格不标",
        "中山公园门口有人卖假货",
        "中山医院旁边的药店乱收费",
        "面包开封了还能退吗",
        "三明治里吃出头发",
        "公司从苏州迁到上海要办什么",
        "杭州和上海的个体户政策一样吗",
        "上海南京路的店不给退款",
    ],
)
def test_shanghai_roads_origins_products_and_shanghai_itself_are_not_another_city(text):
    assert other_city(text) is None


def test_the_city_list_is_data_and_leaves_out_shanghai():
    names = dict(load_cities(CITIES_FILE))
    assert "上海" not in names and "上海" not in names.values()
    assert {"北京", "深圳", "成都", "西藏", "香港"} <= set(names.values())
    assert names["中山市"] == "中山" and "中山" not in names  # 中山公园 is in Shanghai
    assert len(names) > 300


def test_a_custom_city_list(tmp_path):
    path = tmp_path / "cities.txt"
    path.write_text("# test list\n拉萨\n上海\n", encoding="utf-8")
    assert other_city("拉萨开店要什么", path=path) == "拉萨"
    assert other_city("成都开店要什么", path=path) is None
