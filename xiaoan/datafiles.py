"""YAML data files (routing rules, districts, alert rules) parsed once and re-read when they change.

Maintainers edit these files while the services run; each loader asks `load_cached` for the
parsed content and gets the cached object until the file's modification time (in nanoseconds)
or size changes on disk.

Usage::

    class RulesError(ValueError):
        ...

    def parse_rules(data: Any, source: str) -> Rules:   # raises RulesError naming `source`
        ...

    def load_rules(path: str | Path | None = None) -> Rules:
        return load_cached(path or RULES_PATH, parse_rules, RulesError, what="the rules")
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable, TypeVar

import yaml

T = TypeVar("T")

# (path, parse) -> ((st_mtime_ns, st_size), parsed): the parser is part of the key so that two
# loaders reading one file never receive each other's objects.
_cache: dict[tuple[Path, Callable[[Any, str], Any]], tuple[tuple[int, int], Any]] = {}
_cache_lock = threading.Lock()


def load_cached(path: str | Path, parse: Callable[[Any, str], T], error_cls: type[Exception], *,
                what: str = "the data file") -> T:
    """Read, parse and cache a YAML file; re-read when its mtime_ns or size changes.

    Args:
        path: The YAML file.
        parse: Turns the document `yaml.safe_load` returned into the cached object; called
            as `parse(data, str(path))` and expected to raise `error_cls` naming the file.
            Pass a module-level function: it is part of the cache key.
        error_cls: Raised, with a message starting with the path, when the file cannot be
            read or is not YAML.
        what: What the file holds, for the "cannot read" message ("the routing rules").

    Returns:
        The parsed content: the same object for as long as the file is unchanged.

    Raises:
        error_cls: the file is missing, unreadable or not valid YAML (and whatever `parse`
            raises for invalid content).
    """
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as exc:
        raise error_cls(f"{path}: cannot read {what}: {exc.strerror}") from exc
    stamp = (stat.st_mtime_ns, stat.st_size)
    key = (path, parse)
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error_cls(f"{path}: cannot read {what}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise error_cls(f"{path}: not valid YAML: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error_cls(f"{path}: not valid YAML: {exc}") from exc
    # Parsed outside the lock: two threads may parse one new version at once, which is harmless.
    # The stamp taken before reading is stored, so a write during the read triggers one more read.
    value = parse(data, str(path))
    with _cache_lock:
        _cache[key] = (stamp, value)
    return value
