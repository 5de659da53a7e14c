"""Rasa's RulePolicy trained in-process on chosen rule and story files, the way `rasa train`
trains it (its contradiction and incomplete-rule checks included), for fast dialogue tests
that need no NLU model."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# The RulePolicy settings of config.yml.
RULE_POLICY_CONFIG = {"core_fallback_threshold": 0.3, "core_fallback_action_name": "action_default_fallback",
                      "enable_fallback_prediction": True, "restrict_rules": True}


def train_rule_policy(paths: Iterable[Path], storage_dir: Path):
    """(policy, domain) trained on the rules and stories in `paths` with the whole domain.yml."""
    from rasa.core.policies.rule_policy import RulePolicy
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.generator import TrainingDataGenerator
    from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
    from rasa.shared.core.training_data.structures import StoryGraph

    domain = Domain.load(str(ROOT / "domain.yml"))
    steps = []
    for path in paths:
        steps += YAMLStoryReader(domain, str(path)).read_from_file(str(path))
    trackers = TrainingDataGenerator(StoryGraph(steps), domain, augmentation_factor=0, remove_duplicates=True,
                                     unique_last_num_states=None).generate()
    policy = RulePolicy.create({**RulePolicy.get_default_config(), **RULE_POLICY_CONFIG},
                               LocalModelStorage(storage_dir), Resource("rules"),
                               ExecutionContext(GraphSchema({}), "rules-test"))
    policy.train(trackers, domain)  # raises InvalidRule on contradicting or incomplete rules
    return policy, domain


def predict(trained, events) -> str:
    """The action the trained RulePolicy predicts after `events`."""
    from rasa.shared.core.trackers import DialogueStateTracker

    policy, domain = trained
    tracker = DialogueStateTracker.from_events("test", events, domain.slots)
    prediction = policy.predict_action_probabilities(tracker, domain)
    return domain.action_names_or_texts[int(np.argmax(prediction.probabilities))]


def session_start() -> list:
    """The events that open a conversation."""
    from rasa.shared.core.events import ActionExecuted, SessionStarted

    return [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")]


def said(intent: str, text: str = "……"):
    """A citizen's message classified as `intent`."""
    from rasa.shared.core.events import UserUttered

    return UserUttered(text, {"name": intent, "confidence": 0.95})
