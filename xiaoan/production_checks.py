"""What `XIAOAN_ENV=production` refuses to start with (issue 12, item 6).

Every process calls `enforce(<component>)` while starting:

- the Rasa server: `xiaoan.rasa_stores.EnvSQLTrackerStore` (endpoints.yml builds it at start-up);
- the action server: `actions/forms.py` (imported when `rasa run actions` loads the package);
- the web app and the outbox worker: `xiaoan web`, `xiaoan outbox run` (xiaoan/cli.py).

Outside production `enforce` does nothing. In production it raises `ProductionConfigError` (a
`SystemExit`, so the process ends with the list of problems and no traceback) when any of these
holds:

- the project database or Rasa's tracker store is SQLite (one file cannot serve replicas, and
  has no backups or access control of its own);
- no `XIAOAN_LOCK_STORE_URL`: Rasa would use in-memory locks, and two replicas would process
  one conversation at the same time;
- a token or secret is missing, shorter than 32 characters or a placeholder
  (`XIAOAN_RASA_TOKEN`, `XIAOAN_WEB_SECRET_KEY`, `XIAOAN_DATA_KEY`, `XIAOAN_REST_SECRET`,
  `XIAOAN_ACTION_SECRET`);
- Rasa telemetry is not switched off (`RASA_TELEMETRY_ENABLED=false`): its crash reports can
  carry citizens' messages;
- WeChat would accept plaintext messages although an AES key is set (or runs without one);
- the ticket platform is reached over plain `http://`;
- fault injection (`XIAOAN_FAULT_ARM_FILE`, tests only) is configured.
"""

from __future__ import annotations

import logging
import os
from typing import Mapping
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

MIN_SECRET_LENGTH = 32
#: Secrets production requires, each at least MIN_SECRET_LENGTH characters.
#: The REST and action-server secrets (docs/security/doors.md) are shared by two processes on
#: every replica: generated per machine in development, they must be set in production.
REQUIRED_SECRETS = ("XIAOAN_RASA_TOKEN", "XIAOAN_WEB_SECRET_KEY", "XIAOAN_DATA_KEY", "XIAOAN_REST_SECRET",
                    "XIAOAN_ACTION_SECRET")
#: Variables that, truthy, make the WeChat channel accept plaintext messages next to an AES key.
WECHAT_PLAINTEXT_SWITCHES = ("XIAOAN_WECHAT_ALLOW_PLAINTEXT", "XIAOAN_WECHAT_COMPAT_MODE")
#: Fragments of values copied from example files (as the web app's check).
PLACEHOLDER_FRAGMENTS = ("changeme", "change-me", "change_me", "replaceme", "replace-me", "replace_me",
                         "placeholder", "example", "your-secret", "your_secret", "yoursecret", "xxxxxx",
                         "secret123", "password", "default", "<")
_TRUE = {"1", "true", "yes", "on"}


class ProductionConfigError(SystemExit):
    """The process must not start: the production settings are unsafe (the message lists why)."""


def is_production(env: Mapping[str, str] | None = None) -> bool:
    """Whether `XIAOAN_ENV` says production."""
    env = os.environ if env is None else env
    return (env.get("XIAOAN_ENV") or "").strip().lower() in {"production", "prod"}


def _weak_secret(value: str) -> str | None:
    value = value.strip()
    lowered = value.lower()
    if len(value) < MIN_SECRET_LENGTH:
        return f"shorter than {MIN_SECRET_LENGTH} characters"
    if any(fragment in lowered for fragment in PLACEHOLDER_FRAGMENTS) or len(set(lowered)) < 8:
        return "looks like a placeholder or default value"
    return None


def _is_sqlite(url: str | None) -> bool:
    return not url or url.strip().lower().startswith("sqlite")


