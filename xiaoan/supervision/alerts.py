"""Merchant early warning: complaints piling up against one business.

A business about to close and vanish with its customers' prepaid money (关门跑路 of gyms,
training schools, beauty salons, wedding studios) shows up first as a burst of complaints
against the same name, often spelled differently by each citizen. This module groups recent
tickets by a normalized merchant name and applies the rules of
``xiaoan/resources/alert_rules.yml`` (thresholds, windows, signal keywords, severities;
the header of that file explains every key).

Usage::

    from xiaoan.supervision.alerts import find_alerts
    with session_scope() as session:
        for alert in find_alerts(session):          # highest severity first
            print(alert.display_name, alert.count, alert.ticket_nos)

Alerts carry ticket numbers, merchant names, districts, amounts and times only: never a
complainant's name, phone number or address (they are not even read from the database).
"""

from __future__ import annotations

import collections
import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from jsonschema import Draft7Validator
from jsonschema.exceptions import best_match
from sqlalchemy import select
from sqlalchemy.orm import Session

from xiaoan.datafiles import load_cached
from xiaoan.db import utcnow
from xiaoan.tickets.models import KINDS, Ticket
from xiaoan.tickets.validators import load_districts
from xiaoan.tickets.views import amount_number, iso_datetime

RULES_PATH = Path(__file__).resolve().parent.parent / "resources" / "alert_rules.yml"

#: Severities, lowest first.
SEVERITIES = ("low", "medium", "high")
SEVERITY_LABELS = {"low": "低", "medium": "中", "high": "高"}

#: Intents a ticket can carry (docs/interfaces.md §3); signal intents must be among them.
TICKET_INTENTS = ("complain_refund", "complain_prepaid", "complain_general", "report_violation")

#: A name is never shortened below this many characters.
MIN_NAME_LENGTH = 2
_MAX_NORMALIZE_ROUNDS = 20


class AlertRulesError(ValueError):
    """alert_rules.yml is missing, not YAML or invalid; the message names the file and the key."""


# --- the rules -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertRule:
    """One threshold: at least `min_count` tickets within `window_days` days."""

    id: str
    label: str                 # Chinese, shown to supervisors
    window_days: int
    min_count: int
    signals_only: bool         # count only tickets that carry a signal
    severity: str              # one of SEVERITIES
    enabled: bool = True

    @property
    def window(self) -> dt.timedelta:
        """The window as a time span."""
        return dt.timedelta(days=self.window_days)


@dataclass(frozen=True)
class Signals:
    """Marks of a business about to vanish: ticket intents, keywords in facts or claim."""

    intents: tuple[str, ...]
    keywords: tuple[str, ...]


@dataclass(frozen=True)
class NormalizeConfig:
    """How respondents' names are normalized (see alert_rules.yml `normalize`)."""

    regions: tuple[str, ...] = ("上海市", "上海")
    suffixes: tuple[str, ...] = ("股份有限公司", "有限责任公司", "有限公司", "分公司", "公司", "门店", "分店", "店")
    branch_suffixes: tuple[str, ...] = ("分公司", "门店", "分店", "店")
    strip_branch_places: bool = True
    endings: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertRules:
    """The validated content of alert_rules.yml."""

    source: str
    kinds: tuple[str, ...]
    group_by_district: bool
    signals: Signals
    severity_with_signal: str | None
    rules: tuple[AlertRule, ...]
    normalize: NormalizeConfig

    @property
    def enabled_rules(self) -> tuple[AlertRule, ...]:
        """The rules that are applied."""
        return tuple(r for r in self.rules if r.enabled)

    def rule(self, rule_id: str) -> AlertRule:
        """The rule with this id.

        Raises:
            KeyError: no such rule.
        """
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)


def _text_list(min_items: int = 0) -> dict[str, Any]:
    return {"type": "array", "minItems": min_items, "uniqueItems": True,
            "items": {"type": "string", "minLength": 1, "pattern": r"\S"}}


