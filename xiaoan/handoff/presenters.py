"""What the agents' inbox shows (`xiaoan.handoff.inbox` holds the routes): sessions, the transcript
and the gathered slots as the pages and their JSON read them, with personal data masked unless
revealed; the ticket form prefilled from the slots and read back into a draft
(`xiaoan.tickets.drafts.build_draft`, checked by the tickets service); the callback form.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable, Optional

from flask import url_for
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, TextAreaField

from xiaoan import labels
from xiaoan.handoff.assist import slot_district
from xiaoan.handoff.service import SessionView
from xiaoan.handoff.slots import TICKET_SLOTS, citizen_slots
from xiaoan.localtime import format_clock, utcnow
from xiaoan.privacy import identity_masker, mask_phone, mask_text
from xiaoan.tickets.drafts import DEFAULT_INTENTS, TICKET_INTENTS, DraftInputError, build_draft, read_amount, read_phone
from xiaoan.tickets.validators import resolve_district
from xiaoan.understanding.choices import offered_choices, resolve_choice
from xiaoan.understanding.phones import find_phone

_SHOWN_AS_GATHERED = ("complainant_name", "complainant_address")


# --- sessions, transcript, gathered slots ------------------------------------------------------------

def intent_label(name: Optional[str]) -> Optional[str]:
    """E.g. "预付卡纠纷（complain_prepaid）" (labels from `xiaoan.labels`); None stays None."""
    if not name:
        return None
    label = labels.intent(name)
    return f"{label}（{name}）" if label else name


def minutes_since(moment: Optional[dt.datetime], now: dt.datetime) -> int:
    if moment is None:
        return 0
    return max(0, int((now - moment).total_seconds() // 60))


def local_time(moment: Optional[dt.datetime]) -> str:
    """A time in Shanghai as HH:MM (with the date when not today)."""
    return format_clock(moment, utcnow())


def session_json(view: SessionView, now: dt.datetime, position: Optional[int] = None) -> dict:
    """A session for the inbox's JSON and templates."""
    return {
        "id": view.id,
        "position": position,
        "channel": view.channel,
        "channel_label": labels.channel(view.channel),
        "reason": view.reason,
        "reason_label": labels.handoff_reason(view.reason),
        "status": view.status,
        "status_label": labels.session_status(view.status),
        "urgent": view.reason == "urgent",
        "waiting_since": view.waiting_since.isoformat(),
        "waiting_since_local": local_time(view.waiting_since),
        "wait_minutes": minutes_since(view.waiting_since, now),
        "agent_name": view.agent_name,
        "url": url_for("inbox.conversation", session_id=view.id),
        "take_url": url_for("inbox.take", session_id=view.id),
    }


def _timestamp(event: dict) -> Optional[float]:
    ts = event.get("timestamp")
    return float(ts) if isinstance(ts, (int, float)) and not isinstance(ts, bool) else None


