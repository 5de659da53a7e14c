"""Agent assist in the inbox (issue 15 part 3): what the conversation says so far, knowledge-base
answers for the citizen's latest question, and the ticket form's values prefilled from both.

Nothing here parses text itself: the summary reads the citizen's messages with the parsers of
`xiaoan.understanding` (`letters.read_letter` for merchant, address, district, amount and claim;
`dates.find_dates` per message, against the day it was written) and `xiaoan.handoff.triggers`
(urgent hazard / anger). What the forms gathered (the tracker's slots) wins over what the parsers
read: the citizen answered those questions one by one. The routes are
`xiaoan.handoff.assist_console`; the staff-facing wording is the `assist` section of the one labels file,
`xiaoan/resources/labels.yml`.

Usage::

    summary = summarize(tracker["events"], slots, intent=view.intent, reason=view.reason)
    rows = summary_rows(summary, masker=identity_masker(slots))       # [{"key", "label", "value", "source"}]
    hits = suggest(get_search_service(), summary.latest_question, intent=summary.question_intent)
    values = draft_slots(tracker, view, slots)                         # for presenters.ticket_form
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional

from xiaoan import labels
from xiaoan.datafiles import load_cached
from xiaoan.handoff.slots import is_filled
from xiaoan.handoff.triggers import ANGRY, URGENT, detect_escalation
from xiaoan.localtime import shanghai_date, utcnow
from xiaoan.privacy import mask_text
from xiaoan.tickets.validators import district_name, resolve_district
from xiaoan.understanding.dates import find_dates
from xiaoan.understanding.interruptions import wants_human
from xiaoan.understanding.letters import read_letter
from xiaoan.understanding.money import format_amount, parse_amount

FIELDS = ("topic", "claim", "merchant", "merchant_address", "amount", "dates", "district", "mood",
          "latest_question")
MOODS = (URGENT, ANGRY, "calm")
CANNED_FIELDS = ("topic", "title", "text")
SLOT, PARSED = "slot", "parsed"
TOP_SUGGESTIONS = 3
#: A message with fewer Han / alphanumeric characters says nothing to summarise or search ("在吗", "好").
MIN_CONTENT_CHARS = 4
#: A short message that only asks for a person is no question for the knowledge base.
SHORT_HUMAN_REQUEST_CHARS = 12

_CONTENT = re.compile(r"[\u3400-\u9fffA-Za-z0-9]")
_ENDS_SENTENCE = re.compile(r"[。！!？?；;…]$")


# --- the wording ---------------------------------------------------------------------------------

class AssistLabelsError(ValueError):
    """labels.yml is missing or not YAML, or its `assist` section is not shaped as documented above it."""


@dataclass(frozen=True)
class AssistLabels:
    """The parsed wording file."""

    fields: Mapping[str, str]
    moods: Mapping[str, str]
    sources: Mapping[str, str]
    empty: Mapping[str, str]
    canned_fields: Mapping[str, str]
    amount_unit: str
    insert: str
    confident: str


def _texts(data: Any, key: str, required: Iterable[str], source: str) -> dict[str, str]:
    section = data.get(key)
    if not isinstance(section, dict):
        raise AssistLabelsError(f"{source}: {key} must be a mapping")
    out = {}
    for name in required:
        value = section.get(name)
        if not isinstance(value, str) or not value.strip():
            raise AssistLabelsError(f"{source}: {key}.{name} must be a non-empty text")
        out[name] = value.strip()
    return out


def parse_assist_labels(data: Any, source: str) -> AssistLabels:
    """Check and parse the `assist` section of labels.yml.

    Raises:
        AssistLabelsError: a section or a label is missing, naming `source`.
    """
    if not isinstance(data, dict):
        raise AssistLabelsError(f"{source}: expected a mapping")
    singles = {}
    for name in ("amount_unit", "insert", "confident"):
        value = data.get(name)
        if not isinstance(value, str) or not value.strip():
            raise AssistLabelsError(f"{source}: {name} must be a non-empty text")
        singles[name] = value.strip()
    return AssistLabels(
        fields=_texts(data, "fields", FIELDS, source),
        moods=_texts(data, "moods", MOODS, source),
        sources=_texts(data, "sources", (SLOT, PARSED), source),
        empty=_texts(data, "empty", ("summary", "suggestions", "no_question", "canned"), source),
        canned_fields=_texts(data, "canned_fields", CANNED_FIELDS, source),
        **singles,
    )


def _parse_labels_file(data: Any, source: str) -> AssistLabels:
    return parse_assist_labels(data.get("assist") if isinstance(data, dict) else None, f"{source}: assist")


def load_assist_labels(path: str | Path | None = None) -> AssistLabels:
    """The `assist` section of the labels file (``xiaoan.labels.LABELS_PATH``), parsed once and re-read
    when the file changes.

    Raises:
        AssistLabelsError: the file is missing, unreadable or malformed.
    """
    return load_cached(path or labels.LABELS_PATH, _parse_labels_file, AssistLabelsError, what="the assist labels")


# --- the citizen's messages ----------------------------------------------------------------------

@dataclass(frozen=True)
class CitizenMessage:
    """One thing the citizen typed (button payloads left out)."""

    text: str
    ts: Optional[float]
    intent: Optional[str]

    @property
    def day(self) -> dt.date:
        """The day in Shanghai it was written (today when the tracker has no time)."""
        moment = dt.datetime.fromtimestamp(self.ts, dt.timezone.utc) if self.ts else utcnow()
        return shanghai_date(moment)


def _content_chars(text: str) -> int:
    return len(_CONTENT.findall(text or ""))


def citizen_messages(events: Iterable[dict]) -> list[CitizenMessage]:
    """The citizen's own messages of a tracker, in order (as the transcript shows them)."""
    out = []
    for event in events or ():
        if not isinstance(event, dict) or event.get("event") != "user":
            continue
        text = (event.get("metadata") or {}).get("display_text") or event.get("text")
        if not isinstance(text, str) or not text.strip() or text.lstrip().startswith("/"):
            continue
        ts = event.get("timestamp")
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        out.append(CitizenMessage(text=text.strip(), ts=float(ts) if isinstance(ts, (int, float))
                                  and not isinstance(ts, bool) else None,
                                  intent=intent if isinstance(intent, str) else None))
    return out


