"""`xiaoan notify`: the citizens' status notices (the outbox process also sends them every pass).

    xiaoan notify run [--once] [--interval 5]   # send what is due (retries, fall-backs)
    xiaoan notify list [--json] [--all]         # the queue: pending and failed (recipients masked)
"""

from __future__ import annotations


import click
from sqlalchemy import select

from xiaoan import services
from xiaoan.cli_support import DATABASE_ERRORS, database_error, echo_listing, stop_on_signals


@click.group()
def notify() -> None:
    """给市民的工单状态通知和满意度回访（发送队列）。"""


@notify.command("run")
@click.option("--interval", type=click.FloatRange(min=0.1), default=5.0, show_default=True, help="两轮之间的秒数。")
@click.option("--once", is_flag=True, help="只发送一轮后退出。")
def run_command(interval: float, once: bool) -> None:
    """发送到期的通知（微信、短信）；失败的按退避重试，微信发不出时改发短信。"""
    from xiaoan.notify.delivery import NotificationDeliverer

    deliverer = NotificationDeliverer(services.settings())
    if once:
        try:
            counts = deliverer.deliver_pending()
        except DATABASE_ERRORS as exc:
            raise database_error(exc) from exc
        click.echo(f"notify: {len(counts.sent)} sent, {len(counts.retrying)} to retry, {len(counts.failed)} failed")
        return
    stop = stop_on_signals()
    while not stop.is_set():
        try:
            deliverer.deliver_pending()
        except Exception as exc:  # noqa: BLE001 - keep running through a database hiccup
            click.echo(f"notify pass failed: {type(exc).__name__}", err=True)
        stop.wait(interval)


@notify.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON 输出。")
@click.option("--all", "show_all", is_flag=True, help="也列出已送达的。")
def list_command(as_json: bool, show_all: bool) -> None:
    """列出待发送和发送失败的通知（收件人已脱敏）。"""
    from xiaoan.channels.wechat_api import mask_openid
    from xiaoan.db import session_scope
    from xiaoan.localtime import iso_seconds
    from xiaoan.notify.models import CHANNEL_SMS, DELIVERED, FAILED, PENDING, TicketNotification
    from xiaoan.privacy import mask_phone
    from xiaoan.tickets.models import Ticket

    states = (PENDING, FAILED, DELIVERED) if show_all else (PENDING, FAILED)
    try:
        with session_scope(services.settings().database_url) as session:
            rows = [
                {"id": n.id, "ticket_no": ticket_no, "kind": n.kind, "channel": n.channel,
                 "recipient": mask_phone(n.recipient) if n.channel == CHANNEL_SMS else mask_openid(n.recipient),
                 "state": n.state, "via": n.via, "attempts": n.attempts,
                 "next_attempt_at": iso_seconds(n.next_attempt_at), "last_error": n.last_error}
                for n, ticket_no in session.execute(
                    select(TicketNotification, Ticket.ticket_no).join(Ticket, Ticket.id == TicketNotification.ticket_id)
                    .where(TicketNotification.state.in_(states)).order_by(TicketNotification.id))]
    except DATABASE_ERRORS as exc:
        raise database_error(exc) from exc
    echo_listing(rows, as_json, empty="通知队列为空。",
                 headers=["编号", "工单", "类型", "渠道", "收件人", "状态", "次数", "最后错误"],
                 row=lambda r: [str(r["id"]), r["ticket_no"], r["kind"], r["channel"], r["recipient"], r["state"],
                                str(r["attempts"]), (r["last_error"] or "")[:40]])
