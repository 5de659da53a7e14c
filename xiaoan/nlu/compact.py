"""DIET and TED that store their weights without the optimizer's state (issue 13: model size).

Rasa saves a trained DIET or TED with Keras' `save_weights`, and the checkpoint it writes holds
everything the model tracks, including the Adam optimizer's two moment estimates per weight:
two thirds of the file, and useless after training (Rasa's `load()` compiles a fresh optimizer
before it reads the weights). These subclasses write the same checkpoint without the optimizer.
Predictions are the same (tests/unit/test_compact_models.py trains, stores and reloads both ways).

Loading reads the checkpoint through `Model.load_weights`, which only requires that the stored
values match; the fresh optimizer's slots simply keep their initial values. Fine-tuning a stored
model (`rasa train --finetune`) would start the optimizer afresh, which Rasa allows anyway.
"""

from __future__ import annotations

import contextlib
from typing import Any, Dict, Iterator

from rasa.core.policies.ted_policy import TEDPolicy
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.classifiers.diet_classifier import DIETClassifier

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


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR],
    is_trainable=True,
)
class CompactDIETClassifier(DIETClassifier):
    """Rasa's DIETClassifier, stored without the optimizer's state."""

    def persist(self) -> None:
        with without_optimizer(self.model):
            super().persist()


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITH_END_TO_END_SUPPORT, is_trainable=True)
class CompactTEDPolicy(TEDPolicy):
    """Rasa's TEDPolicy, stored without the optimizer's state."""

    def persist(self) -> None:
        with without_optimizer(self.model):
            super().persist()
