"""The simulated citizens of the conversation benchmark (bench/personas.py) and its driver's
citizen logic and scoring (bench/conversation_bench.py), without starting the stack."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from bench import personas as P
from bench.conversation_bench import Citizen, Outcome, figures, mask, play

ROOT = Path(__file__).resolve().parents[2]
DISTRICTS = yaml.safe_load((ROOT / "xiaoan" / "resources" / "districts.yml").read_text(encoding="utf-8"))
RULES = yaml.safe_load((ROOT / "xiaoan" / "tickets" / "routing_rules.yml").read_text(encoding="utf-8"))
ROAD_WORDS = ("路", "街", "弄", "大道", "公路", "巷")


def districts_named(address: str) -> set[str]:
    """The districts an address names, by districts.yml: a district's own names (not when a road
    word follows: 奉贤路 is a street), its old names and its places; 临港 wins over its `within`."""
    found = set()
    for code, spec in DISTRICTS["districts"].items():
        for term in spec["aliases"] + spec["old_names"]:
            for m in re.finditer(re.escape(term), address):
                if not address[m.end():].startswith(ROAD_WORDS):
                    found.add(code)
        if any(place in address for place in spec["places"]):
            found.add(code)
    if "lingang" in found:
        found -= set(DISTRICTS["districts"]["lingang"]["within"])
    return found


def test_same_seed_same_personas_and_other_seed_other_personas():
    a, b = P.generate("dev", 30, seed=3), P.generate("dev", 30, seed=3)
    assert [p.__dict__ for p in a] == [p.__dict__ for p in b]
    c = P.generate("dev", 30, seed=4)
    assert [p.opening for p in a] != [p.opening for p in c]


def test_splits_are_disjoint():
    dev, sealed = P.generate("dev", 300), P.generate("sealed", 300)
    assert not {p.seed for p in dev} & {p.seed for p in sealed}
    key = lambda p: (p.expected["complainant_name"], p.expected["phone"], p.expected["respondent_name"])  # noqa: E731
    assert not {key(p) for p in dev} & {key(p) for p in sealed}
    # the largest dev seed range stays below the sealed base
    assert P.SPLIT_BASES["dev"] + P.MAX_SEED * P.MAX_PER_SEED <= P.SPLIT_BASES["sealed"]
    with pytest.raises(ValueError):
        P.make_persona("dev", P.MAX_SEED, 0)
    with pytest.raises(ValueError):
        P.make_persona("test", 0, 0)


def test_population_covers_intents_behaviours_and_openings():
    people = P.generate("sealed", 300)
    assert {p.intent for p in people} == {"complain_refund", "complain_prepaid", "complain_general",
                                          "report_violation"}
    assert {p.opening_style for p in people} == {"short", "letter"}
    assert {p.correction for p in people} >= {None, "inline", "readback"}
    assert any(p.question for p in people) and any(p.cancel_at for p in people)
    assert any(len(p.expected["complainant_name"] or "") >= 3 and p.expected["complainant_name"][:2] in
               {s for s, _ in P.surnames()[1]} for p in people)
    letters = [p.opening for p in people if p.opening_style == "letter"]
    assert min(map(len, letters)) >= 100 and max(map(len, letters)) <= 600
    reports = [p for p in people if p.kind == "report"]
    assert {p.expected["complainant_name"] is None for p in reports} == {True, False}


def test_surname_and_name_data():
    single, compound = P.surnames()
    assert len(single) >= 300 and {"欧阳", "司马", "诸葛", "上官"} <= {s for s, _ in compound}
    assert single[0][0] == "王" and all(len(s) == 1 for s, _ in single)
    gens = P.given_names()
    assert abs(sum(g["share"] for g in gens.values()) - 1) < 0.01


def test_roads_lie_in_their_district_by_districts_yml():
    data = P.roads()
    assert set(data["districts"]) == set(DISTRICTS["districts"])
    for code, spec in data["districts"].items():
        assert len(spec["roads"]) >= 13, code
        for road in spec["roads"]:
            named = districts_named(road)
            assert named <= {code} | ({"pudong"} if code == "lingang" else set()), (code, road, named)
        for form in spec["forms"]:
            assert districts_named(form + spec["roads"][0] + "1号") == {code}, (code, form)


def test_expected_tickets_are_consistent():
    agencies = set(RULES["agencies"])
    special = [kw for rule in RULES["rules"] if rule["id"] not in ("district", "triage") and "any" in rule
               for kw in rule["any"]] + ["专利", "不良反应", "不良事件"]
    for p in P.generate("dev", 300) + P.generate("sealed", 300):
        exp = p.expected
        assert exp["agency"] in agencies
        if exp["district"] is None:
            assert exp["agency"] == "city-samr" and exp["platform"]
            assert any(m in exp["respondent_address"] for m in DISTRICTS["outside_shanghai"])
        else:
            assert districts_named(exp["respondent_address"]) == {exp["district"]}, exp["respondent_address"]
            assert exp["agency"] == f"dist-{exp['district']}"
        assert exp["kind"] == ("report" if p.intent == "report_violation" else "complaint")
        if exp["phone"]:
            digits = re.sub(r"\D", "", exp["phone"])
            assert len(digits) == 11 and exp["phone_masked"] == f"{digits[:3]}****{digits[-4:]}"
            assert exp["phone_masked"][-4:] in re.sub(r"\D", "", p.answers["phone"]) or "phone" in p.wrong
        if exp["complainant_name"]:
            assert exp["complainant_name"] in p.answers["complainant_name"] or "complainant_name" in p.wrong
        assert exp["respondent_name"] in p.answers["respondent_name"]
        if exp["kind"] == "complaint":
            assert exp["claim"] and all(w in exp["claim"] for w in p.claim_words)
            assert "amount" in p.answers and "anonymous" not in p.answers
        else:
            assert exp["amount"] is None and "amount" not in p.answers and "claim" not in p.answers
        text = p.opening + p.answers["facts"] + (exp["claim"] or "") + exp["respondent_name"]
        assert not [kw for kw in special if kw in text], (p.pid, text)


@pytest.mark.parametrize("value, forms", [
    (2500, {"2500元", "两千五", "2千5", "2,500元", "两千五百元"}),
    (25000, {"2.5万", "2.5万元", "25k"}),
    (6800, {"6千8", "六千八"}),
    (1350, {"1,350元", "1350块"}),
])
def test_amount_forms_mean_the_value(value, forms):
    import random

    seen = {P.render_amount(value, random.Random(i)) for i in range(300)}
    assert forms <= seen
    assert P.chinese_number(value) in {"两千五百", "两万五千", "六千八百", "一千三百五十"}
    assert P.chinese_number(10) == "十" and P.chinese_number(1005) == "一千零五"


def test_score_ticket_right_and_wrong():
    person = next(p for p in P.generate("dev", 50) if p.kind == "complaint" and p.expected["amount"]
                  and not p.expected["phone"].startswith("021"))
    exp = person.expected
    right = {"ticket_no": "XA-261204-0001", "kind": "complaint", "intent": person.intent,
             "agency": exp["agency"], "district": exp["district"], "respondent_name": exp["respondent_name"],
             "complainant_name": exp["complainant_name"], "phone_masked": exp["phone_masked"],
             "claim": "我的诉求是" + exp["claim"], "amount": exp["amount"], "created_at": "2026-12-04T10:00:00",
             "contact_by": "2026-12-07", "resolve_by": "2026-12-11"}
    assert all(P.score_ticket(person, right).values())
    wrong = dict(right, respondent_name=exp["respondent_name"][2:], amount=exp["amount"] + 100,
                 phone_masked="139****0000", district="huangpu" if exp["district"] != "huangpu" else "xuhui",
                 claim="其他", resolve_by=None)
    verdict = P.score_ticket(person, wrong)
    assert [f for f, ok in verdict.items() if not ok] == ["district", "respondent_name", "phone_masked", "claim",
                                                          "amount", "deadlines"]
    assert not any(P.score_ticket(person, None).values())
    # an anonymous report must carry no name and no phone
    anon = next(p for p in P.generate("dev", 100) if p.kind == "report" and p.expected["complainant_name"] is None)
    ticket = {"kind": "report", "agency": anon.expected["agency"], "district": anon.expected["district"],
              "respondent_name": anon.expected["respondent_name"], "complainant_name": None, "phone_masked": None,
              "claim": None, "amount": None, "created_at": "2026-12-04", "contact_by": "2026-12-07",
              "resolve_by": "2026-12-24"}
    assert all(P.score_ticket(anon, ticket).values())
    assert not P.score_ticket(anon, dict(ticket, complainant_name="张伟"))["complainant_name"]


# --- the citizen against a minimal fake assistant ---------------------------------------------------

class FakeAssistant:
    """Asks the form's slots in order, fills them with the raw text, accepts 修改/确认, honours 算了 by
    offering to resume, and makes a ticket; records what it received."""

    def __init__(self, kind: str, bad_phone_once: bool = False):
        self.order = (["complainant_name", "phone", "complainant_address", "respondent_name", "respondent_address",
                       "facts", "claim", "amount"] if kind == "complaint"
                      else ["respondent_name", "respondent_address", "facts", "anonymous", "complainant_name", "phone"])
        self.kind, self.values, self.requested, self.loop = kind, {}, None, None
        self.bad_phone_once, self.paused = bad_phone_once, False
        self.editing = False

    def _next(self):
        for slot in self.order:
            if slot in ("complainant_name", "phone") and self.kind == "report" and self.values.get("anonymous") == "匿名":
                continue
            if slot not in self.values:
                return slot
        return "confirmation"

    def say(self, sender, text):
        if self.loop is None:
            self.loop = f"{self.kind}_form"
        elif text.startswith("算了"):
            self.paused = True
            return [{"text": "要取消吗？", "buttons": [{"title": "继续填写", "payload": "/inform"}]}]
        elif self.paused and text == "继续填写":
            self.paused = False
        elif "说错了" in text or "打错" in text or "应该是" in text or "不对" in text:
            value = re.sub(r"^.*?(是|叫)", "", text)
            slot = "phone" if re.search(r"\d{6}", value) and "金额" not in text else (
                "amount" if "金额" in text else "complainant_name")
            self.values[slot] = value
        elif text.endswith("？"):
            return [{"text": "一般五个工作日内答复。"}]
        elif self.requested == "confirmation":
            if text == "修改":
                self.requested = "edit_field"
                return [{"text": "改哪一项？"}]
            return [{"text": f"已登记，工单号 XA-261204-{len(self.values):04d}"}]
        elif self.requested == "edit_field":
            slot = {v: k for k, v in P.EDIT_FIELD_LABELS.items()}[text]
            self.values.pop(slot)
        elif self.requested == "phone" and self.bad_phone_once:
            self.bad_phone_once = False
            return [{"text": "号码不对"}]
        elif self.requested:
            self.values[self.requested] = "匿名" if "匿名" in text else text
        self.requested = self._next()
        return [{"text": f"请提供{self.requested}"}]

    def tracker(self, sender):
        return {"slots": {"requested_slot": self.requested}, "active_loop": {"name": self.loop}, "events": []}


def _persona(pred):
    return next(p for p in P.generate("dev", 400) if pred(p))


def test_citizen_answers_the_requested_slots_and_confirms():
    person = _persona(lambda p: p.kind == "complaint" and not p.correction and not p.question and not p.cancel_at)
    bot = FakeAssistant("complaint")
    out = play(bot, person)
    assert out.ticket_no and out.rephrases == 0 and not out.stuck
    assert bot.values["respondent_name"] == person.answers["respondent_name"]
    assert bot.values["amount"] == person.answers["amount"]
    assert out.turns == 1 + 8 + 1  # opening, eight answers, 确认


def test_citizen_corrects_inline_and_at_the_read_back():
    inline = _persona(lambda p: p.correction == "inline" and "phone" in p.wrong and p.kind == "complaint"
                      and not p.question and not p.cancel_at)
    bot = FakeAssistant("complaint")
    play(bot, inline)
    assert inline.expected["phone"] in bot.values["phone"]
    readback = _persona(lambda p: p.correction == "readback" and p.kind == "complaint" and not p.cancel_at)
    bot = FakeAssistant("complaint")
    out = play(bot, readback)
    target = next(iter(readback.wrong))
    assert out.ticket_no and bot.values[target] == readback.answers[target]
    assert any(text == "修改" for who, text in out.transcript if who == "citizen")
    assert out.rephrases == 0


def test_citizen_asks_cancels_resumes_and_rephrases():
    asker = _persona(lambda p: p.question and not p.correction)
    out = play(FakeAssistant(asker.kind), asker)
    assert out.ticket_no and asker.question[1] in [t for _, t in out.transcript] and out.rephrases == 0
    quitter = _persona(lambda p: p.cancel_at and not p.correction and not p.question)
    out = play(FakeAssistant(quitter.kind), quitter)
    said = [t for who, t in out.transcript if who == "citizen"]
    assert out.ticket_no and quitter.cancel_text in said and "继续填写" in said
    person = _persona(lambda p: p.kind == "complaint" and not p.correction and not p.question and not p.cancel_at)
    out = play(FakeAssistant("complaint", bad_phone_once=True), person)
    assert out.ticket_no and out.rephrases == 1


def test_stuck_when_no_form_ever_starts():
    class Deaf:
        def say(self, sender, text):
            return [{"text": "抱歉，没听懂。"}]

        def tracker(self, sender):
            return {"slots": {}, "active_loop": {}, "events": []}

    person = P.make_persona("dev", 0, 1)
    out = play(Deaf(), person)
    assert out.stuck and not out.ticket_no and out.turns == 4
    said = [t for who, t in out.transcript if who == "citizen"]
    assert said[1] == person.fallback_opening and said[2] in ("我要投诉商家", "我要举报商家")


def test_citizen_types_the_fitting_offered_choice():
    person = _persona(lambda p: p.kind == "report")
    citizen = Citizen(person)
    offer = [{"text": "您是想办下面哪件事？", "buttons": [{"title": "我要投诉", "payload": "/complain_general"},
                                                      {"title": "我要举报", "payload": "/report_violation"}]}]
    assert citizen.next_message({"slots": {}, "active_loop": {}}, offer) == "我要举报"
    assert citizen.rephrases == 1


def test_fitting_choice_picks_the_citizens_own_filing():
    from bench.conversation_bench import fitting_choice

    clarify = ["预付卡/会员卡纠纷，我要投诉", "咨询投诉举报流程或其他监管问题", "其他部门的事", "都不是"]
    assert fitting_choice(clarify, "complain_prepaid") == "预付卡/会员卡纠纷，我要投诉"
    assert fitting_choice(clarify, "complain_general") is None
    assert fitting_choice(clarify, "report_violation") is None
    offer = ["商品或服务有问题，我要投诉", "举报违法经营行为", "转人工"]
    assert fitting_choice(offer, "complain_refund") == "商品或服务有问题，我要投诉"
    assert fitting_choice(offer, "report_violation") == "举报违法经营行为"
    assert fitting_choice(["我要投诉", "退款纠纷，我要投诉"], "complain_refund") == "退款纠纷，我要投诉"
    assert fitting_choice(["我要投诉", "退款纠纷，我要投诉"], "complain_general") == "我要投诉"


def test_figures_and_masking():
    good = Outcome("a", "complain_refund", "complaint", "short", turns=10, ticket={"x": 1},
                   fields={f: True for f in P.SCORED_FIELDS}, intent_right=True)
    redo = copy.deepcopy(good)
    redo.rephrases = 1
    bad = Outcome("b", "report_violation", "report", "letter", turns=30, stuck=True,
                  fields={f: False for f in P.SCORED_FIELDS})
    fig = figures([good, redo, bad])
    assert fig["right_first_pct"] == 33.3 and fig["fully_right_pct"] == 66.7 and fig["created_pct"] == 66.7
    assert fig["stuck"] == 1 and fig["mean_turns_per_ticket"] == 10 and fig["field_errors"]["amount"] == 0
    assert mask("电话 138 1234 5678 和 021-61234567") == "电话 138****5678 和 021****4567"


# --- the sealed letters and their scoring (bench/letters_bench.py) ---------------------------------

def test_sealed_letters_are_well_formed():
    from bench.letters_bench import KIND_OF_INTENT, load_letters

    letters = load_letters()
    assert len(letters) >= 120 and len({x["id"] for x in letters}) == len(letters)
    codes = set(DISTRICTS["districts"])
    kinds = {"complaint", "report", "consultation", "out_of_scope"}
    for x in letters:
        assert 100 <= len(x["text"]) <= 1000, x["id"]
        assert x["kind"] in kinds and KIND_OF_INTENT[x["intent"]] == x["kind"], x["id"]
        assert x["district"] is None or x["district"] in codes, x["id"]
        if x["kind"] in ("consultation", "out_of_scope"):
            assert x["respondent_name"] is None and x["amount"] is None and x["district"] is None, x["id"]
        else:
            assert x["respondent_name"], x["id"]
        if x["kind"] == "report":
            assert x["amount"] is None, x["id"]
    assert {x["intent"] for x in letters} == set(KIND_OF_INTENT)
    closed = ("跑路", "关门", "停业", "失联", "联系不上", "关了")
    assert sum(x["intent"] == "complain_prepaid" and any(w in x["text"] for w in closed) for x in letters) >= 12


def test_letter_judging():
    from bench.letters_bench import figures, judge, parse_amount

    letter = {"kind": "complaint", "intent": "complain_prepaid", "respondent_name": "清风洗衣（天山路店）",
              "amount": 800, "district": "changning"}
    right = judge(letter, "complain_prepaid", {"respondent_name": "清风洗衣(天山路店)", "amount": "800",
                                               "district": "changning"})
    assert right == {"kind": True, "intent": True, "merchant": True, "amount": True, "district": True}
    wrong = judge(letter, "complain_refund", {"respondent_name": "天山路店", "amount": "none", "district": None})
    assert wrong == {"kind": True, "intent": False, "merchant": False, "amount": False, "district": False}
    ask = {"kind": "consultation", "intent": "ask_regulation", "respondent_name": None, "amount": None,
           "district": None}
    assert judge(ask, "complain_general", {}) == {"kind": False, "intent": False, "merchant": None, "amount": None,
                                                  "district": None}
    fig = figures([right, wrong, judge(ask, "ask_regulation", {})])
    assert fig["kind_accuracy_pct"] == 100.0 and fig["intent_accuracy_pct"] == 66.7
    assert fig["merchant_prefilled_right_pct"] == 50.0 and fig["merchant_prefilled_right_n"] == 2
    assert parse_amount("1,350") == 1350 and parse_amount("none") is None
    # misses are split into "nothing prefilled" and "a wrong value" (aggregate diagnosis of a sealed split)
    not_given = dict(wrong, _merchant_given=True, _amount_given=False)
    wrong_value = dict(wrong, _merchant_given=False, _amount_given=True)
    fig = figures([right, not_given, wrong_value])
    assert (fig["amount_missing_n"], fig["amount_wrong_value_n"]) == (1, 1)
    assert (fig["merchant_missing_n"], fig["merchant_wrong_value_n"]) == (1, 1)