_SEVERITY = {"enum": list(SEVERITIES)}
_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["version", "kinds", "signals", "rules", "normalize"],
    "properties": {
        "version": {"const": 1},
        "kinds": {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"enum": list(KINDS)}},
        "group_by_district": {"type": "boolean"},
        "signals": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"intents": {**_text_list(), "items": {"enum": list(TICKET_INTENTS)}},
                           "keywords": _text_list()},
        },
        "severity_with_signal": {"anyOf": [_SEVERITY, {"type": "null"}]},
        "rules": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "label", "window_days", "min_count", "severity"],
                "properties": {
                    "id": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9-]*$"},
                    "label": {"type": "string", "minLength": 1, "pattern": r"\S"},
                    "window_days": {"type": "integer", "minimum": 1, "maximum": 366},
                    "min_count": {"type": "integer", "minimum": 1, "maximum": 1000},
                    "signals_only": {"type": "boolean"},
                    "severity": _SEVERITY,
                    "enabled": {"type": "boolean"},
                },
            },
        },
        "normalize": {
            "type": "object",
            "additionalProperties": False,
            "required": ["regions", "suffixes"],
            "properties": {
                "regions": _text_list(),
                "suffixes": _text_list(),
                "branch_suffixes": _text_list(),
                "strip_branch_places": {"type": "boolean"},
                "endings": {"type": "object", "additionalProperties": {"type": "string", "minLength": 1}},
            },
        },
    },
}
_VALIDATOR = Draft7Validator(_SCHEMA)


