"""Personal names in what citizens type: a whole answer to "您的姓名?" or a name inside a message.

A two-character string is a name only in context: "李明" after "请问您的真实姓名是？" is a name,
"马上" is not. No classifier is needed for that: a surname table (single and compound surnames,
``xiaoan/resources/surnames.txt``), length and character checks, and jieba's dictionary to tell
ordinary words ("高兴", "时间", "任何" start with a surname too) from names.

Public functions:

- :func:`parse_name` — the whole answer -> the name, or None
- :func:`find_name` — a name inside a longer message, using cue words (我叫/我是/本人/姓名)
- :func:`is_non_answer` — "好的", "不知道", "不想说" ... (shared by the other parsers)
- :func:`load_surnames` — the surname table (surname -> rank)
- :func:`preload` — read jieba's dictionary now (the first name check otherwise takes ~1 s)

Pure Python without Rasa; deterministic. jieba's dictionary is read once, on first use.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from pathlib import Path

SURNAMES_PATH = Path(__file__).resolve().parent.parent / "resources" / "surnames.txt"

_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN_RE = re.compile(f"[{_HAN}]")
_HAN_ONLY_RE = re.compile(f"[{_HAN}]+")

# Replies that answer nothing, whatever was asked. Kept here, the lowest module of the package,
# so that merchants, addresses and slots share one list.
_NON_ANSWER_RE = re.compile(
    r"(?:不知道|不清楚|不记得|记不清|记不得|忘了|忘记了|不晓得|不确定|没有|没有了|没了|无|没|不|"
    r"不想说|不方便|不方便说|不告诉你|不想告诉你|保密|隐私|不愿意说|不说|随便|随意|都行|都可以|算了|算了吧|"
    r"嗯+|哦+|噢+|啊+|呃+|额+|好+|好的|好吧|好滴|行|行吧|可以|ok|okay|yes|no|对|对的|对啊|是|是的|是啊|不是|不对|"
    r"确认|确定|没问题|提交|继续|下一步|跳过|不用了|不需要|不要|干嘛|为什么|什么|啥|你猜|"
    r"谢谢|你好|您好|在吗|喂|哈+|呵+|"
    # steering the form, not answering it: "算了不弄了" (stop), "继续填写" (go on)
    r"(?:算了)?(?:我)?不(?:想)?(?:弄|填|写|投诉|举报|办|搞)了|算了不要了|放弃|取消|撤销|"
    r"继续填写?|接着填写?|继续吧|接着来|回到刚才|继续刚才的)",
    re.IGNORECASE,
)
_TRIM_CHARS = " \t\r\n。.！!？?，,、；;：:~～…—-\"'“”‘’「」『』()（）[]【】"


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def is_non_answer(text: str | None) -> bool:
    """Whether a reply answers nothing ("好的", "嗯嗯", "不知道", "不想说", "算了吧", "无").

    Punctuation, spaces and a trailing particle (啊/呀/吧/呢) are ignored; the reply must be the
    non-answer as a whole ("不知道店名" is an answer of sorts, "不知道啊" is not).

    Args:
        text: The reply.

    Returns:
        True when the reply carries no value; False for an empty reply too (nothing to judge).
    """
    if not text:
        return False
    plain = _nfkc(str(text)).strip(_TRIM_CHARS).lower()
    plain = re.sub(r"\s+", "", plain)
    if not plain:
        return False
    if _NON_ANSWER_RE.fullmatch(plain):
        return True
    stripped = re.sub(r"[啊呀吧呢哈嘛哦喔]+$", "", plain).strip(_TRIM_CHARS)
    return bool(stripped) and bool(_NON_ANSWER_RE.fullmatch(stripped))


# --------------------------------------------------------------------------------------------
# Resources
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def load_surnames(path: str | Path | None = None) -> dict[str, int]:
    """The surname table: surname -> rank (1 = most common); compound surnames included.

    Args:
        path: Another table (tests); default ``xiaoan/resources/surnames.txt``.

    Raises:
        ValueError: a line is not "surname rank".
    """
    table: dict[str, int] = {}
    source = Path(path) if path else SURNAMES_PATH
    for number, raw in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2 or not _HAN_ONLY_RE.fullmatch(parts[0]) or not parts[1].isdigit():
            raise ValueError(f"{source}:{number}: expected 'surname rank', got {raw!r}")
        table.setdefault(parts[0], int(parts[1]))
    return table


@functools.lru_cache(maxsize=1)
def _jieba_words() -> tuple[dict[str, int], dict[str, str]]:
    """jieba's dictionary: word -> frequency and word -> part-of-speech tag (read once)."""
    import jieba
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba.dt.FREQ, jieba.posseg.dt.word_tag_tab


