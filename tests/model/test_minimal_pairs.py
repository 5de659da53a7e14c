"""Minimal pairs (minimal_pairs.yml) against the trained model, after the FallbackClassifier.

The aim is every message right (issue 10). The gate in `make test` is 98% of the messages and
every pair's opening/cancel/handoff group right, not 100%: `make test` trains its own model
and DIET's training on several CPU threads is not bit-for-bit repeatable, so one or two
borderline lines can flip between two trainings of the same data. `python -m pytest
tests/model -rA` lists every miss; the README's benchmark section gives today's count.
"""

from __future__ import annotations

import pytest

from tests.model.conftest import CONTRACT_INTENTS, acceptable, describe, load_pairs

PAIRS = load_pairs()


def test_pairs_file_is_well_formed():
    assert len(PAIRS) >= 150, f"only {len(PAIRS)} pairs"
    problems = []
    seen = {}
    for group, text_a, expect_a, text_b, expect_b in PAIRS:
        for text, expected in ((text_a, expect_a), (text_b, expect_b)):
            names = acceptable(expected)
            unknown = [name for name in names if name not in CONTRACT_INTENTS]
            if unknown:
                problems.append(f"[{group}] {text}: not an intent of docs/interfaces.md §3 {unknown}")
            if text in seen and seen[text] != names:
                problems.append(f"[{group}] {text}: expected {names} here, {seen[text]} elsewhere")
            seen[text] = names
        if set(acceptable(expect_a)) & set(acceptable(expect_b)):
            problems.append(f"[{group}] {text_a} / {text_b}: the two sides accept the same intent")
    ambiguous = [text for text, names in seen.items() if len(names) > 1]
    if len(ambiguous) > len(seen) // 20:
        problems.append(f"too many lines with several acceptable intents: {ambiguous}")
    assert not problems, "\n".join(problems)


#: Share of the pair messages that must be right in `make test` (see the module docstring).
MIN_ACCURACY = 0.98
#: Groups whose every message must be right: reading these wrong starts or drops a complaint.
STRICT_GROUPS = ("complaint opening vs cancel",)


@pytest.mark.model
def test_minimal_pairs(nlu_parse):
    misses = []
    for number, (group, text_a, expect_a, text_b, expect_b) in enumerate(PAIRS, 1):
        for text, expected in ((text_a, expect_a), (text_b, expect_b)):
            result = nlu_parse(text)
            predicted = result["intent"]["name"]
            if predicted not in acceptable(expected):
                misses.append((group, f"[{group}] {text!r}: expected {expected}, got {predicted} ({describe(result)})"))
    total = 2 * len(PAIRS)
    accuracy = 1 - len(misses) / total
    report = "\n".join(line for _, line in misses)
    print(f"minimal pairs: {total - len(misses)}/{total} right ({accuracy:.3f})\n{report}")
    strict = [line for group, line in misses if group in STRICT_GROUPS]
    assert not strict, "\n".join(strict)
    assert accuracy >= MIN_ACCURACY, f"{len(misses)} of {total} wrong:\n{report}"
