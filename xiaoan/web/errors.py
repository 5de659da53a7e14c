"""Error responses: JSON `{"error": "<中文>"}` for API calls, a friendly page otherwise, never a
stack trace.

Bad input is answered 4xx before any view can store it (issue 12, item 4; `xiaoan.input_checks`):

- JSON bodies are parsed by `SafeJSONProvider`: nesting deeper than `MAX_JSON_DEPTH` is bad JSON
  (400 or the route's own message), not a RecursionError (500);
- `reject_unreadable_input` answers 400 `UNREADABLE_TEXT` when a path parameter, a query or form
  field (name or value) or a JSON string holds a NUL (PostgreSQL cannot store it) or a lone
  surrogate (breaks a conversation's history once stored);
- JSON answers and pages never fail on a lone surrogate already stored somewhere (a conversation
  written before this check, read back in the chat history or the agents' transcript): it is
  written as U+FFFD;
- `<int:...>` path parameters match only ids a database integer column can hold (0 to 2^31-1):
  a larger one is a 404, not an OverflowError (SQLite) or "integer out of range" (PostgreSQL).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, render_template, request
from flask.json.provider import DefaultJSONProvider
from flask_wtf.csrf import CSRFError
from markupsafe import Markup
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from xiaoan.input_checks import TOO_DEEP, UNREADABLE, has_unreadable, json_problem, loads_bounded, replace_surrogates
from xiaoan.web import messages

logger = logging.getLogger(__name__)

API_PREFIXES = ("/api/", "/console/api/")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_FORM_MIMETYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


MAX_PATH_INT = 2**31 - 1
"""Largest `<int:...>` path parameter (PostgreSQL INTEGER)."""


class BoundedIntConverter(IntegerConverter):
    """Werkzeug's `int` converter, limited to what an INTEGER primary key can hold."""

    def __init__(self, map, fixed_digits=0, min=None, max=None, signed=False):  # noqa: A002 - werkzeug's names
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=MAX_PATH_INT if max is None else max,
                         signed=signed)


class SafeJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, bounded on input and UTF-8-safe on output."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse JSON; too deep is a ValueError (Flask: bad JSON), never a RecursionError."""
        return loads_bounded(s, **kwargs)

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """Serialise; lone surrogates become U+FFFD so that the answer encodes as UTF-8."""
        return replace_surrogates(super().dumps(obj, **kwargs))


def is_api_request() -> bool:
    """Whether the current request is an API call that wants JSON rather than a page."""
    if request.path.startswith(API_PREFIXES) or request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def error_response(status: int, message: str | None = None):
    """A JSON or HTML error response with a Chinese message, whichever the request wants."""
    message = message or messages.http_error(status)
    if is_api_request():
        return jsonify(error=message), status
    return render_template("error.html", status=status, message=message), status


def _finalize_template_value(value: Any) -> Any:
    """Jinja `finalize`: every `{{ ... }}` value encodable as UTF-8 (lone surrogates become U+FFFD)."""
    if isinstance(value, Markup):
        return Markup(replace_surrogates(str(value)))
    if isinstance(value, str):
        return replace_surrogates(value)
    return value


def input_problem() -> str | None:
    """What is unreadable in this request's input (`UNREADABLE`, `TOO_DEEP`), or None."""
    for value in (request.view_args or {}).values():
        if isinstance(value, str) and has_unreadable(value):
            return UNREADABLE
    for key, value in request.args.items(multi=True):
        if has_unreadable(key) or has_unreadable(value):
            return UNREADABLE
    if request.method not in _BODY_METHODS:
        return None
    if request.mimetype in _FORM_MIMETYPES:
        for key, value in request.form.items(multi=True):
            if has_unreadable(key) or has_unreadable(value):
                return UNREADABLE
        for key, upload in request.files.items(multi=True):
            if has_unreadable(key) or has_unreadable(upload.filename or ""):
                return UNREADABLE
    elif request.is_json:
        try:
            data = request.get_json(silent=False)
        except HTTPException:
            # not JSON or too deep: left to the view, which answers its own 400
            return TOO_DEEP if _too_deep() else None
        return json_problem(data)
    return None


def _too_deep() -> bool:
    try:
        loads_bounded(request.get_data(cache=True))
    except ValueError as exc:
        return "deep" in str(exc)
    return False


def reject_unreadable_input():
    """`before_request`: 400 with a Chinese message when the input holds a NUL or a lone surrogate."""
    problem = input_problem()
    if problem == UNREADABLE:
        logger.info("refused unreadable characters on %s %s", request.method, request.path)
        return error_response(400, messages.UNREADABLE_TEXT)
    if problem == TOO_DEEP:
        logger.info("refused deeply nested JSON on %s %s", request.method, request.path)
        return error_response(400, messages.TOO_DEEP_REQUEST)
    return None


def register_error_handlers(app: Flask) -> None:
    """Install the handlers, the input check, the safe JSON provider and the bounded `int` converter
    on `app` (before the blueprints: routes pick their converters when they are added)."""
    app.url_map.converters["int"] = BoundedIntConverter
    previous = app.json
    app.json = SafeJSONProvider(app)
    for setting in ("ensure_ascii", "sort_keys", "compact", "mimetype"):
        setattr(app.json, setting, getattr(previous, setting))
    app.jinja_env.finalize = _finalize_template_value
    app.before_request(reject_unreadable_input)

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError):
        logger.info("CSRF check failed on %s %s: %s", request.method, request.path, exc.description)
        return error_response(400, messages.CSRF_FAILED)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        response = error_response(status)
        if status == 405 and exc.valid_methods:
            body, code = response
            return body, code, {"Allow": ", ".join(exc.valid_methods)}
        return response

    @app.errorhandler(Exception)
    def _unexpected_error(exc: Exception):
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500)
