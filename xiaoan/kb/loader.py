"""The YAML files of ``knowledge_base/`` (one file per area) to entries and back.

A file is all or nothing: when any entry in it is invalid, none of its entries is returned as
importable, and every problem is reported with the file name and the entry id.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterable

import yaml

from xiaoan.config import PROJECT_ROOT
from xiaoan.kb.schema import AREAS, EntryData, parse_entry

DEFAULT_DIR = PROJECT_ROOT / "knowledge_base"


@dataclasses.dataclass
class FileResult:
    """What one YAML file held.

    Attributes:
        path: the file.
        area: the declared area, or None when unreadable.
        entries: the valid entries in file order; empty when the file has any error.
        errors: Chinese messages, each starting with the file name (and the entry id).
        warnings: problems that do not stop the import.
    """

    path: Path
    area: str | None = None
    entries: list[EntryData] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the file can be imported."""
        return not self.errors


@dataclasses.dataclass
class DirResult:
    """What a directory of YAML files held; see `FileResult`."""

    files: list[FileResult]

    @property
    def ok(self) -> bool:
        """True when every file can be imported."""
        return all(f.ok for f in self.files)

    @property
    def entries(self) -> list[EntryData]:
        """Valid entries of the valid files."""
        return [e for f in self.files if f.ok for e in f.entries]

    @property
    def errors(self) -> list[str]:
        """Every error of every file."""
        return [e for f in self.files for e in f.errors]

    @property
    def warnings(self) -> list[str]:
        """Every warning of every file."""
        return [w for f in self.files for w in f.warnings]


def yaml_files(directory: Path) -> list[Path]:
    """The ``*.yml`` / ``*.yaml`` files of a directory, sorted by name."""
    return sorted(p for p in Path(directory).iterdir() if p.suffix in (".yml", ".yaml") and p.is_file())


def read_file(path: Path, *, default_updated_by: str = "import") -> FileResult:
    """Read and validate one area file.

    Args:
        path: a ``knowledge_base/<area>.yml`` file.
        default_updated_by: editor recorded for entries that name none.

    Returns:
        The file's entries, or its errors.
    """
    path = Path(path)
    result = FileResult(path=path)
    name = path.name
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        result.errors.append(f"{name}：文件不是 UTF-8 编码")
        return result
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"第 {mark.line + 1} 行第 {mark.column + 1} 列" if mark else "某处"
        problem = getattr(exc, "problem", None) or str(exc)
        result.errors.append(f"{name}：YAML 格式错误，{where}：{problem}")
        return result
    if not isinstance(data, dict):
        result.errors.append(f"{name}：文件应包含 area 和 entries 两个字段")
        return result
    area = data.get("area")
    if area not in AREAS:
        result.errors.append(f"{name}：area“{area}”无效，应为 {'、'.join(AREAS)} 之一")
        return result
    result.area = area
    if path.stem != area:
        result.warnings.append(f"{name}：文件名与 area“{area}”不一致，建议命名为 {area}.yml")
    raw_entries = data.get("entries")
    if not isinstance(raw_entries, list):
        result.errors.append(f"{name}：entries 应为条目列表")
        return result
    entries: list[EntryData] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_entries, start=1):
        label = raw.get("id") if isinstance(raw, dict) and raw.get("id") else f"第 {index} 个条目"
        entry, errors, warnings = parse_entry(raw, area=area, default_updated_by=default_updated_by)
        result.errors.extend(f"{name}：{label}：{e}" for e in errors)
        result.warnings.extend(f"{name}：{label}：{w}" for w in warnings)
        if entry is None:
            continue
        if entry.id in seen:
            result.errors.append(f"{name}：{entry.id}：编号重复")
            continue
        seen.add(entry.id)
        entries.append(entry)
    if not result.errors:
        result.entries = entries
    return result


def read_dir(directory: Path | None = None, *, default_updated_by: str = "import") -> DirResult:
    """Read and validate every area file of a directory (default ``knowledge_base/``).

    An id that appears in two files is an error of the later file.
    """
    directory = Path(directory or DEFAULT_DIR)
    files = [read_file(p, default_updated_by=default_updated_by) for p in yaml_files(directory)]
    owner: dict[str, str] = {}
    for result in files:
        for entry in result.entries:
            if entry.id in owner:
                result.errors.append(f"{result.path.name}：{entry.id}：编号与 {owner[entry.id]} 中的条目重复")
            else:
                owner[entry.id] = result.path.name
        if result.errors:
            result.entries = []
    return DirResult(files=files)


class _Dumper(yaml.SafeDumper):
    """Indented block lists and literal blocks for multi-line text, so files diff well in git."""

    def increase_indent(self, flow: bool = False, indentless: bool = False):  # noqa: D102
        return super().increase_indent(flow, False)


class _FlowList(list):
    """A list written on one line (tags)."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _flow_list_representer(dumper: yaml.SafeDumper, value: list) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


_Dumper.add_representer(str, _str_representer)
_Dumper.add_representer(_FlowList, _flow_list_representer)


def dump_area(area: str, entries: Iterable[EntryData]) -> str:
    """The YAML text of one area file, in the layout of the hand-written files."""
    docs = []
    for entry in entries:
        doc = entry.to_yaml()
        if "\n" in doc["answer"]:
            doc["answer"] += "\n"  # "|" rather than "|-"; the loader strips it again
        doc["tags"] = _FlowList(doc["tags"])
        docs.append(doc)
    text = yaml.dump(
        {"area": area, "entries": docs},
        Dumper=_Dumper,
        allow_unicode=True,
        sort_keys=False,
        width=10_000,
        default_flow_style=False,
    )
    return text.replace("\n  - id: ", "\n\n  - id: ").replace("entries:\n\n  - id: ", "entries:\n  - id: ")


def write_dir(directory: Path, entries: Iterable[EntryData]) -> list[Path]:
    """Write entries to ``<directory>/<area>.yml``, one file per area, in the given order.

    Returns:
        The files written.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    by_area: dict[str, list[EntryData]] = {}
    for entry in entries:
        by_area.setdefault(entry.area, []).append(entry)
    written = []
    for area, area_entries in by_area.items():
        path = directory / f"{area}.yml"
        tmp = path.with_suffix(".yml.tmp")
        tmp.write_text(dump_area(area, area_entries), encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    return written