def is_question(message: CitizenMessage) -> bool:
    """Whether a message is worth a knowledge-base search (not "在吗", not just "转人工")."""
    chars = _content_chars(message.text)
    if chars < MIN_CONTENT_CHARS:
        return False
    return not (chars < SHORT_HUMAN_REQUEST_CHARS and wants_human(message.text))


def latest_question(messages: list[CitizenMessage]) -> Optional[CitizenMessage]:
    """The citizen's latest message that is a question or a statement worth searching."""
    return next((m for m in reversed(messages) if is_question(m)), None)


# --- the summary ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Summary:
    """What the conversation says so far (values unmasked: mask when shown).

    Attributes:
        intent: The conversation's topic intent (the latest ticket or question intent).
        claim, merchant, merchant_address: As the citizen wrote them.
        amount: The money at stake.
        dates: Dates the citizen named, resolved against the day of each message, in order.
        district: District code without "dist-".
        mood: "urgent", "angry" or "calm".
        mood_message: The message that set the mood (None when calm).
        latest_question: The latest message worth a knowledge-base search.
        question_intent: The NLU intent of that message (narrows the search as the assistant does).
        sources: Field -> SLOT (gathered by the forms) or PARSED (read from the messages).
        facts: The citizen's messages with content, joined (the ticket's 事实经过 when none was gathered).
    """

    intent: Optional[str]
    claim: Optional[str]
    merchant: Optional[str]
    merchant_address: Optional[str]
    amount: Optional[Decimal]
    dates: list[dt.date]
    district: Optional[str]
    mood: str
    mood_message: Optional[str]
    latest_question: Optional[str]
    question_intent: Optional[str] = None
    sources: dict[str, str] = field(default_factory=dict)
    facts: str = ""


