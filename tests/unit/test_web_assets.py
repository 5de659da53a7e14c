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


def test_every_page_loads_the_shared_base_stylesheet_before_its_own(db_url):
    """base.css holds the palette, font and resets once; the chat page, the console and the error
    pages load it first, and their own stylesheets no longer repeat it."""
    import re
    from pathlib import Path

    app = create_app(Settings(database_url=db_url, web_secret_key="assets-test-secret-0123456789"))
    client = app.test_client()
    base = client.get("/static/css/base.css")
    assert base.status_code == 200 and "--brand:" in base.get_data(as_text=True)
    for path, own in (("/", "css/chat.css"), ("/console/login", "css/console.css"), ("/no-such-page", "css/console.css")):
        page = client.get(path).get_data(as_text=True)
        links = re.findall(r'<link rel="stylesheet" href="/static/([^"]+)"', page)
        assert links[:2] == ["css/base.css", own], path
    static = Path(app.static_folder) / "css"
    for name in ("chat.css", "console.css"):
        text = (static / name).read_text(encoding="utf-8")
        root = " ".join(re.findall(r":root\s*{([^}]*)}", text))
        assert "--brand:" not in root and "font-family" not in text and "box-sizing" not in text, name


def test_the_chat_pages_scripts_share_one_csrf_fetch_wrapper(db_url):
    """static/js/csrf.js is loaded first on the chat page; the scripts after it send through it and none
    reads the CSRF token itself (the staff console keeps console.js, its own wrapper)."""
    import re
    from pathlib import Path

    app = create_app(Settings(database_url=db_url, web_secret_key="assets-test-secret-0123456789"))
    client = app.test_client()
    page = client.get("/").get_data(as_text=True)
    scripts = [s for s in re.findall(r'<script src="/static/js/([^"]+)"', page) if s != "large_text.js"]
    assert scripts == ["csrf.js", "chat.js", "attachments.js", "notices.js"]
    assert client.get("/static/js/csrf.js").status_code == 200
    static = Path(app.static_folder) / "js"
    readers = sorted(p.name for p in static.glob("*.js") if "csrf-token" in p.read_text(encoding="utf-8"))
    assert readers == ["console.js", "csrf.js"]
    for name in scripts[1:]:
        text = (static / name).read_text(encoding="utf-8")
        assert "xiaoanChat.send(" in text and "fetch(" not in text, name
