"""Two checks on a direct answer of knowledge-base search, after the calibrator has decided.

1. **Siblings.** ``resources/kb_finer.yml`` lists finer entries (the same question for a
   narrower case: a 个体户's annual report, a courier's lost parcel) and the general entry they
   refine. When the two best candidates are such a pair, the finer entry is answered only
   when the question has one of its *distinguishing words* (words of its title and tags, or of
   at least two of its phrasings, that the general entry's questions never use and that fewer
   than `DISTINGUISHING_MAX_SHARE` of the entries use); a finer entry first without them is
   not answered, and the citizen gets the short clarifying question between the two
   (``utter_kb_clarify``, asked by ``action_answer_question`` when exactly two are offered). A
   general entry first stays the answer when the calibrator answered it (the development
   set: asking instead lost right answers and prevented no wrong one). When the search does
   not answer, a pair at the top is offered alone, so the clarifying question names both.
   The rule changes direct answers only with ``sibling_answers`` (``resources/kb_search.yml``,
   off: see there for the sealed figures); offering the pair alone is always on.
2. **Near misses.** A question no entry covers often still shares the common words of a
   generic entry of its area. The guard looks at the answered entry: which of the question's
   *key words* (content words that fewer than `GENERIC_SHARE` of the entries use) its
   title, phrasings, tags and answer never contain (idf-weighted share, and the largest idf
   missing), how much of the question its questions cover, its scores and lead, and the
   calibrator's probability; a logistic regression (``resources/kb_guard.json``, fitted with
   cross-validation by ``python bench/kb_bench.py --fit-guard --write`` on the development
   set and on questions whose entry is left out of the index) gives the probability that the
   answer is right, and below the fitted threshold the answer becomes choices. No guard
   ships (no ``kb_guard.json``): with nested cross-validation it kept 141 of 147 right answers
   and 33 of 39 near misses (README "知识库封存集"), a worse trade than the answers it saves.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import yaml

from xiaoan.kb.ranker import read_modes

log = logging.getLogger(__name__)

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
FINER_FILE = RESOURCES / "kb_finer.yml"
GUARD_FILE = RESOURCES / "kb_guard.json"
#: a word used by at least this share of the entries is a generic word of the domain, never a key word
GENERIC_SHARE = 0.2
#: a word used by at least this share of the entries never distinguishes a finer entry
DISTINGUISHING_MAX_SHARE = 0.05
#: a phrasing word distinguishes a finer entry when at least this many of its phrasings use it
MIN_PHRASINGS = 2
#: however small the knowledge base, a word used by fewer entries than this is never common
MIN_COMMON = 3
FEATURES = (
    "probability",
    "score",
    "margin",
    "missing_share",
    "missing_max_idf",
    "word_coverage",
    "bigram_coverage",
    "semantic_lift",
    "lexical",
    "semantic",
)


def is_common(document_frequency: int, entries: int, share: float) -> bool:
    """Whether a word used by `document_frequency` of `entries` entries is common (at least `share`
    of them, and at least `MIN_COMMON`)."""
    return document_frequency >= max(share * entries, MIN_COMMON)


def load_finer(path: Path = FINER_FILE) -> dict[str, str]:
    """Finer entry id -> the general entry it refines (empty when the file is missing)."""
    if not Path(path).exists():
        return {}
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    return {str(k): str(v) for k, v in (data.get("finer") or {}).items()}


def distinguishing_words(
    finer_title_words: Iterable[str],
    finer_phrasing_words: Sequence[Iterable[str]],
    general_words: Iterable[str],
    is_generic: Callable[[str], bool],
    min_phrasings: int = MIN_PHRASINGS,
) -> frozenset[str]:
    """The words that tell a finer entry's questions from its general entry's.

    Args:
        finer_title_words: the content words of the finer entry's title and tags.
        finer_phrasing_words: the content words of each of its phrasings.
        general_words: every content word of the general entry's title, tags and phrasings.
        is_generic: whether a word is common to many entries (never distinguishing).
        min_phrasings: how many phrasings must use a word that is not in the title or tags.
    """
    head = set(finer_title_words)
    counts = collections.Counter(w for words in finer_phrasing_words for w in set(words))
    general = set(general_words)
    candidates = head | {w for w, n in counts.items() if n >= min_phrasings}
    return frozenset(w for w in candidates if len(w) >= 2 and w not in general and not is_generic(w))


@dataclasses.dataclass(frozen=True)
class Pair:
    """A finer entry and its general entry among the two best hits."""

    finer: int  # position of the finer entry among the hits (0 or 1)
    general: int
    distinguished: bool  # the question has one of the finer entry's distinguishing words


def sibling_pair(
    top_ids: Sequence[str], question_words: Iterable[str], finer: Mapping[str, str],
    words_of: Mapping[str, frozenset[str]],
) -> Pair | None:
    """The finer/general pair formed by the two best hits, or None.

    Args:
        top_ids: the ids of the best hits, best first.
        question_words: the question's content words.
        finer: finer id -> general id.
        words_of: finer id -> its distinguishing words.
    """
    if len(top_ids) < 2:
        return None
    a, b = top_ids[0], top_ids[1]
    if finer.get(a) == b:
        f, g = 0, 1
    elif finer.get(b) == a:
        f, g = 1, 0
    else:
        return None
    words = words_of.get(top_ids[f], frozenset())
    return Pair(f, g, any(w in words for w in question_words))


def resolve_siblings(decision: str, pair: Pair | None) -> tuple[str, int | None, tuple[int, ...] | None]:
    """The decision when the two best hits are a finer/general pair.

    Returns:
        (decision, position of the hit to answer or None, positions to offer as choices or None
        to keep the offered ones). ``answer`` with the finer entry when the question has its
        distinguishing words and the search answered; a finer entry first without them becomes
        the clarifying question between the two; a general entry first stays the answer; when
        the search offered choices, the pair alone is offered (the clarifying question).
    """
    if pair is None or decision == "none":
        return decision, (0 if decision == "answer" else None), None
    both = (0, 1)
    if decision == "answer":
        if pair.distinguished:
            return "answer", pair.finer, None
        if pair.finer == 0:
            return "choices", None, both
        return "answer", 0, None
    return "choices", None, both


def guard_features(
    *,
    probability: float | None,
    score: float,
    second_score: float,
    missing_share: float,
    missing_max_idf: float,
    word_coverage: float,
    bigram_coverage: float,
    semantic_lift: float,
    lexical: float,
    semantic: float | None,
) -> np.ndarray:
    """The guard's features of the answered hit (see `FEATURES`)."""
    return np.array([
        probability if probability is not None else 0.0,
        score,
        score - second_score,
        missing_share,
        missing_max_idf,
        word_coverage,
        bigram_coverage,
        semantic_lift,
        lexical,
        semantic if semantic is not None else 0.0,
    ], dtype=np.float64)


