"""Checks for text and JSON that arrive from outside, shared by the web app and the Rasa channels.

Two kinds of characters are refused before anything is stored (issue 12, item 4):

- NUL (U+0000): PostgreSQL text columns cannot hold it (psycopg2 raises before the query runs);
- lone surrogates (U+D800-U+DFFF alone, e.g. JSON ``"\\ud800"``): not encodable as UTF-8, so a
  message holding one is stored by Rasa but breaks every later read of that conversation.

Parsed JSON is also bounded in depth (Python's decoder raises RecursionError, not ValueError, on
very deep nesting, which the frameworks turn into a 500). Pure functions, no Flask or Sanic.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_JSON_DEPTH = 32
"""Deepest nesting of arrays and objects accepted in a request body (the chat needs 2)."""

_UNREADABLE_RE = re.compile("[\x00\ud800-\udfff]")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")

TOO_DEEP = "too_deep"
UNREADABLE = "unreadable"


def has_unreadable(text: str) -> bool:
    """Whether `text` holds a NUL or a lone surrogate."""
    return bool(_UNREADABLE_RE.search(text))


def replace_unreadable(text: str) -> str:
    """`text` with every NUL and lone surrogate replaced by U+FFFD (safe to store and to encode)."""
    return _UNREADABLE_RE.sub("\ufffd", text)


def replace_surrogates(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD (for output that must encode as UTF-8)."""
    return _SURROGATE_RE.sub("\ufffd", text)


def json_problem(value: Any, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """What is wrong with parsed JSON `value`: `TOO_DEEP`, `UNREADABLE` (a key or string with a NUL or
    a lone surrogate), or None. Iterative, so any depth is safe to inspect."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if has_unreadable(item):
                return UNREADABLE
        elif isinstance(item, (dict, list)):
            if depth > max_depth:
                return TOO_DEEP
            if isinstance(item, dict):
                for key, child in item.items():
                    if isinstance(key, str) and has_unreadable(key):
                        return UNREADABLE
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)
    return None


def loads_bounded(data: str | bytes, max_depth: int = MAX_JSON_DEPTH, **kwargs: Any) -> Any:
    """`json.loads`, but nesting deeper than `max_depth` is a ValueError like any other bad JSON.

    Raises:
        ValueError: not JSON, or nested too deeply (`json.JSONDecodeError` is a ValueError).
    """
    if _bracket_depth_exceeds(data, max_depth):
        raise ValueError(f"JSON nested deeper than {max_depth} levels")
    try:
        value = json.loads(data, **kwargs)
    except RecursionError as exc:  # the C decoder recurses once per level
        raise ValueError("JSON nested too deeply") from exc
    if json_problem(value, max_depth) == TOO_DEEP:
        raise ValueError(f"JSON nested deeper than {max_depth} levels")
    return value


def _bracket_depth_exceeds(data: str | bytes, max_depth: int) -> bool:
    """A cheap upper bound before parsing: fewer opening brackets than the limit cannot nest deeper."""
    if isinstance(data, (bytes, bytearray)):
        count = data.count(b"[") + data.count(b"{")
    else:
        count = data.count("[") + data.count("{")
    if count <= max_depth:
        return False
    return _scan_depth(data if isinstance(data, str) else data.decode("utf-8", "replace")) > max_depth


_JSON_STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET_RE = re.compile(r"[\[\]{}]")


def _scan_depth(text: str) -> int:
    """The deepest bracket nesting of JSON text, brackets inside strings ignored."""
    deepest = depth = 0
    for match in _BRACKET_RE.finditer(_JSON_STRING_RE.sub("", text)):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest
