"""Who is told where, and what: the channels of a ticket's notices and their texts.

- A WeChat ticket (conversation id = the citizen's openid): a WeChat message (a customer-service
  message inside the 48-hour window, else a subscribe message; `xiaoan.notify.delivery`); an SMS
  only as the fall-back when WeChat cannot deliver.
- A chat-page ticket: a notice on the citizen's next visit from the same browser, plus an SMS
  when the citizen left a phone number and the SMS gateway is configured.
- Any other channel (``rest`` scripts): an SMS when there is a phone number.
- Anonymous reports are never notified (only real-name reporters hear the outcome; docs/domain.md §2).

Every text is a domain.yml response (``utter_status_*``, ``utter_satisfaction_*``) read through
`xiaoan.texts`, filled with ticket_no, status_label and agency_name (never personal data).
"""

from __future__ import annotations

from typing import Any

from xiaoan import texts
from xiaoan.channels.names import WEB, WECHAT
from xiaoan.config import Settings
from xiaoan.notify.models import CHANNEL_SMS, CHANNEL_WEB, CHANNEL_WECHAT, KIND_SURVEY

#: Statuses with their own wording; any other status uses ``utter_status_changed``.
STATUS_RESPONSES = {"accepted": "utter_status_accepted", "transferred": "utter_status_transferred",
                    "mediated": "utter_status_mediated", "closed": "utter_status_closed"}
#: Statuses the citizen is told about (``created`` and ``forwarded`` happen while they are still chatting).
NOTIFIED_STATUSES = ("accepted", "transferred", "in_progress", "mediated", "answered", "closed")


def channels_for(ticket: Any, settings: Settings) -> list[tuple[str, str]]:
    """``[(channel, recipient)]`` that a notice about `ticket` goes through (see the module docstring)."""
    if ticket.anonymous:
        return []
    out: list[tuple[str, str]] = []
    if ticket.channel == WECHAT:
        out.append((CHANNEL_WECHAT, ticket.conversation_id))
        return out
    if ticket.channel == WEB:
        out.append((CHANNEL_WEB, ticket.conversation_id))
    if ticket.phone and settings.sms_url:
        out.append((CHANNEL_SMS, ticket.phone))
    return out


def render(kind: str, params: dict[str, Any], channel: str) -> str:
    """The text of a notice: a status text, or the satisfaction question of `channel`."""
    if kind == KIND_SURVEY:
        name = "utter_satisfaction_question_web" if channel == CHANNEL_WEB else "utter_satisfaction_question"
    else:
        name = STATUS_RESPONSES.get(params.get("status", ""), "utter_status_changed")
    return texts.text(name).format(**{k: params.get(k, "") for k in ("ticket_no", "status_label", "agency_name")})


def choices() -> list[dict[str, str]]:
    """The satisfaction choices the chat page shows: ``[{"level", "title"}]`` in order."""
    from xiaoan.ratings import BASIC, DISSATISFIED, SATISFIED

    return [{"level": level, "title": texts.text(f"utter_satisfaction_choice_{level}")}
            for level in (SATISFIED, BASIC, DISSATISFIED)]


__all__ = ["NOTIFIED_STATUSES", "channels_for", "choices", "render"]
