"""The design card's layout (issue 14, items 3 and 5): one top-level domain.yml that every Rasa
command reads by default, and test fakes outside the package."""

from __future__ import annotations

import ast
import re
import subprocess

from xiaoan.config import PROJECT_ROOT


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True).stdout
    return [f for f in out.splitlines() if (PROJECT_ROOT / f).is_file()]


def test_the_domain_is_one_top_level_file_and_no_command_names_it():
    files = tracked_files()
    assert "domain.yml" in files
    assert [f for f in files if f.startswith("domain/")] == []
    offenders = []
    for name in files:
        if name.endswith((".py", ".sh", ".md", ".yml", "Makefile", "Procfile")) or name.startswith(".ci/"):
            text = (PROJECT_ROOT / name).read_text(encoding="utf-8", errors="replace")
            offenders += [f"{name}: {m.group(0)}" for m in re.finditer(r"--domain[ =]\S+", text)]
    assert offenders == [], "Rasa reads domain.yml by default"
    makefile = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    train_inputs = next(line for line in makefile.splitlines() if line.startswith("TRAIN_INPUTS"))
    assert "domain.yml" in train_inputs.split()


def test_the_package_holds_no_test_fake_and_never_imports_the_tests():
    assert list((PROJECT_ROOT / "xiaoan").rglob("fake_*.py")) == []
    importers = []
    for folder in ("xiaoan", "actions"):
        for path in (PROJECT_ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                modules = ([a.name for a in node.names] if isinstance(node, ast.Import)
                           else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                importers += [f"{path.relative_to(PROJECT_ROOT)}: {m}" for m in modules
                              if m == "tests" or m.startswith("tests.")]
    assert importers == []
    for name in ("rasa_server", "ticket_platform", "wechat_server"):
        assert (PROJECT_ROOT / "tests" / "fakes" / f"{name}.py").is_file()
