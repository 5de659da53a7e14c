"""`load_cached`: one parse per file version, re-read on any change of mtime_ns or size, the
caller's error class for missing and broken files."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest

from xiaoan.datafiles import load_cached


class SampleError(ValueError):
    """The error class of an imaginary caller."""


calls: list[str] = []


def parse(data: Any, source: str) -> dict:
    """A caller's parser: counts its calls, refuses anything but a mapping."""
    calls.append(source)
    if not isinstance(data, dict):
        raise SampleError(f"{source}: top level: must be a mapping")
    return dict(data)


def other_parse(data: Any, source: str) -> list:
    return sorted(data)


@pytest.fixture(autouse=True)
def _reset_calls():
    calls.clear()


def load(path):
    return load_cached(path, parse, SampleError, what="the sample data")


def test_an_unchanged_file_is_parsed_once_and_the_same_object_returned(tmp_path):
    path = tmp_path / "data.yml"
    path.write_text("a: 1\n", encoding="utf-8")
    first = load(path)
    assert first == {"a": 1}
    assert load(path) is first
    assert load(str(path)) is first             # a str path is the same file
    assert calls == [str(path)]                 # the parser sees the file name for its messages


def test_an_edited_file_is_re_read(tmp_path):
    path = tmp_path / "data.yml"
    path.write_text("a: 1\n", encoding="utf-8")
    assert load(path) == {"a": 1}
    path.write_text("a: 2\nb: 3\n", encoding="utf-8")
    assert load(path) == {"a": 2, "b": 3}


def test_an_edit_within_the_same_second_with_another_size_is_re_read(tmp_path):
    path = tmp_path / "data.yml"
    path.write_text("a: 1\n", encoding="utf-8")
    stat = path.stat()
    assert load(path) == {"a": 1}
    path.write_text("a: 22\n", encoding="utf-8")
    # coarse file systems keep whole-second (or equal) times: pin the old mtime, only the size differs
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_mtime_ns == stat.st_mtime_ns and path.stat().st_size != stat.st_size
    assert load(path) == {"a": 22}


def test_an_edit_with_the_same_size_and_a_new_mtime_ns_is_re_read(tmp_path):
    path = tmp_path / "data.yml"
    path.write_text("a: 1\n", encoding="utf-8")
    stat = path.stat()
    assert load(path) == {"a": 1}
    path.write_text("a: 2\n", encoding="utf-8")
    # same second, same size: only the nanoseconds tell the versions apart
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert path.stat().st_size == stat.st_size
    assert load(path) == {"a": 2}
    assert len(calls) == 2


def test_two_parsers_of_one_file_get_their_own_objects(tmp_path):
    path = tmp_path / "data.yml"
    path.write_text("b: 1\na: 2\n", encoding="utf-8")
    assert load(path) == {"b": 1, "a": 2}
    assert load_cached(path, other_parse, SampleError) == ["a", "b"]
    assert load(path) == {"b": 1, "a": 2}


def test_a_missing_file_raises_the_callers_error_naming_it(tmp_path):
    path = tmp_path / "missing.yml"
    with pytest.raises(SampleError) as err:
        load(path)
    assert str(err.value) == f"{path}: cannot read the sample data: No such file or directory"
    assert isinstance(err.value.__cause__, FileNotFoundError)


@pytest.mark.parametrize("content", [b"a: [1,\n", b"a: 1\n\tb: 2\n", b"a: \xff\xfe\n"])
def test_a_file_that_is_not_yaml_raises_the_callers_error_naming_it(tmp_path, content):
    path = tmp_path / "broken.yml"
    path.write_bytes(content)
    with pytest.raises(SampleError, match="not valid YAML") as err:
        load(path)
    assert str(err.value).startswith(f"{path}: ")
    assert calls == []


def test_invalid_content_raises_what_the_parser_raises_and_is_not_cached(tmp_path):
    path = tmp_path / "data.yml"
    path.write_text("- a\n", encoding="utf-8")
    with pytest.raises(SampleError, match=r"data\.yml: top level: must be a mapping"):
        load(path)
    path.write_text("a: 1\n", encoding="utf-8")
    assert load(path) == {"a": 1}


def test_a_file_broken_after_a_good_read_is_refused_not_served_stale(tmp_path):
    path = tmp_path / "data.yml"
    path.write_text("a: 1\n", encoding="utf-8")
    assert load(path) == {"a": 1}
    path.write_text("a: [\n", encoding="utf-8")
    with pytest.raises(SampleError, match="not valid YAML"):
        load(path)


def test_concurrent_loads_agree(tmp_path):
    path = tmp_path / "data.yml"
    path.write_text("a: 1\n", encoding="utf-8")
    barrier = threading.Barrier(8)
    results, errors = [], []

    def worker():
        barrier.wait()
        try:
            for _ in range(50):
                results.append(load(path))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len(results) == 400 and all(r == {"a": 1} for r in results)
    assert len(calls) <= 8                              # at most one parse per thread, then cache hits
    assert load(path) is load(path)
