"""Fixtures for the tests that run the trained NLU model (marker ``model``).

The model is loaded once per test session. By default it is ``models/xiaoan.tar.gz`` (what
``make train`` writes); ``XIAOAN_NLU_MODEL`` points the tests at another model, e.g. an NLU-only
model trained to check a change of the training data. When the model file is missing the tests
skip with the reason on a developer machine and fail in CI (env ``CI`` set).
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple, Union

import pytest
import yaml

from tests.conftest import service_unavailable

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = ROOT / "models" / "xiaoan.tar.gz"
PAIRS_FILE = Path(__file__).with_name("minimal_pairs.yml")

# docs/interfaces.md §3 (nlu_fallback is Rasa's own and never an expected intent).
CONTRACT_INTENTS = frozenset(
    """greet goodbye thank affirm deny cancel bot_challenge request_human complain_refund
    complain_prepaid complain_general report_violation ask_business_registration
    ask_consumer_rights ask_regulation check_ticket_status rate_service inform out_of_scope""".split()
)

Expected = Union[str, List[str]]
Parse = Callable[[str], Dict[str, Any]]


def model_path() -> Path:
    """The model under test: ``XIAOAN_NLU_MODEL`` or ``models/xiaoan.tar.gz``."""
    configured = os.environ.get("XIAOAN_NLU_MODEL")
    return Path(configured) if configured else DEFAULT_MODEL


def acceptable(expected: Expected) -> List[str]:
    """The intents an expectation accepts: one name or a list of names."""
    return [expected] if isinstance(expected, str) else list(expected)


def load_pairs() -> List[Tuple[str, str, Expected, str, Expected]]:
    """(group, text_a, expect_a, text_b, expect_b) for every pair of minimal_pairs.yml."""
    content = yaml.safe_load(PAIRS_FILE.read_text(encoding="utf-8"))
    pairs = []
    for group, rows in content["groups"].items():
        for row in rows:
            if len(row) != 4:
                raise ValueError(f"{PAIRS_FILE.name} [{group}]: a pair needs 4 items, got {row!r}")
            text_a, expect_a, text_b, expect_b = row
            pairs.append((group, str(text_a), expect_a, str(text_b), expect_b))
    return pairs


def describe(result: Dict[str, Any]) -> str:
    """The top of the intent ranking, for failure messages."""
    ranking = result.get("intent_ranking") or []
    return ", ".join(f"{item['name']} {item['confidence']:.2f}" for item in ranking[:4])


@pytest.fixture(scope="session")
def nlu_parse() -> Parse:
    """``parse(text) -> Rasa parse result`` with the trained model, loaded once, results cached."""
    path = model_path()
    if not path.is_file():
        service_unavailable(f"no trained model at {path} (run `make train` first)")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.ERROR)  # otherwise structlog logs every parsed message
    agent = Agent.load(str(path))
    loop = asyncio.new_event_loop()
    cache: Dict[str, Dict[str, Any]] = {}

    def parse(text: str) -> Dict[str, Any]:
        if text not in cache:
            cache[text] = loop.run_until_complete(agent.parse_message(text))
        return cache[text]

    yield parse
    loop.close()
