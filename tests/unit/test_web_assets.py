"""Each console page's own script and stylesheet: served from this site (CSP), with its type, revalidated."""

import pytest

from xiaoan.config import Settings
from xiaoan.web.app import create_app


@pytest.mark.parametrize("path, mimetype", [
    ("/console/inbox/inbox.js", "application/javascript"),
    ("/console/inbox/inbox.css", "text/css"),
    ("/console/inbox/assist.js", "application/javascript"),
    ("/console/inbox/assist.css", "text/css"),
    ("/console/kb/kb.js", "application/javascript"),
    ("/console/kb/kb.css", "text/css"),
    ("/console/stats/stats.css", "text/css"),
])
def test_page_assets_are_served_with_their_type_and_no_cache(db_url, path, mimetype):
    app = create_app(Settings(database_url=db_url, web_secret_key="assets-test-secret-0123456789"))
    reply = app.test_client().get(path)
    assert reply.status_code == 200, path
    assert reply.mimetype == mimetype
    assert reply.headers["Cache-Control"] == "no-cache"
    assert reply.get_data(as_text=True).strip()


def test_templates_link_the_assets_by_their_endpoint_names(db_url):
    from flask import url_for

    app = create_app(Settings(database_url=db_url, web_secret_key="assets-test-secret-0123456789"))
    with app.test_request_context():
        assert url_for("inbox.inbox_js") == "/console/inbox/inbox.js"
        assert url_for("assist.assist_css") == "/console/inbox/assist.css"
        assert url_for("kb.stylesheet") == "/console/kb/kb.css"
        assert url_for("supervision.stylesheet") == "/console/stats/stats.css"
