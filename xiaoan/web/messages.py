"""Chinese wording that the web app itself shows (errors, validation); the assistant's own
wording lives in the Rasa domain."""

RASA_UNAVAILABLE = "小安暂时无法连接，请稍后再试，或拨打12345热线。"
EMPTY_MESSAGE = "请输入您想咨询的内容。"
MESSAGE_TOO_LONG = "内容过长，请控制在{limit}字以内，可以分几次发送。"
BAD_MESSAGE_REQUEST = "请求格式有误，请刷新页面后重试。"
STALE_BUTTON = "这个选项已失效，请直接输入您的问题。"
BAD_CURSOR = "参数有误，请刷新页面后重试。"
UNREADABLE_TEXT = "内容中含有无法识别的字符，请删除后重新输入。"
TOO_DEEP_REQUEST = "请求格式有误（嵌套层级过深），请刷新页面后重试。"

CSRF_FAILED = "页面已过期，请刷新页面后重试。"
LOGIN_REQUIRED = "请先登录。"
FORBIDDEN = "您没有权限进行此操作。"
LOGIN_FAILED = "用户名或密码错误。"
LOGIN_LOCKED = "该账号登录失败次数过多，已暂时锁定，请{minutes}分钟后再试。"
LOGIN_RATE_LIMITED = "登录尝试过于频繁，请{minutes}分钟后再试。"
CHAT_RATE_LIMITED = "您发送消息太快了，请{seconds}秒后再发。"
CHAT_RATE_LIMITED_IP = "当前网络的访问人数较多，请{seconds}秒后再发送，或拨打12345热线。"
CHAT_READ_RATE_LIMITED = "刷新太频繁了，请{seconds}秒后再试。"
CHAT_READ_RATE_LIMITED_IP = "当前网络的访问人数较多，请{seconds}秒后再刷新，或拨打12345热线。"
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
