"""Typed choices (issue 10): every button of the domain can be typed instead of clicked, and a
citizen writing something new is never mistaken for a click."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from xiaoan.understanding.choices import (
    Choice,
    load_synonyms,
    normalize,
    offered_choices,
    resolve_choice,
    strip_fillers,
)

DOMAIN_FILE = Path(__file__).resolve().parents[3] / "domain.yml"
CN_ORDINALS = "一二三四五六七八九十"


def domain_offers() -> list[tuple[str, list[Choice]]]:
    """(response name, its buttons) for every response variant with buttons in domain.yml."""
    offers = []
    responses = yaml.safe_load(DOMAIN_FILE.read_text(encoding="utf-8"))["responses"]
    for name, variants in responses.items():
        for variant in variants or []:
            buttons = variant.get("buttons") if isinstance(variant, dict) else None
            if buttons:
                offers.append((name, [Choice(str(b["title"]), str(b["payload"])) for b in buttons]))
    return offers


OFFERS = domain_offers()
OFFER_IDS = [name for name, _ in OFFERS]


def offer(name: str) -> list[Choice]:
    return next(choices for n, choices in OFFERS if n == name)


def payload_of(text: str, choices: list[Choice], **kwargs) -> str | None:
    choice = resolve_choice(text, choices, **kwargs)
    return choice.payload if choice else None


def unique_part(title: str, choices: list[Choice]) -> str | None:
    """A proper part of the title (two characters, not a filler) that no other title contains."""
    norm = normalize(title)
    others = [normalize(c.title) for c in choices if normalize(c.title) != norm]
    for start in range(len(norm) - 1):
        part = norm[start : start + 2]
        if part != norm and strip_fillers(part) == part and not any(part in other for other in others):
            return part
    return None


def test_the_domain_offers_buttons():
    names = set(OFFER_IDS)
    assert {"utter_greet", "utter_offer_callback", "utter_offer_human_form", "utter_ask_anonymous",
            "utter_ask_kb_helpful", "utter_ask_respondent_district"} <= names
    assert len(OFFERS) >= 15


@pytest.mark.parametrize("name,choices", OFFERS, ids=OFFER_IDS)
def test_every_domain_button_can_be_typed(name, choices):
    for index, choice in enumerate(choices):
        for typed in (choice.title, f"我要{choice.title}", f"好的，{choice.title}", f" {choice.title}。", f"{choice.title}吧"):
            assert payload_of(typed, choices) == choice.payload, (name, typed)
        part = unique_part(choice.title, choices)
        if part is not None:
            assert payload_of(part, choices) == choice.payload, (name, part)
        ordinal = f"第{CN_ORDINALS[index]}个" if index < 10 else f"第{index + 1}个"
        assert payload_of(ordinal, choices) == choice.payload, (name, ordinal)
        numbered = {"numbered": True}
        assert payload_of(str(index + 1), choices, **numbered) == choice.payload, (name, index)
        assert payload_of(f"{index + 1}.", choices, **numbered) == choice.payload, (name, index)
        if len(choices) > 1:
            assert payload_of(str(index + 1), choices) == choice.payload, (name, index)


@pytest.mark.parametrize("name,choices", OFFERS, ids=OFFER_IDS)
def test_a_long_message_that_mentions_a_title_is_not_a_choice(name, choices):
    for choice in choices:
        for typed in (
            f"{choice.title}，我在网上买的羽绒服商家一直不给退款",
            f"上周在徐汇区一家店买的东西有问题，{choice.title}",
            f"请问{choice.title}是什么意思，要准备什么材料",
        ):
            assert payload_of(typed, choices) is None, (name, typed)
        assert payload_of(f"不要{choice.title}", choices) != choice.payload, (name, choice.title)
        assert payload_of(f"/{choice.title}", choices) is None


def test_typed_commands_and_empty_text_are_never_choices():
    greet = offer("utter_greet")
    assert payload_of("/complain_general", greet) is None
    assert payload_of("／request_human", greet) is None  # the web app's neutralised slash
    assert payload_of("", greet) is None
    assert payload_of("。。。", greet) is None
    assert payload_of("转人工", []) is None


# ---------------------------------------------------------------- the failures of the issue


def test_the_callback_offer_typed():
    callback = offer("utter_offer_callback")
    call, queue, decline = (c.payload for c in callback)
    for typed in ("继续排队等人工", "排队", "我排队", "等一等", "我等着", "好的我再等等", "继续排队吧"):
        assert payload_of(typed, callback) == queue, typed
    for typed in ("留下电话等回电", "回电", "留电话", "打电话给我", "给我回个电话吧", "我要留电话"):
        assert payload_of(typed, callback) == call, typed
    for typed in ("先不用了", "不用了", "不用", "算了"):
        assert payload_of(typed, callback) == decline, typed
    # 3-way offer: no yes/no guessing, and a long message stays a message
    assert payload_of("好的", callback) is None
    assert payload_of("不", callback) is None
    assert payload_of("我要留下电话等回电，我的电话是13812345678，下午都方便", callback) is None


def test_keep_filling_is_not_cancel():
    offer_human = offer("utter_offer_human_form")
    keep = '/inform{"form_choice": "continue"}'
    for typed in ("继续填写", "继续", "接着填", "我自己填吧", "2"):
        assert payload_of(typed, offer_human) == keep, typed
    for typed in ("转人工", "人工", "人工客服", "我要转人工", "找人工"):
        assert payload_of(typed, offer_human) == "/request_human", typed
    assert payload_of("好的", offer_human) is None  # neither button is a yes


def test_anonymous_or_real_name():
    choices = offer("utter_ask_anonymous")
    anonymous, real = '/inform{"form_choice": "anonymous"}', '/inform{"form_choice": "real_name"}'
    for typed in ("匿名举报", "匿名", "匿名吧", "不留名", "我不想实名", "后者"):
        assert payload_of(typed, choices) == anonymous, typed
    for typed in ("实名举报", "实名", "前者", "不匿名"):
        assert payload_of(typed, choices) == real, typed
    assert payload_of("举报", choices) is None  # a part of both titles
    assert payload_of("好的", choices) is None  # not a yes/no question


def test_the_greeting_menu():
    greet = offer("utter_greet")
    assert payload_of("我要投诉", greet) == "/complain_general"
    assert payload_of("投诉", greet) == "/complain_general"
    assert payload_of("举报吧", greet) == "/report_violation"
    assert payload_of("查进度", greet) is None  # not a part of "查询工单进度", no synonym
    assert payload_of("工单进度", greet) == "/check_ticket_status"
    assert payload_of("人工", greet) == "/request_human"
    assert payload_of("最后一个", greet) == "/request_human"
    assert payload_of("投诉举报", greet) is None  # two titles at once
    assert payload_of("我要投诉楼下饭店卖过期食品", greet) is None
    assert payload_of("不要转人工", greet) is None
    assert payload_of("好的", greet) is None


# ---------------------------------------------------------------- yes / no


YES = ("好", "好的", "对", "是的", "可以", "行", "嗯", "好的吧", "OK")
NO = ("不", "不用", "不要", "不对", "没有", "不用了")


@pytest.mark.parametrize("name", ["utter_ask_kb_helpful", "utter_offer_human"])
def test_yes_and_no_pick_a_two_way_offer(name):
    choices = offer(name)
    yes, no = choices
    for typed in YES:
        assert payload_of(typed, choices) == yes.payload, typed
    for typed in NO:
        assert payload_of(typed, choices) == no.payload, typed


def test_yes_no_by_titles_and_not_for_three_ways():
    by_titles = [Choice("确认", "/inform{\"x\": 1}"), Choice("修改", "/inform{\"x\": 2}")]
    assert payload_of("好的", by_titles) == '/inform{"x": 1}'
    assert payload_of("不对", by_titles) == '/inform{"x": 2}'
    confirm = offer("utter_confirm_complaint")  # 确认 / 修改 / 取消
    assert payload_of("不", confirm) is None
    assert payload_of("提交吧", confirm) == "/affirm"
    assert payload_of("改一下", confirm) == "/deny"
    assert payload_of("不投诉了", confirm) == "/cancel"
    helpful = offer("utter_ask_kb_helpful")
    assert payload_of("帮助", helpful) is None  # a part of both
    assert payload_of("没有帮助", helpful) == "/deny"  # contains 有帮助, but negated
    assert payload_of("很有用", helpful) == "/affirm"


# ---------------------------------------------------------------- ordinals, forms, run-time buttons


def test_ordinals():
    district = offer("utter_ask_respondent_district")
    assert len(district) == 18
    assert payload_of("1", district) == district[0].payload
    assert payload_of("①", district) == district[0].payload
    assert payload_of("一", district) == district[0].payload
    assert payload_of("第二个", district) == district[1].payload
    assert payload_of("第12个", district) == district[11].payload
    assert payload_of("十八", district) == district[17].payload
    assert payload_of("最后一个", district) == district[-1].payload
    assert payload_of("19", district) is None
    assert payload_of("前者", district) is None  # only for two buttons
    assert payload_of("浦东", district) == '/inform{"district": "dist-pudong"}'
    assert payload_of("不知道", district) == '/inform{"form_choice": "unknown"}'
    assert payload_of("新区", district) == '/inform{"district": "dist-pudong"}'  # 临港新片区 lacks it
    assert payload_of("山区", district) is None  # 宝山区 or 金山区
    assert payload_of("区", district) is None  # one character is never a part
    two = offer("utter_ask_anonymous")
    assert payload_of("上面那个", two) == two[0].payload
    assert payload_of("下面那个", two) == two[1].payload


def test_a_lone_button_is_not_chosen_by_a_bare_number():
    amount = offer("utter_ask_amount")  # [不涉及]: "1" may be an amount of 1 yuan
    assert payload_of("1", amount) is None
    assert payload_of("1", amount, numbered=True) == amount[0].payload  # WeChat shows "1. 不涉及"
    assert payload_of("没有", amount) == amount[0].payload
    assert payload_of("2000", amount) is None
    assert payload_of("两千五", amount) is None


def test_edit_field_parts_must_be_unique():
    fields = offer("utter_ask_edit_field_complaint")
    assert payload_of("地址", fields) is None  # 通信地址 or 商家地址
    assert payload_of("商家", fields) is None
    assert payload_of("通信地址", fields) == '/inform{"form_choice": "complainant_address"}'
    assert payload_of("电话号码", fields) == '/inform{"form_choice": "phone"}'
    assert payload_of("改电话", fields) == '/inform{"form_choice": "phone"}'
    assert payload_of("我的电话号码写错了要改成别的", fields) is None


def test_run_time_buttons_knowledge_base_and_clarify():
    kb = [
        Choice("个体工商户怎么登记？", '/inform{"kb_entry_id": "biz.individual-business"}'),
        Choice("公司怎么简易注销？", '/inform{"kb_entry_id": "biz.simple-deregistration"}'),
        Choice("年报什么时候报？", '/inform{"kb_entry_id": "biz.annual-report"}'),
    ]
    assert payload_of("个体工商户怎么登记", kb) == kb[0].payload
    assert payload_of("简易注销", kb) == kb[1].payload
    assert payload_of("第三个", kb) == kb[2].payload
    assert payload_of("怎么", kb) is None
    assert payload_of("个体工商户怎么登记需要哪些材料和费用", kb) is None
    clarify = [
        Choice("退款退货纠纷，我要投诉", "/complain_refund"),
        Choice("预付卡/会员卡纠纷，我要投诉", "/complain_prepaid"),
        Choice("咨询消费维权规定", "/ask_consumer_rights"),
        Choice("都不是", "/deny"),
    ]
    assert payload_of("我要投诉", clarify) is None  # in two titles
    assert payload_of("预付卡", clarify) == "/complain_prepaid"
    assert payload_of("都不对", clarify) == "/deny"
    assert payload_of("好的", clarify) is None


# ---------------------------------------------------------------- offered_choices


def bot(text: str, buttons=None, **metadata) -> dict:
    return {"event": "bot", "text": text, "data": {"buttons": buttons}, "metadata": metadata}


def test_offered_choices_are_the_buttons_since_the_citizen_last_spoke():
    events = [
        {"event": "user", "text": "你好"},
        bot("菜单", [{"title": "我要投诉", "payload": "/complain_general"}]),
        {"event": "user", "text": "转人工"},
        {"event": "action", "name": "action_handoff"},
        bot("现在暂时没有人工坐席在线。"),
        bot("您可以留下电话", [
            {"title": "留下电话等回电", "payload": "/request_human{\"handoff_choice\": \"callback\"}"},
            {"title": "继续排队等人工", "payload": "/request_human{\"handoff_choice\": \"queue\"}"},
        ]),
        bot("或者", [{"title": "转人工", "payload": "/request_human"}, {"payload": "/deny"},
                     {"title": "留下电话等回电", "payload": "/request_human{\"handoff_choice\": \"callback\"}"},
                     {"title": "坏的"}, "junk"]),
        {"event": "action", "name": "action_listen"},
    ]
    assert [c.title for c in offered_choices(events)] == ["留下电话等回电", "继续排队等人工", "转人工", "/deny"]
    assert offered_choices(events + [{"event": "user", "text": "排队"}]) == []
    assert offered_choices(events + [bot("您好，我是坐席小王", agent="小王")]) == []
    assert offered_choices(events + [{"event": "restart"}]) == []
    assert offered_choices([]) == []


def test_the_synonym_file_is_well_formed():
    groups = load_synonyms()
    names = [g.name for g in groups]
    assert len(names) == len(set(names)) and {"queue", "callback", "human"} <= set(names)
    queue = next(g for g in groups if g.name == "queue")
    assert queue.fits(Choice("继续排队等人工", "/x")) and not queue.fits(Choice("转人工", "/request_human"))


def test_a_malformed_synonym_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "s.yml"
    bad.write_text("groups:\n  - name: x\n    anchors: [{colour: red}]\n    phrases: [a]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="bad anchor"):
        load_synonyms(bad)


def test_giving_up_again_confirms_a_cancel():
    from xiaoan.understanding.choices import Choice, resolve_choice
    offer = [Choice("确认取消", "/cancel"), Choice("继续填写", '/inform{"form_choice": "continue"}')]
    assert resolve_choice("算了", offer).payload == "/cancel"
    assert resolve_choice("是的", offer).payload == "/cancel"
    assert resolve_choice("不", offer).payload.startswith("/inform")
    assert resolve_choice("继续", offer).payload.startswith("/inform")
