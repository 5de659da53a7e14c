"""Static checks on the NLU training data and the held-out benchmark set.

The checks read every ``data/nlu/*.yml`` and ``bench/nlu_heldout/*.yml`` file
(whoever wrote them) with plain YAML plus the annotation syntax of Rasa 3.x, so
they run in milliseconds and without Rasa:

1. every file parses and its examples are readable;
2. every annotated entity starts and ends on a token boundary of Rasa 3.6's
   ``JiebaTokenizer`` (Rasa only warns about misaligned entities and then drops
   them from training, so a typo here silently costs entity recall);
3. each intent has the minimum number of training examples;
4. no example text is trained under two intents;
5. no held-out example is also a training example;
6. district synonyms, annotations and the lookup table all resolve to the
   agency codes of docs/interfaces.md §4.
"""
from __future__ import annotations

import json
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Set, Tuple

import jieba
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
NLU_DIR = ROOT / "data" / "nlu"
LOOKUP_DIR = ROOT / "data" / "lookups"
HELDOUT_DIR = ROOT / "bench" / "nlu_heldout"
DICT_DIR = ROOT / "xiaoan" / "resources" / "dict"
CONFIG_FILE = ROOT / "config.yml"

# docs/interfaces.md §4: the district bureaus and the Lingang New Area bureau.
DISTRICT_CODES = frozenset(
    "dist-" + name
    for name in (
        "huangpu xuhui changning jingan putuo hongkou yangpu minhang baoshan "
        "jiading pudong jinshan songjiang qingpu fengxian chongming lingang"
    ).split()
)
DISTRICT_ENTITY = "district"

# docs/interfaces.md §3: complaint, report and question intents need more examples.
MAIN_INTENT_MIN = 60
OTHER_INTENT_MIN = 25
MAIN_INTENT_PATTERN = re.compile(r"^(complain_\w+|report_violation|ask_\w+)$")

# The annotation syntax Rasa 3.x accepts (rasa/shared/nlu/training_data/entities_parser.py):
# [text](entity), [text](entity:value), [text]{"entity": ...}, [text][{...}, {...}]
ENTITY_REGEX = re.compile(
    r"\[(?P<entity_text>[^\]]+?)\]"
    r"(\((?P<entity>[^:)]+?)(?:\:(?P<value>[^)]+))?\)"
    r"|\{(?P<entity_dict>[^}]+?)\}"
    r"|\[(?P<list_entity_dicts>.*?)\])"
)
SINGLE_ENTITY_DICT = re.compile(r"{(?P<entity_dict>[^}]+?)\}")


@dataclass(frozen=True)
class Entity:
    start: int
    end: int
    text: str
    entity: str
    value: Optional[str]  # explicit value from the annotation, else None


@dataclass
class Example:
    source: str  # "path:intent"
    intent: str
    raw: str
    text: str
    entities: List[Entity] = field(default_factory=list)


@dataclass
class NluFile:
    path: Path
    examples: List[Example] = field(default_factory=list)
    synonyms: Dict[str, List[str]] = field(default_factory=dict)
    regexes: Dict[str, List[str]] = field(default_factory=dict)
    lookups: Dict[str, List[str]] = field(default_factory=dict)


# --------------------------------------------------------------------------- parsing


def _block_lines(block: object) -> List[str]:
    """Items of a Rasa ``examples: |`` block (or of the long list form)."""
    if isinstance(block, list):
        return [
            str(item.get("text", "")).strip("\n\r ")
            for item in block
            if isinstance(item, dict) and item.get("text")
        ]
    if not isinstance(block, str):
        return []
    lines = []
    for line in block.splitlines():
        if line.startswith("-"):
            lines.append(line[1:].strip("\n\r "))
    return lines


