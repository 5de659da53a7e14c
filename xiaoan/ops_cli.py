"""Operations commands: `xiaoan outbox`, `xiaoan keys`, `xiaoan retention` (issue 12).

Usage::

    xiaoan outbox run                 # the outbox's own process (Procfile `outbox:`)
    xiaoan outbox status [--json]     # counts and alerts; exit status 1 while alerting
    xiaoan keys generate              # a new data key for XIAOAN_DATA_KEY
    xiaoan keys rotate                # re-encrypt personal data with the first key of XIAOAN_DATA_KEY
    xiaoan retention run [--dry-run] [--json]
"""

from __future__ import annotations

import logging

import click

from xiaoan.cli_support import (DATABASE_ERRORS, database_error, echo_json, friendly_errors, stop_on_signals,
                                 usage_error)


@click.group()
def outbox() -> None:
    """工单外发 outbox：独立进程与告警。"""


@outbox.command("run")
@click.option("--interval", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="两轮之间的秒数。")
@click.option("--once", is_flag=True, help="只运行一轮（外发、检查、到期的保存期限清理）后退出。")
def outbox_run(interval: float, once: bool) -> None:
    """运行 outbox 进程：外发到期的工单，对积压或失败的工单告警（ERROR 日志），每天清理过期个人信息。"""
    from xiaoan.production_checks import enforce
    from xiaoan.tickets.outbox import OutboxWorker

    enforce("outbox")
    root = logging.getLogger()
    if root.level > logging.INFO or not root.handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                            force=True)
    try:
        worker = OutboxWorker()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    if once:
        try:
            health = worker.run_pass()
        except DATABASE_ERRORS as exc:
            raise database_error(exc) from exc
        click.echo(f"outbox: {health.pending} pending, {health.failed} failed, {health.old_pending} old")
        return
    stop = stop_on_signals()
    worker.run(stop, interval=interval)


@outbox.command("status")
@click.option("--json", "as_json", is_flag=True, help="JSON 输出。")
@friendly_errors(lambda: {ValueError: usage_error})
def outbox_status(as_json: bool) -> None:
    """outbox 状况：待外发、积压（超过 XIAOAN_OUTBOX_ALERT_MINUTES 分钟）、被拒绝的工单数；告警时退出码为 1。"""
    from xiaoan.tickets.outbox import alert_after, outbox_health

    health = outbox_health(old_after=alert_after())
    if as_json:
        echo_json(health.as_dict())
    else:
        click.echo(f"待外发 {health.pending}，其中超过 {health.alert_after_minutes:g} 分钟 {health.old_pending}；"
                   f"被拒绝 {health.failed}")
        for line in health.alerts():
            click.secho(f"告警：{line}", fg="red", err=True)
    if health.alerting:
        raise SystemExit(1)


@click.group()
def keys() -> None:
    """个人信息加密密钥（XIAOAN_DATA_KEY）：生成与轮换。"""


@keys.command("generate")
def keys_generate() -> None:
    """打印一把新的数据密钥（id:base64），用于 XIAOAN_DATA_KEY。"""
    from xiaoan.crypto import new_key_entry

    click.echo(new_key_entry())


def _data_key_errors() -> dict:
    from xiaoan.crypto import DataKeyError

    return {DataKeyError: usage_error}


@keys.command("rotate")
@click.option("--json", "as_json", is_flag=True, help="JSON 输出。")
@friendly_errors(_data_key_errors)
def keys_rotate(as_json: bool) -> None:
    """用 XIAOAN_DATA_KEY 的第一把密钥重新加密全部工单个人信息、转人工会话和回电请求，并重算电话查找哈希（可重复运行）。"""
    from xiaoan.tickets.service import rotate_personal_data

    result = rotate_personal_data()
    if as_json:
        echo_json(result)
    else:
        click.echo(f"已用密钥 {result['key_id']} 重新加密 {result['tickets']} 张工单、"
                   f"{result['outbox']} 条 outbox 记录、{result['handoff_sessions']} 个转人工会话、"
                   f"{result['callbacks']} 条回电请求；仍用旧密钥的 {result['remaining_old']} 项")


def _retention_errors() -> dict:
    from xiaoan.retention import RetentionError

    return {RetentionError: usage_error}


@click.group()
def retention() -> None:
    """个人信息保存期限（docs/domain.md §7）：到期删除或去标识化。"""


@retention.command("run")
@click.option("--dry-run", is_flag=True, help="只统计，不修改。")
@click.option("--json", "as_json", is_flag=True, help="JSON 输出。")
@friendly_errors(_retention_errors)
def retention_run(dry_run: bool, as_json: bool) -> None:
    """删除或去标识化超过保存期限的对话记录、转人工会话、知识库未答问题和已办结工单的个人信息。"""
    from xiaoan.retention import run_all

    report = run_all(dry_run=dry_run)
    if as_json:
        echo_json(report)
    else:
        verb = "将处理" if dry_run else "已处理"
        for name, count in report["counts"].items():
            click.echo(f"{verb} {name}: {count}")