@dataclasses.dataclass(frozen=True)
class GuardModel:
    """A logistic regression on `FEATURES` and its threshold.

    Attributes:
        mean, scale, coef, intercept: the model on standardised features.
        threshold: an answer whose probability is below this becomes choices.
    """

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    threshold: float

    def probability(self, x: np.ndarray) -> float:
        """P(the answer is right) for one feature row."""
        z = float(((x - self.mean) / self.scale) @ self.coef + self.intercept)
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "features": list(FEATURES),
            "mean": [round(float(v), 6) for v in self.mean],
            "scale": [round(float(v), 6) for v in self.scale],
            "coef": [round(float(v), 6) for v in self.coef],
            "intercept": round(float(self.intercept), 6),
            "threshold": round(float(self.threshold), 3),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "GuardModel":
        """Read `to_json`'s dict.

        Raises:
            ValueError: other features than `FEATURES`, or lengths that differ.
        """
        if tuple(data["features"]) != FEATURES:
            raise ValueError(f"guard features {data['features']} differ from the code's {FEATURES}")
        arrays = [np.asarray(data[k], dtype=np.float64) for k in ("mean", "scale", "coef")]
        if any(a.shape != (len(FEATURES),) for a in arrays):
            raise ValueError("mean, scale and coef must have one value per feature")
        mean, scale, coef = arrays
        return cls(mean, np.where(scale == 0, 1.0, scale), coef, float(data["intercept"]), float(data["threshold"]))


def fit_guard(x: np.ndarray, y: np.ndarray, threshold: float = 0.5, c: float = 1.0) -> GuardModel:
    """Fit the guard's logistic regression on feature rows `x` and right (1) / not right (0) `y`."""
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale < 1e-9, 1.0, scale)
    model = LogisticRegression(C=c, max_iter=2000).fit((x - mean) / scale, y)
    return GuardModel(mean, scale, model.coef_[0].copy(), float(model.intercept_[0]), threshold)


def load_guards(path: Path = GUARD_FILE) -> dict[str, GuardModel]:
    """The guard per scoring mode; empty (no guard) when the file is missing or broken."""
    return read_modes(path, GuardModel.from_json,
                      "cannot read the knowledge-base answer guard %s; answering without it")


def write_guards(models: Mapping[str, GuardModel], path: Path = GUARD_FILE, *, note: str = "") -> None:
    """Store the guards per mode (one line per field)."""
    modes = ",\n".join(
        f"  {json.dumps(mode)}: {{\n"
        + ",\n".join(f"   {json.dumps(k)}: {json.dumps(v)}" for k, v in models[mode].to_json().items())
        + "\n  }"
        for mode in sorted(models)
    )
    about = ("Near-miss guard of knowledge-base search (xiaoan/kb/guard.py): logistic regression per scoring mode. "
             "Written by `python bench/kb_bench.py --fit-guard --write`; do not hand-tune.")
    Path(path).write_text(
        f"{{\n \"about\": {json.dumps(about)},\n \"note\": {json.dumps(note, ensure_ascii=False)},\n"
        f" \"modes\": {{\n{modes}\n }}\n}}\n",
        encoding="utf-8",
    )
