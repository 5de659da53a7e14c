"""Shared CLI pieces: `--since` parsing, the database-not-ready message, JSON and table output."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import click
import pytest
from click.testing import CliRunner
from sqlalchemy.exc import OperationalError, ProgrammingError

from xiaoan import cli_support
from xiaoan.cli_support import database_error, parse_since, since_option

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = dt.timezone.utc


@pytest.mark.parametrize("value, expected", [
    (None, None),
    ("2026-11-26", dt.datetime(2026, 11, 26, tzinfo=SHANGHAI)),                 # a date: midnight in Shanghai
    (" 2026-11-26 ", dt.datetime(2026, 11, 26, tzinfo=SHANGHAI)),
    ("2026-11-26T08:30", dt.datetime(2026, 11, 26, 8, 30, tzinfo=SHANGHAI)),    # no offset: Shanghai time
    ("2026-11-26 08:30:15", dt.datetime(2026, 11, 26, 8, 30, 15, tzinfo=SHANGHAI)),
    ("2026-11-26T00:00:00Z", dt.datetime(2026, 11, 26, tzinfo=UTC)),
    ("2026-11-26T00:00:00z", dt.datetime(2026, 11, 26, tzinfo=UTC)),
    ("2026-11-26T08:00:00+08:00", dt.datetime(2026, 11, 26, tzinfo=UTC)),
    ("2026-11-26T01:00:00-05:00", dt.datetime(2026, 11, 26, 6, tzinfo=UTC)),
])
def test_parse_since_accepts_iso_dates_and_times(value, expected):
    assert parse_since(value) == expected   # an aware datetime: an aware and a naive one never compare equal


@pytest.mark.parametrize("value", ["上周", "", "2026-13-01", "2026/11/26", "26-11-2026", "2026-11-26T25:00",
                                   "yesterday", "2026-11-26T08:00:00+99:00"])
def test_parse_since_refuses_anything_else_in_chinese(value):
    with pytest.raises(click.BadParameter) as err:
        parse_since(value)
    assert err.value.param_hint == "--since"
    assert str(err.value.message).startswith(f"不是 ISO-8601 日期或时间：{value!r}")


@click.command()
@since_option("帮助")
def show_since(since):
    click.echo(repr(since))


def test_since_option_hands_the_command_a_datetime():
    result = CliRunner().invoke(show_since, ["--since", "2026-11-26"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == repr(dt.datetime(2026, 11, 26, tzinfo=SHANGHAI))
    assert CliRunner().invoke(show_since, []).output.strip() == "None"


def test_since_option_refuses_a_bad_value_with_exit_status_2():
    result = CliRunner().invoke(show_since, ["--since", "上周"])
    assert result.exit_code == 2
    assert "Error: Invalid value for --since: 不是 ISO-8601 日期或时间：'上周'" in result.output


def test_database_error_names_the_cause_in_one_line():
    class UndefinedTable(Exception):
        pass

    exc = ProgrammingError("SELECT 1", {}, UndefinedTable('relation "tickets" does not exist\nLINE 1: ...'))
    error = database_error(exc)
    assert isinstance(error, click.ClickException) and error.exit_code == 1
    assert error.message == ("数据库不可用或尚未初始化（请先运行 xiaoan db upgrade）："
                             'UndefinedTable: relation "tickets" does not exist')
    empty = database_error(OperationalError("SELECT 1", {}, Exception("")))
    assert empty.message == "数据库不可用或尚未初始化（请先运行 xiaoan db upgrade）：Exception: "


def test_table_lines_up_chinese_and_ascii_columns():
    text = cli_support.table(["工单号", "状态"], [["XA-261126-0001", "已受理"], ["XA-1", "办结"]])
    header, rule, first, second = text.splitlines()
    # the second column starts at the same terminal column on every line
    starts = {cli_support.display_width(line[: line.index(cell)])
              for line, cell in ((header, "状态"), (first, "已受理"), (second, "办结"))}
    assert starts == {len("XA-261126-0001") + 2}
    assert rule.split() == ["-" * len("XA-261126-0001"), "-" * 6]  # 已受理 takes six columns


def test_echo_json_keeps_chinese_readable(capsys):
    cli_support.echo_json({"状态": "已受理"})
    assert '"状态": "已受理"' in capsys.readouterr().out


def test_friendly_errors_turns_expected_problems_into_one_line():
    from xiaoan.cli_support import friendly_errors, usage_error

    class RulesBroken(ValueError):
        pass

    problems = {
        "rules": RulesBroken("第 3 行缺少 id"),
        "database": OperationalError("SELECT 1", {}, Exception("no such table: tickets")),
        "bug": KeyError("unexpected"),
    }

    @click.command()
    @click.argument("what")
    @friendly_errors(lambda: {RulesBroken: usage_error})
    def command(what: str) -> None:
        if what in problems:
            raise problems[what]
        click.echo("好")

    runner = CliRunner()
    assert runner.invoke(command, ["ok"]).output == "好\n"
    rules = runner.invoke(command, ["rules"])
    assert rules.exit_code == 2 and "第 3 行缺少 id" in rules.output and "Traceback" not in rules.output
    database = runner.invoke(command, ["database"])
    assert database.exit_code == 1 and "xiaoan db upgrade" in database.output
    bug = runner.invoke(command, ["bug"])
    assert isinstance(bug.exception, KeyError)  # what nobody expects is not hidden


def test_echo_listing_prints_json_the_empty_line_or_a_table():
    @click.command()
    @click.option("--json", "as_json", is_flag=True)
    @click.option("--none", is_flag=True)
    def listing(as_json: bool, none: bool) -> None:
        items = [] if none else [{"no": 1, "name": "张三"}, {"no": 22, "name": "李四丰"}]
        cli_support.echo_listing(items, as_json, empty="没有记录。", headers=["编号", "姓名"],
                                 row=lambda item: [str(item["no"]), item["name"]],
                                 as_dict=lambda item: {"no": item["no"]})

    runner = CliRunner()
    assert runner.invoke(listing, ["--json"]).output == '[\n  {\n    "no": 1\n  },\n  {\n    "no": 22\n  }\n]\n'
    assert runner.invoke(listing, ["--json", "--none"]).output == "[]\n"
    assert runner.invoke(listing, ["--none"]).output == "没有记录。\n"
    assert runner.invoke(listing).output.splitlines() == ["编号  姓名", "----  ------", "1     张三", "22    李四丰"]
