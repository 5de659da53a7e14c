"""Typed choices: which offered button a citizen meant when typing instead of clicking.

Every channel shows buttons (on WeChat as numbered lines); citizens often type the choice.
The intent classifier, deciding without the conversation, misreads such replies ("继续填写"
as cancel, "留下电话等回电" as a ticket-status question), so the channels ask this module
first, with the buttons offered since the citizen last spoke, and send the button's payload
to Rasa when the reply is one of them.

The rules, tried in this order; the first rule that finds exactly one button decides, a
rule that finds several different buttons ends the search with None (ambiguous):

1. **Exact title.** The reply equals a title after NFKC folding, lower case, and dropping
   spaces, punctuation and fillers (好的, 我要, 我选, 请, 吧, 啊 ... see ``PREFIX_FILLERS``
   and ``SUFFIX_FILLERS``); fillers are dropped from titles too ("投诉" = "我要投诉").
2. **Ordinal.** 1, 1., ①, 一, 第一个, 第2项, 前者/后者 and 下面那个 (two buttons only),
   上面那个 (the first), 中间那个 (the second of three), 最后一个. A bare number counts only when at least two
   buttons are offered, or when the channel shows them numbered (WeChat): a lone "不涉及"
   button must not turn an amount of "1" into a choice.
3. **Title inside the reply.** The reply contains a title and what is left beside it is
   tiny (at most ``MAX_REMAINDER`` characters, e.g. "转人工客服") and holds no negation
   (不/别/没/无/非/未/勿): "不要转人工" is not "转人工".
4. **Part of a title.** The reply (two characters or more) is a part of exactly one title:
   人工 -> 转人工, 排队 -> 继续排队等人工, 回电 -> 留下电话等回电, 继续 -> 继续填写.
5. **Synonyms.** The reply is one of the phrases of a group in
   ``xiaoan/resources/choice_synonyms.yml`` that fits exactly one offered button
   (等一等 -> the queue button, 打电话给我 -> the callback button).
6. **Yes / no.** Only for a two-button offer that reads as a yes/no question: one button
   says no (payload ``/deny`` or a title like 修改/没帮助) and the other is the yes, or one
   says yes (payload ``/affirm`` or a title like 确认/有帮助) and the other is the no. So
   in "需要为您转接人工客服吗？" [转人工 | 继续和小安聊 (/deny)] a 好 picks 转人工, while
   [实名举报 | 匿名举报] or [转人工 | 继续填写] are not yes/no questions. 好/好的/对/是的/可以/行/嗯 pick the yes, 不/不用/不要/不对/
   没有 pick the no.

A reply that starts with "/" is never a choice (typed text is never a Rasa command), and a
long message that merely mentions a title is left to the intent classifier.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import yaml

SYNONYMS_FILE = Path(__file__).resolve().parent.parent / "resources" / "choice_synonyms.yml"

#: Characters that may be left beside a title inside a reply ("转人工客服", "黄浦区的").
MAX_REMAINDER = 2
#: A part of a title must be at least this long ("人工", never "人").
MIN_PART = 2

PREFIX_FILLERS = (
    "好的", "好吧", "好", "嗯嗯", "嗯", "哦", "那就", "那", "就", "还是", "麻烦", "请帮我", "请", "帮我",
    "给我", "我要", "我想要", "我想", "我需要", "我选择", "我选", "选择", "选", "我",
)
SUFFIX_FILLERS = (
    "就行了", "就行", "就好", "就可以", "可以吗", "好吗", "行吗", "谢谢", "吧", "啊", "呀", "哦", "呢",
    "哈", "吗", "啦", "了",
)
NEGATIONS = frozenset("不别没无非未勿")

YES_WORDS = frozenset({
    "好", "好的", "好啊", "好吧", "对", "对的", "是", "是的", "是啊", "可以", "可以的", "行", "行的", "嗯", "嗯嗯",
    "要", "需要", "要的", "有", "同意", "确定", "ok", "okay", "yes", "y", "没问题",
})
NO_WORDS = frozenset({
    "不", "不用", "不用了", "不要", "不要了", "不对", "没有", "没", "不是", "不需要", "不需要了", "不了", "否",
    "no", "n", "算了",
})
YES_TITLES = frozenset({"确认", "有帮助", "是", "是的", "好的", "需要", "同意", "有用", "确认取消"})
#: Replies that confirm a cancel when the yes of a two-way offer is the cancel itself.
CANCEL_WORDS = frozenset({"算了", "算了吧", "取消", "取消吧", "确认取消", "不填了", "不弄了", "不投诉了", "不举报了"})
NO_TITLES = frozenset({"修改", "没帮助", "没有帮助", "否", "不是", "不用了", "先不用了", "不需要", "没用"})

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_ORDINAL_RE = re.compile(r"^(第)?([0-9]{1,2}|[一二两三四五六七八九十]{1,3})(个|项|条|种|位|行)?$")
_FIRST_WORDS = frozenset({"上面那个", "上面的", "上面这个", "前面那个", "前面的", "第一"})
_LAST_WORDS = frozenset({"最后一个", "最后那个", "最后的", "最后一项", "最后"})
_FIRST_OF_TWO_WORDS = frozenset({"前者"})
_LAST_OF_TWO_WORDS = frozenset({"后者", "下面那个", "下面的", "下面这个", "后面那个", "后面的"})
_MIDDLE_WORDS = frozenset({"中间那个", "中间的", "中间这个"})


@dataclass(frozen=True)
class Choice:
    """One offered button: what the citizen sees and what Rasa receives."""

    title: str
    payload: str


# ---------------------------------------------------------------- normalisation


def normalize(text: str) -> str:
    """NFKC, lower case, without spaces, punctuation and symbols (①②… fold to digits)."""
    folded = unicodedata.normalize("NFKC", text or "").lower()
    return "".join(ch for ch in folded if unicodedata.category(ch)[0] in "LN")


def strip_fillers(text: str, *, prefixes: bool = True) -> str:
    """A normalised text without leading and trailing fillers (好的, 我要, 吧 ...); never empty
    unless the text is nothing but fillers. ``prefixes=False`` drops trailing ones only
    ("好的吧" -> "好的")."""
    changed = True
    while changed and text:
        changed = False
        for filler in PREFIX_FILLERS if prefixes else ():
            if text.startswith(filler) and len(text) > len(filler):
                text, changed = text[len(filler):], True
                break
        for filler in SUFFIX_FILLERS:
            if text.endswith(filler) and len(text) > len(filler):
                text, changed = text[: -len(filler)], True
                break
    return text


def _forms(text: str) -> set[str]:
    """The normalised text, with and without fillers (non-empty forms only)."""
    base = normalize(text)
    return {form for form in (base, strip_fillers(base)) if form}


# ---------------------------------------------------------------- tracker events


def offered_choices(events: Iterable[dict]) -> list[Choice]:
    """Buttons of the bot messages since the citizen last spoke (tracker events as dicts:
    event == "bot", data.buttons = [{title, payload}]), in order.

    A human agent's message (a bot event with ``metadata.agent``), a restart or a new session
    after the buttons also makes them stale. Identical buttons offered twice count once; a
    button without a title is shown by Rasa with its payload, and is kept under it.
    """
    choices: list[Choice] = []
    for event in events:
        if not isinstance(event, dict):
            continue
        kind = event.get("event")
        if kind in ("user", "restart", "session_started"):
            choices = []
        elif kind == "bot":
            buttons = (event.get("data") or {}).get("buttons")
            if not buttons and (event.get("metadata") or {}).get("agent"):
                choices = []
                continue
            for button in buttons if isinstance(buttons, list) else []:
                if not isinstance(button, dict):
                    continue
                payload = button.get("payload")
                if not isinstance(payload, str) or not payload.strip():
                    continue
                title = str(button.get("title") or payload).strip()
                choice = Choice(title=title, payload=payload)
                if choice not in choices:
                    choices.append(choice)
    return choices


# ---------------------------------------------------------------- synonyms


@dataclass(frozen=True)
class SynonymGroup:
    """Whole replies that choose one kind of button (see ``choice_synonyms.yml``)."""

    name: str
    anchors: tuple[tuple[str, str], ...]  # (kind, value), kind in title / payload / payload_contains
    phrases: frozenset[str]

    def fits(self, choice: Choice) -> bool:
        """Whether an offered button is of this group's kind."""
        title = normalize(choice.title)
        for kind, value in self.anchors:
            if kind == "title" and normalize(value) and normalize(value) in title:
                return True
            if kind == "payload" and choice.payload.strip() == value:
                return True
            if kind == "payload_contains" and value in choice.payload:
                return True
        return False


