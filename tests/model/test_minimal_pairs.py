"""Minimal pairs (minimal_pairs.yml) against the trained model: every message of every pair must
get its expected intent after the FallbackClassifier, so one test per message."""

from __future__ import annotations

import pytest

from tests.model.conftest import CONTRACT_INTENTS, acceptable, describe, load_pairs

PAIRS = load_pairs()
MESSAGES = [
    pytest.param(text, expected, group, id=f"pair{number:03d}{side}")
    for number, (group, text_a, expect_a, text_b, expect_b) in enumerate(PAIRS, 1)
    for side, text, expected in (("a", text_a, expect_a), ("b", text_b, expect_b))
]


def test_pairs_file_is_well_formed():
    assert len(PAIRS) >= 150, f"only {len(PAIRS)} pairs"
    problems = []
    seen = {}
    for group, text_a, expect_a, text_b, expect_b in PAIRS:
        for text, expected in ((text_a, expect_a), (text_b, expect_b)):
            names = acceptable(expected)
            unknown = [name for name in names if name not in CONTRACT_INTENTS]
            if unknown:
                problems.append(f"[{group}] {text}: not a CONTRACT intent {unknown}")
            if text in seen and seen[text] != names:
                problems.append(f"[{group}] {text}: expected {names} here, {seen[text]} elsewhere")
            seen[text] = names
        if set(acceptable(expect_a)) & set(acceptable(expect_b)):
            problems.append(f"[{group}] {text_a} / {text_b}: the two sides accept the same intent")
    ambiguous = [text for text, names in seen.items() if len(names) > 1]
    if len(ambiguous) > len(seen) // 20:
        problems.append(f"too many lines with several acceptable intents: {ambiguous}")
    assert not problems, "\n".join(problems)


@pytest.mark.model
@pytest.mark.parametrize("text, expected, group", MESSAGES)
def test_minimal_pair_message(nlu_parse, text, expected, group):
    result = nlu_parse(text)
    predicted = result["intent"]["name"]
    assert predicted in acceptable(expected), (
        f"[{group}] {text!r}: expected {expected}, got {predicted} ({describe(result)})"
    )