def parse_annotated(raw: str) -> Tuple[str, List[Entity]]:
    """Plain text and entities of one annotated example, as Rasa computes them."""
    entities: List[Entity] = []
    offset = 0
    for match in ENTITY_REGEX.finditer(raw):
        groups = match.groupdict()
        text = groups["entity_text"]
        start = match.start() - offset
        end = start + len(text)
        offset += len(match.group(0)) - len(text)
        if groups["entity"]:
            entities.append(Entity(start, end, text, groups["entity"], groups["value"]))
            continue
        dicts = (
            [groups["entity_dict"]]
            if groups["entity_dict"]
            else SINGLE_ENTITY_DICT.findall(groups["list_entity_dicts"] or "")
        )
        for body in dicts:
            try:
                attrs = json.loads("{" + body + "}")
            except json.JSONDecodeError as error:
                raise ValueError(f"bad entity annotation {match.group(0)!r}: {error}")
            value = attrs.get("value")
            entities.append(
                Entity(
                    start,
                    end,
                    text,
                    str(attrs.get("entity")),
                    None if value is None else str(value),
                )
            )
    plain = ENTITY_REGEX.sub(lambda m: m.group("entity_text"), raw)
    return plain, entities


def load_nlu_file(path: Path) -> NluFile:
    """Reads one Rasa YAML file: intents, synonyms, regexes and lookups."""
    content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    result = NluFile(path)
    rel = path.relative_to(ROOT)
    for item in content.get("nlu") or []:
        if not isinstance(item, dict):
            continue
        lines = _block_lines(item.get("examples"))
        if "intent" in item:
            intent = str(item["intent"])
            for raw in lines:
                text, entities = parse_annotated(raw)
                result.examples.append(
                    Example(f"{rel}:{intent}", intent, raw, text, entities)
                )
        elif "synonym" in item:
            result.synonyms.setdefault(str(item["synonym"]), []).extend(lines)
        elif "regex" in item:
            result.regexes.setdefault(str(item["regex"]), []).extend(lines)
        elif "lookup" in item:
            result.lookups.setdefault(str(item["lookup"]), []).extend(lines)
    return result


def _yaml_files(directory: Path) -> List[Path]:
    return sorted(list(directory.glob("*.yml")) + list(directory.glob("*.yaml")))


@pytest.fixture(scope="module")
def training_files() -> List[NluFile]:
    files = [load_nlu_file(path) for path in _yaml_files(NLU_DIR)]
    assert files, f"no NLU files in {NLU_DIR}"
    return files


@pytest.fixture(scope="module")
def heldout_files() -> List[NluFile]:
    return [load_nlu_file(path) for path in _yaml_files(HELDOUT_DIR)]


@pytest.fixture(scope="module")
def lookup_files() -> List[NluFile]:
    return [load_nlu_file(path) for path in _yaml_files(LOOKUP_DIR)]


def _examples(files: Iterable[NluFile]) -> Iterator[Example]:
    for nlu_file in files:
        yield from nlu_file.examples


def normalize(text: str) -> str:
    """Text for duplicate detection: width/case folded, letters and digits only."""
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LN")


# --------------------------------------------------------------------------- tokenizer


def _jieba_config() -> dict:
    """The JiebaTokenizer entry of config.yml, or {} when there is none (yet)."""
    if not CONFIG_FILE.exists():
        return {}
    config = yaml.safe_load(CONFIG_FILE.read_text(encoding="utf-8")) or {}
    for component in config.get("pipeline") or []:
        if isinstance(component, dict) and component.get("name") == "JiebaTokenizer":
            return component
    return {}


@pytest.fixture(scope="module")
def tokenize():
    """A tokenizer that behaves like Rasa 3.6's JiebaTokenizer with our dictionaries."""
    jieba.setLogLevel(60)
    # JiebaTokenizer._load_custom_dictionary: every file of the directory.
    for user_dict in sorted(DICT_DIR.glob("*")):
        if user_dict.is_file():
            jieba.load_userdict(str(user_dict))
    pattern = _jieba_config().get("token_pattern")
    token_regex = re.compile(pattern) if pattern else None

    def _tokenize(text: str) -> List[Tuple[str, int, int]]:
        tokens = [(word, start, end) for word, start, end in jieba.tokenize(text)]
        if token_regex is None:
            return tokens
        # Tokenizer._apply_token_pattern
        final = []
        for word, start, end in tokens:
            parts = [part for part in token_regex.findall(word) if part]
            if not parts:
                final.append((word, start, end))
            running = 0
            for part in parts:
                offset = word.index(part, running)
                running = offset + len(part)
                final.append((part, start + offset, start + offset + len(part)))
        return final

    return _tokenize