def load_synonyms(path: Path = SYNONYMS_FILE) -> tuple[SynonymGroup, ...]:
    """Read the synonym groups; a malformed file is a clear error naming it."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read choice synonyms from {path}: {exc}") from exc
    groups = []
    for raw in data.get("groups") or []:
        anchors = []
        for anchor in raw.get("anchors") or []:
            for kind, value in (anchor or {}).items():
                if kind not in ("title", "payload", "payload_contains") or not isinstance(value, str):
                    raise ValueError(f"{path}: group {raw.get('name')!r} has a bad anchor {anchor!r}")
                anchors.append((kind, value))
        phrases = frozenset(form for phrase in raw.get("phrases") or [] for form in _forms(str(phrase)))
        if not anchors or not phrases:
            raise ValueError(f"{path}: group {raw.get('name')!r} needs anchors and phrases")
        groups.append(SynonymGroup(str(raw.get("name") or ""), tuple(anchors), phrases))
    return tuple(groups)


@lru_cache(maxsize=1)
def default_synonyms() -> tuple[SynonymGroup, ...]:
    """The project's synonym groups, read once."""
    return load_synonyms()


# ---------------------------------------------------------------- resolving


def _decide(found: Sequence[Choice]) -> tuple[bool, Optional[Choice]]:
    """(decided, choice): one payload decides; several different payloads decide None."""
    payloads = {c.payload for c in found}
    if not payloads:
        return False, None
    if len(payloads) > 1:
        return True, None
    return True, found[0]


