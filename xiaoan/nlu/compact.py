"""DIET and TED that store their weights compactly (issue 13: model size).

Rasa saves a trained DIET or TED with Keras' `save_weights`, and the checkpoint it writes holds
everything the model tracks, including the Adam optimizer's two moment estimates per weight:
two thirds of the file, and useless after training (Rasa's `load()` compiles a fresh optimizer
before it reads the weights). These subclasses write the same checkpoint without the optimizer.
Predictions are the same (tests/unit/test_compact_models.py trains, stores and reloads both ways).

Loading reads the checkpoint through `Model.load_weights`, which only requires that the stored
values match; the fresh optimizer's slots simply keep their initial values. Fine-tuning a stored
model (`rasa train --finetune`) would start the optimizer afresh, which Rasa allows anyway.

The weights themselves are stored as 16-bit floats (`HalfPrecisionWeights`): the checkpoint's
tensors go into one NumPy archive, 32-bit floats rounded to 16 bits (a relative error of at most
2^-11, far below what moves a softmax decision), everything else (counters, the object graph
that maps tensors to layers) unchanged. Loading writes the archive back as an ordinary TensorFlow
checkpoint in a temporary directory and lets Keras read it, so the model that serves is the same
32-bit model as before with its weights rounded once. A model stored before this change (plain
checkpoint, no archive) loads as it always did.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import tempfile
from pathlib import Path
from typing import Any, Dict, Hashable, Iterator, List, Optional, Type

import numpy as np
import tensorflow as tf
from rasa.core.policies.ted_policy import TED, TEDPolicy
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.classifiers.diet_classifier import DIET, DIETClassifier
from rasa.shared.nlu.constants import TEXT
from rasa.utils.tensorflow.constants import RUN_EAGERLY

from xiaoan.nlu import incremental

logger = logging.getLogger(__name__)

# Rasa's applied events and dialogue states continue from the previous turn instead of being
# computed from the whole session for every prediction (xiaoan/nlu/incremental.py): installed with
# the model's components, in every process that loads this model.
incremental.install()

#: The name under which a compiled Keras model tracks its optimizer.
OPTIMIZER_CHILD = "optimizer"


@contextlib.contextmanager
def without_optimizer(model: Any) -> Iterator[None]:
    """While inside, checkpoints of `model` leave out its optimizer (and the optimizer's slots).

    Checkpoint writing walks the object graph through `_trackable_children`; an instance
    attribute shadows the class's method for this one model only, and is removed afterwards.
    """
    if model is None:
        yield
        return
    children_of = model._trackable_children

    def children(save_type: str = "checkpoint", **kwargs: Any) -> Dict[str, Any]:
        found = dict(children_of(save_type, **kwargs))
        found.pop(OPTIMIZER_CHILD, None)
        return found

    object.__setattr__(model, "_trackable_children", children)
    try:
        yield
    finally:
        object.__delattr__(model, "_trackable_children")


#: Beside a checkpoint prefix P, the half-precision archive is P + HALF_SUFFIX.
HALF_SUFFIX = ".fp16.npz"


def archive_path(prefix: str | Path) -> Path:
    """Where the half-precision archive of the checkpoint `prefix` is stored."""
    return Path(f"{prefix}{HALF_SUFFIX}")


def checkpoint_to_half(prefix: str | Path) -> Path:
    """Replace the TensorFlow checkpoint at `prefix` by a half-precision archive; its path.

    32-bit float tensors are stored as 16-bit floats (NumPy's float16); any other tensor, the
    object graph included, as it was. The checkpoint's own files are removed afterwards.
    """
    reader = tf.train.load_checkpoint(str(prefix))
    arrays: Dict[str, np.ndarray] = {}
    for key, dtype in sorted(reader.get_variable_to_dtype_map().items()):
        value = np.asarray(reader.get_tensor(key))
        if dtype == tf.float32:
            value = value.astype(np.float16)
        arrays[key] = value
    target = archive_path(prefix)
    with open(target, "wb") as out:  # np.savez would append ".npz" to a str path
        np.savez(out, **arrays)
    for part in Path(prefix).parent.glob(f"{Path(prefix).name}.*"):
        if part != target:
            part.unlink()
    return target


def half_to_checkpoint(archive: str | Path, prefix: str | Path) -> None:
    """Write the half-precision `archive` as an ordinary 32-bit TensorFlow checkpoint at `prefix`."""
    with np.load(archive, allow_pickle=False) as stored:
        names = sorted(stored.files)
        tensors = []
        for name in names:
            value = stored[name]
            if value.dtype == np.float16:
                value = value.astype(np.float32)
            tensors.append(tf.constant(value))
    tf.raw_ops.SaveV2(prefix=str(prefix), tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=tensors)


class HalfPrecisionWeights:
    """Mixin for a RasaModel: `save` writes the half-precision archive, `load_weights` reads it."""

    def save(self, model_file_name: str, overwrite: bool = True) -> None:
        super().save(model_file_name, overwrite=overwrite)  # type: ignore[misc]
        checkpoint_to_half(model_file_name)

    def load_weights(self, filepath: Any, *args: Any, **kwargs: Any) -> Any:
        archive = archive_path(filepath)
        if not archive.exists():  # a plain checkpoint: an older model, or Rasa's own training checkpoint
            return super().load_weights(filepath, *args, **kwargs)  # type: ignore[misc]
        with tempfile.TemporaryDirectory(prefix="xiaoan-weights-") as tmp:
            prefix = Path(tmp) / Path(str(filepath)).name
            half_to_checkpoint(archive, prefix)
            return super().load_weights(str(prefix), *args, **kwargs)  # type: ignore[misc]


class PredictionOnlyLoad:
    """Mixin for a RasaModel: a model loaded to serve is built by a prediction, not a training step.

    Rasa's `RasaModel.load` builds the model's weights by fitting it on one example: that traces
    the whole training graph (gradients of every layer, the optimizer's update) and creates the
    optimizer's two slots per weight, and the serving process keeps both for its lifetime although
    it never trains. Here one prediction on the stored example builds the layers a prediction uses,
    the stored weights are read into them, and what the first prediction cached (the label
    embeddings of `prepare_for_predict`, the traced prediction function) is dropped and built again
    from the real weights. Fine-tuning (`finetune_mode`) and a model without a prediction example
    take Rasa's own path.
    """

    @classmethod
    def load(cls, model_file_name: str, model_data_example: Any, predict_data_example: Any = None,
             finetune_mode: bool = False, *args: Any, **kwargs: Any) -> Any:
        if finetune_mode or predict_data_example is None:
            return super().load(model_file_name, model_data_example, predict_data_example,  # type: ignore[misc]
                                finetune_mode, *args, **kwargs)
        model = cls(*args, **kwargs)
        model.compile(run_eagerly=kwargs.get("config", {}).get(RUN_EAGERLY))
        model.run_inference(predict_data_example)  # creates the variables a prediction reads
        model.load_weights(model_file_name)
        model.prepared_for_prediction = False  # label embeddings were computed from the initial weights
        model._tf_predict_step = None  # its trace captured them
        model.run_inference(predict_data_example)  # trace once more, now with the trained weights
        return model


class CompactDIET(PredictionOnlyLoad, HalfPrecisionWeights, DIET):
    """Rasa's DIET model with half-precision weight storage, loaded for prediction only."""


class CompactTED(PredictionOnlyLoad, HalfPrecisionWeights, TED):
    """Rasa's TED model with half-precision weight storage, loaded for prediction only."""


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR],
    is_trainable=True,
)
class CompactDIETClassifier(DIETClassifier):
    """Rasa's DIETClassifier, stored without the optimizer's state and with 16-bit weights."""

    @staticmethod
    def model_class() -> Type[DIET]:
        return CompactDIET

    def persist(self) -> None:
        with without_optimizer(self.model):
            super().persist()


def frozen_states(states: List[Dict[str, Dict[str, Any]]]) -> Hashable:
    """A dialogue's featurizer states (one dict of sub-states per turn) as a hashable key.

    Sub-state values are strings, tuples of strings (entities) or tuples of floats (slots).
    """
    return tuple(
        tuple(sorted((name, tuple(sorted(sub.items()))) for name, sub in state.items()))
        for state in states
    )


class PredictionCache(incremental.LRU):
    """A bounded, thread-safe map from a dialogue's states to TED's prediction for them.

    Every `REPORT_EVERY` look-ups it logs its size and hit rate (INFO), the figure that says how
    much of TED's work real conversations repeat.
    """

    REPORT_EVERY = 5000

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> Optional[Any]:
        found = super().get(key)
        with self._lock:
            if found is None:
                self.misses += 1
            else:
                self.hits += 1
            lookups = self.hits + self.misses
            if lookups % self.REPORT_EVERY == 0:
                logger.info("TED prediction cache: %d state histories, %.1f%% of %d look-ups answered",
                            len(self), 100.0 * self.hits / lookups, lookups)
        return found


def _copy_prediction(prediction: Any) -> Any:
    """A PolicyPrediction that shares nothing mutable with `prediction` but its diagnostic arrays."""
    duplicate = copy.copy(prediction)
    duplicate.probabilities = list(prediction.probabilities)
    duplicate.events = list(prediction.events)
    duplicate.optional_events = list(prediction.optional_events)
    return duplicate


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITH_END_TO_END_SUPPORT, is_trainable=True)
class CompactTEDPolicy(TEDPolicy):
    """Rasa's TEDPolicy, stored without the optimizer's state and with 16-bit weights, and
    remembering its predictions (issue 13: turn cost).

    TED's prediction is a function of the dialogue's last `max_history` featurizer states only
    (intents, actions, slots as features, entity names, the active loop: never a value a citizen
    typed) as long as the policy is not end-to-end; the same few hundred states recur across
    conversations (every form turn, every greeting), so a prediction is computed once per
    distinct state history and then looked up: the states are computed anyway (Rasa's other
    policies compute them too), the featurization and the network are skipped. An end-to-end
    TED (trained on stories with user text) reads the text too and is never cached.
    """

    #: Distinct state histories remembered per loaded model (least recently used dropped).
    PREDICTION_CACHE_SIZE = 4096

    @staticmethod
    def model_class() -> Type[TED]:
        return CompactTED

    def persist(self) -> None:
        with without_optimizer(self.model):
            super().persist()

    @property
    def prediction_cache(self) -> PredictionCache:
        cache = self.__dict__.get("_prediction_cache")
        if cache is None:
            cache = self.__dict__.setdefault("_prediction_cache", PredictionCache(self.PREDICTION_CACHE_SIZE))
        return cache

    def _cacheable(self) -> bool:
        return self.model is not None and not self.only_e2e and TEXT not in (self.fake_features or {})

    def predict_action_probabilities(self, tracker: Any, domain: Any, rule_only_data: Optional[Dict[str, Any]] = None,
                                     precomputations: Any = None, **kwargs: Any) -> Any:
        """Rasa's prediction, looked up when the same state history was predicted before."""
        if not self._cacheable():
            return super().predict_action_probabilities(tracker, domain, rule_only_data, precomputations, **kwargs)
        key = frozen_states(self._prediction_states(tracker, domain, rule_only_data=rule_only_data))
        cached = self.prediction_cache.get(key)
        if cached is None:
            cached = super().predict_action_probabilities(tracker, domain, rule_only_data, precomputations, **kwargs)
            self.prediction_cache.put(key, cached)
        return _copy_prediction(cached)
