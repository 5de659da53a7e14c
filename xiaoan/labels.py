"""Chinese labels of intents, hand-off reasons and channels, from ``xiaoan/resources/labels.yml``.

The one loader of the one labels file (issue 14): the inbox, the statistics and the weekly report,
and the assistant's clarification buttons all read their wording here, so a label is changed in
one place. The file is re-read when it changes on disk (``xiaoan.datafiles``).

Usage::

    from xiaoan import labels
    labels.intent("complain_prepaid")       # "预付卡纠纷"
    labels.clarify_buttons()["check_ticket_status"]   # "查询工单进度"
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

from xiaoan.datafiles import load_cached

LABELS_PATH = Path(__file__).resolve().parent / "resources" / "labels.yml"
_SECTIONS = ("intents", "handoff_reasons", "channels")


class LabelsError(ValueError):
    """labels.yml is missing, not YAML, or not shaped as documented at its top."""


@dataclass(frozen=True)
class Labels:
    """The parsed labels file."""

    intents: Mapping[str, str]          # intent -> staff label
    buttons: Mapping[str, str]          # intent -> clarification button title (some intents)
    handoff_reasons: Mapping[str, str]  # reason code -> label
    channels: Mapping[str, str]         # channel -> label


def _text(value: Any, where: str, source: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise LabelsError(f"{source}: {where} must be a non-empty text")
    return value.strip()


def parse_labels(data: Any, source: str) -> Labels:
    """Check and parse the content of labels.yml.

    Raises:
        LabelsError: a section is missing or a label is empty, naming `source`.
    """
    if not isinstance(data, dict) or any(not isinstance(data.get(s), dict) for s in _SECTIONS):
        raise LabelsError(f"{source}: needs the mappings {', '.join(_SECTIONS)}")
    intents: dict[str, str] = {}
    buttons: dict[str, str] = {}
    for name, entry in data["intents"].items():
        if not isinstance(entry, dict):
            raise LabelsError(f"{source}: intents.{name} must be a mapping with `label`")
        intents[str(name)] = _text(entry.get("label"), f"intents.{name}.label", source)
        if "button" in entry:
            buttons[str(name)] = _text(entry.get("button"), f"intents.{name}.button", source)
    reasons = {str(k): _text(v, f"handoff_reasons.{k}", source) for k, v in data["handoff_reasons"].items()}
    channels = {str(k): _text(v, f"channels.{k}", source) for k, v in data["channels"].items()}
    return Labels(intents=intents, buttons=buttons, handoff_reasons=reasons, channels=channels)


def load_labels(path: str | Path | None = None) -> Labels:
    """The labels file, parsed once and re-read when it changes.

    Raises:
        LabelsError: the file is missing, unreadable or malformed.
    """
    return load_cached(path or LABELS_PATH, parse_labels, LabelsError, what="the labels")


def intent(name: Optional[str]) -> Optional[str]:
    """The staff label of an intent; None when it has none."""
    return load_labels().intents.get(name or "")


def handoff_reason(reason: str) -> str:
    """The label of a hand-off reason; the code itself when it has none."""
    return load_labels().handoff_reasons.get(reason, reason)


def channel(name: str) -> str:
    """The label of a channel ("网页", "微信"); the name itself for others."""
    return load_labels().channels.get(name, name)


def clarify_buttons() -> Mapping[str, str]:
    """Intent -> button title of the intents the clarification may offer."""
    return load_labels().buttons
