"""Questions about another city: Shanghai's rules must not answer them.

The knowledge base holds Shanghai's rules. A citizen who asks 深圳的个体户补贴有哪些 or
在北京注销公司要多久 needs that city's answer, so the caller should say so instead of answering
with Shanghai's entry. `other_city` finds such a city in a question; the names are data in
``xiaoan/resources/cities.txt`` (provinces, regions and prefecture-level cities, plus a few
county-level cities near Shanghai).

A mention does not count when it is:

* a Shanghai road or place named after a city: the name followed by 路/东路/西路/南路/北路/
  中路/支路/街/大道/高架/新村/河/湾 (北京东路, 南京西路, 四川北路, 西藏中路, 苏州河, 杭州湾);
* where the citizen comes from: 从安徽来沪, 我是河南人, 老家四川的, 江西户口, 来自温州;
* a product or dish: 新疆哈密瓜, 云南白药, 北京烤鸭店, 兰州拉面, 绍兴黄酒;
* in a question that also names Shanghai (上海/沪/本市/申城), e.g. moving a company from
  苏州 to 上海, which Shanghai's offices handle.

Usage::

    from xiaoan.kb.locality import other_city
    other_city("成都办食品许可要多久")   # -> "成都"
    other_city("南京西路的店不给退卡")   # -> None
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from xiaoan.config import PROJECT_ROOT

CITIES_FILE = PROJECT_ROOT / "xiaoan" / "resources" / "cities.txt"

#: After a city name: a Shanghai road, river or place named after it, not the city.
_PLACE_AFTER = r"(?:[东西南北中]?[一二三四五六七八九]?(?:路|支路|街|大道|高架|新村)|河|湾)"
#: After a city name: a product or dish from there, or where a person is from.
_THING_AFTER = (
    r"(?:人(?!社|力|民政府)|户口|户籍|籍|身份证|口音|来的|来沪|来上海|过来|"
    r"菜|馆|饭店|酒家|餐厅|风味|口味|小吃|火锅|烤鸭|烤|拉面|面|米粉|粉|螺蛳|瓜|枣|大米|"
    r"茶|黄酒|酒|醋|火腿|特产|白药|枸杞|瓷|丝绸|扒鸡|包子|豆腐|大闸蟹|石|时间)"
)
#: Before a city name: where the citizen comes from.
_ORIGIN_BEFORE = re.compile(r"(?:老家(?:是|在)?|从|来自|出生在|籍贯(?:是)?)$")
#: Shanghai named in the question: the question concerns Shanghai's offices after all.
_SHANGHAI = re.compile(r"上海|沪|本市|申城")
_SUFFIX_FORMS = ("市", "省")


@functools.lru_cache(maxsize=4)
def load_cities(path: Path = CITIES_FILE) -> tuple[tuple[str, str], ...]:
    """The (written form, name returned) pairs of the data file, longest written form first.

    A line ``中山市`` matches only ``中山市`` and returns ``中山``; a line ``深圳`` matches
    ``深圳`` (and so ``深圳市``) and returns ``深圳``.
    """
    pairs: dict[str, str] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        name = line.split("#", 1)[0].strip()
        if not name or name == "上海":
            continue
        shown = name[:-1] if name.endswith(_SUFFIX_FORMS) and len(name) > 2 else name
        pairs[name] = shown
    return tuple(sorted(pairs.items(), key=lambda p: (-len(p[0]), p[0])))


@functools.lru_cache(maxsize=4)
def _pattern(path: Path = CITIES_FILE) -> tuple[re.Pattern[str], dict[str, str]]:
    pairs = load_cities(path)
    alternatives = "|".join(re.escape(written) for written, _ in pairs)
    return re.compile(f"(?:{alternatives})"), dict(pairs)


def other_city(text: str, *, path: Path = CITIES_FILE) -> str | None:
    """The other Chinese city or province a question is about, or None for Shanghai.

    Args:
        text: the citizen's question.
        path: the city list (default ``xiaoan/resources/cities.txt``).

    Returns:
        The first city or province that is not a Shanghai road or place, not where the
        citizen comes from and not a product's origin, e.g. ``"深圳"``; None when there is
        none, or when the question also names Shanghai.
    """
    if not text:
        return None
    if _SHANGHAI.search(text):
        return None
    pattern, shown = _pattern(path)
    for match in pattern.finditer(text):
        after = text[match.end():]
        before = text[: match.start()]
        inner = pattern.match(after)  # 新疆哈密瓜: a region, then a city, then the product
        if inner is not None:
            after = after[inner.end():]
        if re.match(_PLACE_AFTER, after) or re.match(_THING_AFTER, after):
            continue
        if _ORIGIN_BEFORE.search(before):
            continue
        return shown[match.group(0)]
    return None
