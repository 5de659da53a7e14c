"""The learned confidence decision of knowledge-base search (the "calibrator").

The threshold decision (`xiaoan.kb.search.decide`) looks at one number, the best score, and
its lead. It cannot tell a question an entry really answers from a *near miss*: a question no
entry covers that still shares the words of a generic entry of the same area. The calibrator
looks at more evidence for each of the few best candidates and predicts the probability that
the candidate is the right entry:

- its lexical (BM25) score and its semantic (sentence-encoder) cosine;
- its lead over the best other candidate on both, and on the combined score;
- how much of the question's words and character bigrams (idf-weighted) its questions
  contain, and how far its cosine stands above the mean of the re-ranked candidates: a near
  miss shares the area's common words but not the question's specific ones;
- whether it is first on both (rank agreement of the two scorers);
- whether the NLU intent points at the candidate's area, at another area, or at none;
- the candidate's area and the length of the question.

The model is a logistic regression over standardised features, stored as JSON coefficients
(``resources/kb_ranker.json``, one model per scoring mode) and fitted by
``python bench/kb_bench.py --calibrate --write`` on cross-validated data that is never the
held-out set. The decision: answer when the first candidate's probability reaches the
``answer`` threshold (chosen for a low share of wrong answers), offer the candidates that
reach ``choices`` as buttons, otherwise no answer. When the file is missing or has no model
for the index's mode, the search falls back to the threshold decision.

Only the few candidates of one question are scored: the features are a handful of numpy
operations on a (candidates x features) matrix, whatever the size of the knowledge base.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

log = logging.getLogger(__name__)

RANKER_FILE = Path(__file__).resolve().parent.parent / "resources" / "kb_ranker.json"
TOP = 3
AREAS = ("biz", "consumer", "process", "reg", "redirect")
FEATURES = (
    "score",
    "lexical",
    "semantic",
    "score_margin",
    "lexical_margin",
    "semantic_margin",
    "first",
    "lexical_first",
    "semantic_first",
    "both_first",
    "word_coverage",
    "bigram_coverage",
    "semantic_lift",
    "intent_agrees",
    "intent_disagrees",
    "query_length",
    *(f"area_{a}" for a in AREAS),
)
_CONTENT_RE = re.compile(r"[0-9A-Za-z\u3400-\u4dbf\u4e00-\u9fff]")


def _lead(values: np.ndarray) -> np.ndarray:
    """Each value minus the largest of the others (the value itself when it is alone)."""
    n = len(values)
    if n == 1:
        return values.copy()
    order = np.argsort(-values, kind="stable")
    best, second = values[order[0]], values[order[1]]
    others_best = np.where(np.arange(n) == order[0], second, best)
    return values - others_best


def candidate_features(
    *,
    scores: Sequence[float],
    lexical: Sequence[float],
    semantic: Sequence[float] | None,
    areas: Sequence[str],
    query: str,
    intent_areas: Sequence[str] | None = None,
    word_coverage: Sequence[float] | None = None,
    bigram_coverage: Sequence[float] | None = None,
    semantic_lift: Sequence[float] | None = None,
) -> np.ndarray:
    """The features of a question's best candidates, one row per candidate (see `FEATURES`).

    Args:
        scores: the combined confidence of each candidate, best first.
        lexical: each candidate's lexical score (0..1).
        semantic: each candidate's cosine (0..1), or None for lexical-only search (zeros).
        areas: each candidate's area.
        query: the question (its length is a feature).
        intent_areas: the areas the NLU intent points at; None or empty when the intent says
            nothing about the area.
        word_coverage, bigram_coverage: idf-weighted share of the question's words / bigrams
            each candidate contains (zeros when None).
        semantic_lift: each candidate's cosine minus the re-ranked candidates' mean (zeros when None).

    Returns:
        float64 array of shape (len(scores), len(FEATURES)).
    """
    n = len(scores)
    if n == 0:
        return np.zeros((0, len(FEATURES)))
    s = np.asarray(scores, dtype=np.float64)
    lex = np.asarray(lexical, dtype=np.float64)
    sem = np.zeros(n) if semantic is None else np.asarray(semantic, dtype=np.float64)
    lex_lead, sem_lead = _lead(lex), _lead(sem)
    lex_first = (lex_lead >= 0).astype(np.float64)
    sem_first = (sem_lead >= 0).astype(np.float64) if semantic is not None else np.zeros(n)
    areas = list(areas)
    if intent_areas:
        agrees = np.array([a in intent_areas for a in areas], dtype=np.float64)
        disagrees = 1.0 - agrees
    else:
        agrees = disagrees = np.zeros(n)
    length = math.log1p(len(_CONTENT_RE.findall(query or "")))
    columns = [
        s,
        lex,
        sem,
        _lead(s),
        lex_lead,
        sem_lead,
        (np.arange(n) == 0).astype(np.float64),
        lex_first,
        sem_first,
        lex_first * sem_first,
        *(np.zeros(n) if v is None else np.asarray(v, dtype=np.float64)
          for v in (word_coverage, bigram_coverage, semantic_lift)),
        agrees,
        disagrees,
        np.full(n, length),
        *(np.array([x == a for x in areas], dtype=np.float64) for a in AREAS),
    ]
    return np.column_stack(columns)


@dataclasses.dataclass(frozen=True)
class RankerModel:
    """One scoring mode's logistic regression and its decision thresholds.

    Attributes:
        features: the feature names the coefficients belong to (must be `FEATURES`).
        mean, scale: standardisation of each feature.
        coef, intercept: the logistic regression on standardised features.
        answer: answer directly when the first candidate's probability reaches this.
        choices: offer the candidates whose probability reaches this.
    """

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    answer: float
    choices: float

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """P(candidate is the right entry) for each row of a feature matrix."""
        if len(x) == 0:
            return np.zeros(0)
        z = ((x - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (rounded: the file stays small and readable)."""
        return {
            "features": list(self.features),
            "mean": [round(float(v), 6) for v in self.mean],
            "scale": [round(float(v), 6) for v in self.scale],
            "coef": [round(float(v), 6) for v in self.coef],
            "intercept": round(float(self.intercept), 6),
            "answer": round(float(self.answer), 3),
            "choices": round(float(self.choices), 3),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "RankerModel":
        """Read `to_json`'s dict.

        Raises:
            ValueError: the features are not this code's `FEATURES`, or the lengths differ.
        """
        features = tuple(str(f) for f in data["features"])
        if features != FEATURES:
            raise ValueError(f"model features {features} differ from the code's {FEATURES}")
        arrays = [np.asarray(data[k], dtype=np.float64) for k in ("mean", "scale", "coef")]
        if any(a.shape != (len(FEATURES),) for a in arrays):
            raise ValueError("mean, scale and coef must have one value per feature")
        mean, scale, coef = arrays
        scale = np.where(scale == 0, 1.0, scale)
        return cls(features, mean, scale, coef, float(data["intercept"]), float(data["answer"]), float(data["choices"]))


def read_modes(path: Path, from_json: Callable[[dict], Any], broken: str) -> dict[str, Any]:
    """A fitted model per scoring mode from a JSON file ``{"modes": {mode: {...}}}``; empty when the
    file is missing, or broken (then `broken`, with the path, is logged)."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {mode: from_json(m) for mode, m in (raw.get("modes") or {}).items()}
    except (ValueError, KeyError, TypeError):
        log.exception(broken, path)
        return {}


def load_models(path: Path = RANKER_FILE) -> dict[str, RankerModel]:
    """The calibrator per scoring mode; empty (threshold decision) when the file is missing or broken."""
    return read_modes(path, RankerModel.from_json,
                      "cannot read the knowledge-base calibrator %s; using the threshold decision")


def write_models(models: Mapping[str, RankerModel], path: Path = RANKER_FILE, *, note: str = "") -> None:
    """Store the calibrators per mode (JSON, keys sorted by mode)."""
    payload = {
        "about": "Calibrator of knowledge-base search (xiaoan/kb/ranker.py): logistic regression per scoring "
        "mode on standardised features. Written by `python bench/kb_bench.py --calibrate --write`; do not hand-tune.",
        "note": note,
        "modes": {mode: models[mode].to_json() for mode in sorted(models)},
    }
    # one line per field: the file reads as a small table
    modes = ",\n".join(
        f"  {json.dumps(mode)}: {{\n"
        + ",\n".join(f"   {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in fields.items())
        + "\n  }"
        for mode, fields in payload.pop("modes").items()
    )
    head = ",\n".join(f" {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in payload.items())
    Path(path).write_text(f"{{\n{head},\n \"modes\": {{\n{modes}\n }}\n}}\n", encoding="utf-8")


def fit_model(x: np.ndarray, y: np.ndarray, *, c: float = 1.0) -> RankerModel:
    """Fit the logistic regression (thresholds left at 1.0: see `choose_thresholds`).

    Args:
        x: feature rows (`candidate_features` of many questions).
        y: 1 where the candidate is the right entry, else 0.
        c: inverse regularisation strength.
    """
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale < 1e-9, 1.0, scale)
    model = LogisticRegression(C=c, max_iter=2000)
    model.fit((x - mean) / scale, y)
    return RankerModel(FEATURES, mean, scale, model.coef_[0].copy(), float(model.intercept_[0]), 1.0, 1.0)


@dataclasses.dataclass(frozen=True)
class Question:
    """One calibration question's candidates, for choosing the thresholds.

    Attributes:
        p: probability of each candidate, best first.
        right: whether each candidate is the right entry.
        kind: ``topic`` (an entry answers it), ``uncovered`` (in the domain, no entry answers
            it) or ``offtopic``.
    """

    p: np.ndarray
    right: np.ndarray
    kind: str


def choose_thresholds(
    questions: Sequence[Question], *, max_wrong: float = 0.03, min_refused: float = 0.9
) -> tuple[float, float]:
    """The (answer, choices) probability thresholds.

    ``answer``: the one that answers the most questions rightly while at most `max_wrong` of
    the answered topic and off-topic questions are answered wrongly. Uncovered questions do
    not count here: their best candidate is often a sibling entry that answers them in part,
    so no threshold reaches a small share with them; a higher probability threshold is what
    keeps them from being answered. ``choices``, for the questions not answered: choices
    that contain the right entry +0.5, without it -0.25 (topics); for off-topic questions a
    refusal +1, choices -0.5; uncovered questions count nothing either way (the closest entries
    are a fair offer); only values refusing at least `min_refused` of the off-topic questions
    when any do.
    """
    p1 = np.array([q.p[0] if len(q.p) else 0.0 for q in questions])
    right1 = np.array([bool(len(q.right)) and bool(q.right[0]) for q in questions])
    topic = np.array([q.kind == "topic" for q in questions])
    off = np.array([q.kind == "offtopic" for q in questions])
    counted = topic | off
    best_answer, best_ok = 1.0, -1
    for t in np.arange(30, 100) / 100:  # exact two-decimal values: stored as they were tested
        answered = (p1 >= t) & counted
        ok = int((answered & right1).sum())
        wrong = int((answered & ~right1).sum())
        if answered.any() and wrong / answered.sum() <= max_wrong and ok > best_ok:
            best_answer, best_ok = float(t), ok
    answered = p1 >= best_answer
    pmax = np.array([q.p.max() if len(q.p) else 0.0 for q in questions])
    # the best probability of a right candidate (-1 when none is right)
    pright = np.array([q.p[q.right].max() if q.right.any() else -1.0 for q in questions])
    best: tuple[tuple[bool, float], float] | None = None
    for c in np.arange(2, round(best_answer * 100) + 1) / 100:
        offered = ~answered & (pmax >= c)
        hit = offered & (pright >= c)
        utility = (0.5 * (hit & topic).sum() - 0.25 * (offered & ~hit & topic).sum()) / max(topic.sum(), 1)
        if off.any():
            refused = 1.0 - float((off & (answered | offered)).sum()) / off.sum()
            utility += ((off & ~answered & ~offered).sum() - 0.5 * (off & offered).sum()) / off.sum()
        else:
            refused = 1.0
        key = (refused >= min_refused, float(utility))
        if best is None or key > best[0]:
            best = (key, float(c))
    assert best is not None
    return round(best_answer, 2), round(best[1], 2)


def hit_features(hits: Sequence[Any], query: str, intent_areas: Sequence[str] | None = None) -> np.ndarray:
    """`candidate_features` of search hits (objects with ``score``, ``lexical``, ``semantic``
    and ``entry.area``, and optionally ``word_coverage``, ``bigram_coverage`` and
    ``semantic_lift``; ``semantic`` None for every hit of a lexical-only search)."""
    hits = list(hits)[:TOP]
    semantic = None if not hits or hits[0].semantic is None else [h.semantic or 0.0 for h in hits]
    return candidate_features(
        scores=[h.score for h in hits],
        lexical=[h.lexical for h in hits],
        semantic=semantic,
        areas=[h.entry.area for h in hits],
        query=query,
        intent_areas=intent_areas,
        word_coverage=[getattr(h, "word_coverage", 0.0) for h in hits],
        bigram_coverage=[getattr(h, "bigram_coverage", 0.0) for h in hits],
        semantic_lift=[getattr(h, "semantic_lift", 0.0) for h in hits],
    )


def decide_p(
    p: np.ndarray, model: RankerModel, scores: Sequence[float] | None = None, score_floor: float | None = None,
    confirmed: bool = True,
) -> tuple[str, np.ndarray]:
    """The decision for candidates' probabilities (best first).

    Answer when the first candidate's probability reaches ``model.answer`` and the answer is
    `confirmed` (the search passes whether the calibrated thresholds would answer too, when
    ``confirm_answers`` is on: both gates must agree); otherwise offer
    as choices the candidates whose probability reaches ``model.choices`` or, when given,
    whose score reaches `score_floor` (the calibrated thresholds' ``choices``: a plausible
    score is worth offering even when the model doubts it is *the* answer).

    Returns:
        (``answer`` / ``choices`` / ``none``, mask of the candidates to offer as choices).
    """
    offered = np.zeros(len(p), dtype=bool)
    if len(p) == 0:
        return "none", offered
    if p[0] >= model.answer and confirmed:
        return "answer", offered
    offered = p >= model.choices
    if scores is not None and score_floor is not None:
        offered |= np.asarray(scores, dtype=np.float64)[: len(p)] >= score_floor
    return ("choices" if offered.any() else "none"), offered
