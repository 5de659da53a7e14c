"""Settings read from the environment, in one place (docs/interfaces.md §2)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TypeVar

_Number = TypeVar("_Number", int, float)

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Shared-secret headers of the doors that only the project's own processes may use (issue 12).
REST_SECRET_HEADER = "X-Xiaoan-Rest-Secret"
"""Sent by the web app to Rasa's REST channel (`/webhooks/rest/webhook`)."""
ACTION_SECRET_HEADER = "X-Xiaoan-Action-Secret"
"""Sent by Rasa to the action server (`/webhook`, `/actions`), from endpoints.yml."""
LOOPBACK = "127.0.0.1"
VAR_DIR = Path(os.environ.get("XIAOAN_VAR_DIR", PROJECT_ROOT / "var"))


def _default_database_url() -> str:
    return f"sqlite:///{VAR_DIR / 'xiaoan.db'}"


def _secret_from_env_or_var(variable: str, filename: str) -> str:
    """A secret from the environment, else one generated once into `var/` (development)."""
    value = os.environ.get(variable)
    if value:
        return value
    path = VAR_DIR / filename
    if path.exists():
        return path.read_text().strip()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32)  # hex: never starts with "-", safe in URLs and on command lines
    tmp = path.with_name(f"{filename}.{os.getpid()}.tmp")
    tmp.write_text(value)
    tmp.chmod(0o600)
    try:
        os.link(tmp, path)  # atomic "create if absent": concurrent first runs agree on one secret
    except FileExistsError:
        value = path.read_text().strip()
    finally:
        tmp.unlink(missing_ok=True)
    return value


def rasa_token() -> str:
    """The Rasa HTTP API token: `XIAOAN_RASA_TOKEN`, else one generated into `var/` once."""
    return _secret_from_env_or_var("XIAOAN_RASA_TOKEN", "rasa_token")


def rest_secret() -> str:
    """The secret the web app sends to Rasa's REST channel (`REST_SECRET_HEADER`):
    `XIAOAN_REST_SECRET`, else one generated into `var/` once (development)."""
    return _secret_from_env_or_var("XIAOAN_REST_SECRET", "rest_secret")


def action_secret() -> str:
    """The secret Rasa sends to the action server (`ACTION_SECRET_HEADER`, endpoints.yml):
    `XIAOAN_ACTION_SECRET`, else one generated into `var/` once (development; `scripts/env.sh`
    exports it so that Rasa's endpoints.yml can read it)."""
    return _secret_from_env_or_var("XIAOAN_ACTION_SECRET", "action_secret")


def web_secret_key() -> str:
    """The secret that signs web sessions and chat conversation tokens: `XIAOAN_WEB_SECRET_KEY`,
    else one generated into `var/` once (development only; production must set it)."""
    return _secret_from_env_or_var("XIAOAN_WEB_SECRET_KEY", "web_secret")


