"""Audit log of staff views of citizens' personal data (issue 12, item 5).

Every time a member of staff sees personal data in clear, one row is written *before* the data is
shown (fail closed: no row, no data):

- `transcript_reveal` / `slots_reveal`: an agent pressed 显示完整号码 on a conversation in the inbox
  (the transcript or the gathered-information panel; both are masked by default);
- `callback_view`: an agent opened a callback request, which shows the number to call;
- `ticket_show`: `xiaoan tickets show` printed a ticket (name, address, facts) on a terminal;
- `ticket_list_reveal`: `xiaoan tickets list --reveal` printed tickets unmasked (one row per ticket);
- `ticket_page_reveal`: a supervisor pressed 显示投诉人信息 on a ticket page of `/console/stats`;
- `attachment_download`: a member of staff downloaded a citizen's evidence attachment (issue 15).

Supervisors read the log at `/console/inbox/audit` or with `xiaoan audit list` (see
`list_views`). Rows hold who, when, what and from where, never the personal data itself.

Usage::

    with session_scope() as db:
        record_view(db, actor="wangfang", action=TRANSCRIPT_REVEAL, subject="handoff:12",
                    actor_id=user.id, actor_role=user.role, remote_addr=request.remote_addr)
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
from typing import Optional

import click
from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, String, select
from sqlalchemy.orm import Session

from xiaoan.db import Base, UTCDateTime, utcnow
import xiaoan.web.auth_models  # noqa: E402,F401  (staff_users, target of actor_id)

TRANSCRIPT_REVEAL = "transcript_reveal"
SLOTS_REVEAL = "slots_reveal"
CALLBACK_VIEW = "callback_view"
TICKET_SHOW = "ticket_show"
TICKET_LIST_REVEAL = "ticket_list_reveal"
TICKET_PAGE_REVEAL = "ticket_page_reveal"
ATTACHMENT_DOWNLOAD = "attachment_download"

#: Action -> what the supervisor reads in the listing.
ACTION_LABELS = {
    TRANSCRIPT_REVEAL: "显示对话记录中的完整号码",
    SLOTS_REVEAL: "显示已收集信息中的完整号码",
    CALLBACK_VIEW: "查看回电号码",
    TICKET_SHOW: "命令行查看工单",
    TICKET_LIST_REVEAL: "命令行列出工单（完整个人信息）",
    TICKET_PAGE_REVEAL: "统计页显示工单的投诉人信息",
    ATTACHMENT_DOWNLOAD: "下载市民上传的证据附件",
}
ACTIONS = tuple(ACTION_LABELS)
SOURCES = ("console", "cli")
MAX_LISTED = 500

_ACTIONS_SQL = ", ".join(f"'{a}'" for a in ACTIONS)


class PersonalDataView(Base):
    """One view of personal data by a member of staff (who, when, what, from where)."""

    __tablename__ = "personal_data_views"
    __table_args__ = (
        CheckConstraint(f"action IN ({_ACTIONS_SQL})", name="ck_personal_data_views_action"),
        CheckConstraint("source IN ('console', 'cli')", name="ck_personal_data_views_source"),
        Index("ix_personal_data_views_actor_at", "actor", "at"),
    )

    id = Column(Integer, primary_key=True)
    at = Column(UTCDateTime, nullable=False, default=utcnow, index=True)
    actor = Column(String(64), nullable=False,
                   doc="Console username, or the operating-system user of a command line (kept when the account goes).")
    actor_id = Column(Integer, ForeignKey("staff_users.id", ondelete="SET NULL"), doc="The staff account, console only.")
    actor_role = Column(String(16), doc="The account's role at the time (agent, supervisor, admin); None on the CLI.")
    action = Column(String(32), nullable=False, doc="One of ACTIONS.")
    subject = Column(String(64), nullable=False,
                     doc="What was seen, by reference: handoff:<session id>, callback:<id>, ticket:<ticket number>.")
    source = Column(String(16), nullable=False, default="console", doc="console | cli")
    remote_addr = Column(String(64), doc="The browser's address as the web app saw it (console only).")


def record_view(session: Session, *, actor: str, action: str, subject: str, actor_id: Optional[int] = None,
                actor_role: Optional[str] = None, source: str = "console", remote_addr: Optional[str] = None,
                now: Optional[dt.datetime] = None) -> PersonalDataView:
    """Add one row to the audit log (flushed in `session`; the caller commits).

    Raises:
        ValueError: an unknown action or source, or an empty actor or subject.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    if not actor or not subject:
        raise ValueError("actor and subject are required")
    row = PersonalDataView(at=now or utcnow(), actor=actor[:64], actor_id=actor_id, actor_role=actor_role,
                           action=action, subject=subject[:64], source=source,
                           remote_addr=(remote_addr or None) and remote_addr[:64])
    session.add(row)
    session.flush()
    return row


def list_views(session: Session, *, since: Optional[dt.datetime] = None, actor: Optional[str] = None,
               action: Optional[str] = None, limit: int = MAX_LISTED) -> list[dict]:
    """The newest rows first, as dicts: `{"at", "actor", "actor_role", "action", "action_label",
    "subject", "source", "remote_addr"}` (`at` in ISO-8601)."""
    query = select(PersonalDataView)
    if since is not None:
        query = query.where(PersonalDataView.at >= since)
    if actor:
        query = query.where(PersonalDataView.actor == actor)
    if action:
        query = query.where(PersonalDataView.action == action)
    rows = session.execute(query.order_by(PersonalDataView.at.desc(), PersonalDataView.id.desc())
                           .limit(max(1, min(limit, MAX_LISTED)))).scalars().all()
    return [{"at": r.at.isoformat(), "actor": r.actor, "actor_role": r.actor_role, "action": r.action,
             "action_label": ACTION_LABELS.get(r.action, r.action), "subject": r.subject, "source": r.source,
             "remote_addr": r.remote_addr} for r in rows]


def cli_actor() -> str:
    """Who runs a command line: `SUDO_USER` when run through sudo, else the login name."""
    sudo = os.environ.get("SUDO_USER")
    if sudo:
        return f"{sudo} (sudo)"
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry (containers): still record something
        return f"uid {os.getuid()}"


# --- `xiaoan audit` ----------------------------------------------------------------------------


@click.group()
def audit() -> None:
    """个人信息查看记录（供主管查阅）。"""


@audit.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON 输出。")
@click.option("--actor", help="只列出此人（后台用户名或命令行用户）的记录。")
@click.option("--action", type=click.Choice(ACTIONS), help="只列出此类操作。")
@click.option("--limit", type=click.IntRange(1, MAX_LISTED), default=100, show_default=True, help="最多列出条数。")
def audit_list(as_json: bool, actor: Optional[str], action: Optional[str], limit: int) -> None:
    """列出工作人员查看市民个人信息的记录，最新的在前。"""
    from xiaoan.cli_support import DATABASE_ERRORS, database_error, echo_listing
    from xiaoan.db import session_scope
    from xiaoan.localtime import format_seconds

    try:
        with session_scope() as db:
            rows = list_views(db, actor=actor, action=action, limit=limit)
    except DATABASE_ERRORS as exc:
        raise database_error(exc) from exc
    echo_listing(rows, as_json, empty="没有查看记录。", headers=["时间", "人员", "操作", "对象", "来源"],
                 row=lambda r: [format_seconds(dt.datetime.fromisoformat(r["at"])), r["actor"], r["action_label"],
                                r["subject"], r["source"] + (f" {r['remote_addr']}" if r["remote_addr"] else "")])
