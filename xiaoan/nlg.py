"""The response generator of 小安's Rasa server (endpoints.yml `nlg`).

Rasa's templated generator fills slot placeholders (``{name}``) in every string of a response,
button payloads included. Our buttons carry entities as JSON (``/inform{"form_choice": "continue"}``),
which the interpolator takes for a placeholder named ``"form_choice": "continue"``: it finds no
such slot, logs an ERROR with a traceback and returns the payload unchanged. That happened on
every response with such buttons (648 ERROR lines in one replica's log during a 20-minute load),
burying real errors and costing a traceback per button. Payloads are what the channel sends back
when the button is clicked, never text with placeholders, so this generator leaves them as
written and fills everything else as Rasa does (titles included).
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Text

from rasa.core.nlg import TemplatedNaturalLanguageGenerator, interpolator
from rasa.shared.core.domain import Domain


class ResponseGenerator(TemplatedNaturalLanguageGenerator):
    """Rasa's responses from the domain; button payloads are not interpolated."""

    def __init__(self, endpoint_config: Any = None, domain: Optional[Domain] = None) -> None:
        super().__init__((domain or Domain.empty()).responses)

    def _fill_response(self, response: Dict[Text, Any], filled_slots: Optional[Dict[Text, Any]] = None,
                       **kwargs: Any) -> Dict[Text, Any]:
        buttons = response.pop("buttons", None)
        filled = super()._fill_response(response, filled_slots, **kwargs)
        if buttons is not None:
            values = self._response_variables(filled_slots, kwargs)
            filled["buttons"] = [self._fill_button(button, values) for button in buttons]
        return filled

    @staticmethod
    def _fill_button(button: Any, values: Dict[Text, Any]) -> Any:
        if not isinstance(button, dict) or not values:
            return button
        return {key: (value if key == "payload" else interpolator.interpolate(value, values))
                for key, value in button.items()}