def preload() -> None:
    """Read jieba's dictionary now (about a second) rather than on the first name answer.

    For servers: call once at start-up so that no citizen waits for it.
    """
    _jieba_words()


# A dictionary word tagged as a person name (nr) this often or more is mostly used as a word:
# jieba tags 明白 (10875) as nr, while real names it knows (宋江 2862, 高峰 1556) are rarer.
_COMMON_WORD_FREQ = 5000
# Entries rarer than this are mostly noise of jieba's corpus (夏侯惇 is listed as a place, 3):
# a citizen answering the name question with such a rare word is less likely than a name.
_RARE_WORD_FREQ = 30
# Surnames ranked from here on in surnames.txt are also everyday characters (see _is_han_name).
_WORDLIKE_SURNAME_RANK = 600


def _is_dictionary_word(text: str) -> bool:
    """Whether `text` is an ordinary word of jieba's dictionary rather than a person's name.

    "高兴", "马上", "时间", "任何", "余额" start with a surname but are words; a word jieba
    tags ``nr`` (person name) is not taken for a word unless it is very common (明白).
    """
    freq, tags = _jieba_words()
    count = freq.get(text) or 0
    if count < _RARE_WORD_FREQ:
        return False
    tag = tags.get(text, "")
    return not tag.startswith("nr") or count >= _COMMON_WORD_FREQ


# --------------------------------------------------------------------------------------------
# Name checks
# --------------------------------------------------------------------------------------------

# Characters that (almost) never occur in a given name but are everywhere in sentences:
# particles, pronouns, negations, question words and the words of a complaint. A candidate whose
# given-name part contains one is a phrase ("钱不够", "王怎么还没回") not a name. Characters
# that do occur in given names (有 可 以 来 家) are deliberately not listed.
_NOT_IN_GIVEN_NAMES = frozenset(
    "的了吗呢吧啊呀么嘛哦嗯哈呵唉哎喂什怎哪谁没不是在要会能想给让被把从到去说做这那个们你您我他她它很太都也还就"
    "又再已经过着得吃喝买卖退款钱店铺商司电话号码地址投诉举报反映处理问题谢请帮办事情况知道")

# Titles kept with the surname: "王先生", "李女士", "张阿姨" are how many citizens give a name.
_TITLES = ("先生", "女士", "小姐", "阿姨", "老师", "师傅", "大爷", "大姐", "大哥", "阿婆", "老伯", "同学", "太太")
_TITLE_RE = re.compile("(?:" + "|".join(_TITLES) + ")$")

# Answer prefixes, longest first; optional fillers before them ("嗯，我叫...", "那个，李明").
_FILLER_RE = re.compile(r"^(?:(?:嗯+|哦+|噢+|呃+|额+|啊+|那个|就是|这个|好的|好|对|是这样)[，,、。.\s~～…]*)+")
_PREFIX_RE = re.compile(
    r"^(?:我的?(?:真实)?(?:名字|姓名)(?:是|叫)?|(?:真实)?(?:名字|姓名)(?:是|叫)?|我叫做?|我是|本人(?:叫|是|姓名)?|"
    r"叫我|你叫我|称呼我|我名叫|名叫|叫做?|就叫|是)[:：\s]*"
)
_SURNAME_ONLY_RE = re.compile(rf"^(?:我|本人)?(?:免贵)?姓([{_HAN}]{{1,2}})$")
# Middle-dot variants people type in minority and transliterated names (买买提·艾力).
_DOTS = "·・•‧･.．"  # not 。 or ：: a sentence end is no middle dot
_DOT_NAME_RE = re.compile(rf"[{_HAN}]{{1,10}}(?:·[{_HAN}]{{1,10}}){{1,3}}")
_MAX_NAME_CHARS = 12  # longer replies are sentences unless they are a dotted name


def _surname_of(text: str) -> str | None:
    """The surname `text` starts with, compound surnames first (欧阳 before 欧)."""
    table = load_surnames()
    for length in (4, 3, 2, 1):
        if len(text) > length and text[:length] in table:
            return text[:length]
    if text in table:  # "王" alone: only for 姓王
        return text
    return None