def _ordinal_index(form: str, count: int, numbered: bool) -> Optional[int]:
    """The 0-based index an ordinal reply points at, or None."""
    if form in _FIRST_WORDS:
        return 0
    if form in _LAST_WORDS:
        return count - 1
    if form in _FIRST_OF_TWO_WORDS:
        return 0 if count == 2 else None
    if form in _LAST_OF_TWO_WORDS:
        return 1 if count == 2 else None
    if form in _MIDDLE_WORDS:
        return 1 if count == 3 else None
    match = _ORDINAL_RE.match(form)
    if not match:
        return None
    explicit, number, _unit = match.groups()
    if not (explicit or _unit or numbered or count >= 2):
        return None
    value = int(number) if number.isdigit() else _chinese_number(number)
    if value is None or not 1 <= value <= count:
        return None
    return value - 1


def _chinese_number(text: str) -> Optional[int]:
    """一..九十九 as an int (十, 十二, 二十, 二十三), else None."""
    if "十" not in text:
        return _DIGITS.get(text) if len(text) == 1 else None
    tens, _, ones = text.partition("十")
    if "十" in ones:
        return None
    tens_value = _DIGITS.get(tens, None) if tens else 1
    ones_value = _DIGITS.get(ones, None) if ones else 0
    if tens_value is None or ones_value is None:
        return None
    return tens_value * 10 + ones_value


