"""Chinese wording that the web app itself shows (errors, validation).

What a citizen reads on the chat page (Rasa unreachable, bad input, the chat's rate limits) is a
response of domain.yml like everything else 小安 says (the `utter_web_*` responses, read by
:mod:`xiaoan.texts`, re-read when the file changes): the names below in CITIZEN_TEXTS resolve to
those texts. The staff console's own wording (sign-in, permissions, HTTP error pages) stays here.
"""

from xiaoan import texts

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
}


__getattr__ = texts.module_texts(__name__, CITIZEN_TEXTS)  # messages.RASA_UNAVAILABLE: the domain's current text


CSRF_FAILED = "页面已过期，请刷新页面后重试。"
LOGIN_REQUIRED = "请先登录。"
FORBIDDEN = "您没有权限进行此操作。"
LOGIN_FAILED = "用户名或密码错误。"
LOGIN_LOCKED = "该账号登录失败次数过多，已暂时锁定，请{minutes}分钟后再试。"
LOGIN_RATE_LIMITED = "登录尝试过于频繁，请{minutes}分钟后再试。"
LOGGED_OUT = "您已安全退出。"
USERNAME_REQUIRED = "请输入用户名。"
PASSWORD_REQUIRED = "请输入密码。"

HTTP_ERRORS = {
    400: "请求有误，请检查后重试。",
    401: LOGIN_REQUIRED,
    403: FORBIDDEN,
    404: "您访问的页面不存在。",
    405: "不支持该操作。",
    413: "提交的内容过大。",
    429: "操作过于频繁，请稍后再试。",
    500: "系统出了点问题，请稍后再试，或拨打12345热线。",
    503: "服务暂时不可用，请稍后再试，或拨打12345热线。",
}


def http_error(status: int) -> str:
    """The Chinese message for an HTTP error status."""
    if status in HTTP_ERRORS:
        return HTTP_ERRORS[status]
    return HTTP_ERRORS[500] if status >= 500 else HTTP_ERRORS[400]
