"""Knowledge-base schema validation, YAML import/export round trip, `xiaoan kb import/export`."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from xiaoan.cli import cli
from xiaoan.kb.loader import DEFAULT_DIR, dump_area, read_dir, read_file, write_dir
from xiaoan.kb.repository import KbRepository
from xiaoan.kb.schema import EntryData, parse_entry

GOOD = textwrap.dedent(
    """\
    area: consumer
    entries:
      - id: consumer.seven-day-return
        title: 网购的东西七天无理由退货怎么算？
        phrasings:
          - 七天无理由
          - 网上买的衣服不喜欢能退吗
        answer: |
          一般自收到商品之日起7日内可以无理由退货。
          退回运费一般由消费者承担。
        tags: [网购, 退货]
        basis: 《消费者权益保护法》第二十五条
        agency: dist
        effective_from: 2014-03-15
        expires_on: null
        status: published
        updated_by: content-team
        updated_at: 2026-11-26

      - id: consumer.invoice
        title: 买东西商家不给开发票怎么办？
        phrasings:
          - 不给开发票
          - 商家拒开发票
        answer: 商家应当出具发票等购货凭证。
        tags: [发票]
        basis: null
        agency: dist
        effective_from: null
        expires_on: null
        status: draft
        updated_by: content-team
        updated_at: 2026-11-20
    """
)


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def raw_entry(**changes):
    entry = {
        "id": "biz.annual-report",
        "title": "年报怎么报？",
        "phrasings": ["年报在哪报"],
        "answer": "每年1月1日至6月30日报送上一年度年度报告。",
        "status": "draft",
    }
    entry.update(changes)
    return entry


# --- validation ---------------------------------------------------------------------------------


def test_valid_entry_parses_every_field():
    entry, errors, _ = parse_entry(yaml.safe_load(GOOD)["entries"][0], area="consumer")
    assert errors == []
    assert entry.id == "consumer.seven-day-return" and entry.area == "consumer"
    assert entry.phrasings == ["七天无理由", "网上买的衣服不喜欢能退吗"]
    assert entry.answer.endswith("由消费者承担。")  # the literal block's final newline is stripped
    assert entry.effective_from == dt.date(2014, 3, 15) and entry.expires_on is None
    assert entry.updated_at == dt.datetime(2026, 11, 26, tzinfo=dt.timezone.utc)
    assert (entry.basis, entry.agency, entry.status, entry.updated_by) == (
        "《消费者权益保护法》第二十五条", "dist", "published", "content-team")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"id": "Biz_Annual"}, "格式不对"),
        ({"id": "annualreport"}, "格式不对"),
        ({"id": "shop.annual-report"}, "领域“shop”不存在"),
        ({"answer": "   "}, "回答不能为空"),
        ({"title": None}, "标题（问题）不能为空"),
        ({"phrasings": "只有一个字符串"}, "其他问法应为列表"),
        ({"status": "online"}, "状态“online”无效"),
        ({"effective_from": "2026-13-01"}, "生效日期“2026-13-01”格式不对"),
        ({"effective_from": "2026-06-01", "expires_on": "2026-01-01"}, "失效日期（2026-01-01）不能早于生效日期（2026-06-01）"),
        ({"phrasing": ["typo"]}, "未知字段：phrasing"),
    ],
)
def test_invalid_entries_get_clear_chinese_errors(changes, message):
    entry, errors, _ = parse_entry(raw_entry(**changes), area="biz")
    assert entry is None
    assert any(message in e for e in errors), errors


def test_id_must_match_the_file_area():
    _, errors, _ = parse_entry(raw_entry(), area="consumer")
    assert errors == ["编号“biz.annual-report”的领域与所在文件的领域“consumer”不一致"]


def test_published_entry_with_few_phrasings_gets_a_warning_not_an_error():
    entry, errors, warnings = parse_entry(raw_entry(status="published"), area="biz")
    assert entry is not None and errors == []
    assert warnings == ["只有 1 个其他问法，建议至少 8 个"]


# --- files ------------------------------------------------------------------------------------------


def test_broken_file_yields_no_entries_and_names_file_and_id(tmp_path):
    broken = GOOD.replace("answer: 商家应当出具发票等购货凭证。", "answer: ''")
    result = read_file(write(tmp_path, "consumer.yml", broken))
    assert not result.ok
    assert result.entries == []  # the valid first entry is not imported either
    assert result.errors == ["consumer.yml：consumer.invoice：回答不能为空"]


def test_yaml_syntax_error_reports_line(tmp_path):
    result = read_file(write(tmp_path, "biz.yml", "area: biz\nentries:\n  - id: biz.x\n    title: [unclosed\n"))
    assert len(result.errors) == 1
    assert result.errors[0].startswith("biz.yml：YAML 格式错误，第 ")


def test_duplicate_ids_within_and_across_files(tmp_path):
    write(tmp_path, "consumer.yml", GOOD)
    other = GOOD.replace("area: consumer", "area: consumer").replace("consumer.seven-day-return", "consumer.other")
    write(tmp_path, "z_consumer_more.yml", other)  # repeats consumer.invoice
    result = read_dir(tmp_path)
    assert [f.path.name for f in result.files if f.ok] == ["consumer.yml"]
    assert "z_consumer_more.yml：consumer.invoice：编号与 consumer.yml 中的条目重复" in result.errors
    assert [e.id for e in result.entries] == ["consumer.seven-day-return", "consumer.invoice"]


def test_dump_is_read_back_identically(tmp_path):
    entries = read_file(write(tmp_path, "consumer.yml", GOOD)).entries
    out = tmp_path / "out"
    write_dir(out, entries)
    again = read_file(out / "consumer.yml").entries
    assert [e.to_snapshot() for e in again] == [e.to_snapshot() for e in entries]
    assert dump_area("consumer", again) == (out / "consumer.yml").read_text(encoding="utf-8")


# The fixed knowledge-base ids of docs/interfaces.md §5.
CONTRACT_IDS = (
    "biz.online-portal", "biz.name-declaration", "biz.company-setup", "biz.individual-business",
    "biz.business-scope", "biz.address", "biz.change", "biz.simple-deregistration", "biz.deregistration",
    "biz.annual-report", "biz.abnormal-list", "biz.e-license", "biz.registered-capital",
    "biz.license-replacement", "biz.food-license", "biz.registration-progress", "consumer.seven-day-return",
    "consumer.fraud-compensation", "consumer.food-compensation", "consumer.prepaid-card",
    "consumer.business-closed", "consumer.three-guarantees", "consumer.online-platform",
    "consumer.travel-cancellation", "consumer.education-training", "consumer.evidence",
    "consumer.dispute-options", "consumer.price-marking", "consumer.invoice", "process.complaint-vs-report",
    "process.complaint-requirements", "process.complaint-timeline", "process.report-timeline",
    "process.report-reward", "process.anonymous", "process.not-accepted", "process.hotline-time-limits",
    "process.ticket-status", "process.satisfaction", "process.jurisdiction", "reg.food-safety",
    "reg.special-equipment", "reg.product-quality", "reg.advertising", "reg.epidemic-supplies",
    "reg.metrology", "reg.unlicensed-business", "redirect.drug-cosmetics", "redirect.intellectual-property",
    "redirect.consumer-council", "redirect.labour", "redirect.police", "redirect.other-departments",
)


def test_project_knowledge_base_is_valid_and_has_every_contract_id():
    result = read_dir(DEFAULT_DIR)
    assert result.errors == []
    ids = {e.id for e in result.entries}
    assert len(set(CONTRACT_IDS)) == 53
    assert set(CONTRACT_IDS) <= ids, sorted(set(CONTRACT_IDS) - ids)
    import re

    interfaces = Path(__file__).resolve().parents[2] / "docs" / "interfaces.md"   # the list above is the docs'
    section = interfaces.read_text(encoding="utf-8").split("## 5.")[1].split("## 6.")[0]
    assert set(re.findall(r"^\| ((?:biz|consumer|process|reg|redirect)\.[a-z0-9-]+) \|", section, re.M)) \
        == set(CONTRACT_IDS)


# --- xiaoan kb import / export ------------------------------------------------------------------------


def test_cli_import_export_round_trip(db_url, tmp_path):
    src = tmp_path / "kb"
    src.mkdir()
    write(src, "consumer.yml", GOOD)
    runner = CliRunner()
    first = runner.invoke(cli, ["kb", "import", str(src), "--by", "tester"])
    assert first.exit_code == 0, first.output
    assert "新增 2 条" in first.output
    repo = KbRepository(db_url)
    assert repo.revision() == 1
    assert [v.action for v in repo.history("consumer.invoice")] == ["import"]
    assert repo.history("consumer.invoice")[0].changed_by == "tester"
    assert [e.id for e in repo.published_entries()] == ["consumer.seven-day-return"]  # the draft is not live

    out = tmp_path / "exported"
    exported = runner.invoke(cli, ["kb", "export", str(out)])
    assert exported.exit_code == 0, exported.output
    assert (out / "consumer.yml").read_text(encoding="utf-8") == GOOD

    again = runner.invoke(cli, ["kb", "import", str(out)])
    assert again.exit_code == 0 and "未变 2 条" in again.output
    assert repo.revision() == 1  # nothing changed, searches need not reload


def test_cli_import_skips_a_broken_file_entirely_and_fails(db_url, tmp_path):
    src = tmp_path / "kb"
    src.mkdir()
    write(src, "consumer.yml", GOOD)
    write(src, "biz.yml", "area: biz\nentries:\n  - id: biz.ok\n    title: 好的\n    answer: 好\n"
                          "  - id: biz.bad\n    title: 坏的\n    answer: 好\n    expires_on: 2020-01-01\n"
                          "    effective_from: 2021-01-01\n")
    result = CliRunner().invoke(cli, ["kb", "import", str(src)])
    assert result.exit_code == 1
    assert "biz.yml：biz.bad：失效日期（2020-01-01）不能早于生效日期（2021-01-01）" in result.output
    assert "有错误、未导入的文件：biz.yml" in result.output
    repo = KbRepository(db_url)
    ids = [r.data.id for r in repo.list_entries()]
    assert "biz.ok" not in ids  # nothing from the broken file
    assert sorted(ids) == ["consumer.invoice", "consumer.seven-day-return"]


def test_cli_import_update_creates_a_version_and_bumps_revision(db_url, tmp_path):
    src = tmp_path / "kb"
    src.mkdir()
    write(src, "consumer.yml", GOOD)
    runner = CliRunner()
    runner.invoke(cli, ["kb", "import", str(src)])
    write(src, "consumer.yml", GOOD.replace("商家应当出具发票等购货凭证。", "商家必须开具发票。"))
    result = runner.invoke(cli, ["kb", "import", str(src)])
    assert "更新 1 条" in result.output
    repo = KbRepository(db_url)
    assert repo.get("consumer.invoice").data.answer == "商家必须开具发票。"
    assert [v.version for v in repo.history("consumer.invoice")] == [2, 1]
    assert repo.revision() == 2


def test_cli_export_without_entries_says_so(db_url, tmp_path):
    result = CliRunner().invoke(cli, ["kb", "export", str(tmp_path / "x")])
    assert result.exit_code != 0
    assert "数据库中还没有知识库条目" in result.output


def test_entry_data_snapshot_round_trip():
    entry, _, _ = parse_entry(yaml.safe_load(GOOD)["entries"][0], area="consumer")
    assert EntryData.from_snapshot(entry.to_snapshot()) == entry
