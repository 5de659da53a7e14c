"""Which agency handles a ticket, decided by rules kept as data (`routing_rules.yml`).

The file is validated when loaded and re-read whenever it changes on disk, so maintainers
change routing, agency names, deadlines and status labels without touching code. A bad file
raises `RoutingRulesError` naming the file, the rule and the problem.

Usage::

    router = Router()
    decision = router.route(draft)      # draft: a TicketDraft (or any object with its fields)
    decision.agency, decision.agency_name, decision.district, decision.rule_id
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from xiaoan.datafiles import load_cached
from xiaoan.tickets.models import KINDS, STATUSES

logger = logging.getLogger(__name__)

RULES_PATH = Path(__file__).with_name("routing_rules.yml")

#: Ticket fields a rule may search.
SEARCHABLE_FIELDS = ("facts", "claim", "respondent_name", "respondent_address", "intent")
DEFAULT_FIELDS = ("facts", "claim", "respondent_name")
DISTRICT_TEMPLATE = "dist-{district}"
FALLBACK_AGENCY = "city-samr"

_RULE_KEYS = {"id", "description", "enabled", "kinds", "district", "any", "all_of", "none_of", "fields", "agency"}
_TOP_KEYS = {"version", "agencies", "districts", "deadlines", "status_labels", "outside_shanghai_markers",
             "ignore_phrases", "rules"}
_AGENCY_CODE_RE = re.compile(r"^(dist-[a-z]+|city-[a-z]+(?:-[a-z]+)*)$")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class RoutingRulesError(ValueError):
    """The routing rules file is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class Deadlines:
    """Deadlines in working days."""

    contact_by: int
    resolve_by: Mapping[str, int]
    near_due: int


@dataclass(frozen=True)
class Rule:
    """One routing rule; see the header of routing_rules.yml for the meaning of each field."""

    id: str
    description: str
    enabled: bool
    kinds: tuple[str, ...] | None
    district: str | tuple[str, ...] | None  # "any", a tuple of codes, or None (no condition)
    any_: tuple[str, ...]
    all_of: tuple[tuple[str, ...], ...]
    none_of: tuple[str, ...]
    fields: tuple[str, ...]
    agency: str

    @property
    def is_catch_all(self) -> bool:
        """True when the rule has no condition at all."""
        return not (self.kinds or self.district or self.any_ or self.all_of or self.none_of)

    def matches(self, kind: str, district: str | None, text: str) -> bool:
        """Whether the rule applies to a ticket of `kind` in `district` whose searched `text` is given."""
        if not self.enabled:
            return False
        if self.kinds and kind not in self.kinds:
            return False
        if self.district == "any" and district is None:
            return False
        if isinstance(self.district, tuple) and district not in self.district:
            return False
        if self.any_ and not any(k in text for k in self.any_):
            return False
        for group in self.all_of:
            if not any(k in text for k in group):
                return False
        if any(k in text for k in self.none_of):
            return False
        return True


@dataclass(frozen=True)
class RoutingRules:
    """The validated content of routing_rules.yml."""

    source: str
    agencies: Mapping[str, str]
    districts: tuple[str, ...]
    deadlines: Deadlines
    status_labels: Mapping[str, str]
    outside_shanghai_markers: tuple[str, ...]
    ignore_phrases: tuple[str, ...]
    rules: tuple[Rule, ...]

    def agency_name(self, code: str) -> str:
        """The Chinese name of an agency code (the code itself when unknown)."""
        return self.agencies.get(code, code)

    def status_label(self, status: str) -> str:
        """The Chinese label of a ticket status (the status itself when unknown)."""
        return self.status_labels.get(status, status)


@dataclass(frozen=True)
class RoutingDecision:
    """Where a ticket goes and why."""

    agency: str
    agency_name: str
    district: str | None
    rule_id: str


def normalize_text(text: str | None) -> str:
    """NFKC, lower case, no whitespace: the form keywords are matched against."""
    if not text:
        return ""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).lower()


def _fail(source: str, where: str, problem: str) -> RoutingRulesError:
    return RoutingRulesError(f"{source}: {where}: {problem}")