_TOPIC_INTENTS = ("complain_refund", "complain_prepaid", "complain_general", "report_violation",
                  "ask_business_registration", "ask_consumer_rights", "ask_regulation", "check_ticket_status",
                  "out_of_scope")


def _topic(messages: list[CitizenMessage], intent: Optional[str]) -> Optional[str]:
    """The latest topic intent the citizen expressed, else the hand-off's own."""
    for message in reversed(messages):
        if message.intent in _TOPIC_INTENTS:
            return message.intent
    return intent


def _slot_amount(value: Any) -> Optional[Decimal]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return Decimal(str(value))
        except InvalidOperation:
            return None
    if isinstance(value, str) and value.strip():
        parsed = parse_amount(value)
        return Decimal(parsed) if parsed is not None else None
    return None


def slot_district(value: Any) -> Optional[str]:
    """The district code (without "dist-") of a `district` slot ("dist-pudong", "pudong", "浦东"), or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    code = value.strip().lower().removeprefix("dist-")
    return code if district_name(code) else resolve_district(value)


def _joined(messages: list[CitizenMessage]) -> str:
    """The messages with content as one text, each ending a sentence (the letter reader splits there)."""
    parts = []
    for message in messages:
        if _content_chars(message.text) < MIN_CONTENT_CHARS:
            continue
        parts.append(message.text if _ENDS_SENTENCE.search(message.text) else message.text + "。")
    return "".join(parts)


def _mood(messages: list[CitizenMessage], reason: Optional[str]) -> tuple[str, Optional[str]]:
    angry: Optional[str] = None
    for message in messages:
        level = detect_escalation(message.text)
        if level == URGENT:
            return URGENT, message.text
        if level == ANGRY and angry is None:
            angry = message.text
    if angry is not None:
        return ANGRY, angry
    if reason in (URGENT, ANGRY):  # the hand-off itself was for it (e.g. anger at repeated questions)
        return reason, None
    return "calm", None


def summarize(events: Iterable[dict], slots: Optional[Mapping[str, Any]] = None, *,
              intent: Optional[str] = None, reason: Optional[str] = None) -> Summary:
    """The summary of a conversation.

    Args:
        events: The Rasa tracker's events.
        slots: The conversation's slots (tracker, or the hand-off snapshot); they win over parsing.
        intent: The hand-off's intent, used when no message carries a topic intent.
        reason: The hand-off's reason (an "urgent" or "angry" hand-off sets the mood).
    """
    slots = slots or {}
    messages = citizen_messages(events)
    facts = _joined(messages)
    today = messages[-1].day if messages else shanghai_date(utcnow())
    letter = read_letter(facts, today) if facts else None
    sources: dict[str, str] = {}

    def pick(name: str, slot_value: Any, parsed: Any) -> Any:
        if is_filled(slot_value):
            sources[name] = SLOT
            return slot_value
        if is_filled(parsed):
            sources[name] = PARSED
            return parsed
        return None

    claim = pick("claim", slots.get("claim"), letter and letter.claim)
    merchant = pick("merchant", slots.get("respondent_name"), letter and letter.respondent_name)
    address = pick("merchant_address", slots.get("respondent_address"), letter and letter.respondent_address)
    amount = pick("amount", _slot_amount(slots.get("amount")), letter and letter.amount)
    district = pick("district", slot_district(slots.get("district"))
                    or (resolve_district(str(address)) if sources.get("merchant_address") == SLOT else None),
                    letter and letter.district)
    dates: list[dt.date] = []
    for message in messages:
        for day in find_dates(message.text, message.day):
            if day not in dates:
                dates.append(day)
    if dates:
        sources["dates"] = PARSED
    mood, mood_message = _mood(messages, reason)
    question = latest_question(messages)
    return Summary(intent=_topic(messages, intent), claim=_str(claim), merchant=_str(merchant),
                   merchant_address=_str(address), amount=amount, dates=dates, district=district, mood=mood,
                   mood_message=mood_message, latest_question=question.text if question else None,
                   question_intent=question.intent if question else None, sources=sources, facts=facts)


def _str(value: Any) -> Optional[str]:
    return str(value).strip() or None if value is not None else None


def summary_rows(summary: Summary, masker: Optional[Callable[[str], Optional[str]]] = None,
                 wording: Optional[AssistLabels] = None) -> list[dict]:
    """The summary as labelled rows `{"key", "label", "value", "source", "level"}`, empty ones left
    out; texts pass through `masker` (default: numbers masked), `None` masker in the caller's
    reveal case is `lambda t: t`."""
    wording = wording or load_assist_labels()
    hide = masker or mask_text

    def shown(text: Optional[str]) -> Optional[str]:
        return (hide(text) or None) if text else None

    topic = labels.intent(summary.intent) if summary.intent else None
    mood = wording.moods[summary.mood]
    if summary.mood_message:
        mood = f"{mood}（“{shown(summary.mood_message)}”）"
    values = {
        "topic": topic,
        "claim": shown(summary.claim),
        "merchant": shown(summary.merchant),
        "merchant_address": shown(summary.merchant_address),
        "amount": format_amount(summary.amount, wording.amount_unit),
        "dates": "、".join(d.isoformat() for d in summary.dates) or None,
        "district": district_name(summary.district) if summary.district else None,
        "mood": mood,
        "latest_question": shown(summary.latest_question),
    }
    rows = []
    for key in FIELDS:
        if values[key]:
            source = summary.sources.get(key)
            rows.append({"key": key, "label": wording.fields[key], "value": values[key],
                         "source": wording.sources[source] if source else None,
                         "level": summary.mood if key == "mood" else None})
    return rows


# --- knowledge-base suggestions ------------------------------------------------------------------

@dataclass(frozen=True)
class Suggestion:
    """A knowledge-base entry for the citizen's latest question."""

    entry_id: str
    title: str
    answer: str
    score: float
    confident: bool

    def as_json(self) -> dict:
        return {"id": self.entry_id, "title": self.title, "answer": self.answer, "score": self.score,
                "confident": self.confident}


