"""An intent classifier for long citizen letters, run after DIET in the NLU pipeline.

Citizens often open the chat with a letter of a few hundred characters: dates, amounts, the
merchant, what happened and what they want (诉求). DIET is trained on short chat lines and
reads such a letter poorly. This component is trained only on the longer training examples
(the letters of ``letters/*.yml`` plus the longer ordinary lines) with a small
scikit-learn model over character n-grams and jieba words (a linear SVM whose scores are
calibrated into probabilities), and at prediction time it replaces DIET's intent for long
messages only. Short messages keep DIET's answer.

Why calibrated: FallbackClassifier comes next and compares the confidence with its threshold
(0.45). On 5-fold cross-validation over the letters, a plain logistic regression put 43% of
the letters below 0.45 (median top probability 0.49) although it was right on most of them;
the calibrated SVM puts 9% below (median 0.71), with macro-F1 0.89 instead of 0.86.

The letters live outside ``data/`` on purpose: DIET's transformer costs grow with the length
of its examples, and 350 letters of a few hundred characters made training several times
slower without helping DIET on chat lines. They are Rasa NLU YAML all the same; the files'
content is part of this component's fingerprint (:meth:`LetterClassifier.fingerprint_addon`),
so an edited letter retrains it.

Place it in config.yml after DIETClassifier and EntitySynonymMapper and before
FallbackClassifier, so that a letter it reads with low confidence still falls back::

    - name: xiaoan.nlu.letter_classifier.LetterClassifier
"""
from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Text

import joblib
import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

logger = logging.getLogger(__name__)

MODEL_FILE = "letter_classifier.joblib"
# Set on every message this component reclassified (tests, logs and actions can check it).
MARKER = "letter_classifier"

_SPACES = re.compile(r"\s+")
_DIGITS = re.compile(r"\d+")


def normalize_text(text: str) -> str:
    """Text as the model sees it: NFKC, lower case, one space, every digit run as "0".

    Amounts, dates and phone numbers differ from letter to letter; their digits only add
    noise to the n-grams, while the words around them ("元", "号", "电话") carry the signal.
    """
    text = unicodedata.normalize("NFKC", text or "").lower()
    text = _DIGITS.sub("0", text)
    return _SPACES.sub(" ", text).strip()


def jieba_words(text: str) -> List[str]:
    """jieba words of a normalised text, punctuation and spaces dropped.

    Module level (not a lambda) so the fitted vectorizer pickles with joblib.
    """
    import jieba

    return [w for w in jieba.lcut(text) if w.strip() and not _is_punctuation(w)]


def _is_punctuation(word: str) -> bool:
    return all(unicodedata.category(ch).startswith(("P", "S", "Z")) for ch in word)


def build_pipeline(c: float = 0.3, folds: int = 3, random_state: int = 42) -> Pipeline:
    """The scikit-learn model: TF-IDF over characters 1-3 and jieba words, then a linear SVM
    with sigmoid-calibrated probabilities.

    Args:
        c: Inverse regularisation strength of the SVM.
        folds: Cross-validation folds of the calibration (each intent needs this many examples).
        random_state: Seed of the solver.

    Returns:
        An unfitted pipeline taking normalised texts (see :func:`normalize_text`).
    """
    features = FeatureUnion(
        [
            ("chars", TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=1)),
            (
                "words",
                TfidfVectorizer(
                    analyzer="word",
                    tokenizer=jieba_words,
                    token_pattern=None,
                    lowercase=False,
                    ngram_range=(1, 2),
                    sublinear_tf=True,
                ),
            ),
        ]
    )
    classifier = CalibratedClassifierCV(
        LinearSVC(C=c, class_weight="balanced", random_state=random_state, max_iter=5000),
        cv=folds,
        method="sigmoid",
    )
    return Pipeline([("features", features), ("classifier", classifier)])


#: Intents that lead to the same thing for a letter: a complaint ticket, or an answer from the
#: knowledge base (which searches every area whatever the intent).
FAMILIES = (
    frozenset({"complain_refund", "complain_prepaid", "complain_general"}),
    frozenset({"ask_business_registration", "ask_consumer_rights", "ask_regulation"}),
)


