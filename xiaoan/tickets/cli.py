"""`xiaoan tickets ...`: list, show and update tickets, inspect and replay the forwarding outbox,
check the routing rules (docs/interfaces.md §6)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from xiaoan import labels, services
from xiaoan.cli_support import display_width, echo_json, echo_listing, friendly_errors, pad, since_option, table
from xiaoan.privacy import mask_name
from xiaoan.tickets.models import STATUSES
from xiaoan.tickets.routing import RULES_PATH, RoutingRulesError, load_rules


def _service():
    from xiaoan.tickets.service import TicketService

    return TicketService(services.settings())


def _ticket_errors() -> dict:
    from xiaoan.tickets.service import TicketNotFound, TicketValidationError

    return {
        TicketNotFound: lambda exc: click.ClickException(f"找不到工单：{exc.ticket_no}"),
        TicketValidationError: lambda exc: click.ClickException(f"输入有误：{exc}"),
        RoutingRulesError: lambda exc: click.ClickException(f"路由规则文件有误：{exc}"),
    }


_friendly_errors = friendly_errors(_ticket_errors)
"""Database, ticket and rules problems: one clear line and a non-zero exit."""


def _short_time(iso: str | None) -> str:
    return iso[:16].replace("T", " ") if iso else ""


@click.group()
def tickets() -> None:
    """投诉举报工单：列出、查看、更新状态、转办队列。"""


@tickets.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON 输出（docs/interfaces.md §6 字段）。")
@since_option("只列出此时间之后创建的工单（ISO-8601，无时区按上海时间）。")
@click.option("--reveal", is_flag=True,
              help="显示完整的姓名、地址和事实（每件工单先记入个人信息查看记录；默认脱敏）。")
@_friendly_errors
def list_command(as_json: bool, since: dt.datetime | None, reveal: bool) -> None:
    """列出工单（默认姓名、电话、地址和事实中的个人信息已脱敏）。"""
    from xiaoan.tickets.views import masked_ticket_json

    service = _service()
    items = service.list_tickets(since)
    if reveal:
        _audit_list([t["ticket_no"] for t in items])
    else:
        items = [masked_ticket_json(t) for t in items]
    if as_json:
        echo_json(items)
        return
    if not items:
        click.echo("没有工单。")
        return
    rules = service.router.rules
    rows = [
        [t["ticket_no"], labels.ticket_kind(t["kind"]), rules.status_label(t["status"]),
         rules.agency_name(t["agency"]), (t["complainant_name"] if reveal else mask_name(t["complainant_name"]))
         or "匿名", t["phone_masked"] or "", _short_time(t["created_at"]), t["resolve_by"],
         labels.due_flag(service.flag(t))]
        for t in items
    ]
    click.echo(table(["编号", "类型", "状态", "承办单位", "姓名", "电话", "创建时间", "答复期限", "提醒"], rows))
    overdue = sum(1 for t in items if service.flag(t) == "overdue")
    near = sum(1 for t in items if service.flag(t) == "near_due")
    click.echo(f"\n共 {len(items)} 件；已超期 {overdue} 件，即将到期 {near} 件。")


def _audit_list(ticket_nos: list[str]) -> None:
    """One audit row per ticket about to be printed unmasked, committed first (no rows, no output)."""
    from xiaoan.db import session_scope
    from xiaoan.privacy_audit import TICKET_LIST_REVEAL, cli_actor, record_view

    actor = cli_actor()
    with session_scope(services.settings().database_url) as db:
        for number in ticket_nos:
            record_view(db, actor=actor, action=TICKET_LIST_REVEAL, subject=f"ticket:{number}", source="cli")


@tickets.command("show")
@click.argument("ticket_no")
@click.option("--json", "as_json", is_flag=True, help="JSON 输出（docs/interfaces.md §6 字段加 history）。")
@_friendly_errors
def show_command(ticket_no: str, as_json: bool) -> None:
    """查看一件工单及其状态记录（每次查看都记入个人信息查看记录）。"""
    service = _service()
    data = service.show(ticket_no)
    _audit_show(data["ticket_no"])
    if as_json:
        echo_json(data)
        return
    rules = service.router.rules
    flag = labels.due_flag(service.flag(data))
    lines = [
        ("编号", data["ticket_no"]),
        ("类型", f"{labels.ticket_kind(data['kind'])}（{data['intent']}）"),
        ("状态", rules.status_label(data["status"]) + (f"（{flag}）" if flag else "")),
        ("承办单位", f"{rules.agency_name(data['agency'])}（{data['agency']}）"),
        ("所在区", data["district"] or "未确定"),
        ("创建时间", _short_time(data["created_at"])),
        ("联系期限", data["contact_by"]),
        ("答复期限", data["resolve_by"]),
        ("渠道/会话", f"{data['channel']} / {data['conversation_id']}"),
        ("姓名", mask_name(data["complainant_name"]) or "匿名"),
        ("电话", data["phone_masked"] or ""),
        ("被投诉/举报方", data["respondent_name"]),
        ("经营地址", data["respondent_address"] or ""),
        ("事实", data["facts"]),
        ("诉求", data["claim"] or ""),
        ("金额", "" if data["amount"] is None else f"{data['amount']} 元"),
    ]
    width = max(display_width(k) for k, _ in lines)
    for key, value in lines:
        click.echo(f"{pad(key, width)}  {value}")
    click.echo("\n状态记录：")
    click.echo(table(["时间", "状态", "操作人", "备注"],
                     [[_short_time(h["at"]), rules.status_label(h["status"]), h["by"], h["note"] or ""]
                      for h in data["history"]]))


def _audit_show(ticket_no: str) -> None:
    """Log who printed the ticket before printing it (no row, no output: a database error stops it)."""
    from xiaoan.db import session_scope
    from xiaoan.privacy_audit import TICKET_SHOW, cli_actor, record_view

    with session_scope(services.settings().database_url) as db:
        record_view(db, actor=cli_actor(), action=TICKET_SHOW, subject=f"ticket:{ticket_no}", source="cli")


@tickets.command("set-status")
@click.argument("ticket_no")
@click.argument("status", type=click.Choice([s for s in STATUSES if s != "created"]))
@click.option("--by", "by", required=True, help="操作人（姓名或系统名）。")
@click.option("--note", help="备注。")
@click.option("--json", "as_json", is_flag=True, help="输出更新后的工单 JSON。")
@click.option("--notify/--no-notify", default=True, show_default=True,
              help="按市民来时的渠道通知状态变化（受理、转办、调解、办结；办结后请市民评价）。")
@_friendly_errors
def set_status_command(ticket_no: str, status: str, by: str, note: str | None, as_json: bool, notify: bool) -> None:
    """记录工单的状态变化（写入状态记录，并把给市民的通知放入发送队列）。"""
    from xiaoan.tickets.updates import apply_status_update

    if status == "forwarded":  # the outbox's own step: nothing to tell the citizen
        data = _service().set_status(ticket_no, status, by, note)
    else:
        apply_status_update(ticket_no, status, source="cli", by=by, note=note, notify=notify,
                            settings=services.settings())
        data = _service().show(ticket_no)
    if as_json:
        echo_json(data)
    else:
        click.echo(f"{data['ticket_no']} 状态已更新为 {status}。")


@tickets.command("outbox")
@click.option("--json", "as_json", is_flag=True, help="JSON 输出。")
@click.option("--all", "show_all", is_flag=True, help="也列出已送达的。")
@_friendly_errors
def outbox_command(as_json: bool, show_all: bool) -> None:
    """列出待转办（pending）和被拒收（failed）的工单。"""
    from xiaoan.tickets.outbox import list_outbox

    states = ("pending", "failed", "delivered") if show_all else ("pending", "failed")
    rows = list_outbox(services.settings(), states=states)
    echo_listing(rows, as_json, empty="转办队列为空。", headers=["编号", "状态", "次数", "下次尝试", "最后错误"],
                 row=lambda r: [r["ticket_no"], r["state"], str(r["attempts"]), _short_time(r["next_attempt_at"]),
                                (r["last_error"] or "")[:60]])


@tickets.command("replay")
@click.argument("ticket_nos", nargs=-1)
@click.option("--all-failed", is_flag=True, help="把被拒收的也重新发送。")
@click.option("--json", "as_json", is_flag=True, help="JSON 输出。")
@_friendly_errors
def replay_command(ticket_nos: tuple[str, ...], all_failed: bool, as_json: bool) -> None:
    """立即重新发送待转办的工单（可指定编号）；有未送达的则以非零状态退出。"""
    from xiaoan.tickets.numbering import normalize_ticket_no
    from xiaoan.tickets.outbox import OutboxDeliverer

    settings = services.settings()
    if not settings.ticket_api_url:
        raise click.ClickException("未设置 XIAOAN_TICKET_API_URL：本地数据库即为工单库，没有需要转办的内容。")
    numbers = []
    for raw in ticket_nos:
        number = normalize_ticket_no(raw)
        if number is None:
            raise click.BadParameter(f"不是工单编号：{raw!r}", param_hint="TICKET_NOS")
        numbers.append(number)
    report = OutboxDeliverer(settings).deliver_pending(force=True, include_failed=all_failed,
                                                       ticket_nos=numbers or None)
    if as_json:
        echo_json(report.as_dict())
    else:
        click.echo(f"已送达 {len(report.delivered)} 件，待重试 {len(report.retrying)} 件，被拒收 {len(report.failed)} 件。")
    if report.retrying or report.failed:
        sys.exit(1)


@tickets.command("check-rules")
@click.option("--file", "path", type=click.Path(dir_okay=False, path_type=Path), default=RULES_PATH,
              show_default=True, help="要检查的规则文件。")
@_friendly_errors
def check_rules_command(path: Path) -> None:
    """检查路由规则文件（routing_rules.yml）是否有效。"""
    rules = load_rules(path)
    enabled = sum(1 for r in rules.rules if r.enabled)
    click.echo(f"规则有效：{len(rules.rules)} 条（启用 {enabled} 条），{len(rules.agencies)} 个承办单位。")