def suggest(search, question: Optional[str], *, intent: Optional[str] = None,
            top: int = TOP_SUGGESTIONS) -> list[Suggestion]:
    """The best `top` published entries for `question`, best first, with their scores.

    Args:
        search: A knowledge-base search service (`xiaoan.kb.service.get_search_service()`).
        question: The citizen's latest question; None or blank gives none.
        intent: The NLU intent of the question (narrows the areas as the assistant does).
    """
    if not question or not question.strip():
        return []
    result = search.search(question, intent=intent, top=top)
    if result.other_city:
        return []  # the entries describe Shanghai's rules
    return [Suggestion(entry_id=hit.entry.id, title=hit.entry.title, answer=hit.entry.answer,
                       score=round(min(1.0, max(0.0, hit.score)), 2),
                       confident=result.decision == "answer" and i == 0)
            for i, hit in enumerate(result.hits[:top])]


# --- the ticket draft ----------------------------------------------------------------------------

def ticket_values(slots: Mapping[str, Any], summary: Summary) -> dict:
    """The slots with what the parsers read filled into the ticket fields the forms left empty:
    merchant, its address, amount, claim, the facts (the citizen's messages) and the district.

    Give the result to `presenters.ticket_form` and, when the form comes back, to
    `presenters.draft_from_form` (it puts the masked prefill back to the citizen's own text).
    """
    values = dict(slots)
    parsed = {
        "respondent_name": summary.merchant,
        "respondent_address": summary.merchant_address,
        "amount": f"{summary.amount:f}" if summary.amount is not None else None,
        "claim": summary.claim,
        "facts": summary.facts or None,
        "district": summary.district,
    }
    for name, value in parsed.items():
        if not is_filled(values.get(name)) and is_filled(value):
            values[name] = value
    return values


def draft_slots(tracker: Optional[Mapping[str, Any]], view, slots: Mapping[str, Any]) -> dict:
    """`ticket_values` of a hand-off: the tracker's events summarised (the slots alone when Rasa
    did not answer). `view` is the `SessionView` (its intent and reason)."""
    events = (tracker or {}).get("events") or []
    if not events:
        return dict(slots)
    return ticket_values(slots, summarize(events, slots, intent=view.intent, reason=view.reason))