def _where(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _key(text: str) -> str:
    """NFKC, lower case, no whitespace: the form names and keywords are compared in."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).lower()


def parse_alert_rules(data: Any, source: str = "alert_rules.yml") -> AlertRules:
    """Validate the parsed YAML of a rules file.

    Args:
        data: What `yaml.safe_load` returned.
        source: The file name, for error messages.

    Raises:
        AlertRulesError: the first problem found, as "<source>: <key>: <problem>".
    """
    error = best_match(_VALIDATOR.iter_errors(data))
    if error is not None:
        raise AlertRulesError(f"{source}: {_where(error.absolute_path)}: {error.message}")

    rules = []
    seen: set[str] = set()
    for i, raw in enumerate(data["rules"]):
        if raw["id"] in seen:
            raise AlertRulesError(f"{source}: rules[{i}].id: duplicate rule id {raw['id']!r}")
        seen.add(raw["id"])
        rules.append(AlertRule(id=raw["id"], label=raw["label"].strip(), window_days=raw["window_days"],
                               min_count=raw["min_count"], signals_only=raw.get("signals_only", False),
                               severity=raw["severity"], enabled=raw.get("enabled", True)))

    raw_signals = data["signals"]
    signals = Signals(intents=tuple(raw_signals.get("intents") or ()),
                      keywords=tuple(_key(k) for k in raw_signals.get("keywords") or ()))
    if not (signals.intents or signals.keywords):
        for i, rule in enumerate(rules):
            if rule.signals_only and rule.enabled:
                raise AlertRulesError(f"{source}: rules[{i}].signals_only: no signal intents or keywords are "
                                      "defined, so this rule could never fire")

    raw_norm = data["normalize"]
    endings = {_key(k): _key(v) for k, v in (raw_norm.get("endings") or {}).items()}
    for ending, canonical in endings.items():
        loop = next((e for e in endings if canonical.endswith(e)), None)
        if loop is not None:
            raise AlertRulesError(f"{source}: normalize.endings.{ending}: the replacement {canonical!r} ends with "
                                  f"{loop!r}, itself an ending to rewrite (endless rewriting)")
    suffixes = tuple(_key(s) for s in raw_norm["suffixes"])
    branch = tuple(_key(s) for s in raw_norm.get("branch_suffixes") or ())
    unknown = [b for b in branch if b not in suffixes]
    if unknown:
        raise AlertRulesError(f"{source}: normalize.branch_suffixes: {unknown} are not in normalize.suffixes")
    normalize = NormalizeConfig(
        regions=tuple(sorted((_key(r) for r in raw_norm["regions"]), key=len, reverse=True)),
        suffixes=tuple(sorted(suffixes, key=len, reverse=True)),
        branch_suffixes=branch,
        strip_branch_places=raw_norm.get("strip_branch_places", False),
        endings=dict(sorted(endings.items(), key=lambda kv: len(kv[0]), reverse=True)),
    )
    return AlertRules(source=source, kinds=tuple(data["kinds"]), group_by_district=data.get("group_by_district", False),
                      signals=signals, severity_with_signal=data.get("severity_with_signal"),
                      rules=tuple(rules), normalize=normalize)


def load_alert_rules(path: str | Path | None = None) -> AlertRules:
    """Load and validate a rules file; cached until the file changes on disk.

    Args:
        path: The YAML file (default: the packaged alert_rules.yml).

    Raises:
        AlertRulesError: the file is missing, not YAML, or invalid.
    """
    return load_cached(path or RULES_PATH, parse_alert_rules, AlertRulesError, what="the alert rules")


# --- merchant names --------------------------------------------------------------------------------

# a bracketed qualifier after NFKC: (上海) [徐汇店] 【旗舰店】 〔二店〕
_BRACKETED = re.compile(r"[(\[【〔〖][^()\[\]【】〔〕〖〗]*[)\]】〕〗]")
_CJK_ONLY = re.compile(r"[\u4e00-\u9fff]+")
_places_cache: dict[int, tuple[Any, tuple[str, ...]]] = {}


def _letters(text: str) -> str:
    """Only letters and digits (drops spaces, punctuation and symbols)."""
    return "".join(c for c in text if unicodedata.category(c)[0] in "LN")


def _branch_places() -> tuple[str, ...]:
    """Chinese names of districts and well-known places (districts.yml), longest first."""
    data = load_districts()
    cached = _places_cache.get(id(data))
    if cached is None or cached[0] is not data:
        names = {t for t in data.terms if _CJK_ONLY.fullmatch(t) and len(t) >= 2}
        cached = (data, tuple(sorted(names, key=len, reverse=True)))
        _places_cache.clear()
        _places_cache[id(data)] = cached
    return cached[1]


def _cut_end(text: str, tail: str) -> str | None:
    if text.endswith(tail) and len(text) - len(tail) >= MIN_NAME_LENGTH:
        return text[: -len(tail)]
    return None


def normalize_merchant(name: str | None, config: NormalizeConfig | None = None) -> str:
    """The key complaints against one merchant are grouped by.

    "乐活健身", "乐活健身房", "上海乐活健身有限公司", "乐活 健身", "乐活健身（徐汇店）" and
    "上海市乐活健身房有限公司浦东分公司" all give "乐活健身". Full-width characters become
    half-width and letters lower case; spaces and punctuation are dropped, and so is a
    bracketed qualifier; then regions (上海市, 上海) at either end, company and shop suffixes,
    a district or place name before a branch suffix (徐汇店) are removed and business-type
    endings rewritten (健身房 -> 健身), repeatedly, as configured in alert_rules.yml. A name is
    never shortened below two characters.

    Args:
        name: The respondent's name as the citizen gave it.
        config: Normalization settings (default: those of the packaged alert_rules.yml).

    Returns:
        The normalized name (a name without any letter or digit: itself without spaces).
    """
    config = config or load_alert_rules().normalize
    text = unicodedata.normalize("NFKC", name or "").lower()
    unbracketed = _letters(_BRACKETED.sub("", text))
    text = unbracketed if len(unbracketed) >= MIN_NAME_LENGTH else _letters(text)

    # "…有限公司浦东分公司" / "…公司徐汇店": the company name ends at its first company suffix
    companies = [s for s in config.suffixes if s not in config.branch_suffixes]
    if companies and config.branch_suffixes:
        for marker in companies:
            at = text.find(marker, MIN_NAME_LENGTH)
            rest = text[at + len(marker):] if at >= 0 else ""
            if rest and rest.endswith(config.branch_suffixes):
                text = text[: at + len(marker)]
                break

    for _ in range(_MAX_NORMALIZE_ROUNDS):
        before = text
        for region in config.regions:
            if text.startswith(region) and len(text) - len(region) >= MIN_NAME_LENGTH:
                text = text[len(region):]
            cut = _cut_end(text, region)
            if cut is not None:
                text = cut
        for suffix in config.suffixes:
            cut = _cut_end(text, suffix)
            if cut is not None:
                text = cut
                if config.strip_branch_places and suffix in config.branch_suffixes:
                    for place in _branch_places():
                        cut = _cut_end(text, place)
                        if cut is not None:
                            text = cut
                            break
                break
        for ending, canonical in config.endings.items():
            if text.endswith(ending) and len(text) - len(ending) + len(canonical) >= MIN_NAME_LENGTH:
                text = text[: -len(ending)] + canonical
                break
        if text == before:
            break
    # a name of punctuation only keeps its own spelling rather than joining every other such name
    return text or _key(name or "")


def ticket_signals(intent: str | None, facts: str | None, claim: str | None, signals: Signals) -> tuple[str, ...]:
    """The signals a ticket carries: its intent when it is a signal intent, then each keyword
    found in its facts or claim (in the order of the rules file)."""
    found = [intent] if intent in signals.intents else []
    text = _key(facts or "") + "\n" + _key(claim or "")
    found += [k for k in signals.keywords if k in text]
    return tuple(found)


# --- detection -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComplaintRecord:
    """The ticket fields the early warning reads (no personal data of the citizen)."""

    ticket_no: str
    kind: str
    intent: str
    respondent_name: str
    district: str | None
    amount: Decimal | None
    created_at: dt.datetime
    facts: str = ""
    claim: str | None = None


@dataclass(frozen=True)
class MerchantAlert:
    """Complaints piling up against one merchant.

    Attributes:
        merchant: The normalized name the tickets were grouped by.
        display_name: The most frequent spelling among the alert's tickets.
        districts: District codes (without "dist-") of the tickets, most frequent first.
        count: Number of tickets in the windows that fired.
        total_amount: Sum of the amounts claimed (tickets without an amount count 0).
        first_at: Creation time of the earliest of those tickets (UTC).
        last_at: Creation time of the latest.
        ticket_nos: Their numbers, oldest first.
        rules: Ids of the rules that fired, most severe first.
        rule_labels: Their Chinese labels, in the same order.
        severity: One of SEVERITIES.
        signals: Signal intents and keywords seen in those tickets.
    """

    merchant: str
    display_name: str
    districts: tuple[str, ...]
    count: int
    total_amount: Decimal
    first_at: dt.datetime
    last_at: dt.datetime
    ticket_nos: tuple[str, ...]
    rules: tuple[str, ...]
    rule_labels: tuple[str, ...]
    severity: str
    signals: tuple[str, ...]

    @property
    def severity_label(self) -> str:
        """高 / 中 / 低."""
        return SEVERITY_LABELS[self.severity]


def _severity_rank(severity: str | None) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


def _in_windows(records: Sequence[ComplaintRecord], window: dt.timedelta, min_count: int) -> list[ComplaintRecord]:
    """The records (sorted by time) that lie in some window of `window` holding >= min_count."""
    hits: dict[str, ComplaintRecord] = {}
    end = 0
    for start, first in enumerate(records):
        end = max(end, start)
        while end < len(records) and records[end].created_at - first.created_at <= window:
            end += 1
        if end - start >= min_count:
            for record in records[start:end]:
                hits[record.ticket_no] = record
    return sorted(hits.values(), key=lambda r: (r.created_at, r.ticket_no))


def detect_alerts(records: Iterable[ComplaintRecord], rules: AlertRules, *, now: dt.datetime,
                  since: dt.datetime | None = None) -> list[MerchantAlert]:
    """Apply the rules to tickets (pure: no database).

    Args:
        records: The tickets to examine, in any order.
        rules: The alert rules.
        now: The end of every window (timezone-aware); later tickets are ignored.
        since: Examine every window from this time on; default: for each rule, only the
            window that ends now (the last `window_days` days).

    Returns:
        One alert per merchant with at least one rule fired, highest severity first, then
        most tickets, then the most recent.
    """
    if now.tzinfo is None or (since is not None and since.tzinfo is None):
        raise ValueError("naive datetime given; use timezone-aware ones (xiaoan.db.utcnow())")
    groups: dict[Any, list[ComplaintRecord]] = collections.defaultdict(list)
    for record in records:
        if record.kind not in rules.kinds or record.created_at > now:
            continue
        key = normalize_merchant(record.respondent_name, rules.normalize)
        groups[(key, record.district) if rules.group_by_district else key].append(record)

    alerts = []
    for key, items in groups.items():
        items.sort(key=lambda r: (r.created_at, r.ticket_no))
        signals = {r.ticket_no: ticket_signals(r.intent, r.facts, r.claim, rules.signals) for r in items}
        fired: list[AlertRule] = []
        members: dict[str, ComplaintRecord] = {}
        for rule in rules.enabled_rules:
            start = since if since is not None else now - rule.window
            counted = [r for r in items if r.created_at >= start and (signals[r.ticket_no] or not rule.signals_only)]
            hits = _in_windows(counted, rule.window, rule.min_count)
            if hits:
                fired.append(rule)
                members.update((r.ticket_no, r) for r in hits)
        if fired:
            alerts.append(_make_alert(key[0] if rules.group_by_district else key, fired, members, signals, rules))
    alerts.sort(key=lambda a: (-_severity_rank(a.severity), -a.count, -a.last_at.timestamp(), a.merchant))
    return alerts


def _most_frequent(values: Iterable[str]) -> list[str]:
    """Distinct values, most frequent first (ties: first seen first)."""
    counts = collections.Counter(values)
    order = {v: i for i, v in enumerate(counts)}  # Counter keeps first-seen order
    return sorted(counts, key=lambda v: (-counts[v], order[v]))


def _make_alert(merchant: str, fired: list[AlertRule], members: dict[str, ComplaintRecord],
                signals: dict[str, tuple[str, ...]], rules: AlertRules) -> MerchantAlert:
    tickets = sorted(members.values(), key=lambda r: (r.created_at, r.ticket_no))
    seen_signals = tuple(dict.fromkeys(s for r in tickets for s in signals[r.ticket_no]))
    fired = sorted(fired, key=lambda r: -_severity_rank(r.severity))
    severity = fired[0].severity
    if seen_signals and _severity_rank(rules.severity_with_signal) > _severity_rank(severity):
        severity = rules.severity_with_signal
    spellings = _most_frequent(re.sub(r"\s+", " ", r.respondent_name.strip()) for r in tickets)
    return MerchantAlert(
        merchant=merchant,
        display_name=spellings[0],
        districts=tuple(_most_frequent(r.district for r in tickets if r.district)),
        count=len(tickets),
        total_amount=sum((r.amount for r in tickets if r.amount is not None), Decimal("0.00")),
        first_at=tickets[0].created_at,
        last_at=tickets[-1].created_at,
        ticket_nos=tuple(r.ticket_no for r in tickets),
        rules=tuple(r.id for r in fired),
        rule_labels=tuple(r.label for r in fired),
        severity=severity,
        signals=seen_signals,
    )


def find_alerts(session: Session, *, now: dt.datetime | None = None, since: dt.datetime | None = None,
                rules: AlertRules | None = None) -> list[MerchantAlert]:
    """The current merchant alerts from the tickets table.

    Args:
        session: A database session.
        now: The end of every window (default: the current time).
        since: Examine every window from this time on (see `detect_alerts`).
        rules: Default: the packaged alert_rules.yml.

    Raises:
        AlertRulesError: the rules file is invalid.
    """
    rules = rules or load_alert_rules()
    now = now or utcnow()
    enabled = rules.enabled_rules
    if not enabled:
        return []
    start = since if since is not None else now - max(r.window for r in enabled)
    stmt = (
        select(Ticket.ticket_no, Ticket.kind, Ticket.intent, Ticket.respondent_name, Ticket.district,
               Ticket.amount, Ticket.created_at, Ticket.facts, Ticket.claim)
        .where(Ticket.created_at >= start, Ticket.created_at <= now, Ticket.kind.in_(rules.kinds))
        .order_by(Ticket.created_at, Ticket.id)
    )
    records = [ComplaintRecord(*row) for row in session.execute(stmt)]
    return detect_alerts(records, rules, now=now, since=since)


def alert_json(alert: MerchantAlert) -> dict[str, Any]:
    """The JSON of an alert (`xiaoan alerts list --json`): times ISO-8601 in Shanghai time,
    the amount a number."""
    return {
        "merchant": alert.merchant,
        "display_name": alert.display_name,
        "districts": list(alert.districts),
        "count": alert.count,
        "total_amount": amount_number(alert.total_amount),
        "first_at": iso_datetime(alert.first_at),
        "last_at": iso_datetime(alert.last_at),
        "ticket_nos": list(alert.ticket_nos),
        "rules": list(alert.rules),
        "severity": alert.severity,
        "signals": list(alert.signals),
    }
