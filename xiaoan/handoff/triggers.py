"""Detects messages that must go to a human at once: urgent safety hazards and clear anger.

The keywords and patterns are data (`xiaoan/resources/handoff_triggers.yml`), so that staff can
extend them without touching code::

    from xiaoan.handoff.triggers import detect_escalation

    detect_escalation("电梯困人了，快来人")   # -> "urgent"
    detect_escalation("什么破系统，我都问第三次了")   # -> "angry"
    detect_escalation("网购退货怎么算")   # -> None
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import yaml

TRIGGERS_PATH = Path(__file__).resolve().parent.parent / "resources" / "handoff_triggers.yml"
URGENT, ANGRY = "urgent", "angry"
#: The optional section for long letters: `now` patterns and `angry_keywords` (see the data file).
LETTERS = "letters"
#: Checked in this order: an urgent message that is also angry is urgent.
LEVELS = (URGENT, ANGRY)

_SPACES = re.compile(r"\s+")


class TriggerConfigError(ValueError):
    """The triggers file is malformed (the message names the entry)."""


@dataclass(frozen=True)
class TriggerSet:
    """The compiled keywords, patterns and exceptions of one level."""

    keywords: tuple[str, ...]
    patterns: tuple[re.Pattern, ...]
    exceptions: tuple[re.Pattern, ...]

    def matches(self, text: str) -> bool:
        """Whether `text` (already normalized) hits a keyword or pattern and no exception."""
        hit = any(k in text for k in self.keywords) or any(p.search(text) for p in self.patterns)
        return hit and not any(e.search(text) for e in self.exceptions)


def normalize(text: str) -> str:
    """Remove whitespace and lower-case ASCII letters, as the triggers are written."""
    return _SPACES.sub("", text or "").lower()


def load_triggers(path: Path | str = TRIGGERS_PATH) -> dict[str, TriggerSet]:
    """Read and compile the triggers file.

    Raises:
        TriggerConfigError: a level is missing, or an entry is not a string or not a valid regex.
    """
    with open(path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh) or {}
    if not isinstance(raw, dict):
        raise TriggerConfigError(f"{path}: expected a mapping of levels")
    result = {}
    for level in LEVELS:
        section = raw.get(level)
        if not isinstance(section, dict):
            raise TriggerConfigError(f"{path}: level {level!r} is missing")
        result[level] = TriggerSet(
            keywords=tuple(normalize(k) for k in _strings(path, level, "keywords", section) if normalize(k)),
            patterns=tuple(_compile(path, level, "patterns", p) for p in _strings(path, level, "patterns", section)),
            exceptions=tuple(_compile(path, level, "except", p) for p in _strings(path, level, "except", section)),
        )
    letters = raw.get(LETTERS)
    if letters is not None:
        if not isinstance(letters, dict):
            raise TriggerConfigError(f"{path}: {LETTERS} must be a mapping")
        result[LETTERS] = TriggerSet(
            keywords=tuple(normalize(k) for k in _strings(path, LETTERS, "angry_keywords", letters) if normalize(k)),
            patterns=tuple(_compile(path, LETTERS, "now", p) for p in _strings(path, LETTERS, "now", letters)),
            exceptions=(),
        )
    return result


def _strings(path, level: str, key: str, section: dict) -> list[str]:
    values = section.get(key) or []
    if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
        raise TriggerConfigError(f"{path}: {level}.{key} must be a list of non-empty strings")
    return values


def _compile(path, level: str, key: str, pattern: str) -> re.Pattern:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise TriggerConfigError(f"{path}: {level}.{key}: bad pattern {pattern!r}: {exc}") from exc


@functools.lru_cache(maxsize=1)
def _default_triggers() -> dict[str, TriggerSet]:
    return load_triggers(TRIGGERS_PATH)


def detect_escalation(text: Optional[str], triggers: Optional[dict[str, TriggerSet]] = None) -> Optional[str]:
    """The escalation level a citizen's message calls for: "urgent", "angry" or None.

    Button payloads (text starting with "/") never escalate.

    Args:
        text: the citizen's message.
        triggers: compiled triggers (default: the project's file, loaded once).
    """
    if not text or text.lstrip().startswith("/"):
        return None
    triggers = triggers or _default_triggers()
    normalized = normalize(text)
    if _is_letter(text):
        return _letter_escalation(normalized, triggers)
    for level in LEVELS:
        if triggers[level].matches(normalized):
            return level
    return None


def _is_letter(text: str) -> bool:
    from xiaoan.understanding.letters import is_letter  # late: keeps the trigger module light

    return is_letter(text)


_SENTENCE_MARKS = re.compile(r"[。！!？?；;]")


def _letter_escalation(normalized: str, triggers: dict[str, TriggerSet]) -> Optional[str]:
    """A letter escalates only for a hazard happening now (a "now" word in the hazard's sentence)
    or anger at the assistant itself (the letters' angry keywords)."""
    letters = triggers.get(LETTERS)
    if letters is None:
        return next((level for level in LEVELS if triggers[level].matches(normalized)), None)
    for sentence in _SENTENCE_MARKS.split(normalized):
        if triggers[URGENT].matches(sentence) and any(p.search(sentence) for p in letters.patterns):
            return URGENT
    if any(k in normalized for k in letters.keywords):
        return ANGRY
    return None