@dataclass(frozen=True)
class Settings:
    """A snapshot of the environment; build it with `Settings.from_env()`, once per process
    (`xiaoan.services.configure` at the entry point; `xiaoan.services.settings()` below it)."""

    database_url: str = field(default_factory=_default_database_url)
    rasa_url: str = "http://127.0.0.1:5005"
    ticket_api_url: str | None = None
    wechat_token: str | None = None
    wechat_appid: str | None = None
    wechat_secret: str | None = None
    wechat_aes_key: str | None = None
    wechat_api_url: str = "https://api.weixin.qq.com"
    web_secret_key: str | None = None
    environment: str = "development"
    handoff_idle_minutes: int = 30
    actions_host: str = LOOPBACK
    socketio_enabled: bool = False
    outbox_mode: str = "worker"
    """Where tickets are forwarded: "worker" (the Procfile's `xiaoan outbox run` process) or
    "thread" (a thread in each process that creates tickets, started by its entry point)."""
    tracker_store_url: str | None = None
    """None: the SQLite file `var/rasa_tracker.db` (`xiaoan.rasa_stores.tracker_store_url`)."""
    lock_store_url: str | None = None
    lock_store_kind: str = ""  # "rasa": Rasa's own RedisLockStore (only to reproduce its race)
    event_broker_url: str | None = None
    event_broker_queue: str = "xiaoan_events"
    event_queue_max_length: str | None = None
    """As given (checked where the queue is declared, `xiaoan.rasa_stores`)."""
    event_queue_ttl_hours: str | None = None
    attachments_dir: str | None = None
    """Where evidence attachments are stored (`XIAOAN_ATTACHMENTS_DIR`); None: `var/attachments`.
    Outside the web root; `xiaoan.tickets.attachments.attachments_dir`."""

    platform_secret: str | None = None
    """Shared secret of the work-order platform's status reports (HMAC-SHA256); None = endpoint off."""
    sms_url: str | None = None
    """The SMS gateway (xiaoan.notify.sms); None = no SMS notices."""
    sms_token: str | None = None
    wechat_status_template_id: str | None = None
    """WeChat subscribe-message template for status notices outside the 48-hour window; None = none."""

    @classmethod
    def from_env(cls) -> "Settings":
        env = os.environ.get
        return cls(
            database_url=env("DATABASE_URL") or _default_database_url(),
            rasa_url=(env("XIAOAN_RASA_URL") or "http://127.0.0.1:5005").rstrip("/"),
            ticket_api_url=env("XIAOAN_TICKET_API_URL") or None,
            wechat_token=env("XIAOAN_WECHAT_TOKEN") or None,
            wechat_appid=env("XIAOAN_WECHAT_APPID") or None,
            wechat_secret=env("XIAOAN_WECHAT_SECRET") or None,
            wechat_aes_key=env("XIAOAN_WECHAT_AES_KEY") or None,
            wechat_api_url=(env("XIAOAN_WECHAT_API_URL") or "https://api.weixin.qq.com").rstrip("/"),
            web_secret_key=env("XIAOAN_WEB_SECRET_KEY") or None,
            environment=env("XIAOAN_ENV") or "development",
            handoff_idle_minutes=int(env("XIAOAN_HANDOFF_IDLE_MINUTES") or 30),
            actions_host=(env("XIAOAN_ACTIONS_HOST") or "").strip() or LOOPBACK,
            socketio_enabled=is_true(env("XIAOAN_SOCKETIO_ENABLED")),
            outbox_mode=(env("XIAOAN_OUTBOX_MODE") or "").strip().lower() or "worker",
            tracker_store_url=env("XIAOAN_TRACKER_STORE_URL") or None,
            lock_store_url=env("XIAOAN_LOCK_STORE_URL") or None,
            lock_store_kind=(env("XIAOAN_LOCK_STORE_KIND") or "").strip().lower(),
            event_broker_url=env("XIAOAN_EVENT_BROKER_URL") or None,
            event_broker_queue=env("XIAOAN_EVENT_BROKER_QUEUE", "xiaoan_events"),
            event_queue_max_length=env("XIAOAN_EVENT_QUEUE_MAX_LENGTH"),
            event_queue_ttl_hours=env("XIAOAN_EVENT_QUEUE_TTL_HOURS"),
            attachments_dir=(env("XIAOAN_ATTACHMENTS_DIR") or "").strip() or None,

            platform_secret=env("XIAOAN_PLATFORM_SECRET") or None,
            sms_url=(env("XIAOAN_SMS_URL") or "").strip() or None,
            sms_token=env("XIAOAN_SMS_TOKEN") or None,
            wechat_status_template_id=(env("XIAOAN_WECHAT_STATUS_TEMPLATE_ID") or "").strip() or None,
        )


def is_true(value: str | None) -> bool:
    """An on/off environment switch: "1", "true", "yes", "on" (any case) are on; anything else off."""
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def positive_number(name: str, raw: str | None, default: _Number, *, parse: Callable[[str], _Number] = int,
                    what: str = "a whole number", unit: str = "",
                    error: type[ValueError] = ValueError) -> _Number:
    """A number of at least 1 from an environment variable's text; blank gives `default`.

    Args:
        name: The variable, named in the error message.
        raw: Its text as given (None or blank: `default`).
        parse: `int` or `float`.
        what: How the message describes a good value ("a whole number", "a number of seconds").
        unit: Said after the minimum (" second" gives "at least 1 second").
        error: The exception raised (a `ValueError` subclass).
    """
    raw = (raw or "").strip()
    if not raw:
        return default
    try:
        value = parse(raw)
    except ValueError:
        raise error(f"{name} must be {what}, got {raw!r}") from None
    if value < 1:
        raise error(f"{name} must be at least 1{unit}, got {value}")
    return value