def _str_list(value: Any, source: str, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise _fail(source, where, "must be a non-empty list of strings")
    out = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise _fail(source, where, f"must contain non-empty strings, got {item!r}")
        out.append(normalize_text(item))
    return tuple(out)


def _positive_int(value: Any, source: str, where: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(source, where, f"must be an integer >= {minimum}, got {value!r}")
    return value


def parse_rules(data: Any, source: str = "<rules>") -> RoutingRules:
    """Validate the parsed YAML of a rules file.

    Args:
        data: The parsed YAML document.
        source: Name of the file, used in error messages.

    Returns:
        The rules, ready to route.

    Raises:
        RoutingRulesError: on any problem, naming where it is.
    """
    if not isinstance(data, dict):
        raise _fail(source, "top level", "must be a mapping")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise _fail(source, "top level", f"unknown keys {sorted(unknown)} (allowed: {sorted(_TOP_KEYS)})")
    if data.get("version") != 1:
        raise _fail(source, "version", f"must be 1, got {data.get('version')!r}")

    agencies = data.get("agencies")
    if not isinstance(agencies, dict) or not agencies:
        raise _fail(source, "agencies", "must be a mapping of agency code to Chinese name")
    for code, name in agencies.items():
        if not isinstance(code, str) or not _AGENCY_CODE_RE.match(code):
            raise _fail(source, f"agencies.{code}", "agency codes look like dist-<district> or city-<name>")
        if not isinstance(name, str) or not name.strip():
            raise _fail(source, f"agencies.{code}", "needs a Chinese name")
    if FALLBACK_AGENCY not in agencies:
        raise _fail(source, "agencies", f"must define {FALLBACK_AGENCY} (triage)")

    districts_raw = data.get("districts")
    if not isinstance(districts_raw, list) or not districts_raw:
        raise _fail(source, "districts", "must be a non-empty list of district codes")
    for code in districts_raw:
        if not isinstance(code, str) or not re.match(r"^[a-z]+$", code):
            raise _fail(source, "districts", f"district codes are lower-case latin letters, got {code!r}")
    districts = tuple(districts_raw)

    deadlines_raw = data.get("deadlines")
    if not isinstance(deadlines_raw, dict):
        raise _fail(source, "deadlines", "must be a mapping with contact_by, resolve_by, near_due")
    resolve_raw = deadlines_raw.get("resolve_by")
    if not isinstance(resolve_raw, dict) or set(resolve_raw) != set(KINDS):
        raise _fail(source, "deadlines.resolve_by", f"must give working days for exactly {list(KINDS)}")
    deadlines = Deadlines(
        contact_by=_positive_int(deadlines_raw.get("contact_by"), source, "deadlines.contact_by"),
        resolve_by={k: _positive_int(v, source, f"deadlines.resolve_by.{k}") for k, v in resolve_raw.items()},
        near_due=_positive_int(deadlines_raw.get("near_due", 1), source, "deadlines.near_due", minimum=0),
    )

    labels = data.get("status_labels")
    if not isinstance(labels, dict) or set(labels) != set(STATUSES) or not all(
        isinstance(v, str) and v.strip() for v in labels.values()
    ):
        raise _fail(source, "status_labels", f"must give a Chinese label for exactly {list(STATUSES)}")

    markers = _str_list(data.get("outside_shanghai_markers") or ["省"], source, "outside_shanghai_markers")
    ignore = _str_list(data["ignore_phrases"], source, "ignore_phrases") if data.get("ignore_phrases") else ()

    rules_raw = data.get("rules")
    if not isinstance(rules_raw, list) or not rules_raw:
        raise _fail(source, "rules", "must be a non-empty list")
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, raw in enumerate(rules_raw, start=1):
        rules.append(_parse_rule(raw, index, source, agencies, districts, seen))
    last = rules[-1]
    if not (last.is_catch_all and last.enabled):
        raise _fail(source, f"rule #{len(rules)} ({last.id})",
                    "the last rule must be enabled and have no conditions (the triage fallback)")
    return RoutingRules(
        source=source,
        agencies=dict(agencies),
        districts=districts,
        deadlines=deadlines,
        status_labels=dict(labels),
        outside_shanghai_markers=markers,
        ignore_phrases=ignore,
        rules=tuple(rules),
    )


def _parse_rule(raw: Any, index: int, source: str, agencies: Mapping[str, str],
                districts: tuple[str, ...], seen: set[str]) -> Rule:
    if not isinstance(raw, dict):
        raise _fail(source, f"rule #{index}", "must be a mapping")
    rule_id = raw.get("id")
    where = f"rule #{index} ({rule_id})"
    if not isinstance(rule_id, str) or not _ID_RE.match(rule_id):
        raise _fail(source, where, "needs an id of lower-case letters, digits and dashes")
    if rule_id in seen:
        raise _fail(source, where, "duplicate id")
    seen.add(rule_id)
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise _fail(source, where, f"unknown keys {sorted(unknown)} (allowed: {sorted(_RULE_KEYS)})")

    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise _fail(source, where, f"enabled must be true or false, got {enabled!r}")

    kinds = None
    if "kinds" in raw:
        kinds = _str_list(raw["kinds"], source, f"{where}.kinds")
        bad = set(kinds) - set(KINDS)
        if bad:
            raise _fail(source, f"{where}.kinds", f"unknown kinds {sorted(bad)} (allowed: {list(KINDS)})")

    district: str | tuple[str, ...] | None = None
    if "district" in raw:
        if raw["district"] == "any":
            district = "any"
        else:
            district = _str_list(raw["district"], source, f"{where}.district")
            bad = set(district) - set(districts)
            if bad:
                raise _fail(source, f"{where}.district", f"unknown district codes {sorted(bad)}")

    any_ = _str_list(raw["any"], source, f"{where}.any") if "any" in raw else ()
    all_of: tuple[tuple[str, ...], ...] = ()
    if "all_of" in raw:
        if not isinstance(raw["all_of"], list) or not raw["all_of"]:
            raise _fail(source, f"{where}.all_of", "must be a non-empty list of keyword lists")
        all_of = tuple(_str_list(g, source, f"{where}.all_of[{i}]") for i, g in enumerate(raw["all_of"]))
    none_of = _str_list(raw["none_of"], source, f"{where}.none_of") if "none_of" in raw else ()
    fields = DEFAULT_FIELDS
    if "fields" in raw:
        fields = _str_list(raw["fields"], source, f"{where}.fields")
        bad = set(fields) - set(SEARCHABLE_FIELDS)
        if bad:
            raise _fail(source, f"{where}.fields", f"unknown fields {sorted(bad)} (allowed: {list(SEARCHABLE_FIELDS)})")

    agency = raw.get("agency")
    if not isinstance(agency, str):
        raise _fail(source, where, "needs an agency")
    if agency == DISTRICT_TEMPLATE:
        if district is None:
            raise _fail(source, where, f"agency {DISTRICT_TEMPLATE} needs a district condition")
        for code in districts if district == "any" else district:
            if f"dist-{code}" not in agencies:
                raise _fail(source, where, f"agency dist-{code} (for district {code}) is not in agencies")
    elif agency not in agencies:
        raise _fail(source, where, f"unknown agency {agency!r} (not in agencies)")

    description = raw.get("description", "")
    if not isinstance(description, str):
        raise _fail(source, where, "description must be text")
    return Rule(id=rule_id, description=description, enabled=enabled, kinds=kinds, district=district,
                any_=any_, all_of=all_of, none_of=none_of, fields=fields, agency=agency)


def load_rules(path: str | Path | None = None) -> RoutingRules:
    """Load and validate a rules file; cached until the file changes on disk.

    Args:
        path: The YAML file (default: the packaged routing_rules.yml).

    Raises:
        RoutingRulesError: when the file is missing, not YAML, or invalid.
    """
    return load_cached(path or RULES_PATH, parse_rules, RoutingRulesError, what="the routing rules")


def _default_resolver() -> Callable[[str], str | None]:
    from xiaoan.tickets.validators import resolve_district  # developer F's module, imported at use

    return resolve_district


class Router:
    """Routes tickets with the rules of a YAML file.

    Args:
        rules_path: The rules file (default: the packaged routing_rules.yml).
        resolve_district: Free-text address -> district code (without "dist-") or None;
            default `xiaoan.tickets.validators.resolve_district`. Used for online sellers,
            whose district comes from the address shown on the platform.
    """

    def __init__(self, rules_path: str | Path | None = None,
                 resolve_district: Callable[[str], str | None] | None = None) -> None:
        self.rules_path = Path(rules_path or RULES_PATH)
        self._resolve_district = resolve_district

    @property
    def rules(self) -> RoutingRules:
        """The current rules (re-read when the file changed)."""
        return load_rules(self.rules_path)

    def resolve_district(self, address: str) -> str | None:
        """Resolve an address with the configured resolver."""
        resolver = self._resolve_district or _default_resolver()
        return resolver(address)

    def effective_district(self, draft: Any, rules: RoutingRules | None = None) -> str | None:
        """The district that decides jurisdiction.

        For an online seller (docs/domain.md §2): the district of the address shown on the
        platform; None when that address is unknown, outside Shanghai or unresolvable.
        Otherwise the district the form resolved.
        """
        rules = rules or self.rules
        if getattr(draft, "online_platform", None):
            address = normalize_text(getattr(draft, "respondent_address", None))
            if not address or any(m in address for m in rules.outside_shanghai_markers):
                return None
            district = self.resolve_district(getattr(draft, "respondent_address"))
        else:
            district = getattr(draft, "district", None)
        return _known_district(district, rules)

    def route(self, draft: Any) -> RoutingDecision:
        """Decide the agency of a ticket draft (first matching rule wins)."""
        rules = self.rules
        district = self.effective_district(draft, rules)
        for rule in rules.rules:
            text = _searched_text(draft, rule.fields, rules.ignore_phrases)
            if rule.matches(draft.kind, district, text):
                agency = rule.agency.format(district=district) if rule.agency == DISTRICT_TEMPLATE else rule.agency
                return RoutingDecision(agency=agency, agency_name=rules.agency_name(agency),
                                       district=district, rule_id=rule.id)
        raise AssertionError("unreachable: the last rule is a validated catch-all")


def _known_district(district: str | None, rules: RoutingRules) -> str | None:
    if not district:
        return None
    code = district.strip().lower()
    if code.startswith("dist-"):
        code = code[5:]
    if code not in rules.districts:
        logger.warning("unknown district code %r ignored for routing", district)
        return None
    return code


def _searched_text(draft: Any, fields: tuple[str, ...], ignore: tuple[str, ...]) -> str:
    text = "\n".join(normalize_text(getattr(draft, f, None)) for f in fields)
    for phrase in ignore:
        text = text.replace(phrase, "")
    return text
