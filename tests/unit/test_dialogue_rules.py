"""Every rule file together, trained as `rasa train` trains Rasa's RulePolicy (contradictions and
incomplete rules fail here in seconds), and the conversation-basics and knowledge-base test
stories replayed step by step against it (what `rasa test` checks of the dialogue, minus NLU)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dialogue_support import predict as _predict, session_start as _session_start, train_rule_policy

ROOT = Path(__file__).resolve().parents[2]
STORY_FILES = ("test_core.yml", "test_knowledge.yml")


@pytest.fixture(scope="module")
def rule_policy(tmp_path_factory):
    paths = sorted((ROOT / "data" / "rules").glob("*.yml")) + sorted((ROOT / "data" / "stories").glob("*.yml"))
    return train_rule_policy(paths, tmp_path_factory.mktemp("rules"))


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
