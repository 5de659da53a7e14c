"""Agent assist, the logic (xiaoan.handoff.assist): the live summary of realistic transcripts,
knowledge-base suggestions, the ticket form's prefill."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from xiaoan.handoff import assist
from xiaoan.handoff.assist import (
    citizen_messages,
    draft_slots,
    load_assist_labels,
    parse_assist_labels,
    suggest,
    summarize,
    summary_rows,
    ticket_values,
)
from xiaoan.handoff.service import SessionView
from xiaoan.kb.loader import read_dir
from xiaoan.kb.service import StaticSearchService
from xiaoan.localtime import SHANGHAI

# Thursday 3 December 2026, 10:00 in Shanghai
T0 = dt.datetime(2026, 12, 3, 10, 0, tzinfo=SHANGHAI).timestamp()


def transcript(*turns, intents: dict[int, str] | None = None) -> list[dict]:
    """Tracker events: each citizen turn (str) followed by a short bot answer; a dict is used as is."""
    events: list[dict] = []
    for i, turn in enumerate(turns):
        if isinstance(turn, dict):
            events.append(turn)
            continue
        intent = (intents or {}).get(i, "inform")
        events.append({"event": "user", "text": turn, "timestamp": T0 + 60 * i,
                       "parse_data": {"intent": {"name": intent, "confidence": 0.9}}})
        events.append({"event": "bot", "text": "好的，请继续。", "timestamp": T0 + 60 * i + 1})
    return events


def rows_by_key(summary, masker=None) -> dict[str, dict]:
    return {row["key"]: row for row in summary_rows(summary, masker=masker)}


# --- the summary of realistic transcripts -----------------------------------------------------------

def test_prepaid_card_gone_in_several_chat_lines():
    events = transcript("浦东的健身房老板跑路了，卡里还有两千块",
                        "店名叫力美健身，在张杨路500号",
                        "上个月15号还开着，这周一去就关门了",
                        "我要求退还剩余的钱",
                        "转人工",
                        intents={0: "complain_prepaid", 4: "request_human"})
    summary = summarize(events, {}, intent="request_human", reason="requested")
    assert summary.intent == "complain_prepaid"            # the topic, not the request for a person
    assert (summary.merchant, summary.merchant_address, summary.district) == ("力美健身", "张杨路500号", "pudong")
    assert summary.amount == Decimal("2000")
    assert summary.claim == "退还剩余的钱"
    assert dt.date(2026, 11, 15) in summary.dates and dt.date(2026, 11, 30) in summary.dates   # 这周一
    assert summary.mood == "calm" and summary.mood_message is None
    assert summary.latest_question == "我要求退还剩余的钱"    # "转人工" is no question
    assert summary.question_intent == "inform"
    rows = rows_by_key(summary)
    assert [r["key"] for r in summary_rows(summary)][:2] == ["topic", "claim"]
    assert rows["topic"]["value"] == "预付卡纠纷"
    assert rows["amount"]["value"] == "2,000 元"
    assert rows["district"]["value"] == "浦东新区"
    assert rows["merchant"]["source"] == "从对话中识别"
    assert rows["mood"]["value"] == "平稳" and rows["mood"]["level"] == "calm"


def test_angry_citizen_with_an_online_refund():
    events = transcript("什么破系统，我都问第三次了，转人工！", "网上买的羽绒服商家不给退款，花了899元",
                        intents={0: "request_human", 1: "complain_refund"})
    summary = summarize(events, {}, intent="request_human", reason="angry")
    assert summary.intent == "complain_refund"
    assert summary.amount == Decimal("899")
    assert summary.mood == "angry"
    row = rows_by_key(summary)["mood"]
    assert row["level"] == "angry" and "情绪激动" in row["value"] and "什么破系统" in row["value"]


def test_a_hazard_happening_now_is_urgent_and_outranks_anger():
    events = transcript("你们这个破机器人根本没用", "电梯困人了，快来人，在徐汇区漕溪北路88号")
    summary = summarize(events, {}, reason="urgent")
    assert summary.mood == "urgent" and summary.mood_message == "电梯困人了，快来人，在徐汇区漕溪北路88号"
    assert summary.district == "xuhui"
    assert "紧急" in rows_by_key(summary)["mood"]["value"]


def test_a_hand_off_for_anger_sets_the_mood_when_no_message_shows_it():
    summary = summarize(transcript("我要投诉", intents={0: "complain_general"}), {}, reason="angry")
    assert summary.mood == "angry" and summary.mood_message is None


def test_long_letter_with_dates_and_personal_data_masked_when_shown():
    letter = ("2026年11月20日我在闵行区七宝镇的“好味道餐厅”吃饭，吃完以后全家拉肚子，花了560元。"
              "我要求商家退款并按规定赔偿。我电话13812345678")
    summary = summarize(transcript(letter, intents={0: "complain_general"}), {})
    assert (summary.merchant, summary.district, summary.amount) == ("好味道餐厅", "minhang", Decimal("560"))
    assert summary.claim == "商家退款并按规定赔偿" and summary.dates == [dt.date(2026, 11, 20)]
    shown = rows_by_key(summary)["latest_question"]["value"]
    assert "138****5678" in shown and "13812345678" not in shown
    assert "13812345678" in rows_by_key(summary, masker=lambda t: t)["latest_question"]["value"]   # revealed


def test_what_the_forms_gathered_wins_over_parsing():
    events = transcript("健身房跑路了，卡里还有两千", intents={0: "complain_prepaid"})
    slots = {"respondent_name": "上海力美健身管理有限公司", "amount": "2500", "respondent_address": "长宁区天山路8号",
             "complainant_name": "张三丰", "complainant_address": "静安区武定路1号"}
    summary = summarize(events, slots)
    assert (summary.merchant, summary.amount, summary.district) == ("上海力美健身管理有限公司", Decimal("2500"),
                                                                    "changning")
    rows = rows_by_key(summary)
    assert rows["merchant"]["source"] == rows["amount"]["source"] == "小安已收集"


def test_the_citizens_own_name_and_address_are_masked_in_the_summary():
    from xiaoan.privacy import identity_masker

    slots = {"complainant_name": "张三丰", "complainant_address": "静安区武定路100号"}
    events = transcript("我叫张三丰，住在静安区武定路100号，楼下小店卖过期面包", intents={0: "report_violation"})
    rows = summary_rows(summarize(events, slots), masker=identity_masker(slots))
    text = " ".join(r["value"] for r in rows)
    assert "张三丰" not in text and "武定路100号" not in text


def test_button_payloads_and_bot_turns_are_not_the_citizens_words():
    events = [{"event": "user", "text": "/affirm", "timestamp": T0},
              {"event": "bot", "text": "卡里还有三千元吗？", "timestamp": T0 + 1},
              {"event": "user", "text": "对的", "metadata": {"display_text": "确认"}, "timestamp": T0 + 2}]
    assert [m.text for m in citizen_messages(events)] == ["确认"]
    summary = summarize(events, {})
    assert summary.amount is None and summary.latest_question is None
    assert [r["key"] for r in summary_rows(summary)] == ["mood"]


def test_an_empty_conversation_summarises_to_nothing():
    summary = summarize([], None)
    assert (summary.claim, summary.merchant, summary.amount, summary.dates, summary.mood) == (None, None, None, [], "calm")


# --- the wording file ------------------------------------------------------------------------------

def test_the_wording_file_has_every_field_and_mood():
    wording = load_assist_labels()
    assert set(wording.fields) == set(assist.FIELDS) and set(wording.moods) == set(assist.MOODS)


def test_a_broken_wording_file_is_named():
    with pytest.raises(assist.AssistLabelsError, match="fields.claim"):
        parse_assist_labels({"amount_unit": "元", "insert": "插入", "confident": "是", "fields": {"topic": "事项"},
                             "moods": {}, "sources": {}, "empty": {}}, "assist_labels.yml")


# --- knowledge-base suggestions ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def kb():
    """The real knowledge base from the YAML files, lexical search only (fast, deterministic)."""
    return StaticSearchService(read_dir().entries, encoder=None)


def test_suggestions_for_the_latest_question_top_three_with_scores(kb):
    found = suggest(kb, "网购衣服七天无理由退货运费谁出")
    assert 1 <= len(found) <= 3
    assert found[0].entry_id == "consumer.seven-day-return" and found[0].answer
    assert all(0 < s.score <= 1 for s in found) and [s.score for s in found] == sorted((s.score for s in found),
                                                                                     reverse=True)
    assert found[0].confident and not any(s.confident for s in found[1:])


def test_suggestions_follow_the_question(kb):
    assert suggest(kb, "个体户营业执照怎么办")[0].entry_id == "biz.individual-business"
    assert suggest(kb, "公司拖欠工资怎么办")[0].entry_id == "redirect.labour"


def test_no_question_no_suggestions(kb):
    assert suggest(kb, None) == [] and suggest(kb, "   ") == []


def test_another_citys_question_gets_no_shanghai_answer(kb):
    assert suggest(kb, "北京的个体户营业执照怎么办") == []


# --- the ticket form's prefill ---------------------------------------------------------------------

def view(**changes) -> SessionView:
    base = dict(id=1, conversation_id="web-1", channel="web", input_channel="rest", reason="requested",
                priority=1, status="active", intent="complain_prepaid", active_form=None, slots={},
                waiting_since=dt.datetime(2026, 12, 3, 2, 0, tzinfo=dt.timezone.utc), agent_id=1,
                agent_name="王芳", taken_at=None, last_agent_activity_at=None, ended_at=None, ended_by=None,
                ticket_no=None)
    base.update(changes)
    return SessionView(**{k: v for k, v in base.items() if k in SessionView.__dataclass_fields__})


def test_prefill_fills_only_what_the_forms_left_empty():
    events = transcript("浦东的健身房老板跑路了，卡里还有两千块", "店名叫力美健身，在张杨路500号", "我要求退还剩余的钱",
                        intents={0: "complain_prepaid"})
    values = ticket_values({"complainant_name": "张三", "respondent_name": "力美健身（张杨路店）"},
                           summarize(events, {"respondent_name": "力美健身（张杨路店）"}))
    assert values["complainant_name"] == "张三"
    assert values["respondent_name"] == "力美健身（张杨路店）"           # gathered: kept
    assert values["respondent_address"] == "张杨路500号" and values["amount"] == "2000"
    assert values["claim"] == "退还剩余的钱" and values["district"] == "pudong"
    assert values["facts"].startswith("浦东的健身房老板跑路了") and "店名叫力美健身" in values["facts"]


def test_prefill_without_a_tracker_is_the_slots():
    slots = {"respondent_name": "某某健身"}
    assert draft_slots(None, view(), slots) == slots
    assert draft_slots({"events": []}, view(), slots) == slots
