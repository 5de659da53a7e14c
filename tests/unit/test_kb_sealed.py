"""The sealed knowledge-base set (bench/sealed/kb_questions.yml) and its scoring.

The tests check the file's shape and counts only; they never print or compare question
texts with anything else.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from bench.kb_bench import SEALED_FILE, SEALED_FILE_2, area_of, load_sealed, score_sealed

ROOT = Path(__file__).resolve().parents[2]
INTERFACES = ROOT / "docs" / "interfaces.md"

# docs/interfaces.md §5, written out: the test below checks that the two agree.
CONTRACT_TOPICS = """
biz.online-portal biz.name-declaration biz.company-setup biz.individual-business biz.business-scope
biz.address biz.change biz.simple-deregistration biz.deregistration biz.annual-report biz.abnormal-list
biz.e-license biz.registered-capital biz.license-replacement biz.food-license biz.registration-progress
consumer.seven-day-return consumer.fraud-compensation consumer.food-compensation consumer.prepaid-card
consumer.business-closed consumer.three-guarantees consumer.online-platform consumer.travel-cancellation
consumer.education-training consumer.evidence consumer.dispute-options consumer.price-marking
consumer.invoice process.complaint-vs-report process.complaint-requirements process.complaint-timeline
process.report-timeline process.report-reward process.anonymous process.not-accepted
process.hotline-time-limits process.ticket-status process.satisfaction process.jurisdiction
reg.food-safety reg.special-equipment reg.product-quality reg.advertising reg.epidemic-supplies
reg.metrology reg.unlicensed-business redirect.drug-cosmetics redirect.intellectual-property
redirect.consumer-council redirect.labour redirect.police redirect.other-departments
""".split()


def contract_topics() -> set[str]:
    """The 53 topic ids of docs/interfaces.md §5."""
    text = INTERFACES.read_text(encoding="utf-8")
    section = text.split("## 5.", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| ([a-z]+\.[a-z0-9-]+) \|", section, flags=re.M))


@pytest.fixture(scope="module")
def items() -> list[dict]:
    return load_sealed()


def test_contract_lists_53_topics():
    assert len(contract_topics()) == 53
    assert contract_topics() == set(CONTRACT_TOPICS)


def test_sealed_file_is_a_list_of_well_formed_items():
    raw = yaml.safe_load(SEALED_FILE.read_text(encoding="utf-8"))
    assert isinstance(raw, list)
    for row in raw:
        assert set(row) <= {"q", "expect", "other_city"}, row.keys()
        assert isinstance(row["q"], str) and row["q"].strip() == row["q"] and len(row["q"]) >= 4
        assert isinstance(row["expect"], str)
        assert isinstance(row.get("other_city", False), bool)
        assert not row.get("other_city") or row["expect"] == "none"


def published_ids() -> set[str]:
    """The published entries of knowledge_base/ (what a sealed question may expect)."""
    ids = set()
    for path in sorted((ROOT / "knowledge_base").glob("*.yml")):
        for entry in yaml.safe_load(path.read_text(encoding="utf-8"))["entries"]:
            if entry.get("status") == "published":
                ids.add(entry["id"])
    return ids


def test_every_expected_id_is_a_published_entry_and_every_contract_topic_is_asked(items):
    expected = {i["expect"] for i in items} - {"none", "uncovered"}
    assert contract_topics() <= expected
    assert expected <= published_ids()


def test_counts(items):
    """Written for the 53 contract topics (5 each); 40 of the 60 uncovered questions were relabelled,
    blind, when entries that answer them were added (2026-12-05)."""
    kinds = Counter(
        ("other_city" if i["other_city"] else "offtopic") if i["expect"] == "none" else
        "uncovered" if i["expect"] == "uncovered" else "topic"
        for i in items
    )
    assert kinds == {"topic": 305, "offtopic": 40, "other_city": 20, "uncovered": 20}
    per_topic = Counter(i["expect"] for i in items if i["expect"] in contract_topics())
    assert set(per_topic.values()) == {5} and len(per_topic) == 53


def test_the_second_sealed_split_asks_about_every_later_entry():
    second = load_sealed(SEALED_FILE_2)
    expected = {i["expect"] for i in second} - {"none", "uncovered"}
    assert expected <= published_ids()
    assert not expected & contract_topics()
    kinds = Counter("none" if i["expect"] == "none" else "uncovered" if i["expect"] == "uncovered" else "topic"
                    for i in second)
    assert kinds["topic"] >= 500 and kinds["uncovered"] >= 40 and kinds["none"] >= 50
    assert sum(i["other_city"] for i in second) >= 20
    normalised = [re.sub(r"[\s，。？！、,.?!]", "", i["q"]) for i in second]
    assert len(set(normalised)) == len(normalised)


def test_no_duplicate_questions(items):
    normalised = [re.sub(r"[\s，。？！、,.?!]", "", i["q"]) for i in items]
    duplicates = [q for q, n in Counter(normalised).items() if n > 1]
    assert not duplicates, f"{len(duplicates)} duplicated questions"


def row(entry_id: str, confident: bool = False) -> dict:
    return {"id": entry_id, "question": entry_id, "score": 0.5, "confident": confident}


def test_area_of():
    assert area_of("consumer.invoice") == "consumer"
    assert area_of("biz") == "biz"


def test_score_sealed_on_a_tiny_fake_result_list():
    items = [
        {"q": "a", "expect": "biz.change", "other_city": False},
        {"q": "b", "expect": "biz.change", "other_city": False},
        {"q": "c", "expect": "consumer.invoice", "other_city": False},
        {"q": "d", "expect": "consumer.invoice", "other_city": False},
        {"q": "e", "expect": "none", "other_city": False},
        {"q": "f", "expect": "none", "other_city": False},
        {"q": "g", "expect": "none", "other_city": True},
        {"q": "h", "expect": "uncovered", "other_city": False},
        {"q": "i", "expect": "uncovered", "other_city": False},
        {"q": "j", "expect": "uncovered", "other_city": False},
        {"q": "k", "expect": "uncovered", "other_city": False},
    ]
    results = [
        [row("biz.change", True), row("biz.address")],            # right, confident
        [row("biz.change-legal-rep", True), row("biz.change")],   # wrong but same area, confident
        [row("consumer.price-marking"), row("biz.x"), row("consumer.invoice")],  # top-3 only
        [],                                                        # nothing found
        [row("biz.change", True)],                                 # off-topic answered
        [row("biz.change")],                                       # off-topic: choices only, refused
        [],                                                        # other city refused
        [row("reg.metrology", True)],                              # uncovered answered
        [row("reg.metrology")],
        [],
        [row("biz.change")],
    ]
    s = score_sealed(items, results)
    assert s.topics == 4
    assert s.top1 == pytest.approx(1 / 4)
    assert s.top3 == pytest.approx(3 / 4)
    assert s.top1_lenient == pytest.approx(3 / 4)
    assert s.answered_right == pytest.approx(1 / 4)
    assert s.answered_wrong == pytest.approx(1 / 4)
    assert (s.offtopic, s.offtopic_refused) == (2, pytest.approx(1 / 2))
    assert (s.other_city, s.other_city_refused) == (1, pytest.approx(1.0))
    assert (s.uncovered, s.uncovered_confident) == (4, pytest.approx(1 / 4))
    assert s.by_area == {
        "biz": (2, pytest.approx(1 / 2), pytest.approx(1 / 2), pytest.approx(1 / 2)),
        "consumer": (2, 0.0, 0.0, 0.0),
    }


def test_score_sealed_needs_one_result_per_item():
    with pytest.raises(ValueError):
        score_sealed([{"q": "a", "expect": "none", "other_city": False}], [])
