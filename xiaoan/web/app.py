"""The web app factory and the `xiaoan web` command (docs/interfaces.md §1: 127.0.0.1:8000).

Flask rather than FastAPI: Rasa 3.6 pins pydantic 1.10 and SQLAlchemy 1.4, and Flask 3 with
flask-wtf (CSRF, forms) depends on neither, so it lives in the same environment unconstrained.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import secrets

import click
from flask import Flask, jsonify, request
from flask_wtf.csrf import CSRFProtect

from xiaoan import services, workers
from xiaoan import config
from xiaoan.config import Settings
from xiaoan.rasa_client import RasaClient
from xiaoan.web.deps import EXTENSION_KEY
from xiaoan.web.errors import register_error_handlers

logger = logging.getLogger(__name__)

# "module:attribute" of each blueprint, imported when the app is created. Areas append theirs.
BLUEPRINTS = [
    "xiaoan.web.chat:bp",
    "xiaoan.web.auth:bp",
    "xiaoan.handoff.inbox:bp",
    "xiaoan.handoff.assist_console:bp",
    "xiaoan.kb.console:bp",
    "xiaoan.supervision.console:bp",
    "xiaoan.web.uploads:bp",  # evidence attachments (issue 15)

    "xiaoan.tickets.status_api:bp",
    "xiaoan.notify.web:bp",
    "xiaoan.notify.web:gateway_bp",
]

MAX_REQUEST_BYTES = 1024 * 1024
MIN_PRODUCTION_SECRET_LENGTH = 32
# fragments of values copied from example files; long enough never to occur in a random key
_PLACEHOLDER_FRAGMENTS = ("changeme", "change-me", "change_me", "replaceme", "replace-me", "replace_me",
                          "placeholder", "example", "your-secret", "your_secret", "yoursecret", "xxxxxx", "<")

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

csrf = CSRFProtect()


class ConfigurationError(RuntimeError):
    """The web app cannot start with these settings (e.g. no real secret key in production)."""


def is_production(settings: Settings) -> bool:
    """Whether `XIAOAN_ENV` says production."""
    return settings.environment.strip().lower() in {"production", "prod"}


def is_placeholder_secret(value: str) -> bool:
    """A secret that is too short or looks like a value copied from an example file."""
    lowered = value.strip().lower()
    return (len(lowered) < MIN_PRODUCTION_SECRET_LENGTH
            or any(fragment in lowered for fragment in _PLACEHOLDER_FRAGMENTS)
            or len(set(lowered)) < 8)


def resolve_secret_key(settings: Settings, *, testing: bool = False) -> str:
    """The key that signs session cookies and CSRF tokens.

    Production requires `XIAOAN_WEB_SECRET_KEY` and refuses placeholders; development generates
    one into `var/web_secret` once; tests get a random key.

    Raises:
        ConfigurationError: production without a real secret.
    """
    key = settings.web_secret_key
    if is_production(settings):
        if not key:
            raise ConfigurationError("XIAOAN_WEB_SECRET_KEY must be set when XIAOAN_ENV=production")
        if is_placeholder_secret(key):
            raise ConfigurationError(
                "XIAOAN_WEB_SECRET_KEY looks like a placeholder; use a random value of at least "
                f"{MIN_PRODUCTION_SECRET_LENGTH} characters (python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        return key
    if key:
        return key
    if testing:
        return secrets.token_urlsafe(32)
    return config.web_secret_key()


def create_app(settings: Settings | None = None, *, testing: bool = False) -> Flask:
    """Build the web app.

    Args:
        settings: default `services.settings()` (the process's); passed down to the blueprints
            (`xiaoan.web.deps.get_settings`).
        testing: Flask's testing mode; a random secret key when none is configured. CSRF stays on.
            Outside testing the app starts the process's background workers (`xiaoan.workers`:
            idle conversations back to 小安; the outbox thread with `XIAOAN_OUTBOX_MODE=thread`).

    Raises:
        ConfigurationError: the settings are not fit to start (see `resolve_secret_key`).
    """
    settings = settings or services.settings()
    production = is_production(settings)
    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.config.update(
        TESTING=testing,
        SECRET_KEY=resolve_secret_key(settings, testing=testing),
        SESSION_COOKIE_NAME="xiaoan_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=production,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=12),
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        # the token lives as long as the session: a chat page may stay open for hours
        WTF_CSRF_TIME_LIMIT=None,
        JSON_AS_ASCII=False,
    )
    app.json.ensure_ascii = False
    rasa_client = RasaClient(settings)
    app.extensions[EXTENSION_KEY] = {"settings": settings, "rasa_client": rasa_client}

    csrf.init_app(app)
    register_error_handlers(app)
    app.after_request(_security_headers(production))
    for target in BLUEPRINTS:
        app.register_blueprint(_import_target(target))
    if not testing:  # background workers belong to the process, not to a blueprint
        try:
            app.extensions[EXTENSION_KEY]["workers"] = workers.start(settings, rasa=rasa_client)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from exc

    @app.get("/healthz")
    def healthz():
        """Liveness probe for scripts (`make run`)."""
        return jsonify(status="ok")

    return app


def _import_target(target: str):
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def _security_headers(production: bool):
    def add_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if production:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if request.endpoint != "static":  # pages and API answers are per-session
            headers.setdefault("Cache-Control", "no-store")
        return response

    return add_headers


@click.command("web")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to bind.")
@click.option("--threads", default=8, show_default=True, type=int, help="Worker threads.")
def web_command(host: str, port: int, threads: int) -> None:
    """Serve the citizen chat page (/) and the staff console (/console) with waitress."""
    import waitress

    try:
        app = create_app()
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc
    logging.getLogger("xiaoan").setLevel(logging.INFO)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"小安 web: chat http://{shown}:{port}/  console http://{shown}:{port}/console")
    waitress.serve(app, host=host, port=port, threads=threads, ident="xiaoan")
