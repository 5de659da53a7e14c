"""The response generator (xiaoan/nlg.py): button payloads as written, everything else filled as Rasa does."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from rasa.core.nlg import interpolator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet
from rasa.shared.core.trackers import DialogueStateTracker

from xiaoan.nlg import ResponseGenerator

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def interpolation_errors(monkeypatch):
    """Every error the interpolator logs (a placeholder it could not fill)."""
    logged = []

    class Recorder:
        def exception(self, *args, **kwargs):
            logged.append((args, kwargs))

    monkeypatch.setattr(interpolator, "structlogger", Recorder())
    return logged


def _generate(generator, name, tracker):
    return asyncio.run(generator.generate(name, tracker, "rest"))


def test_every_button_of_the_domain_keeps_its_payload_and_logs_no_error(interpolation_errors):
    domain = Domain.load(str(ROOT / "domain.yml"))
    generator = ResponseGenerator(domain=domain)
    tracker = DialogueStateTracker.from_events("nlg", [SlotSet("complainant_name", "李明")], slots=domain.slots)
    with_buttons = [name for name, variants in domain.responses.items() if any(v.get("buttons") for v in variants)]
    assert len(with_buttons) >= 10
    checked = 0
    for name in with_buttons:
        response = _generate(generator, name, tracker)
        written = {b["payload"] for variant in domain.responses[name] for b in variant.get("buttons") or []}
        payloads = {b["payload"] for b in response.get("buttons") or []}
        assert payloads and payloads <= written, name
        checked += sum("{" in payload for payload in payloads)
    assert checked >= 10  # JSON payloads were among them
    # texts whose values an action passes (``{amount_text}``) are not filled here; no payload was
    # taken for a placeholder (its key would be JSON, with quotes)
    assert [e for e in interpolation_errors if '"' in str(e[1].get("placeholder_key"))] == []


def test_text_and_titles_are_still_filled(interpolation_errors):
    domain = Domain.from_dict({
        "slots": {"name": {"type": "text", "mappings": [{"type": "custom"}]}},
        "responses": {"utter_check": [{"text": "您好，{name}", "buttons": [
            {"title": "是{name}本人", "payload": '/inform{"form_choice": "self"}'}]}]},
    })
    tracker = DialogueStateTracker.from_events("nlg", [SlotSet("name", "王芳")], slots=domain.slots)
    response = _generate(ResponseGenerator(domain=domain), "utter_check", tracker)
    assert response["text"] == "您好，王芳"
    assert response["buttons"] == [{"title": "是王芳本人", "payload": '/inform{"form_choice": "self"}'}]
    assert interpolation_errors == []


def test_rasas_own_generator_logs_an_error_per_json_payload(interpolation_errors):
    """Why the generator exists: Rasa's logs an error (with a traceback) for each such button."""
    from rasa.core.nlg import TemplatedNaturalLanguageGenerator

    domain = Domain.from_dict({
        "slots": {"name": {"type": "text", "mappings": [{"type": "custom"}]}},
        "responses": {"utter_check": [{"text": "继续吗？", "buttons": [
            {"title": "继续", "payload": '/inform{"form_choice": "continue"}'}]}]},
    })
    tracker = DialogueStateTracker.from_events("nlg", [], slots=domain.slots)
    _generate(TemplatedNaturalLanguageGenerator(domain.responses), "utter_check", tracker)
    assert len(interpolation_errors) == 1


def test_endpoints_use_the_generator(monkeypatch):
    monkeypatch.setenv("XIAOAN_ACTION_URL", "http://127.0.0.1:5055/webhook")
    monkeypatch.setenv("XIAOAN_ACTION_SECRET", "test")
    from rasa.core.nlg.generator import NaturalLanguageGenerator
    from rasa.utils.endpoints import read_endpoint_config

    config = read_endpoint_config(str(ROOT / "endpoints.yml"), "nlg")
    assert isinstance(NaturalLanguageGenerator.create(config, Domain.empty()), ResponseGenerator)
