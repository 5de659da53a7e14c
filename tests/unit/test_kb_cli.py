"""`xiaoan kb search` (docs/interfaces.md §6): one question, many from standard input, and the source."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from xiaoan.cli import cli
from xiaoan.kb.loader import DEFAULT_DIR
from xiaoan.kb.service import reset_services

ROOT = Path(__file__).resolve().parents[2]


def test_search_json_on_a_fresh_database_reads_the_yaml_files(db_url):
    reset_services()
    result = CliRunner().invoke(cli, ["kb", "search", "健身房老板跑路了卡里还有两千", "--top", "3", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 3
    assert all(set(row) == {"id", "question", "score", "confident"} for row in rows)
    assert rows[0]["id"] == "consumer.business-closed"
    assert rows[0]["confident"] is True and not any(r["confident"] for r in rows[1:])
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    assert "YAML 文件" in result.stderr and str(DEFAULT_DIR) in result.stderr


def test_search_uses_the_database_once_it_has_entries(db_url, tmp_path):
    reset_services()
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "reg.yml").write_text(
        "area: reg\nentries:\n  - id: reg.only-entry\n    title: 电梯困人找谁？\n    phrasings: [电梯坏了]\n"
        "    answer: 拨打电梯内的应急电话。\n    status: published\n", encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(cli, ["kb", "import", str(kb)]).exit_code == 0
    result = runner.invoke(cli, ["kb", "search", "小区电梯困人了", "--json"])
    assert result.exit_code == 0, result.output
    assert "数据库" in result.stderr
    assert [r["id"] for r in json.loads(result.stdout)] == ["reg.only-entry"]
    reset_services()


def test_off_topic_question_is_not_confident(db_url):
    reset_services()
    result = CliRunner().invoke(cli, ["kb", "search", "糖醋鱼怎么做才好吃", "--json"])
    assert result.exit_code == 0
    assert not any(r["confident"] for r in json.loads(result.stdout))


def test_plain_output_shows_the_decision(db_url):
    reset_services()
    result = CliRunner().invoke(cli, ["kb", "search", "营业执照丢了怎么补办", "--source", "yaml"])
    assert result.exit_code == 0
    assert "直接回答" in result.stdout and "biz.license-replacement" in result.stdout


def test_stdin_gives_one_json_list_per_line_with_the_kb_loaded_once(tmp_path):
    questions = ["健身房老板跑路了卡里还有两千", "", "今天天气怎么样", "营业执照丢了怎么补办"]
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "xiaoan.cli", "kb", "search", "--top", "2", "--json"],
        input="\n".join(questions) + "\n", capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == len(questions)
    results = [json.loads(line) for line in lines]
    assert results[0][0]["id"] == "consumer.business-closed" and len(results[0]) == 2
    assert results[1] == []
    assert not any(r["confident"] for r in results[2])
    assert results[3][0]["id"] == "biz.license-replacement"
    assert done.stderr.count("知识库来源") == 1
    assert "DEBUG" not in done.stderr  # libraries' chatter stays out of the maintainer's terminal


def test_import_if_empty_never_overwrites_the_maintainers_entries(db_url, tmp_path):
    """`make run` imports with --if-empty: a second run leaves the database as the maintainers left it."""
    from click.testing import CliRunner

    from xiaoan.cli import cli
    from xiaoan.kb.service import get_repository, reset_services

    root = Path(__file__).resolve().parents[2]
    runner = CliRunner()
    first = runner.invoke(cli, ["kb", "import", str(root / "knowledge_base"), "--if-empty"])
    assert first.exit_code == 0, first.output
    reset_services()
    count = get_repository().count_entries()
    assert count >= 53
    second = runner.invoke(cli, ["kb", "import", str(root / "knowledge_base"), "--if-empty"])
    assert second.exit_code == 0, second.output
    assert "未导入" in second.output
    reset_services()
    assert get_repository().count_entries() == count
