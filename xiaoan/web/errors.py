"""Error responses: JSON `{"error": "<中文>"}` for API calls, a friendly page otherwise, never a
stack trace."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from xiaoan.web import messages

logger = logging.getLogger(__name__)

API_PREFIXES = ("/api/", "/console/api/")


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


def register_error_handlers(app: Flask) -> None:
    """Install the handlers on `app`."""

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
