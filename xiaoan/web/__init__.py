"""The Flask web app: the citizens' chat page at `/` and the staff console at `/console`.

`xiaoan.web.app.create_app()` builds it; `xiaoan web` serves it (docs/interfaces.md §1). Pages of other
areas are blueprints listed in `xiaoan.web.app.BLUEPRINTS`; they extend the template
`console_base.html` and protect their routes with `xiaoan.web.auth.login_required`.
"""
