"""`xiaoan alerts ...`: merchant early warnings, the supervisors' figures, and a check of
alert_rules.yml."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from xiaoan import services
from xiaoan.cli_support import echo_json, echo_listing, friendly_errors, since_option, table
from xiaoan.supervision.alerts import RULES_PATH, AlertRulesError, alert_json, find_alerts, load_alert_rules
from xiaoan.supervision.stats import WINDOWS, make_window, overview, to_json
from xiaoan.tickets.views import amount_number, iso_datetime


_friendly_errors = friendly_errors(
    lambda: {AlertRulesError: lambda exc: click.ClickException(f"预警规则文件有误：{exc}")})
"""Database and rules problems: one clear Chinese line and a non-zero exit."""


def _session():
    from xiaoan.db import session_scope

    return session_scope(services.settings().database_url)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


@click.group()
def alerts() -> None:
    """商家预警与统计：同一商家投诉集中（关门跑路迹象）、市民诉求统计。"""


@alerts.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON 输出。")
@since_option("检查此时间之后的全部时间窗（ISO-8601，无时区按上海时间）；默认只看截至现在的窗口。")
@click.option("--rules", "rules_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="预警规则文件（默认 xiaoan/resources/alert_rules.yml）。")
@_friendly_errors
def list_command(as_json: bool, since: dt.datetime | None, rules_path: Path | None) -> None:
    """列出商家预警，风险高的在前（只含工单编号，不含个人信息）。"""
    rules = load_alert_rules(rules_path)
    with _session() as session:
        items = find_alerts(session, since=since, rules=rules)
    echo_listing(items, as_json, empty="目前没有需要预警的商家。", as_dict=alert_json,
                 headers=["风险", "商家", "件数", "金额(元)", "时间", "规则", "工单"],
                 row=lambda a: [a.severity_label, a.display_name, str(a.count), f"{amount_number(a.total_amount)}",
                                f"{iso_datetime(a.first_at)[:16].replace('T', ' ')} ~ "
                                f"{iso_datetime(a.last_at)[:16].replace('T', ' ')}",
                                ",".join(a.rules), " ".join(a.ticket_nos)])


@alerts.command("stats")
@click.option("--window", "window_key", type=click.Choice(list(WINDOWS)), default="7d", show_default=True,
              help="统计时段：today 今天，7d 近7天，30d 近30天。")
@click.option("--json", "as_json", is_flag=True, help="JSON 输出。")
@_friendly_errors
def stats_command(window_key: str, as_json: bool) -> None:
    """市民诉求统计：按类别、承办单位、区，办理时限，满意度，转人工，知识库。"""
    window = make_window(window_key)
    with _session() as session:
        figures = overview(session, window)
    if as_json:
        echo_json(to_json(figures))
        return
    click.echo(f"{window.label}（{iso_datetime(window.start)} 起），工单共 {figures.tickets_total} 件")
    for title, rows in (("按诉求类别", figures.by_intent), ("按承办单位", figures.by_agency),
                        ("按区", figures.by_district), ("转人工原因", figures.handoffs)):
        click.echo(f"\n{title}")
        click.echo(table(["", "件数", "占比"], [[r.label, str(r.count), _percent(r.share)] for r in rows]))
    d, r = figures.deadlines, figures.ratings
    click.echo(f"\n按时办结率 {_percent(d.on_time_rate)}，超期比例 {_percent(d.overdue_rate)}"
               f"（按时答复 {d.answered_on_time}，逾期答复 {d.answered_late}，已超期未答复 {d.open_overdue}，"
               f"即将到期 {d.open_near_due}）")
    click.echo(f"满意率 {_percent(r.satisfaction_rate)}（满意 {r.satisfied}，基本满意 {r.basic}，"
               f"不满意 {r.dissatisfied}）")
    if figures.unanswered:
        click.echo("\n未能回答的问题（次数）")
        for q in figures.unanswered:
            click.echo(f"  {q.count:>3}  {q.text}")
    if figures.downvoted:
        click.echo("\n被点“没帮助”的回答（没帮助/有帮助）")
        for e in figures.downvoted:
            click.echo(f"  {e.unhelpful:>3}/{e.helpful:<3} {e.entry_id}  {e.title or ''}")


@alerts.command("check-rules")
@click.option("--file", "path", type=click.Path(dir_okay=False, path_type=Path), default=RULES_PATH,
              show_default=True, help="要检查的规则文件。")
@_friendly_errors
def check_rules_command(path: Path) -> None:
    """检查预警规则文件（alert_rules.yml）是否有效。"""
    rules = load_alert_rules(path)
    click.echo(f"规则有效：{len(rules.rules)} 条（启用 {len(rules.enabled_rules)} 条）。")


@click.group()
def report() -> None:
    """报告：每周《投诉举报动态》。"""


@report.command("weekly")
@click.option("--week", "week", default=None, metavar="YYYY-Www",
              help="ISO 周次，例如 2026-W49；默认上一个完整的周（周一至周日）。")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="输出目录：写入 report.html 和 report.pdf。")
@click.option("--no-pdf", is_flag=True, help="只写 report.html（不需要 Chromium）。")
@_friendly_errors
def weekly_command(week: str | None, out_dir: Path, no_pdf: bool) -> None:
    """生成每周《投诉举报动态》：图表、环比变化、商家预警、预付卡案件、未能回答的问题、按时办结与满意度。"""
    from xiaoan.supervision import report as report_module

    try:
        monday = report_module.parse_week(week) if week else report_module.last_full_week()
        with _session() as session:
            data = report_module.build_weekly(session, monday)
        html_path, pdf_path = report_module.write_report(data, out_dir, pdf=not no_pdf)
    except report_module.ReportError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{data.title}（{data.period}）：工单 {data.key_figures[0].current_text} 件")
    click.echo(f"已写入 {html_path}")
    if pdf_path:
        click.echo(f"已写入 {pdf_path}")