# --------------------------------------------------------------------------- tests


def _fail_if(problems: List[str], header: str) -> None:
    """Fails with every problem listed (plain message, no huge fixture reprs)."""
    if problems:
        pytest.fail(f"{header} ({len(problems)}):\n" + "\n".join(problems), pytrace=False)


def test_files_have_examples(training_files, heldout_files):
    empty = [
        str(f.path.relative_to(ROOT))
        for f in training_files + heldout_files
        if not (f.examples or f.synonyms or f.regexes or f.lookups)
    ]
    _fail_if(empty, "files without any NLU content")
    blank = [ex.source for ex in _examples(training_files + heldout_files) if not ex.text.strip()]
    _fail_if(sorted(set(blank)), "empty examples in")


def test_entities_on_token_boundaries(training_files, heldout_files, tokenize):
    problems = []
    for example in _examples(training_files + heldout_files):
        if not example.entities:
            continue
        tokens = tokenize(example.text)
        starts = {start for _, start, _ in tokens}
        ends = {end for _, _, end in tokens}
        for entity in example.entities:
            if entity.start not in starts or entity.end not in ends:
                problems.append(
                    f"{example.source}: [{entity.text}]({entity.entity}) in "
                    f"'{example.text}' -> tokens {'|'.join(t for t, _, _ in tokens)}"
                )
    _fail_if(problems, "entities not on jieba token boundaries (Rasa would drop them)")


def test_entity_annotations_are_clean(training_files, heldout_files):
    problems = []
    for example in _examples(training_files + heldout_files):
        for entity in example.entities:
            if entity.text != entity.text.strip():
                problems.append(f"{example.source}: whitespace in [{entity.text}]")
            if not entity.entity or entity.entity == "None":
                problems.append(f"{example.source}: entity without a name in {example.raw}")
    _fail_if(problems, "badly formed entity annotations")


def test_minimum_examples_per_intent(training_files):
    counts: Dict[str, int] = defaultdict(int)
    for example in _examples(training_files):
        counts[example.intent] += 1
    too_few = []
    for intent, count in sorted(counts.items()):
        minimum = MAIN_INTENT_MIN if MAIN_INTENT_PATTERN.match(intent) else OTHER_INTENT_MIN
        if count < minimum:
            too_few.append(f"{intent}: {count} < {minimum}")
    _fail_if(too_few, "intents with too few training examples")


def test_no_example_under_two_intents(training_files):
    seen: Dict[str, Dict[str, List[str]]] = defaultdict(lambda: defaultdict(list))
    for example in _examples(training_files):
        seen[normalize(example.text)][example.intent].append(example.source)
    clashes = [
        f"'{key}': " + "; ".join(f"{intent} ({', '.join(sorted(set(src)))})" for intent, src in intents.items())
        for key, intents in seen.items()
        if len(intents) > 1
    ]
    _fail_if(clashes, "the same example under several intents")


def test_heldout_never_trained_on(training_files, heldout_files):
    # Names only the training file and line, never the held-out text or its label: whoever
    # fixes the training data must not learn the held-out set from this message.
    heldout = {normalize(example.text) for example in _examples(heldout_files)}
    leaks = [
        f"{example.source}: a training example that is also in the held-out set (reword or remove it)"
        for example in _examples(training_files)
        if normalize(example.text) in heldout
    ]
    _fail_if(leaks, "training examples that are held-out data")


def test_heldout_has_no_duplicates(heldout_files):
    seen: Dict[str, str] = {}
    dupes = []
    for example in _examples(heldout_files):
        key = normalize(example.text)
        if key in seen:
            dupes.append(f"{example.source}: '{example.text}' (also {seen[key]})")
        seen.setdefault(key, example.source)
    _fail_if(dupes, "held-out examples listed twice")


def _synonym_table(files: Iterable[NluFile]) -> Dict[str, Set[str]]:
    """alias (lower-cased, as EntitySynonymMapper compares) -> values it maps to."""
    table: Dict[str, Set[str]] = defaultdict(set)
    for nlu_file in files:
        for value, aliases in nlu_file.synonyms.items():
            for alias in aliases:
                table[alias.lower()].add(value)
    return table


