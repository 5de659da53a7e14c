"""The checks on a direct answer of knowledge-base search (xiaoan/kb/guard.py): the sibling rule
for a general entry and a finer one, and the near-miss guard for questions no entry covers."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import numpy as np
import pytest

from xiaoan.kb import guard
from xiaoan.kb.schema import EntryData
from xiaoan.kb.search import ANSWER, CHOICES, LEXICAL, KbIndex, Thresholds, load_settings

TODAY = dt.date(2026, 12, 5)


def entry(entry_id: str, title: str, phrasings: list[str], answer: str = "回答。") -> EntryData:
    return EntryData(id=entry_id, area=entry_id.split(".")[0], title=title, phrasings=phrasings, answer=answer,
                     status="published", updated_by="t")


# --- distinguishing words and the sibling rule ----------------------------------------------------


def test_distinguishing_words_are_the_finer_entrys_own_specific_words():
    words = guard.distinguishing_words(
        ["个体工商户", "年报"],                                    # title and tags
        [["小摊", "年报"], ["小摊", "报送"], ["夫妻店"]],          # phrasings
        ["公司", "年报", "报送"],                                  # the general entry's questions
        is_generic=lambda w: w == "夫妻店",
    )
    # 年报 and 报送 are the general entry's words too; 夫妻店 is generic (and in one phrasing only)
    assert words == {"个体工商户", "小摊"}


def test_one_character_words_never_distinguish():
    assert guard.distinguishing_words(["店"], [], [], is_generic=lambda w: False) == frozenset()


FINER = {"biz.report-individual": "biz.report"}
WORDS = {"biz.report-individual": frozenset({"个体工商户"})}


@pytest.mark.parametrize("ids, words, expected", [
    (["biz.report", "biz.report-individual"], ["个体工商户", "年报"], guard.Pair(1, 0, True)),
    (["biz.report-individual", "biz.report"], ["年报"], guard.Pair(0, 1, False)),
    (["biz.report", "biz.other"], ["个体工商户"], None),   # not a pair
    (["biz.report-individual"], ["个体工商户"], None),     # alone
])
def test_sibling_pair_is_the_two_best_hits_of_a_finer_relation(ids, words, expected):
    assert guard.sibling_pair(ids, words, FINER, WORDS) == expected


@pytest.mark.parametrize("decision, pair, expected", [
    # the question has the finer entry's words: answer the finer entry, wherever it ranks
    (ANSWER, guard.Pair(1, 0, True), (ANSWER, 1, None)),
    (ANSWER, guard.Pair(0, 1, True), (ANSWER, 0, None)),
    # a finer entry first without its words: the clarifying question between the two
    (ANSWER, guard.Pair(0, 1, False), (CHOICES, None, (0, 1))),
    # the general entry first without the finer words stays the answer
    (ANSWER, guard.Pair(1, 0, False), (ANSWER, 0, None)),
    # not answering: the pair alone is offered (the clarifying question names both)
    (CHOICES, guard.Pair(1, 0, True), (CHOICES, None, (0, 1))),
    ("none", guard.Pair(1, 0, True), ("none", None, None)),
    (ANSWER, None, (ANSWER, 0, None)),
])
def test_resolve_siblings(decision, pair, expected):
    assert guard.resolve_siblings(decision, pair) == expected


KB = [
    entry("biz.report", "企业年报怎么报送", ["公司年报在哪里填", "年度报告截止时间", "年报漏报怎么办"],
          "每年1月1日至6月30日报送上一年度的年度报告。"),
    entry("biz.report-individual", "个体工商户年报怎么报", ["个体工商户要不要年报", "我是个体工商户年报在哪填",
                                                         "小摊贩个体工商户年度报告"],
          "个体工商户可以纸质或网上报送年度报告。"),
    entry("reg.elevator", "电梯困人找谁", ["电梯故障", "电梯坏了"], "拨打电梯内的救援电话。"),
]


@pytest.fixture(scope="module")
def base_settings():
    settings = load_settings()
    return dataclasses.replace(settings, rankers={}, guards={}, finer=dict(FINER), sibling_answers=True,
                               thresholds={LEXICAL: Thresholds(answer=0.05, margin=0.0, choices=0.05)})


def test_a_finer_entry_is_answered_only_with_its_distinguishing_words(base_settings):
    index = KbIndex(KB, base_settings, encoder=None)
    assert "个体工商户" in index._finer_words["biz.report-individual"]
    with_words = index.search("个体工商户年报怎么报送", today=TODAY)
    assert with_words.decision == ANSWER and with_words.answer.entry.id == "biz.report-individual"


def test_a_finer_entry_first_without_its_words_becomes_the_clarifying_question(base_settings):
    # the finer entry ranks first (only the finer entry's title says 怎么报), yet nothing in the
    # question says it is about a 个体工商户: ask which of the two
    index = KbIndex(KB, base_settings, encoder=None)
    result = index.search("年报怎么报", today=TODAY)
    assert result.hits[0].entry.id == "biz.report-individual"
    assert result.decision == CHOICES
    assert [h.entry.id for h in result.choices] == ["biz.report-individual", "biz.report"]
    unrelated = dataclasses.replace(base_settings, finer={})
    assert KbIndex(KB, unrelated, encoder=None).search("年报怎么报", today=TODAY).decision == ANSWER


def test_without_sibling_answers_the_rule_only_narrows_choices(base_settings):
    answers_kept = dataclasses.replace(base_settings, sibling_answers=False)
    result = KbIndex(KB, answers_kept, encoder=None).search("年报怎么报", today=TODAY)
    assert result.decision == ANSWER and result.answer.entry.id == "biz.report-individual"
    # not answering: the pair at the top is offered alone, whatever else scored
    undecided = dataclasses.replace(answers_kept, thresholds={LEXICAL: Thresholds(answer=0.99, margin=0.0,
                                                                                   choices=0.01)})
    result = KbIndex(KB, undecided, encoder=None).search("年报怎么报", today=TODAY)
    assert result.decision == CHOICES
    assert [h.entry.id for h in result.choices] == ["biz.report-individual", "biz.report"]


# --- the near-miss guard ------------------------------------------------------------------------


def test_missing_key_words_are_the_questions_specific_words_the_entry_never_uses(base_settings):
    index = KbIndex(KB, base_settings, encoder=None)
    row = index._by_id["reg.elevator"]
    words = index._content_words  # the analyzer's words (synonyms rewritten: 电梯 -> 特种设备)
    share, largest = index.missing_key_words(words("电梯故障"), row)  # both in the entry
    assert (share, largest) == (0.0, 0.0)
    share, largest = index.missing_key_words(words("电梯 扶手带"), row)  # 扶手带: no entry uses it
    assert 0 < share < 1 and largest > 0


def model(threshold: float, intercept: float) -> guard.GuardModel:
    n = len(guard.FEATURES)
    return guard.GuardModel(np.zeros(n), np.ones(n), np.zeros(n), intercept, threshold)


def test_the_guard_turns_a_doubtful_answer_into_choices(base_settings):
    question = "电梯困人了找谁"
    trusting = dataclasses.replace(base_settings, guards={LEXICAL: model(0.5, intercept=5.0)})
    assert KbIndex(KB, trusting, encoder=None).search(question, today=TODAY).decision == ANSWER
    doubting = dataclasses.replace(base_settings, guards={LEXICAL: model(0.5, intercept=-5.0)})
    result = KbIndex(KB, doubting, encoder=None).search(question, today=TODAY)
    assert result.decision == CHOICES
    assert result.choices and result.choices[0].entry.id == "reg.elevator"


def test_guard_model_file_round_trip_and_broken_file(tmp_path):
    fitted = guard.fit_guard(np.random.default_rng(0).normal(size=(40, len(guard.FEATURES))),
                             np.arange(40) % 2, threshold=0.42)
    path = tmp_path / "guard.json"
    guard.write_guards({"hybrid": fitted}, path, note="test")
    loaded = guard.load_guards(path)["hybrid"]
    assert loaded.threshold == 0.42
    row = np.ones(len(guard.FEATURES))
    assert loaded.probability(row) == pytest.approx(fitted.probability(row), abs=1e-4)
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw["modes"]["hybrid"]["features"] = ["score"]
    path.write_text(json.dumps(raw), encoding="utf-8")
    assert guard.load_guards(path) == {}
    assert guard.load_guards(tmp_path / "missing.json") == {}


def test_shipped_files_are_read():
    settings = load_settings()
    assert settings.finer["redirect.courier"] == "redirect.other-departments"
    assert guard.load_finer() == settings.finer
    assert settings.sibling_answers is False  # off: see kb_search.yml for the sealed figures
