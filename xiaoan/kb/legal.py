"""The register of legal instruments (``resources/laws.yml``) and the reading of an entry's `basis`.

An entry's basis names the law, regulation or rule it rests on, e.g.
``《中华人民共和国消费者权益保护法》第二十五条；《上海市消费者权益保护条例》第二十六条``. This module

- loads the register (`load_register`, cached until the file changes) and checks it
  (`validate_register`: required fields, levels, dates, successors, no name naming two instruments);
- reads a basis into citations (`parse_basis`): each part separated by ；/; or a new line, every
  《title》 in it with the articles written after it (第二十五条、第三十九条第一款 …, Chinese or Arabic
  numerals), ``《X》及其实施细则`` as two citations, document numbers such as 沪府办〔2018〕62号 or
  市场监管总局令第121号 with or without 《》;
- finds what is wrong with a basis (`basis_problems`): missing, an instrument that is not in the
  register, one that has been repealed, text naming no instrument at all.

Usage::

    register = load_register()
    for citation in parse_basis(entry.basis, register):
        print(citation.title, citation.articles, citation.instrument.status if citation.instrument else None)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import unicodedata
from pathlib import Path
from typing import Any

from xiaoan.datafiles import load_cached
from xiaoan.kb.schema import read_date

REGISTER_FILE = Path(__file__).resolve().parent.parent / "resources" / "laws.yml"

LEVELS: dict[str, str] = {
    "law": "法律",
    "administrative_regulation": "行政法规",
    "departmental_rule": "部门规章",
    "local_regulation": "地方性法规",
    "local_rule": "地方政府规章",
    "normative_document": "规范性文件",
}
LAW_STATUSES: dict[str, str] = {"in_force": "现行有效", "amended": "已修改（现行有效）", "repealed": "已废止"}

_FIELDS = {"id", "title", "aliases", "level", "issuer", "effective", "amendments", "status", "superseded_by",
           "repealed_on", "note"}
_ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class RegisterError(ValueError):
    """The register file is unreadable or invalid; the message names the file and every problem."""


@dataclasses.dataclass(frozen=True)
class Instrument:
    """One law, regulation, rule or document of the register.

    Attributes:
        id: short English slug.
        title: full official title (without 《》).
        aliases: other names it is cited by (short names, document numbers).
        level: a key of `LEVELS`.
        issuer: who adopted or issued it.
        effective: the day the version in force now took effect, or None when not verified.
        amendments: days amended texts took effect, oldest first.
        status: a key of `LAW_STATUSES`.
        superseded_by: id of the instrument that replaced it.
        repealed_on: the day it ceased to apply.
        note: what is not verified (Chinese).
    """

    id: str
    title: str
    aliases: tuple[str, ...]
    level: str
    issuer: str
    effective: dt.date | None
    amendments: tuple[dt.date, ...] = ()
    status: str = "in_force"
    superseded_by: str | None = None
    repealed_on: dt.date | None = None
    note: str | None = None

    @property
    def last_changed(self) -> dt.date | None:
        """The day its newest amendment took effect (None: never amended, or not recorded)."""
        return max(self.amendments) if self.amendments else None

    @property
    def repealed(self) -> bool:
        """Whether it no longer applies."""
        return self.status == "repealed"


@dataclasses.dataclass(frozen=True)
class Register:
    """Every instrument, and the lookup of a cited name."""

    instruments: tuple[Instrument, ...]
    _names: dict[str, Instrument] = dataclasses.field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for instrument in self.instruments:
            for name in (instrument.title, *instrument.aliases):
                self._names.setdefault(name_key(name), instrument)

    def __len__(self) -> int:
        return len(self.instruments)

    def by_id(self, instrument_id: str) -> Instrument | None:
        """An instrument by id."""
        return next((i for i in self.instruments if i.id == instrument_id), None)

    def find(self, name: str) -> Instrument | None:
        """The instrument a cited title, short name or document number refers to."""
        return self._names.get(name_key(name))


@dataclasses.dataclass(frozen=True)
class Citation:
    """One instrument named in a basis.

    Attributes:
        text: the part of the basis it was read from.
        title: the name as written (without 《》), or the document number.
        articles: article numbers cited after it (empty: the instrument as a whole).
        instrument: the register's instrument, or None when the name is not in the register.
    """

    text: str
    title: str
    articles: tuple[int, ...] = ()
    instrument: Instrument | None = None


@dataclasses.dataclass(frozen=True)
class BasisProblem:
    """Something wrong with a basis.

    Attributes:
        code: ``missing`` | ``unknown`` (not in the register) | ``unparsed`` (names no instrument)
            | ``repealed``.
        message: Chinese, for the maintainers.
        citation: the citation concerned, if any.
    """

    code: str
    message: str
    citation: Citation | None = None


# --- names and numbers -------------------------------------------------------------------------

_BRACKETS = str.maketrans({"〔": "[", "〕": "]", "［": "[", "］": "]", "【": "[", "】": "]", "(": "(", ")": ")"})
_PREFIX = "中华人民共和国"


def name_key(name: str) -> str:
    """A name reduced for lookup: NFKC, no spaces, no 《》 or quotes, brackets unified, without the
    leading 中华人民共和国 (``《中华人民共和国公司法》`` and ``公司法`` are one key)."""
    text = unicodedata.normalize("NFKC", name or "").translate(_BRACKETS)
    text = re.sub(r"[\s《》〈〉“”\"']", "", text)
    text = text.replace("(", "[").replace(")", "]")  # （2018）62号 as 〔2018〕62号
    if text.startswith(_PREFIX) and len(text) > len(_PREFIX):
        text = text[len(_PREFIX):]
    return text.lower()


_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000}


def chinese_number(text: str) -> int | None:
    """An article number written in Chinese (一百四十八 -> 148, 二十 -> 20, 十 -> 10) or digits."""
    text = unicodedata.normalize("NFKC", text or "").strip()
    if text.isdigit():
        return int(text)
    if not text or any(ch not in _DIGITS and ch not in _UNITS for ch in text):
        return None
    total, digit = 0, None
    for ch in text:
        if ch in _DIGITS:
            digit = _DIGITS[ch]
        else:
            total += (1 if digit is None else digit) * _UNITS[ch]
            digit = None
    return total + (digit or 0)


# --- reading a basis ---------------------------------------------------------------------------

_PART_SPLIT = re.compile(r"[；;\n]+")
_TITLE_RE = re.compile(r"《([^《》]{2,80})》")
_NUM = r"[0-9０-９零〇一二两三四五六七八九十百千]+"
_ARTICLE_RE = re.compile(rf"第({_NUM})条")
#: what may sit between two article references of one instrument: 款/项 details, 、 和 及 至 …
_ARTICLE_GAP = re.compile(rf"^(?:第{_NUM}[款项])*(?:[、，,和及与或至到]|以及)?\s*$")
_DOC_NO_RE = re.compile(
    r"([\u4e00-\u9fff]{1,12}[〔\[［【(（]\s*\d{4}\s*[〕\]］】)）]\s*\d+\s*号"
    r"|[\u4e00-\u9fff]{1,10}令(?:\d{4}年)?第\d+号)"
)
_IMPLEMENTING = ("及其实施细则", "及实施细则", "及其实施条例", "及实施条例")


def parse_basis(basis: str | None, register: Register | None = None) -> list[Citation]:
    """The instruments a basis names, in order (see the module docstring).

    A part with no 《title》 that carries a document number is read as that number; a part with
    neither yields one citation of the whole part with no instrument, so that nothing written
    is silently dropped. With `register`, each citation carries the instrument it refers to.
    """
    register = register or Register(())
    citations: list[Citation] = []
    for part in _PART_SPLIT.split(basis or ""):
        part = part.strip().strip("。.，,")
        if not part:
            continue
        titles = list(_TITLE_RE.finditer(part))
        if not titles:
            numbers = _DOC_NO_RE.findall(part)
            if numbers:
                citations.extend(_number_citation(part, n, register) for n in numbers)
            else:
                citations.append(Citation(text=part, title=part, instrument=register.find(part)))
            continue
        for i, match in enumerate(titles):
            title = match.group(1).strip()
            tail_end = titles[i + 1].start() if i + 1 < len(titles) else len(part)
            tail = part[match.end():tail_end]
            instrument = register.find(title)
            if instrument is None:  # 《…》（市场监管总局令第121号）: the number may be known
                for number in _DOC_NO_RE.findall(tail[:40]):
                    instrument = _number_citation(part, number, register).instrument
                    if instrument is not None:
                        break
            citations.append(Citation(text=part, title=title, articles=_articles(tail), instrument=instrument))
            if any(tail.lstrip().startswith(word) for word in _IMPLEMENTING):
                suffix = "实施细则" if "细则" in tail[:6] else "实施条例"
                citations.append(_citation(part, title + suffix, (), register))
    return citations


def _citation(text: str, title: str, articles: tuple[int, ...], register: Register) -> Citation:
    return Citation(text=text, title=title, articles=articles, instrument=register.find(title))


def _number_citation(text: str, number: str, register: Register) -> Citation:
    """A document number; the pattern may have taken words before the issuer's abbreviation
    (依据沪府办规〔2024〕2号), so shorter and shorter prefixes are tried."""
    for start in range(len(number)):
        if number[start] in "〔[［【(（令":
            break
        instrument = register.find(number[start:])
        if instrument is not None:
            return Citation(text=text, title=number[start:], instrument=instrument)
    return Citation(text=text, title=number)


def _articles(tail: str) -> tuple[int, ...]:
    """Article numbers written right after a title (stops at the first unrelated words)."""
    numbers: list[int] = []
    position = 0
    # skip a parenthesis right after the title: 《公司法》（2024年7月1日起施行）第四十七条
    lead = re.match(r"\s*[（(][^）)]*[）)]", tail)
    if lead:
        position = lead.end()
    for match in _ARTICLE_RE.finditer(tail, position):
        if not _ARTICLE_GAP.match(tail[position:match.start()]):
            break
        number = chinese_number(match.group(1))
        if number is not None:
            numbers.append(number)
        position = match.end()
    return tuple(numbers)


def basis_problems(basis: str | None, register: Register) -> list[BasisProblem]:
    """What is wrong with a basis: missing, not in the register, names no instrument, repealed."""
    if not basis or not basis.strip():
        return [BasisProblem("missing", "没有填写法律依据")]
    problems: list[BasisProblem] = []
    for citation in parse_basis(basis, register):
        instrument = citation.instrument
        if instrument is None:
            if citation.title == citation.text and not _TITLE_RE.search(citation.text):
                problems.append(BasisProblem(
                    "unparsed", f"依据“{citation.text}”没有写出法规名称（请用《法规全称》第某条）", citation))
            else:
                problems.append(BasisProblem(
                    "unknown", f"《{citation.title}》不在法规库中（名称写错了，或需要加入 laws.yml）", citation))
        elif instrument.repealed:
            successor = None
            if instrument.superseded_by:
                successor = next((i for i in register.instruments if i.id == instrument.superseded_by), None)
            when = f"已于 {instrument.repealed_on.isoformat()} 废止" if instrument.repealed_on else "已废止"
            then = f"，由《{successor.title}》取代" if successor else ""
            problems.append(BasisProblem("repealed", f"《{instrument.title}》{when}{then}", citation))
    return problems


# --- the register ------------------------------------------------------------------------------


def validate_register(data: Any) -> tuple[list[Instrument], list[str]]:
    """Check the register's content (the document `yaml.safe_load` read).

    Returns:
        ``(instruments, errors)``: every valid instrument, and Chinese messages naming the item
        of each problem (none when the register is valid).
    """
    errors: list[str] = []
    items = data.get("instruments") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return [], ["法规库应有 instruments 列表"]
    instruments: list[Instrument] = []
    for n, raw in enumerate(items, start=1):
        where = f"第 {n} 项"
        if not isinstance(raw, dict):
            errors.append(f"{where}应为“字段: 值”的映射")
            continue
        where = f"第 {n} 项（{raw.get('id') or raw.get('title') or '无编号'}）"
        problems: list[str] = []
        unknown = sorted(set(map(str, raw)) - _FIELDS)
        if unknown:
            problems.append(f"未知字段 {'、'.join(unknown)}")
        iid, title, issuer = raw.get("id"), raw.get("title"), raw.get("issuer")
        if not isinstance(iid, str) or not _ID_RE.match(iid):
            problems.append("编号 id 应为小写英文、数字和连字符")
        if not isinstance(title, str) or not title.strip():
            problems.append("缺少标题 title")
        elif "《" in title or "》" in title:
            problems.append("标题不要带书名号")
        if not isinstance(issuer, str) or not issuer.strip():
            problems.append("缺少制定机关 issuer")
        level, status = raw.get("level"), raw.get("status")
        if level not in LEVELS:
            problems.append(f"层级 level 应为 {'、'.join(LEVELS)} 之一")
        if status not in LAW_STATUSES:
            problems.append(f"状态 status 应为 {'、'.join(LAW_STATUSES)} 之一")
        aliases = raw.get("aliases") or []
        if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
            problems.append("别名 aliases 应为文字列表")
            aliases = []
        effective = _date(raw.get("effective"), "施行日期 effective", problems)
        repealed_on = _date(raw.get("repealed_on"), "废止日期 repealed_on", problems)
        amendments_raw = raw.get("amendments") or []
        amendments: list[dt.date] = []
        if not isinstance(amendments_raw, list):
            problems.append("修改日期 amendments 应为日期列表")
        else:
            amendments = [d for d in (_date(v, "修改日期 amendments", problems) for v in amendments_raw) if d]
            if amendments != sorted(set(amendments)):
                problems.append("修改日期 amendments 应从早到晚排列且不重复")
            if amendments and effective and max(amendments) > effective and status != "repealed":
                problems.append(f"最近一次修改（{max(amendments).isoformat()}）晚于现行版本施行日期 effective")
        if status == "amended" and not amendments:
            problems.append("状态为 amended（已修改）时应写出修改日期 amendments")
        if status == "repealed":
            if repealed_on is None:
                problems.append("已废止的应写出废止日期 repealed_on")
        elif raw.get("superseded_by") or repealed_on:
            problems.append("只有已废止（repealed）的才能有 superseded_by / repealed_on")
        if problems:
            errors.append(f"{where}：{'；'.join(problems)}")
            continue
        instruments.append(Instrument(
            id=iid, title=title.strip(), aliases=tuple(a.strip() for a in aliases), level=level,
            issuer=issuer.strip(), effective=effective, amendments=tuple(amendments), status=status,
            superseded_by=raw.get("superseded_by") or None, repealed_on=repealed_on,
            note=(str(raw["note"]).strip() or None) if raw.get("note") else None,
        ))
    ids = [i.id for i in instruments]
    for iid in sorted({i for i in ids if ids.count(i) > 1}):
        errors.append(f"编号“{iid}”重复")
    known = set(ids)
    for instrument in instruments:
        if instrument.superseded_by and instrument.superseded_by not in known:
            errors.append(f"“{instrument.id}”的 superseded_by“{instrument.superseded_by}”不在法规库中")
        if instrument.superseded_by == instrument.id:
            errors.append(f"“{instrument.id}”不能被自己取代")
    owners: dict[str, str] = {}
    for instrument in instruments:
        for name in dict.fromkeys(name_key(n) for n in (instrument.title, *instrument.aliases)):
            other = owners.setdefault(name, instrument.id)
            if other != instrument.id:
                errors.append(f"名称“{name}”同时指向“{other}”和“{instrument.id}”")
    return instruments, errors


def _date(value: Any, label: str, problems: list[str]) -> dt.date | None:
    try:
        return read_date(value)
    except ValueError:
        problems.append(f"{label}“{value}”应为 YYYY-MM-DD")
        return None


def parse_register(data: Any, source: str) -> Register:
    """The register from its YAML document.

    Raises:
        RegisterError: any problem (all of them, naming `source`).
    """
    instruments, errors = validate_register(data)
    if errors:
        raise RegisterError(f"{source}: " + "\n".join(errors))
    return Register(tuple(instruments))


def load_register(path: str | Path | None = None) -> Register:
    """The register (default ``resources/laws.yml``), cached until the file changes.

    Raises:
        RegisterError: unreadable or invalid.
    """
    return load_cached(path or REGISTER_FILE, parse_register, RegisterError, what="the legal register")
