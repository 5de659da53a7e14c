"""What route modules need from the running app: its settings, the Rasa client, a database session.

Usage in a view::

    from xiaoan.web.deps import db_session, get_rasa_client

    with db_session() as session:
        session.execute(select(...))
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Mapping

from flask import Blueprint, Response, current_app, render_template
from sqlalchemy.orm import Session

from xiaoan.config import Settings
from xiaoan.db import session_scope
from xiaoan.rasa_client import RasaClient

EXTENSION_KEY = "xiaoan"


def get_settings() -> Settings:
    """The settings the app was created with."""
    return current_app.extensions[EXTENSION_KEY]["settings"]


def get_rasa_client() -> RasaClient:
    """The app's Rasa client (tests may replace `app.extensions["xiaoan"]["rasa_client"]`)."""
    return current_app.extensions[EXTENSION_KEY]["rasa_client"]


@contextlib.contextmanager
def db_session() -> Iterator[Session]:
    """A session on the app's database, committed on success and rolled back on error."""
    with session_scope(get_settings().database_url) as session:
        yield session


#: What a page's own script or stylesheet is served as, by the template's ending.
ASSET_TYPES = {".js": "application/javascript", ".css": "text/css"}


def template_asset(template: str) -> Response:
    """A page's script or stylesheet rendered from `template` (``….js`` or ``….css``) and served
    from this site, as the CSP requires (no inline scripts or styles); revalidated on each use."""
    mimetype = ASSET_TYPES[template[template.rindex("."):]]
    return Response(render_template(template), mimetype=mimetype, headers={"Cache-Control": "no-cache"})


def add_template_assets(bp: Blueprint, assets: Mapping[str, tuple[str, str]]) -> None:
    """Serve page scripts and stylesheets on `bp` (`template_asset`): endpoint name → (URL
    rule, template), e.g. ``{"inbox_js": ("/console/inbox/inbox.js", "inbox/inbox.js")}``."""
    for endpoint, (rule, template) in assets.items():
        bp.add_url_rule(rule, endpoint, _asset_view(template), methods=["GET"])


def _asset_view(template: str):
    def view() -> Response:
        return template_asset(template)

    return view
