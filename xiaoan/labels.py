"""Chinese labels and staff-facing wording, from ``xiaoan/resources/labels.yml``.

The one loader of the one labels file (issue 14): the inbox, the statistics and the weekly report,
and the assistant's clarification buttons all read their labels here (intents, hand-off reasons,
channels, slots, session statuses, forms), and the staff pages their own messages (flash lines,
form labels, errors: `message`), so a wording is changed in one place. Citizen-facing texts are
responses of the domain instead (``xiaoan.texts``). The file is re-read when it changes on disk
(``xiaoan.datafiles``).

Usage::

    from xiaoan import labels
    labels.intent("complain_prepaid")       # "预付卡纠纷"
    labels.clarify_buttons()["check_ticket_status"]   # "查询工单进度"
    labels.message("inbox.revealed", minutes=10)      # "已显示该会话的完整号码……10分钟后……"
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

from xiaoan.datafiles import load_cached

LABELS_PATH = Path(__file__).resolve().parent / "resources" / "labels.yml"
_SECTIONS = ("intents", "handoff_reasons", "channels", "slots", "session_statuses", "forms", "ticket_kinds",
             "due_flags", "messages")


class LabelsError(ValueError):
    """labels.yml is missing, not YAML, or not shaped as documented at its top."""


@dataclass(frozen=True)
class Labels:
    """The parsed labels file."""

    intents: Mapping[str, str]          # intent -> staff label
    buttons: Mapping[str, str]          # intent -> clarification button title (some intents)
    handoff_reasons: Mapping[str, str]  # reason code -> label
    channels: Mapping[str, str]         # channel -> label
    ticket_slots: Mapping[str, str]     # slot a ticket needs -> label, in the inbox's order
    other_slots: Mapping[str, str]      # other slot worth showing -> label
    session_statuses: Mapping[str, str]  # hand-off session status -> label
    forms: Mapping[str, str]            # form name -> label
    ticket_kinds: Mapping[str, str]     # ticket kind (complaint, report) -> label
    due_flags: Mapping[str, str]        # a ticket's deadline flag (overdue, near_due) -> label
    messages: Mapping[str, str]         # "page.key" -> a staff page's own text

    @property
    def slots(self) -> Mapping[str, str]:
        """Every labelled slot, the ticket's first."""
        return {**self.ticket_slots, **self.other_slots}


def _text(value: Any, where: str, source: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise LabelsError(f"{source}: {where} must be a non-empty text")
    return value.strip()


def parse_labels(data: Any, source: str) -> Labels:
    """Check and parse the content of labels.yml.

    Raises:
        LabelsError: a section is missing or a label is empty, naming `source`.
    """
    if not isinstance(data, dict) or any(not isinstance(data.get(s), dict) for s in _SECTIONS):
        raise LabelsError(f"{source}: needs the mappings {', '.join(_SECTIONS)}")
    intents: dict[str, str] = {}
    buttons: dict[str, str] = {}
    for name, entry in data["intents"].items():
        if not isinstance(entry, dict):
            raise LabelsError(f"{source}: intents.{name} must be a mapping with `label`")
        intents[str(name)] = _text(entry.get("label"), f"intents.{name}.label", source)
        if "button" in entry:
            buttons[str(name)] = _text(entry.get("button"), f"intents.{name}.button", source)
    def table(section: Any, where: str) -> dict[str, str]:
        if not isinstance(section, dict):
            raise LabelsError(f"{source}: {where} must be a mapping")
        return {str(k): _text(v, f"{where}.{k}", source) for k, v in section.items()}

    slots = data["slots"]
    messages = {f"{page}.{key}": text for page, section in data["messages"].items()
                for key, text in table(section, f"messages.{page}").items()}
    return Labels(intents=intents, buttons=buttons, handoff_reasons=table(data["handoff_reasons"], "handoff_reasons"),
                  channels=table(data["channels"], "channels"), ticket_slots=table(slots.get("ticket"), "slots.ticket"),
                  other_slots=table(slots.get("other"), "slots.other"),
                  session_statuses=table(data["session_statuses"], "session_statuses"),
                  forms=table(data["forms"], "forms"), ticket_kinds=table(data["ticket_kinds"], "ticket_kinds"),
                  due_flags=table(data["due_flags"], "due_flags"), messages=messages)


def load_labels(path: str | Path | None = None) -> Labels:
    """The labels file, parsed once and re-read when it changes.

    Raises:
        LabelsError: the file is missing, unreadable or malformed.
    """
    return load_cached(path or LABELS_PATH, parse_labels, LabelsError, what="the labels")


def intent(name: Optional[str]) -> Optional[str]:
    """The staff label of an intent; None when it has none."""
    return load_labels().intents.get(name or "")


def handoff_reason(reason: str) -> str:
    """The label of a hand-off reason; the code itself when it has none."""
    return load_labels().handoff_reasons.get(reason, reason)


def channel(name: str) -> str:
    """The label of a channel ("网页", "微信"); the name itself for others."""
    return load_labels().channels.get(name, name)


def clarify_buttons() -> Mapping[str, str]:
    """Intent -> button title of the intents the clarification may offer."""
    return load_labels().buttons


def session_status(status: str) -> str:
    """The label of a hand-off session's status ("排队中"); the status itself when it has none."""
    return load_labels().session_statuses.get(status, status)


def form(name: str) -> str:
    """The label of a form ("投诉表单"); the name itself when it has none."""
    return load_labels().forms.get(name, name)


def ticket_kind(kind: str) -> str:
    """The label of a ticket's kind ("投诉"); the kind itself when it has none."""
    return load_labels().ticket_kinds.get(kind, kind)


def due_flag(flag: Optional[str]) -> str:
    """The label of a ticket's deadline flag ("已超期"); "" for none."""
    return load_labels().due_flags.get(flag or "", "")


def slot(name: str) -> str:
    """The label of a slot; the name itself when it has none."""
    return load_labels().slots.get(name, name)


def messages_of(page: str) -> Mapping[str, str]:
    """A page's texts by key (``messages_of("kb_actions")["publish"]``), for a template to look up."""
    prefix = f"{page}."
    return {key[len(prefix):]: text for key, text in load_labels().messages.items() if key.startswith(prefix)}


def message(key: str, **values: Any) -> str:
    """A staff page's own text, ``"page.key"`` (e.g. ``"inbox.taken"``), with `values` filled in
    (``{minutes}``); a text is formatted only when values are given.

    Raises:
        LabelsError: the file has no such text (a programming error: tests check every key used).
    """
    found = load_labels().messages.get(key)
    if found is None:
        raise LabelsError(f"{LABELS_PATH}: messages has no text {key!r}")
    return found.format(**values) if values else found
