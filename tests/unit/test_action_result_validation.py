"""Rasa checks the action server's answers with one prepared validator (issue 13): the same
answers pass, the same bad answers fail with Rasa's message, and the schema is checked once."""

from __future__ import annotations

import jsonschema
import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.utils.endpoints import EndpointConfig

from xiaoan.rasa_stores import validate_action_results_once

GOOD = {"events": [{"event": "slot", "name": "phone", "value": "13800000000"},
                   {"event": "action", "name": "action_listen"}],
        "responses": [{"response": "utter_greet"}, {"text": "您好"}]}
BAD = [{"events": [{"event": "slot", "timestamp": "yesterday"}]},
       {"events": "not a list"},
       {"events": [{"event": "no_such_event"}]}]


def rasa_verdict(result) -> str:
    try:
        jsonschema.validate(result, RemoteAction.action_response_format_spec())
        return "ok"
    except ValidationError as e:
        return e.message


def test_same_verdicts_as_rasa_with_the_schema_checked_once(monkeypatch):
    expected = [rasa_verdict(r) for r in [GOOD, *BAD]]
    validate_action_results_once()
    validate_action_results_once()  # idempotent
    checks = []
    original = jsonschema.validators.Draft202012Validator.check_schema
    monkeypatch.setattr(jsonschema.validators.Draft202012Validator, "check_schema",
                        classmethod(lambda cls, schema, **kw: checks.append(1) or original(schema)))
    action = RemoteAction("action_x", EndpointConfig("http://127.0.0.1:1/webhook"))
    for _ in range(20):
        assert action._validate_action_result(GOOD) is True
    got = []
    for result in BAD:
        with pytest.raises(ValidationError) as info:
            action._validate_action_result(result)
        got.append(info.value.message)
    assert expected[0] == "ok"
    for rasa_message, ours in zip(expected[1:], got):
        assert ours.startswith(rasa_message) and "Failed to validate Action server response" in ours
    assert len(checks) <= 1  # Rasa's jsonschema.validate checked the schema on each of these 23 calls