def _clean_answer(text: str) -> str:
    """The answer without fillers, answer prefixes, spaces and trailing punctuation."""
    plain = _nfkc(str(text)).strip()
    plain = plain.strip(_TRIM_CHARS)
    plain = _FILLER_RE.sub("", plain)
    previous = None
    while previous != plain:  # "我的名字是：叫李明" -> "李明"
        previous = plain
        plain = _PREFIX_RE.sub("", plain).strip(_TRIM_CHARS)
    plain = re.sub(r"(?:就行|就好|就可以|即可|吧)$", "", plain)  # "叫我王先生就行"
    return plain.strip(_TRIM_CHARS)


def _is_han_name(name: str, *, cued: bool) -> bool:
    """Whether `name` (Han characters only) looks like surname + given name.

    Args:
        name: The candidate, e.g. "欧阳娜娜".
        cued: The citizen said 我叫/我是/姓名: ordinary words are then accepted as names
            ("我叫高峰"), and four characters after a single surname too.
    """
    if not 2 <= len(name) <= 4 or not _HAN_ONLY_RE.fullmatch(name):
        return False
    surname = _surname_of(name)
    if surname is None or surname == name:
        return False
    given = name[len(surname):]
    if _TITLE_RE.fullmatch(given):
        return True
    if not 1 <= len(given) <= 3 or any(ch in _NOT_IN_GIVEN_NAMES for ch in given):
        return False
    if cued:
        return True
    # A single surname with three given characters is rare; four characters without a cue are
    # far more often a phrase ("何时处理", "高温补贴").
    if len(surname) == 1 and len(given) == 3:
        return False
    if _is_dictionary_word(name):
        return False
    # Rare surnames that are also everyday characters (楼 师 盖 敬 …, rank ≥ 600 in the table):
    # any dictionary entry (师傅, 盖章, 楼上) is a word unless the citizen said it is a name.
    if load_surnames()[surname] >= _WORDLIKE_SURNAME_RANK and _jieba_words()[0].get(name):
        return False
    # Shanghai districts and places (徐汇, 闵行, 七宝) start with surnames too, and jieba tags
    # several of them as names; a bare place is an answer to another question.
    from xiaoan.tickets.validators import resolve_district  # late: keeps this module light

    return resolve_district(name) is None


def has_title(name: str | None) -> bool:
    """Whether `name` is a surname with a title ("彭女士", "王先生") rather than a full name."""
    return bool(name) and bool(_TITLE_RE.search(name)) and _surname_of(name) is not None


def is_full_name(name: str | None, context: str = "") -> bool:
    """Whether `name` (found in `context`) is a person's full name, fit for real-name registration.

    Not: a surname alone ("诸葛", "王"), a surname with a title ("彭女士"), or a name masked in the
    context ("本人诸葛*", "李**", "张某某").
    """
    if not name or has_title(name) or name in load_surnames():
        return False
    if re.search(r"[*＊×某]", name):
        return False
    return not (context and re.search(re.escape(name) + r"[*＊×xX某]", context))


def _dotted_name(text: str) -> str | None:
    """A minority or transliterated name with a middle dot, dots normalised to "·"."""
    unified = re.sub(f"\\s*[{re.escape(_DOTS)}]\\s*", "·", text)
    return unified if _DOT_NAME_RE.fullmatch(unified) else None


# "姓周，叫周惠芬" / "我姓欧阳，全名欧阳娜娜": the surname, then the full name.
_SURNAME_THEN_NAME_RE = re.compile(
    r"^(?:我|本人)?姓([\u3400-\u9fff]{1,2})[，,\s]*(?:叫|名叫|名字叫|全名|全名叫|全名是)[，,:：\s]*([\u3400-\u9fff]{2,5})$")


