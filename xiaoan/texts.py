"""Citizen-facing texts sent outside a dialogue turn, read from the responses of ``domain.yml``.

The one loader of wording that code sends by itself rather than Rasa uttering it in a dialogue
turn: the WeChat channel's notices (``utter_wechat_*``), the REST channel's refusals
(``utter_rest_*``), the hand-off notices the agents' inbox and the idle check append to a
conversation (``utter_handoff_notice_*``) and the clarification's last button
(``utter_clarify_none_button``). They are responses of the domain like every other sentence
小安 says, so all wording is edited in one file; the file is re-read when it changes on disk
(``xiaoan.datafiles``). A response's first variant with a ``text`` is the text.

Usage::

    from xiaoan import texts
    texts.text("utter_clarify_none_button")                       # "都不是"
    texts.load({"error": "utter_wechat_error"})                   # {"error": "抱歉，小安刚才……"}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional

from xiaoan.config import PROJECT_ROOT
from xiaoan.datafiles import load_cached

DOMAIN_PATH = PROJECT_ROOT / "domain.yml"


class TextsError(ValueError):
    """domain.yml is missing or not YAML, or a response asked for has no text."""


def parse_responses(data: Any, source: str) -> Mapping[str, str]:
    """Response name -> the text of its first variant that has one (responses without a text left out).

    Raises:
        TextsError: the document has no ``responses`` mapping, naming `source`.
    """
    responses = data.get("responses") if isinstance(data, dict) else None
    if not isinstance(responses, dict):
        raise TextsError(f"{source}: needs a `responses` mapping")
    found: dict[str, str] = {}
    for name, variants in responses.items():
        for variant in variants if isinstance(variants, list) else []:
            value = variant.get("text") if isinstance(variant, dict) else None
            if isinstance(value, str) and value.strip():
                found[str(name)] = value
                break
    return found


def responses(path: Optional[str | Path] = None) -> Mapping[str, str]:
    """Every response of the domain that has a text (see `parse_responses`)."""
    return load_cached(path or DOMAIN_PATH, parse_responses, TextsError, what="the domain's responses")


def load(names: Mapping[str, str], path: Optional[str | Path] = None) -> dict[str, str]:
    """The texts of several responses at once: ``{key: response name}`` -> ``{key: text}``.

    Raises:
        TextsError: the file cannot be read, or responses are missing (all of them named).
    """
    found = responses(path)
    missing = [name for name in names.values() if name not in found]
    if missing:
        raise TextsError(f"{path or DOMAIN_PATH}: responses with a text are missing: {', '.join(missing)}")
    return {key: found[name] for key, name in names.items()}


def text(name: str, path: Optional[str | Path] = None) -> str:
    """The text of one response (its first variant with a text).

    Raises:
        TextsError: the file cannot be read or the response has no text.
    """
    return load({name: name}, path)[name]


def module_texts(module: str, names: Mapping[str, str]):
    """A module's ``__getattr__`` that resolves the attributes in `names` (attribute -> response
    name) to the domain's current texts, so a module can offer its texts as constants
    (``messages.RASA_UNAVAILABLE``) while the wording stays in domain.yml.

    Usage::

        __getattr__ = texts.module_texts(__name__, {"RASA_UNAVAILABLE": "utter_web_rasa_unavailable"})
    """

    def __getattr__(name: str) -> str:
        if name in names:
            return text(names[name])
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__

