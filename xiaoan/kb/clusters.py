"""Unanswered and down-voted questions grouped for the maintainers (issue 11 item 5).

Citizens' questions that got no answer (``kb_unanswered``) or whose answer they said did not
help (``kb_votes`` with the question asked) are work for the maintainers. Read one by one they
repeat themselves; grouped, a maintainer sees "23 people asked this, in 9 ways, and the
closest entry was X", and turns the group into 相似问法 of an entry (live within seconds on a
published entry, no retraining) or into a new draft entry.

How questions are grouped, with nothing new to download:

1. Identical questions (ignoring spaces and end punctuation) count as one, with a count.
2. Questions that are already a title or 相似问法 of an entry are left out: they have been
   handled since (e.g. by an earlier click here).
3. Each question is described the way the knowledge base's search reads text
   (`xiaoan.kb.search.Analyzer`: synonyms, jieba words, character bigrams), weighted by idf
   over the questions, and compared by cosine; when the search has a sentence encoder, its
   cosine is averaged in, so paraphrases that share few words still meet.
4. Average-linkage agglomerative clustering (scipy) joins questions whose average similarity
   reaches the threshold of the mode (`LEXICAL_THRESHOLD` / `HYBRID_THRESHOLD`).
5. Each question is searched in the live index; the cluster's closest entry is the one its
   questions came closest to (scores summed over the questions, weighted by their counts).
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import re
from typing import Iterable, Sequence

import numpy as np

#: average similarity at which two groups join, lexical only / with the sentence encoder
LEXICAL_THRESHOLD = 0.15
HYBRID_THRESHOLD = 0.3
#: at most this many distinct questions are grouped (the newest)
MAX_QUESTIONS = 1500

UNANSWERED, DOWNVOTED = "unanswered", "downvoted"


@dataclasses.dataclass(frozen=True)
class Question:
    """One recorded question.

    Attributes:
        text: the question (personal data masked when it was recorded).
        source: ``unanswered`` or ``downvoted``.
        entry_id: the closest entry when it was not answered, or the entry voted down.
        created_at: when it was asked.
    """

    text: str
    source: str
    entry_id: str | None
    created_at: dt.datetime


@dataclasses.dataclass
class ClusterQuestion:
    """A distinct question of a cluster with how often it was asked."""

    text: str
    count: int
    sources: dict[str, int]
    last_at: dt.datetime
    nearest_id: str | None = None
    nearest_score: float = 0.0


@dataclasses.dataclass
class Cluster:
    """Similar questions together.

    Attributes:
        questions: distinct questions, most asked first.
        count: how many times any of them was asked.
        unanswered, downvoted: of which got no answer / an answer voted down.
        nearest_id: the entry the questions came closest to (None: none came near).
        nearest_title: its title.
        nearest_score: the best search score of a question for that entry (0..1).
        downvoted_ids: the entries voted down for these questions, most often first.
        last_at: when one was last asked.
    """

    questions: list[ClusterQuestion]
    count: int
    unanswered: int
    downvoted: int
    nearest_id: str | None
    nearest_title: str | None
    nearest_score: float
    downvoted_ids: list[str]
    last_at: dt.datetime

    @property
    def label(self) -> str:
        """The most asked question (the suggested title of a new entry)."""
        return self.questions[0].text


def question_key(text: str) -> str:
    """A question reduced for counting repeats (the rule of duplicate 相似问法)."""
    return re.sub(r"[\s？?！!。.，,~～]+", "", text or "").lower()


def cluster_questions(
    questions: Iterable[Question],
    *,
    index=None,
    analyzer=None,
    known: Iterable[str] = (),
    threshold: float | None = None,
) -> list[Cluster]:
    """Group questions (see the module docstring), largest clusters first.

    Args:
        questions: the recorded questions.
        index: the live `xiaoan.kb.search.KbIndex` (closest entries, its analyzer and encoder);
            None groups by characters only and names no entry.
        analyzer: the text analyzer when there is no index (default: the index's).
        known: titles and 相似问法 of the entries; questions among them are left out.
        threshold: join threshold (default: by mode).
    """
    known_keys = {question_key(k) for k in known}
    groups: dict[str, ClusterQuestion] = {}
    downvoted_for: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for q in sorted(questions, key=lambda q: q.created_at, reverse=True):
        text = " ".join((q.text or "").split())
        key = question_key(text)
        if not key or text.startswith("/") or key in known_keys:
            continue
        item = groups.get(key)
        if item is None:
            if len(groups) >= MAX_QUESTIONS:
                continue
            item = groups[key] = ClusterQuestion(text=text, count=0, sources={}, last_at=q.created_at)
        item.count += 1
        item.sources[q.source] = item.sources.get(q.source, 0) + 1
        if q.source == DOWNVOTED and q.entry_id:
            downvoted_for[key][q.entry_id] += 1
    items = list(groups.values())
    if not items:
        return []
    analyzer = analyzer or (index.analyzer if index is not None else None)
    encoder = getattr(index, "encoder", None) if index is not None else None
    sim = _lexical_similarity([i.text for i in items], analyzer)
    if encoder is not None:
        vectors = np.asarray(encoder.encode([i.text for i in items]), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.where(norms == 0, 1, norms)
        sim = (sim + np.clip(vectors @ vectors.T, 0.0, 1.0)) / 2
    if threshold is None:
        threshold = HYBRID_THRESHOLD if encoder is not None else LEXICAL_THRESHOLD
    labels = _agglomerate(sim, threshold)
    if index is not None:
        for item in items:
            result = index.search(item.text, top=1)
            if result.hits:
                item.nearest_id, item.nearest_score = result.hits[0].entry.id, float(result.hits[0].score)
    members: dict[int, list[ClusterQuestion]] = collections.defaultdict(list)
    for item, label in zip(items, labels):
        members[label].append(item)
    clusters = [_cluster(group, index, downvoted_for) for group in members.values()]
    clusters.sort(key=lambda c: (-c.count, -len(c.questions), -c.last_at.timestamp()))
    return clusters


def _cluster(group: list[ClusterQuestion], index, downvoted_for) -> Cluster:
    group.sort(key=lambda i: (-i.count, -i.last_at.timestamp()))
    weight: dict[str, float] = collections.defaultdict(float)
    best: dict[str, float] = collections.defaultdict(float)
    voted: collections.Counter = collections.Counter()
    for item in group:
        if item.nearest_id:
            weight[item.nearest_id] += item.nearest_score * item.count
            best[item.nearest_id] = max(best[item.nearest_id], item.nearest_score)
        voted.update(downvoted_for.get(question_key(item.text), {}))
    nearest_id = max(weight, key=lambda e: (weight[e], e)) if weight else None
    nearest_title = None
    if nearest_id is not None and index is not None:
        entry = index.get(nearest_id)
        nearest_title = entry.title if entry is not None else None
    return Cluster(
        questions=group,
        count=sum(i.count for i in group),
        unanswered=sum(i.sources.get(UNANSWERED, 0) for i in group),
        downvoted=sum(i.sources.get(DOWNVOTED, 0) for i in group),
        nearest_id=nearest_id,
        nearest_title=nearest_title,
        nearest_score=best.get(nearest_id, 0.0) if nearest_id else 0.0,
        downvoted_ids=[e for e, _ in voted.most_common()],
        last_at=max(i.last_at for i in group),
    )


def _lexical_similarity(texts: Sequence[str], analyzer) -> np.ndarray:
    """Cosine of idf-weighted token sets (words and character bigrams; characters when no analyzer)."""
    if analyzer is not None:
        docs = [{t for t in analyzer.tokens(text) if not t.startswith("^")} for text in texts]
    else:
        docs = [{text[i:i + 2] for i in range(len(text) - 1)} or {text} for text in (question_key(t) for t in texts)]
    vocab: dict[str, int] = {}
    for doc in docs:
        for token in doc:
            vocab.setdefault(token, len(vocab))
    n = len(docs)
    matrix = np.zeros((n, max(len(vocab), 1)), dtype=np.float32)
    for row, doc in enumerate(docs):
        for token in doc:
            matrix[row, vocab[token]] = 1.0
    df = matrix.sum(axis=0)
    idf = np.log((1 + n) / (1 + df)) + 1.0
    matrix *= idf
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    matrix /= np.where(norms == 0, 1, norms)
    return np.clip(matrix @ matrix.T, 0.0, 1.0)


def _agglomerate(sim: np.ndarray, threshold: float) -> list[int]:
    """Average-linkage cluster labels: groups join while their mean similarity reaches `threshold`."""
    n = len(sim)
    if n == 1:
        return [0]
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    distance = 1.0 - sim.astype(np.float64)
    np.fill_diagonal(distance, 0.0)
    distance = np.clip((distance + distance.T) / 2, 0.0, 1.0)
    tree = linkage(squareform(distance, checks=False), method="average")
    return [int(label) for label in fcluster(tree, t=max(0.0, 1.0 - threshold) + 1e-9, criterion="distance")]