def parse_name(text: str | None) -> str | None:
    """The name in a whole answer to "请问您的真实姓名是？", or None when it is not a name.

    Accepts a bare name of 2-4 Han characters starting with a known surname (欧阳、司马 ...
    included), with prefixes (我叫/我是/我的名字是/姓名：/本人/叫我), fillers (嗯，/哦/就是/那个)
    and trailing punctuation; a surname only ("姓王", "我姓欧阳" -> "王", "欧阳"); a surname with
    a title ("王先生", "张阿姨", kept as given); dotted minority names ("买买提・艾力" ->
    "买买提·艾力"). Traditional characters are accepted and kept as typed.

    Refuses non-answers (好的, 不告诉你 ...), digits, Latin words, emoji, ordinary words that
    start with a surname ("马上", "高兴": only accepted after 我叫), sentences (a verb or particle
    in the given name, more than 12 characters).

    Args:
        text: The citizen's reply.

    Returns:
        The name as given, or None.
    """
    if not text or len(text) > 40:
        return None
    raw = _nfkc(str(text)).strip().strip(_TRIM_CHARS)
    if not raw or is_non_answer(raw):
        return None
    both = _SURNAME_THEN_NAME_RE.match(raw)
    if both and both.group(2).startswith(both.group(1)):
        return parse_name("我叫" + both.group(2))  # "姓周，叫周惠芬": the full name
    cleaned = _clean_answer(raw)
    if not cleaned or is_non_answer(cleaned):
        return None
    # After 我叫/我是/姓名: the citizen says it is a name, so ordinary words are accepted too.
    cued = bool(_PREFIX_RE.match(_FILLER_RE.sub("", raw)))
    surname_only = _SURNAME_ONLY_RE.match(cleaned)
    if surname_only and surname_only.group(1) in load_surnames():
        return surname_only.group(1)
    dotted = _dotted_name(cleaned)
    if dotted and len(dotted) <= 24:
        return dotted
    compact = re.sub(r"\s+", "", cleaned)
    if len(compact) > _MAX_NAME_CHARS:
        return None
    return compact if _is_han_name(compact, cued=cued) else None


# --------------------------------------------------------------------------------------------
# Names inside a message
# --------------------------------------------------------------------------------------------

# Cue words before a name in a sentence ("我是李娜，电话…", "本人欧阳修，住在…", "姓名：张三").
_CUE_RE = re.compile(r"(?:我的?(?:真实)?(?:名字|姓名)(?:是|叫)?|(?:真实)?(?:姓名|名字)(?:是|叫)?|我叫做?|我是|本人(?:叫|是)?|叫我|我名叫)[:：\s]*")
# Words that end a name when reading rightwards in a sentence: what people say next.
_AFTER_NAME_RE = re.compile(
    r"电话|手机|联系|号码|住在|家住|住址|地址|今年|身份证|微信|在|的|要|想|是|住|来自|从|现在|目前|投诉|举报|反映|"
    r"先生|女士|小姐|阿姨|老师|师傅"
)


def _name_after_cue(tail: str) -> str | None:
    """The name at the start of `tail` (the text right after a cue word), or None."""
    dotted = re.match(rf"[{_HAN}]{{1,6}}(?:[{re.escape(_DOTS)}][{_HAN}]{{1,6}}){{1,3}}", tail)
    if dotted:
        name = _dotted_name(dotted.group(0))
        if name:
            return name
    run = _HAN_ONLY_RE.match(tail)
    if not run:
        return None
    words = run.group(0)
    title = re.match(f"([{_HAN}]{{1,2}}?)(" + "|".join(_TITLES) + ")", words)
    if title and _surname_of(title.group(0)) == title.group(1):
        return title.group(0)  # "我是王先生，..."
    cut = _AFTER_NAME_RE.search(words, 2)  # a name has at least two characters
    if cut:
        words = words[:cut.start()]
    for length in range(min(4, len(words)), 1, -1):
        candidate = words[:length]
        if length == len(words) and _is_han_name(candidate, cued=True):
            return candidate
    return None


# A clause ending like a place (road, street, house number, district, shop) is no bare name.
_PLACE_END_RE = re.compile(r"[路街弄巷号区镇村店厂]$")


def find_name(text: str | None) -> str | None:
    """A person's name inside a longer message, or None when unsure.

    Two ways: after a cue word (我叫/我是/本人/姓名：, "我是李娜，电话13812345678"), or a
    clause that is nothing but a name ("李娜，13812345678"). The name must start with a known
    surname and end where the clause or the name ends (punctuation, digits, or a word like
    电话/住在/在/的 that people say next).

    Args:
        text: The message.

    Returns:
        The name, or None.
    """
    if not text:
        return None
    plain = _nfkc(str(text))
    for cue in _CUE_RE.finditer(plain):
        name = _name_after_cue(plain[cue.end():])
        if name:
            return name
    for clause in re.split(r"[，,。.！!？?；;、\s\d+\-()（）:：]+", plain):
        if clause and len(clause) <= _MAX_NAME_CHARS:
            if _PLACE_END_RE.search(clause):
                continue  # "卫二路535号": a road cut by its house number, not a person
            name = parse_name(clause)
            if name and len(name) > 1:
                return name
    return None
