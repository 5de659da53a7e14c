"""The work-order platform reports a ticket's status: ``POST /api/platform/tickets/<ticket_no>/status``.

Authentication: HMAC-SHA256 with the shared secret ``XIAOAN_PLATFORM_SECRET`` (the endpoint
answers 404 while it is unset: the endpoint is off). Headers ``X-Xiaoan-Timestamp`` (unix seconds, within 5 minutes of
the server's clock) and ``X-Xiaoan-Signature: sha256=<hex of HMAC(secret, "<timestamp>." + raw body)>``.

Body (JSON): ``{"event_id": "…", "status": "accepted|transferred|mediated|closed|in_progress|answered",
"at": "2026-12-05T10:00:00+08:00", "note": "…", "agency": "dist-xuhui"}``; ``event_id`` (or the
``Idempotency-Key`` header) is required: a repeated event answers 200 with ``duplicate: true`` and
changes nothing; the same id with other content is 409. The answer never waits for a citizen to be
told: notices are queued (`xiaoan.tickets.updates`) and sent by the notification worker.

Errors are JSON ``{"error": "<code>", "message": "<中文说明>", "field": …}``: 400 bad JSON or
missing event id, 401 bad signature or stale timestamp, 404 unknown ticket, 409 conflicting
event, 422 bad field, 404 not configured (endpoint off).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import time

from flask import Blueprint, jsonify, request

from xiaoan.tickets.service import TicketNotFound, TicketValidationError
from xiaoan.tickets.updates import StatusUpdateConflict, apply_status_update
from xiaoan.web.deps import get_settings

logger = logging.getLogger(__name__)

bp = Blueprint("platform_status", __name__)

TIMESTAMP_HEADER = "X-Xiaoan-Timestamp"
SIGNATURE_HEADER = "X-Xiaoan-Signature"
MAX_SKEW_SECONDS = 300

MESSAGES = {
    "not_configured": "状态回传接口未启用（未设置 XIAOAN_PLATFORM_SECRET）。",
    "bad_signature": "签名无效或缺失：请用共享密钥对“时间戳.请求体”计算 HMAC-SHA256。",
    "stale_timestamp": "时间戳缺失或与服务器时间相差超过5分钟。",
    "bad_json": "请求体必须是 JSON 对象。",
    "missing_event_id": "缺少 event_id（或 Idempotency-Key 请求头），无法保证重复推送不重复处理。",
    "not_found": "找不到该工单。",
    "conflict": "该 event_id 已用于另一条不同内容的状态推送。",
    "invalid": "字段 {field} 无效：{detail}",
}


def _error(status: int, code: str, **extra):
    message = MESSAGES[code].format(**extra) if extra else MESSAGES[code]
    return jsonify(error=code, message=message, **{k: v for k, v in extra.items() if k == "field"}), status


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value for `body` sent at `timestamp` (platform side, and tests)."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _authentic(secret: str, body: bytes):
    stamp = request.headers.get(TIMESTAMP_HEADER, "")
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > MAX_SKEW_SECONDS:
        return _error(401, "stale_timestamp")
    given = request.headers.get(SIGNATURE_HEADER, "")
    if not hmac.compare_digest(given.encode("utf-8", "replace"), sign(secret, stamp, body).encode("ascii")):
        return _error(401, "bad_signature")
    return None


def _parse_time(value):
    if value is None:
        return None
    if not isinstance(value, str):
        raise TicketValidationError("at must be an ISO-8601 text", "at")
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise TicketValidationError("at is not an ISO-8601 time", "at") from exc


@bp.post("/api/platform/tickets/<ticket_no>/status")
def report_status(ticket_no: str):
    """The platform reports a status change of one ticket (signed, idempotent)."""
    settings = get_settings()
    secret = settings.platform_secret
    if not secret:
        return _error(404, "not_configured")  # the endpoint is off here, not failing
    body = request.get_data(cache=True)
    refused = _authentic(secret, body)
    if refused is not None:
        logger.warning("platform status report for %s refused: %s", ticket_no[:20], refused[0].get_json()["error"])
        return refused
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return _error(400, "bad_json")
    event_id = data.get("event_id") or request.headers.get("Idempotency-Key")
    if not event_id:
        return _error(400, "missing_event_id")
    if isinstance(event_id, bool) or not isinstance(event_id, (str, int)):
        return _error(422, "invalid", field="event_id", detail="event_id must be text or a number")
    try:
        result = apply_status_update(
            ticket_no, data.get("status"), source="platform", event_id=str(event_id),
            at=_parse_time(data.get("at")), note=data.get("note"), agency=data.get("agency"),
            by="platform", settings=settings)
    except TicketNotFound:
        return _error(404, "not_found")
    except StatusUpdateConflict:
        return _error(409, "conflict")
    except TicketValidationError as exc:
        return _error(422, "invalid", field=exc.field, detail=str(exc))
    return jsonify(result.as_dict()), 200


def _exempt_from_csrf() -> None:
    # a machine-to-machine door authenticated by its signature, not by a browser session
    from xiaoan.web.app import csrf

    csrf.exempt(bp)


_exempt_from_csrf()