def transcript(events: list[dict], reveal: bool = False,
               masker: Optional[Callable[[str], str]] = None) -> list[dict]:
    """The tracker's events as the agent reads them: citizen, 小安, agents, and markers.

    Each entry: `{"kind": "user"|"bot"|"agent"|"system", "text", "ts", "time", "intent", "agent", "buttons",
    "choice"}`; `choice` is the title of the offered button a typed reply picks (the choice resolver all
    channels share, `xiaoan.understanding.choices`), None otherwise.
    Phone, ID card and bank card numbers in texts and buttons are masked unless `reveal`; with a
    `masker` (``xiaoan.privacy.identity_masker`` of the conversation's slots) also the citizen's
    own name and address.
    """
    hide = masker or mask_text
    shown = (lambda text: text) if reveal else (lambda text: hide(text) or "")
    out: list[dict] = []
    paused = False  # a take pauses again in case Rasa unpaused meanwhile: one marker per change
    since_citizen: list[dict] = []  # events since the citizen last spoke (the buttons still offered)
    for event in events:
        kind, ts = event.get("event"), _timestamp(event)
        if kind != "user":
            since_citizen.append(event)
        entry: Optional[dict] = None
        if kind == "user":
            text = (event.get("metadata") or {}).get("display_text") or event.get("text")
            if isinstance(text, str) and text:
                intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
                entry = {"kind": "user", "text": shown(text), "intent": intent_label(intent)}
                # a typed reply to offered buttons, read by the resolver every channel uses
                choice = resolve_choice(text, offered_choices(since_citizen))
                if choice is not None and choice.title != text.strip():
                    entry["choice"] = shown(choice.title)
            since_citizen = []
        elif kind == "bot":
            text = event.get("text") if isinstance(event.get("text"), str) else ""
            data = event.get("data") or {}
            buttons = [str(b.get("title") or b.get("payload")) for b in (data.get("buttons") or [])
                       if isinstance(b, dict)]
            agent = (event.get("metadata") or {}).get("agent")
            if text or buttons:
                entry = {"kind": "agent" if isinstance(agent, str) and agent else "bot", "text": shown(text),
                         "buttons": [shown(b) for b in buttons], "agent": agent if isinstance(agent, str) else None}
        elif kind == "pause":
            if not paused:
                entry = {"kind": "system", "text": labels.message("inbox.paused_marker")}
            paused = True
        elif kind == "resume":
            if paused:
                entry = {"kind": "system", "text": labels.message("inbox.resumed_marker")}
            paused = False
        if entry is not None:
            entry.setdefault("intent", None)
            entry.setdefault("agent", None)
            entry.setdefault("buttons", [])
            entry.setdefault("choice", None)
            entry.update(ts=ts, time=local_time(dt.datetime.fromtimestamp(ts, dt.timezone.utc)) if ts else "")
            out.append(entry)
    return out


def latest_ts(events: list[dict]) -> Optional[float]:
    stamps = [ts for ts in map(_timestamp, events) if ts is not None]
    return max(stamps) if stamps else None


def gathered_slots(slots: dict, reveal: bool = False,
                   masker: Optional[Callable[[str], str]] = None) -> list[dict]:
    """The slots shown to the agent: labelled ones first in form order, then any others by name;
    phone, ID card and bank card numbers masked unless `reveal`, bookkeeping left out."""
    shown = citizen_slots(slots)
    slot_labels = labels.load_labels().slots
    names = [n for n in slot_labels if n in shown] + sorted(n for n in shown if n not in slot_labels)
    return [{"name": n, "label": slot_labels.get(n, n), "value": _display(n, shown[n], reveal, masker)} for n in names]


def _display(name: str, value: Any, reveal: bool = False, masker: Optional[Callable[[str], str]] = None) -> str:
    if isinstance(value, bool):
        return labels.message("common.answer_yes" if value else "common.answer_no")
    if reveal:
        return str(value)
    if name == "phone":
        return mask_phone(str(value)) or ""
    return (masker or mask_text)(str(value)) or ""


def current_slots(tracker: Optional[dict], view: SessionView) -> dict:
    """The tracker's slots when Rasa answered, else the snapshot taken at handoff time."""
    if tracker and isinstance(tracker.get("slots"), dict):
        merged = dict(view.slots or {})
        merged.update({k: v for k, v in tracker["slots"].items() if v not in (None, "")})
        return merged
    return dict(view.slots or {})


# --- the ticket form -------------------------------------------------------------------------------

class TicketForm(FlaskForm):
    """The gathered slots as an editable ticket (CSRF included); its labels are the labels file's:
    the slots' labels, and the inbox's own wording for the rest."""

    kind = SelectField(choices=[("complaint", ""), ("report", "")])
    complainant_name = StringField()
    phone = StringField()
    complainant_address = StringField()
    respondent_name = StringField()
    respondent_address = StringField()
    facts = TextAreaField()
    claim = TextAreaField()
    amount = StringField()
    anonymous = BooleanField()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in TICKET_SLOTS:
            getattr(self, name).label.text = labels.slot(name)
        self.amount.label.text = labels.message("inbox.amount_field")
        self.kind.label.text = labels.message("inbox.ticket_kind")
        self.kind.choices = [(kind, labels.ticket_kind(kind)) for kind in ("complaint", "report")]
        self.anonymous.label.text = labels.message("inbox.anonymous_field")