def family_ranking(ranking: List[Dict[Text, Any]]) -> List[Dict[Text, Any]]:
    """The ranking with the top intent carrying its family's total confidence.

    A letter about a closed gym that also asks for a refund may be read as 0.40 prepaid, 0.35
    refund, 0.15 general: surely a complaint, unsure which kind. What the letter leads to (a
    complaint ticket) does not depend on the kind, so the top intent gets the family's 0.90 and
    FallbackClassifier does not turn a clear complaint into "I did not understand". The family's
    other intents are folded into the top one (the ranking still sums to 1); the intents of other
    families keep their confidences (the runner-up of another family decides ambiguity).
    """
    if not ranking:
        return ranking
    top = ranking[0]
    family = next((f for f in FAMILIES if top["name"] in f), None)
    if family is None:
        return ranking
    total = sum(item["confidence"] for item in ranking if item["name"] in family)
    return [{"name": top["name"], "confidence": min(1.0, total)}] + [
        item for item in ranking[1:] if item["name"] not in family
    ]


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True
)
class LetterClassifier(IntentClassifier, GraphComponent):
    """Reclassifies long messages (letters) with a model trained on the long training examples."""

    @staticmethod
    def required_packages() -> List[Text]:
        """Extra Python packages this component needs."""
        return ["sklearn", "jieba", "joblib"]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """The defaults.

        ``min_train_chars``: training examples at least this long are learnt from.
        ``min_chars``: messages at least this long are reclassified.
        ``min_class_examples``: intents with fewer long examples are left out of the model
        (the probability calibration needs this many examples of each intent).
        ``c``: inverse regularisation strength of the SVM.
        ``ranking_length``: intents kept in ``intent_ranking`` (0 keeps all).
        ``letters_path``: a file or folder of Rasa NLU YAML letters learnt from besides the
        training data (config.yml: ``letters``); none by default.
        """
        return {
            "min_train_chars": 40,
            "min_chars": 60,
            "min_class_examples": 3,
            "c": 0.3,
            "ranking_length": 10,
            "random_seed": 42,
            "letters_path": None,
        }

    @classmethod
    def letter_files(cls, config: Dict[Text, Any]) -> List[Path]:
        """The YAML files of ``letters_path`` (a file or a folder; relative to the working directory)."""
        raw = {**cls.get_default_config(), **(config or {})}.get("letters_path")
        if not raw:
            return []
        path = Path(raw)
        if path.is_file():
            return [path]
        return sorted(p for p in path.glob("**/*.yml")) if path.is_dir() else []

    @classmethod
    def fingerprint_addon(cls, config: Dict[Text, Any]) -> Optional[str]:
        """The letters' content, so that Rasa retrains this component when a letter changes."""
        digest = hashlib.sha256()
        for path in cls.letter_files(config):
            digest.update(str(path).encode("utf-8"))
            digest.update(path.read_bytes())
        return digest.hexdigest()

    def letters(self) -> List[Message]:
        """The intent examples of the letter files (Rasa NLU YAML)."""
        from rasa.shared.nlu.training_data.loading import load_data

        examples: List[Message] = []
        for path in self.letter_files(self.config):
            examples.extend(load_data(str(path)).intent_examples)
        return examples

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: Optional[Pipeline] = None,
    ) -> None:
        """Creates the component (see :meth:`create` and :meth:`load`)."""
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.model = model

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "LetterClassifier":
        """Creates a new, untrained component."""
        return cls(config, model_storage, resource)

    @staticmethod
    def _length(text: Optional[str]) -> int:
        """Characters that count towards the length thresholds (spaces excluded)."""
        return len(_SPACES.sub("", text or ""))

    def training_examples(self, training_data: TrainingData) -> tuple[List[str], List[str]]:
        """The (normalised text, intent) pairs this component learns from.

        The training data's examples and the letters of ``letters_path`` with at least
        ``min_train_chars`` characters, of intents that have at least ``min_class_examples``
        of them.
        """
        pairs = [
            (normalize_text(example.get(TEXT)), example.get(INTENT))
            for example in [*training_data.intent_examples, *self.letters()]
            if example.get(TEXT)
            and example.get(INTENT)
            and self._length(example.get(TEXT)) >= self.config["min_train_chars"]
        ]
        counts = Counter(intent for _, intent in pairs)
        minimum = max(2, int(self.config["min_class_examples"]))
        kept = [(text, intent) for text, intent in pairs if counts[intent] >= minimum]
        return [text for text, _ in kept], [intent for _, intent in kept]

    def train(self, training_data: TrainingData) -> Resource:
        """Fits the model on the long training examples and persists it.

        With fewer than two intents among the long examples there is nothing to decide: the
        component stays untrained and leaves every message as DIET classified it.
        """
        texts, labels = self.training_examples(training_data)
        if len(set(labels)) < 2:
            logger.debug(
                "LetterClassifier: %d long examples in %d intents, not trained.",
                len(texts),
                len(set(labels)),
            )
            self.model = None
            return self._resource
        folds = min(3, min(Counter(labels).values()))
        model = build_pipeline(
            c=float(self.config["c"]), folds=folds, random_state=self.config["random_seed"]
        )
        model.fit(texts, np.asarray(labels))  # an array: the calibration counts classes with ==
        self.model = model
        self.persist()
        return self._resource

    def process(self, messages: List[Message]) -> List[Message]:
        """Replaces ``intent`` and ``intent_ranking`` of long messages with this model's reading."""
        if self.model is None:
            return messages
        long_messages = [
            m for m in messages if self._length(m.get(TEXT)) >= self.config["min_chars"]
        ]
        if not long_messages:
            return messages
        probabilities = self.model.predict_proba([normalize_text(m.get(TEXT)) for m in long_messages])
        classes = list(self.model.classes_)
        for message, row in zip(long_messages, probabilities):
            ranking = family_ranking(sorted(
                ({"name": str(name), "confidence": float(p)} for name, p in zip(classes, row)),
                key=lambda item: -item["confidence"],
            ))
            if self.config["ranking_length"] > 0:
                ranking = ranking[: self.config["ranking_length"]]
            message.set(INTENT, dict(ranking[0]), add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
            message.set(MARKER, True, add_to_output=True)
        return messages

    def persist(self) -> None:
        """Writes the fitted model into the component's resource of the model storage."""
        with self._model_storage.write_to(self._resource) as directory:
            joblib.dump(self.model, directory / MODEL_FILE)

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "LetterClassifier":
        """Loads the trained component; an untrained one when nothing was persisted."""
        try:
            with model_storage.read_from(resource) as directory:
                path = directory / MODEL_FILE
                if path.exists():
                    return cls(config, model_storage, resource, joblib.load(path))
        except ValueError:
            pass  # the resource does not exist: training had nothing to learn
        logger.debug("LetterClassifier: no model in resource '%s'.", resource.name)
        return cls.create(config, model_storage, resource, execution_context)
