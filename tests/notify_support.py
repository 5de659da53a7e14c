"""Helpers of the status-update and satisfaction tests: tickets from small factories, a signed
platform request, the web app on a test database."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

from xiaoan.config import Settings
from xiaoan.tickets.routing import Router
from xiaoan.tickets.service import TicketDraft, TicketService
from xiaoan.tickets.status_api import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

PHONE = "13812345678"
OPENID = "oXiaoAn_status_citizen_0001"
PLATFORM_SECRET = "platform-shared-secret-4f7c2a9e1b3d5f60a8c7e9"


def settings(db_url: str, **extra: Any) -> Settings:
    return Settings(database_url=db_url, **extra)


def make_ticket(db_url: str, *, channel: str = "web", conversation_id: str = "web-" + "a" * 32,
                phone: str | None = PHONE, anonymous: bool = False, kind: str = "complaint", key: str | None = None) -> str:
    """A ticket filed in `channel`; its number."""
    service = TicketService(Settings(database_url=db_url),
                            router=Router(resolve_district=lambda text: "pudong" if "浦东" in text else None))
    draft = TicketDraft(
        kind=kind, intent="complain_prepaid" if kind == "complaint" else "report_violation", channel=channel,
        conversation_id=conversation_id, complainant_name=None if anonymous else "张三丰",
        phone=None if anonymous else phone, complainant_address=None if anonymous else "上海市徐汇区漕溪北路1号",
        respondent_name="某某健身房", respondent_address="上海市浦东新区张杨路100号", district="pudong",
        facts="健身房关门跑路，卡里还有两千元", claim="退还余额", amount=Decimal("2000"), anonymous=anonymous)
    return service.create(draft, key or f"{conversation_id}:{channel}:{kind}:{anonymous}").ticket_no


def signed(body: dict | bytes, secret: str = PLATFORM_SECRET, timestamp: int | None = None) -> tuple[bytes, dict]:
    """The raw body and the headers of a platform request signed with `secret`."""
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode("utf-8")
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return raw, {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: sign(secret, stamp, raw),
                 "Content-Type": "application/json"}


def web_app(db_url: str, **extra: Any):
    from xiaoan.web.app import create_app

    return create_app(Settings(database_url=db_url, platform_secret=PLATFORM_SECRET, **extra), testing=True)