def ticket_form(view: SessionView, slots: dict, formdata=None, reveal: bool = False) -> TicketForm:
    """The ticket form prefilled from the slots; numbers in the prefilled text are masked unless
    the slots were revealed (`draft_from_form` puts the gathered text back when left unchanged)."""
    kind = "report" if (view.intent == DEFAULT_INTENTS["report"] or view.active_form == "report_form") else "complaint"
    data = {name: (str(slots[name]) if slots.get(name) not in (None, "") else "") for name in TICKET_SLOTS}
    if not reveal:
        # the facts and claim may be the citizen's own messages (xiaoan.handoff.assist): their name and
        # address are masked inside them as in the transcript; the name and address fields show as gathered
        known = identity_masker(slots)
        data = {name: (mask_text(value) if name in _SHOWN_AS_GATHERED else known(value)) or ""
                for name, value in data.items()}
    data["phone"] = ""  # never sent to the page in full: left empty means "the number the citizen gave"
    data.update(kind=kind, anonymous=bool(slots.get("anonymous") in (True, "true", "匿名")))
    form = TicketForm(formdata=formdata, data=data)
    gathered_phone = slots.get("phone")
    form.phone.render_kw = {"placeholder": labels.message("inbox.phone_given", phone=mask_phone(str(gathered_phone)))
                            if gathered_phone else labels.message("inbox.phone_placeholder")}
    return form


class FormInputError(ValueError):
    """The ticket form cannot become a draft (the message names what to fix).

    Attributes:
        field: The form field, or None.
    """

    def __init__(self, field: Optional[str], message: str) -> None:
        super().__init__(message)
        self.field = field


def draft_from_form(form: TicketForm, view: SessionView, slots: dict):
    """The TicketDraft of the agent's ticket form, falling back to the gathered phone.

    The tickets service checks the draft (required fields, the phone rule, ...); here only what
    the form adds: a typed phone or amount must be readable, and a complaint states a claim.

    Raises:
        FormInputError: a typed phone or amount that cannot be read, or a complaint without a claim.
    """

    known = identity_masker(slots)

    def text(name: str) -> Optional[str]:
        value = (getattr(form, name).data or "").strip()
        gathered = str(slots.get(name) or "").strip()
        if value and gathered and value != gathered and value in {(mask_text(gathered) or "").strip(),
                                                                   (known(gathered) or "").strip()}:
            return gathered  # the masked prefill left as it was: the citizen's own text
        return value or None

    kind = form.kind.data if form.kind.data in DEFAULT_INTENTS else "complaint"
    anonymous = kind == "report" and bool(form.anonymous.data)
    try:
        phone = None
        if not anonymous:
            typed = text("phone")
            phone = read_phone(typed) if typed else find_phone(str(slots.get("phone") or "")) or None
        amount = read_amount(text("amount")) if text("amount") else None
    except DraftInputError as exc:
        raise FormInputError(exc.field, str(exc)) from exc
    if kind == "complaint" and not text("claim"):
        raise FormInputError("claim", labels.message("inbox.field_missing", label=labels.slot("claim")))
    values = {name: text(name) for name in ("complainant_name", "complainant_address", "respondent_address",
                                              "facts", "claim")}
    values.update(
        phone=phone, amount=amount, anonymous=anonymous, respondent_name=text("respondent_name") or "",
        district=resolve_district(text("respondent_address") or "") or resolve_district(
            text("complainant_address") or "") or slot_district(slots.get("district")),
        respondent_credit_code=slots.get("respondent_credit_code"), online_platform=slots.get("online_platform"))
    values["facts"] = values["facts"] or ""
    return build_draft(kind, values, intent=view.intent if view.intent in TICKET_INTENTS else None,
                       channel=view.channel, conversation_id=view.conversation_id)


# --- callbacks -------------------------------------------------------------------------------------

class CallbackDoneForm(FlaskForm):
    """Mark a callback request done (CSRF included)."""

    note = TextAreaField()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.note.label.text = labels.message("inbox.callback_note")