def test_district_synonyms_use_contract_codes(training_files, heldout_files, lookup_files):
    annotated_district_texts = {
        entity.text.lower()
        for example in _examples(training_files + heldout_files)
        for entity in example.entities
        if entity.entity == DISTRICT_ENTITY
    }
    problems = []
    # Synonym blocks that are about districts must map to a valid code.
    district_values = set()
    for nlu_file in training_files:
        for value, aliases in nlu_file.synonyms.items():
            is_district = value.lower().startswith("dist") or any(
                alias.lower() in annotated_district_texts for alias in aliases
            )
            if is_district:
                district_values.add(value)
                if value not in DISTRICT_CODES:
                    problems.append(f"{nlu_file.path.name}: synonym '{value}' is not a docs/interfaces.md §4 code")
    missing = DISTRICT_CODES - district_values
    if missing:
        problems.append(f"codes without a synonym block: {sorted(missing)}")

    table = _synonym_table(training_files)
    for alias, values in sorted(table.items()):
        if len(values) > 1:
            problems.append(f"alias '{alias}' maps to several values: {sorted(values)}")

    # Every district annotation must end up as a code, via its value or a synonym.
    for example in _examples(training_files + heldout_files):
        for entity in example.entities:
            if entity.entity != DISTRICT_ENTITY:
                continue
            if entity.value is not None:
                resolved = {entity.value}
            else:
                resolved = table.get(entity.text.lower(), {entity.text})
            if not resolved <= DISTRICT_CODES:
                problems.append(
                    f"{example.source}: [{entity.text}](district) resolves to {sorted(resolved)}"
                )

    # The lookup table lists only names the synonyms know.
    for nlu_file in lookup_files + training_files:
        for alias in nlu_file.lookups.get(DISTRICT_ENTITY, []):
            resolved = table.get(alias.lower(), set())
            if not resolved or not resolved <= DISTRICT_CODES:
                problems.append(f"{nlu_file.path.name}: lookup entry '{alias}' has no district synonym")
    _fail_if(problems, "district names that do not resolve to a docs/interfaces.md §4 code")


def test_regexes_compile_and_match(training_files):
    samples = {
        "phone": (["13812345678", "021-62345678", "62345678"], ["12345", "10086"]),
        "ticket_no": (["XA-261126-0042", "xa2611260042"], ["XB-261126-0042"]),
        "amount": (["2000元", "¥399", "两千块", "1.5万"], []),
    }
    problems = []
    for nlu_file in training_files:
        for name, patterns in nlu_file.regexes.items():
            compiled = []
            for pattern in patterns:
                try:
                    compiled.append(re.compile(pattern))
                except re.error as error:
                    problems.append(f"{nlu_file.path.name}: regex {name} '{pattern}': {error}")
            good, bad = samples.get(name, ([], []))
            for text in good:
                if not any(regex.search(text) for regex in compiled):
                    problems.append(f"regex {name} does not match '{text}'")
            for text in bad:
                if any(regex.fullmatch(text) for regex in compiled):
                    problems.append(f"regex {name} matches '{text}'")
    _fail_if(problems, "regex problems")


def test_dictionary_lines_are_well_formed():
    files = sorted(path for path in DICT_DIR.glob("*") if path.is_file())
    assert files, f"no jieba dictionaries in {DICT_DIR}"
    problems = []
    line_format = re.compile(r"^\S+( \d+)?( [a-z]+)?$")
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip() and not line_format.match(line.strip()):
                problems.append(f"{path.name}:{number}: '{line}'")
    _fail_if(problems, "jieba expects 'word [freq] [pos]' per line")


def test_config_uses_the_dictionaries():
    """If config.yml configures JiebaTokenizer, it must load the dictionaries checked here."""
    component = _jieba_config()
    if not component:
        return
    configured = component.get("dictionary_path")
    assert configured, "JiebaTokenizer has no dictionary_path: the domain dictionary is unused"
    assert (ROOT / configured).resolve() == DICT_DIR.resolve()