def _yes_no(choices: Sequence[Choice]) -> Optional[tuple[Choice, Choice]]:
    """(yes, no) when a two-button offer reads as a yes/no question, else None."""
    if len(choices) != 2:
        return None

    def says_no(c: Choice) -> bool:
        return c.payload.strip() == "/deny" or normalize(c.title) in NO_TITLES

    def says_yes(c: Choice) -> bool:
        return c.payload.strip() == "/affirm" or normalize(c.title) in YES_TITLES

    first, second = choices
    if says_no(second) and not says_no(first):
        return first, second
    if says_no(first) and not says_no(second):
        return second, first
    if says_yes(first) and not says_yes(second):  # e.g. 有用 / 一般: the other is the no
        return first, second
    if says_yes(second) and not says_yes(first):
        return second, first
    return None


def resolve_choice(
    text: str,
    choices: Sequence[Choice],
    *,
    numbered: bool = False,
    synonyms: Optional[Sequence[SynonymGroup]] = None,
) -> Choice | None:
    """The offered button a typed reply picks, or None when it picks none or is ambiguous.

    Args:
        text: What the citizen typed.
        choices: The buttons offered since the citizen last spoke, in display order.
        numbered: The channel showed the buttons numbered (WeChat): a bare number then picks
            even a lone button.
        synonyms: Synonym groups (default: ``xiaoan/resources/choice_synonyms.yml``).

    Returns:
        The chosen button, or None (see the module docstring for the rules).
    """
    if not choices or not isinstance(text, str):
        return None
    raw = unicodedata.normalize("NFKC", text).strip()
    if not raw or raw.startswith("/"):
        return None
    base = normalize(raw)
    if not base:
        return None
    core = strip_fillers(base)
    text_forms = {base, core, strip_fillers(base, prefixes=False)}
    titles = [(c, normalize(c.title)) for c in choices]
    title_forms = [(c, {t for t in (title, strip_fillers(title)) if t}) for c, title in titles]

    # 1. exact title
    decided, choice = _decide([c for c, forms in title_forms if forms & text_forms])
    if decided:
        return choice

    # 2. ordinal
    for form in sorted(text_forms, key=len, reverse=True):
        index = _ordinal_index(form, len(choices), numbered)
        if index is not None:
            return choices[index]

    # 3. a title inside the reply, with only a tiny, non-negating remainder
    found = []
    for c, forms in title_forms:
        for form in sorted(forms, key=len, reverse=True):
            if form in core and len(form) >= MIN_PART:
                rest = core.replace(form, "", 1)
                if len(rest) <= MAX_REMAINDER and not NEGATIONS.intersection(rest):
                    found.append(c)
                    break
    decided, choice = _decide(found)
    if decided:
        return choice

    # 4. the reply is a part of one title
    if len(core) >= MIN_PART:
        decided, choice = _decide([c for c, title in titles if core in title])
        if decided:
            return choice

    # 5. synonyms
    groups = default_synonyms() if synonyms is None else synonyms
    found = []
    for group in groups:
        if text_forms & group.phrases:
            fitting = [c for c in choices if group.fits(c)]
            if len({c.payload for c in fitting}) == 1:
                found.append(fitting[0])
    decided, choice = _decide(found)
    if decided:
        return choice

    # 6. yes / no for a two-way offer
    pair = _yes_no(choices)
    if pair is not None:
        yes, no = pair
        if text_forms & YES_WORDS:
            return yes
        if yes.payload.strip() == "/cancel" and text_forms & CANCEL_WORDS:
            return yes  # "要取消吗？" [确认取消 | 继续填写]: 算了 confirms the cancel
        if text_forms & NO_WORDS:
            return no
    return None


def as_choices(raw: Iterable[Any]) -> list[Choice]:
    """Choices from ``{"title", "payload"}`` dicts (e.g. the WeChat store), skipping bad ones."""
    out = []
    for item in raw or []:
        if isinstance(item, Choice):
            out.append(item)
        elif isinstance(item, dict) and isinstance(item.get("payload"), str) and item["payload"]:
            out.append(Choice(title=str(item.get("title") or item["payload"]), payload=item["payload"]))
    return out
