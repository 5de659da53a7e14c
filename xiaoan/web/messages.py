"""Chinese wording that the web app itself shows (errors, validation).

What a citizen reads on the chat page (Rasa unreachable, bad input, the chat's rate limits) is a
response of domain.yml like everything else 小安 says (the `utter_web_*` responses, read by
:mod:`xiaoan.texts`, re-read when the file changes): the names below in CITIZEN_TEXTS resolve to
those texts. The staff console's own wording (sign-in, permissions) is the labels file's
(:mod:`xiaoan.labels`, names in STAFF_TEXTS); the HTTP error pages' messages, which both read, are
domain responses too (`utter_web_http_<status>`), except 401/403, which only staff meet.
"""

from xiaoan import labels, texts

#: Attribute -> domain response of the chat page's texts (module attributes, looked up on use).
CITIZEN_TEXTS = {
    "RASA_UNAVAILABLE": "utter_web_rasa_unavailable",
    "EMPTY_MESSAGE": "utter_web_empty_message",
    "MESSAGE_TOO_LONG": "utter_web_message_too_long",
    "BAD_MESSAGE_REQUEST": "utter_web_bad_request",
    "STALE_BUTTON": "utter_web_stale_button",
    "BAD_CURSOR": "utter_web_bad_cursor",
    "UNREADABLE_TEXT": "utter_rest_unreadable_text",
    "TOO_DEEP_REQUEST": "utter_web_too_deep_request",
    "CHAT_RATE_LIMITED": "utter_web_chat_rate_limited",
    "CHAT_RATE_LIMITED_IP": "utter_web_chat_rate_limited_ip",
    "CHAT_READ_RATE_LIMITED": "utter_web_chat_read_rate_limited",
    "CHAT_READ_RATE_LIMITED_IP": "utter_web_chat_read_rate_limited_ip",
    "CSRF_FAILED": "utter_web_csrf_failed",
}

#: HTTP status -> domain response of the error pages' and JSON errors' message.
HTTP_ERROR_TEXTS = {
    400: "utter_web_http_400",
    404: "utter_web_http_404",
    405: "utter_web_http_405",
    413: "utter_web_http_413",
    429: "utter_web_http_429",
    500: "utter_web_http_500",
    503: "utter_web_http_503",
}


#: Attribute -> the staff console's own text in xiaoan/resources/labels.yml (``xiaoan.labels.message``).
STAFF_TEXTS = {
    "LOGIN_REQUIRED": "console.login_required",
    "FORBIDDEN": "console.forbidden",
    "LOGIN_FAILED": "console.login_failed",
    "LOGIN_LOCKED": "console.login_locked",
    "LOGIN_RATE_LIMITED": "console.login_rate_limited",
    "LOGGED_OUT": "console.logged_out",
    "USERNAME_REQUIRED": "console.username_required",
    "PASSWORD_REQUIRED": "console.password_required",
}

_citizen_text = texts.module_texts(__name__, CITIZEN_TEXTS)


def __getattr__(name: str) -> str:
    """messages.RASA_UNAVAILABLE: the domain's current text; messages.LOGIN_FAILED: the labels file's."""
    if name in STAFF_TEXTS:
        return labels.message(STAFF_TEXTS[name])
    return _citizen_text(name)


#: Statuses whose message is the console's (sign-in, permissions).
_STAFF_STATUSES = {401: "LOGIN_REQUIRED", 403: "FORBIDDEN"}

def http_error(status: int) -> str:
    """The Chinese message for an HTTP error status."""
    if status in _STAFF_STATUSES:
        return labels.message(STAFF_TEXTS[_STAFF_STATUSES[status]])
    if status not in HTTP_ERROR_TEXTS:
        status = 500 if status >= 500 else 400
    return texts.text(HTTP_ERROR_TEXTS[status])
