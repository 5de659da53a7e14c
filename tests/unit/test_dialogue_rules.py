"""Every rule file together, trained as `rasa train` trains Rasa's RulePolicy (contradictions and
incomplete rules fail here in seconds), and the conversation-basics and knowledge-base test
stories replayed step by step against it (what `rasa test` checks of the dialogue, minus NLU)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_form_actions import _predict, _session_start

ROOT = Path(__file__).resolve().parents[2]
STORY_FILES = ("test_core.yml", "test_knowledge.yml")


@pytest.fixture(scope="module")
def rule_policy(tmp_path_factory):
    from rasa.core.policies.rule_policy import RulePolicy
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.generator import TrainingDataGenerator
    from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
    from rasa.shared.core.training_data.structures import StoryGraph

    domain = Domain.load(str(ROOT / "domain"))
    steps = []
    for path in sorted((ROOT / "data" / "rules").glob("*.yml")) + sorted((ROOT / "data" / "stories").glob("*.yml")):
        steps += YAMLStoryReader(domain, str(path)).read_from_file(str(path))
    trackers = TrainingDataGenerator(StoryGraph(steps), domain, augmentation_factor=0, remove_duplicates=True,
                                     unique_last_num_states=None).generate()
    config = {**RulePolicy.get_default_config(), "core_fallback_threshold": 0.3,
              "core_fallback_action_name": "action_default_fallback", "enable_fallback_prediction": True,
              "restrict_rules": True}  # as config.yml
    policy = RulePolicy.create(config, LocalModelStorage(tmp_path_factory.mktemp("rules")), Resource("rules"),
                               ExecutionContext(GraphSchema({}), "dialogue-rules-test"))
    policy.train(trackers, domain)  # raises on contradicting or incomplete rules
    return policy, domain


@pytest.mark.parametrize("story_file", STORY_FILES)
def test_test_stories_follow_the_rules(rule_policy, story_file):
    from rasa.shared.core.events import ActionExecuted
    from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader

    policy, domain = rule_policy
    path = ROOT / "tests" / "stories" / story_file
    stories = YAMLStoryReader(domain, str(path)).read_from_file(str(path))
    assert stories
    for story in stories:
        events = _session_start()[:2] + story.explicit_events(domain)  # ends with the implicit listen
        for index, event in enumerate(events):
            if isinstance(event, ActionExecuted) and index > 2:
                predicted = _predict(rule_policy, list(events[:index]))
                assert predicted == event.action_name, f"{story.block_name}: step {index}"