def problems(env: Mapping[str, str] | None = None) -> list[str]:
    """Everything that makes these settings unsafe for production (empty list = fine).

    The checks do not depend on XIAOAN_ENV (so that `enforce` and the tests share them).
    """
    env = os.environ if env is None else env
    found: list[str] = []
    if _is_sqlite(env.get("DATABASE_URL")):
        found.append("DATABASE_URL is SQLite (or unset): use PostgreSQL (postgresql://…)")
    if _is_sqlite(env.get("XIAOAN_TRACKER_STORE_URL")):
        found.append("XIAOAN_TRACKER_STORE_URL is SQLite (or unset): use PostgreSQL for Rasa's tracker store")
    if not (env.get("XIAOAN_LOCK_STORE_URL") or "").strip():
        found.append("XIAOAN_LOCK_STORE_URL is unset: Rasa would use in-memory locks, and several replicas "
                     "would handle one conversation at once; set redis://…")
    for name in REQUIRED_SECRETS:
        value = env.get(name) or ""
        if not value.strip():
            found.append(f"{name} is unset (development generates it into var/; production must set it)")
        else:
            weakness = _weak_secret(value)
            if weakness:
                found.append(f"{name} {weakness}: use a random value, e.g. "
                             "python -c 'import secrets; print(secrets.token_urlsafe(48))'")
    data_key = (env.get("XIAOAN_DATA_KEY") or "").strip()
    if data_key and not any("XIAOAN_DATA_KEY" in p for p in found):
        from xiaoan.crypto import DataKeyError, KeyRing

        try:
            ring = KeyRing.parse(data_key)
        except DataKeyError as exc:
            found.append(str(exc))
        else:
            secrets_ = [e.strip().partition(":")[2] or e.strip() for e in data_key.split(",") if e.strip()]
            if any(_weak_secret(secret) for secret in secrets_):
                found.append(f"XIAOAN_DATA_KEY: a key ({', '.join(ring.keys)}) looks like a placeholder")
    if (env.get("RASA_TELEMETRY_ENABLED") or "").strip().lower() != "false":
        found.append("RASA_TELEMETRY_ENABLED is not 'false': Rasa telemetry and Sentry crash reports can "
                     "carry citizens' messages")
    if (env.get("XIAOAN_WECHAT_TOKEN") or "").strip():
        aes_key = (env.get("XIAOAN_WECHAT_AES_KEY") or "").strip()
        if not aes_key:
            found.append("WeChat is on in plaintext mode: set XIAOAN_WECHAT_AES_KEY (安全模式)")
        elif any((env.get(name) or "").strip().lower() in _TRUE for name in WECHAT_PLAINTEXT_SWITCHES):
            found.append("WeChat accepts plaintext messages although XIAOAN_WECHAT_AES_KEY is set: "
                         f"unset {'/'.join(WECHAT_PLAINTEXT_SWITCHES)}")
        elif len(aes_key) != 43:
            found.append("XIAOAN_WECHAT_AES_KEY must be the 43-character EncodingAESKey")
    platform = (env.get("XIAOAN_TICKET_API_URL") or "").strip()
    if platform and urlsplit(platform).scheme.lower() != "https":
        found.append("XIAOAN_TICKET_API_URL is not https://: citizens' data would travel in clear")
    # status updates (xiaoan.tickets.status_api, xiaoan.notify): optional doors, but never weak or in clear
    for name in ("XIAOAN_PLATFORM_SECRET", "XIAOAN_SMS_TOKEN"):
        value = env.get(name) or ""
        weakness = _weak_secret(value) if value.strip() else None
        if weakness:
            found.append(f"{name} {weakness}: use a random value of at least {MIN_SECRET_LENGTH} characters")
    sms = (env.get("XIAOAN_SMS_URL") or "").strip()
    if sms and urlsplit(sms).scheme.lower() != "https":
        found.append("XIAOAN_SMS_URL is not https://: citizens' phone numbers would travel in clear")
    if (env.get("XIAOAN_FAULT_ARM_FILE") or "").strip():
        found.append("XIAOAN_FAULT_ARM_FILE is set: fault injection is for tests only")
    return found


def enforce(component: str, env: Mapping[str, str] | None = None) -> None:
    """Refuse to start `component` in production with unsafe settings.

    Args:
        component: Which process is starting ("rasa", "actions", "web", "outbox").
        env: The environment (default `os.environ`).

    Raises:
        ProductionConfigError: XIAOAN_ENV=production and `problems()` found something.
    """
    env = os.environ if env is None else env
    if not is_production(env):
        return
    found = problems(env)
    if not found:
        return
    message = (f"小安 {component}: XIAOAN_ENV=production refuses to start with these settings:\n"
               + "\n".join(f"  - {p}" for p in found)
               + "\n(see README, Security / Deploy)")
    logger.critical(message)
    raise ProductionConfigError(message)
