"""Simulated citizens for the conversation benchmark: seeded, drawn from the data in bench/personas/.

A persona is one citizen filing one complaint or report: the opening message (a short line or a
long letter), the answer it types for every slot the assistant may ask (in varied, realistic
forms), a few scripted behaviours (a correction, a question or a "算了" in the middle of the form)
and the ticket it expects at the end.

Two splits by seed range: ``dev`` (developers may read and debug these) and ``sealed`` (only ever
scored: the benchmark prints aggregate figures for it, never a transcript).

Usage::

    from bench.personas import generate, score_ticket
    for persona in generate("dev", n=20, seed=0):
        ...
        errors = score_ticket(persona, ticket_json)
"""

from __future__ import annotations

import datetime as dt
import functools
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

DATA_DIR = Path(__file__).resolve().parent / "personas"
SPLIT_BASES = {"dev": 1_000_000, "sealed": 50_000_000}
MAX_PER_SEED = 10_000   # personas per (split, seed): keeps the seed ranges of the splits disjoint
MAX_SEED = 4_000
# Compound surnames are about 0.03% of people: at that rate a 300-persona run would almost never
# meet one. They are drawn this often instead (from the listed compounds, by their real shares).
COMPOUND_SHARE = 0.04
LANDLINE_SHARE = 0.08

COMPLAINT_INTENTS = ("complain_refund", "complain_prepaid", "complain_general")
SCORED_FIELDS = ("kind", "agency", "district", "respondent_name", "complainant_name", "phone_masked",
                 "claim", "amount", "deadlines")
# what the citizen types at the read-back's "which field?" question
EDIT_FIELD_LABELS = {"phone": "电话", "complainant_name": "姓名", "amount": "金额",
                     "respondent_name": "商家名称", "respondent_address": "商家地址"}

_DIGITS = "零一二三四五六七八九"


# --- data -----------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _yaml(name: str) -> dict:
    return yaml.safe_load((DATA_DIR / name).read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=None)
def surnames() -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """(single-character surnames, compound surnames), each as (surname, share in per cent)."""
    single, compound = [], []
    for line in (DATA_DIR / "surnames.txt").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, share = line.split()
        (compound if len(name) > 1 else single).append((name, float(share)))
    return single, compound


def given_names() -> dict:
    return _yaml("given_names.yml")["generations"]


def roads() -> dict:
    return _yaml("roads.yml")


def merchants() -> dict:
    return _yaml("merchants.yml")


def scenarios() -> dict:
    return _yaml("scenarios.yml")


# --- small renderers ------------------------------------------------------------------------------

def _weighted(rng: random.Random, pairs: list[tuple[str, float]]) -> str:
    names, weights = zip(*pairs)
    return rng.choices(names, weights=weights, k=1)[0]


def chinese_number(value: int) -> str:
    """An integer below 100,000 in Chinese numerals as people say it (2500 -> 两千五百)."""
    if value == 0:
        return "零"
    units = [(10000, "万"), (1000, "千"), (100, "百"), (10, "十"), (1, "")]
    out, zero = [], False
    started = False
    for size, unit in units:
        digit = value // size % 10 if size < 10000 else value // size
        if digit:
            if zero and started:
                out.append("零")
            word = _DIGITS[digit]
            if digit == 2 and unit in ("千", "万", "百") and not started:
                word = "两"
            if not (digit == 1 and unit == "十" and not started):
                out.append(word)
            out.append(unit)
            started, zero = True, False
        elif started:
            zero = True
    return "".join(out)


def render_amount(value: int, rng: random.Random) -> str:
    """A citizen's way of writing an amount of yuan; always means exactly `value`."""
    styles = [f"{value}元", f"{value}块", f"{value}块钱"]
    if value >= 1000:
        styles.append(f"{value:,}元")
    if 1000 <= value < 10000 and value % 100 == 0:
        thousands, hundreds = divmod(value // 100, 10)
        lead = "两" if thousands == 2 else _DIGITS[thousands]
        styles.append(f"{lead}千{_DIGITS[hundreds]}" if hundreds else f"{lead}千")
        styles.append(f"{thousands}千{hundreds}" if hundreds else f"{thousands}千")
    if value >= 10000 and value % 1000 == 0:
        styles.append(f"{value / 10000:g}万")
        styles.append(f"{value / 10000:g}万元")
    if value % 1000 == 0 and value < 100000:
        styles.append(f"{value // 1000}k")
    if value % 100 == 0 and value < 100000:
        styles.append(chinese_number(value) + "元")
    return rng.choice(styles)


def mask_phone(phone: str) -> str:
    """The masked form the ticket shows: first 3 and last 4 digits of a mobile (138****5678)."""
    digits = re.sub(r"\D", "", phone)
    return f"{digits[:3]}****{digits[-4:]}"


def render_phone(phone: str, rng: random.Random) -> str:
    if phone.startswith("021-"):
        local = phone[4:]
        return rng.choice([phone, f"021 {local}", f"021{local}", f"(021){local}"])
    a, b, c = phone[:3], phone[3:7], phone[7:]
    return rng.choice([phone, phone, f"{a} {b} {c}", f"{a}-{b}-{c}", f"+86 {phone}", f"+86-{phone}",
                       f"86{phone}"])


def render_date(rng: random.Random) -> str:
    day = dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(0, 320))
    return rng.choice([f"{day.year}年{day.month}月{day.day}日", f"{day.month}月{day.day}号",
                       f"{day.month}月{day.day}日", f"今年{day.month}月", f"{day.year}.{day.month}.{day.day}",
                       "上个月", "上周六", "前几天", f"{day.month}月初"])


_FILLERS = ["嗯，", "嗯…", "那个，", "呃，", "就是，", ""]


def _filler(rng: random.Random, p: float = 0.25) -> str:
    return rng.choice(_FILLERS[:-1]) if rng.random() < p else ""


# --- the persona ----------------------------------------------------------------------------------

@dataclass
class Persona:
    """One simulated citizen and the ticket it expects.

    `answers` maps a slot name to what the citizen types when asked; `rephrasings` to plainer
    forms it tries when the same question comes again. `wrong` holds the first, wrong answer of
    the slot the citizen corrects (`correction` = "inline": "电话说错了，是…" on the next turn;
    "readback": 修改 at the read-back, then the field, then the right value).
    """

    pid: str
    split: str
    seed: int
    intent: str
    kind: str
    opening: str
    opening_style: str                    # "short" or "letter"
    fallback_opening: str
    answers: dict
    rephrasings: dict
    expected: dict
    claim_words: list
    district_answer: str | None = None    # typed when the assistant asks for the district
    wrong: dict = field(default_factory=dict)
    correction: str | None = None         # None, "inline" or "readback"
    correction_text: str | None = None
    question: tuple | None = None         # (slot, question text): asked when the slot is requested
    cancel_at: str | None = None          # slot at which the citizen says 算了, then 继续填写
    cancel_text: str = "算了"
    # answers to questions the persona's own form does not ask (the assistant opened the other
    # form): a complainant asked 实名/匿名 files in its own name, a reporter asked for a claim has none
    extra_answers: dict = field(default_factory=dict)


def _name(rng: random.Random) -> tuple[str, str]:
    single, compound = surnames()
    surname = _weighted(rng, compound if rng.random() < COMPOUND_SHARE else single)
    gens = given_names()
    gen = _weighted(rng, [(k, v["share"]) for k, v in gens.items()])
    sex = rng.choice(["male", "female"])
    return surname, rng.choice(gens[gen][sex])


def _phone(rng: random.Random) -> str:
    if rng.random() < LANDLINE_SHARE:
        return f"021-{rng.choice('56')}{rng.randrange(1000000, 9999999):07d}"
    prefix = rng.choice(["130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152",
                         "153", "155", "156", "157", "158", "159", "166", "170", "173", "176", "177", "180",
                         "181", "182", "183", "185", "186", "187", "188", "189", "198", "199"])
    return prefix + f"{rng.randrange(0, 10 ** 8):08d}"


def _house_number(rng: random.Random) -> int:
    return rng.choice([rng.randrange(1, 200), rng.randrange(1, 1200), rng.randrange(1, 60)])


def _merchant(rng: random.Random, trade: str, road: str, number: int) -> str:
    data = merchants()
    spec = data["trades"][trade]
    chains = data["chains"]
    patterns = [p for p in spec["patterns"] if "{chain}" not in p or trade in chains]
    pattern = rng.choice(patterns)
    single, _ = surnames()
    return pattern.format(brand=rng.choice(data["brands"]), goods=rng.choice(spec["goods"]), road=road,
                          surname=_weighted(rng, single), chain=rng.choice(chains.get(trade, [""])),
                          number=number)


def _home_address(rng: random.Random) -> str:
    district = rng.choice(list(roads()["districts"]))
    spec = roads()["districts"][district]
    form, road = rng.choice(spec["forms"]), rng.choice(spec["roads"])
    return rng.choice([f"{form}{road}{rng.randrange(1, 900)}弄{rng.randrange(1, 80)}号{rng.randrange(101, 2802)}室",
                       f"{form}{road}{_house_number(rng)}号{rng.randrange(1, 30)}楼{rng.randrange(1, 9)}0{rng.randrange(1, 9)}",
                       f"{form}{road}{rng.randrange(1, 900)}弄{rng.randrange(1, 80)}号{rng.randrange(1, 7)}楼"])


def _pick_scenario(rng: random.Random, intent: str | None = None) -> dict:
    items = [s for s in scenarios()["scenarios"] if intent is None or s["intent"] == intent]
    return rng.choices(items, weights=[s["weight"] for s in items], k=1)[0]


_LETTER_MIDDLE = [
    "之后我多次到店协商，对方一直推脱，要么说老板不在，要么说要请示总部，到今天仍未解决。",
    "我打了很多次客服电话，每次都说会有专人联系，结果一直没有下文。",
    "我找过商家好几次，也在平台上留言投诉，都没有结果，实在没办法才来反映。",
    "和他们沟通时店员态度非常恶劣，还说有本事去告。",
    "付款记录、聊天截图和当时签的协议我都保留着，需要的话可以提供。",
    "当时店员口头承诺随时可以退，现在却翻脸不认账，我觉得这是欺骗消费者。",
    "我年纪大了，来回跑了好几趟，身体也吃不消，希望有关部门能帮帮我们这些普通老百姓。",
    "和我一样情况的还有好几个人，我们建了一个群，大家都很着急。",
    "我也咨询过消保委，工作人员建议我向市场监管部门投诉，所以写了这封信。",
    "我是这家店的老顾客，一直很信任他们，没想到会遇到这种事，心里很不舒服。",
]


def _letter(rng: random.Random, p: dict) -> str:
    """A long letter (about 100-600 characters) carrying the facts, merchant, address, amount, claim."""
    masked = p["surname"] + rng.choice(["**", "*", "某某", "先生" if rng.random() < .5 else "女士"])
    parts = []
    parts.append(rng.choice(["尊敬的市场监督管理局领导：\n您好！", "市场监管局：", "你好，我想反映一个情况。",
                             "您好，", "12345热线工作人员您好：", ""]))
    if rng.random() < 0.6:
        parts.append(rng.choice([f"本人{masked}，家住{p['home_form']}。", f"我是{masked}，一名普通消费者。",
                                 "我是一名普通市民。"]))
    if p["kind"] == "report":
        parts.append(rng.choice([f"我要举报{p['merchant']}，地址在{p['place']}。",
                                 f"现实名反映{p['merchant']}（地址：{p['place']}）的违法问题。",
                                 f"位于{p['place']}的{p['merchant']}存在违法经营行为。"]))
        parts.append(p["facts"])
        parts.append(rng.choice(["周边很多老人小孩都在那里买东西，存在很大的安全隐患。",
                                 "我跟店里说过，对方根本不理会，还说随便我去哪里告。",
                                 "这种情况已经持续好几个月了，附近居民意见很大。", ""]))
        parts.append(rng.choice(["希望执法部门尽快查处，还消费者一个放心的环境。", "请依法查处。",
                                 "恳请贵局派人核查，依法处理。谢谢！"]))
    else:
        parts.append(p["facts"])
        if p["place_in_letter"]:
            parts.append(rng.choice([f"该店地址：{p['place']}。", f"商家地址是{p['place']}。",
                                     f"店在{p['place']}。"]))
        parts += rng.sample(_LETTER_MIDDLE, rng.choice([1, 2, 3, 4, 6]))
        if p["amount_text"]:
            parts.append(rng.choice([f"涉及金额{p['amount_text']}。", f"一共{p['amount_text']}。",
                                     f"这件事涉及{p['amount_text']}。"]))
        parts.append(rng.choice([f"我的诉求：\n1. {p['claim']}；\n2. 请监管部门依法处理。", f"现要求{p['claim']}。",
                                 f"希望贵局帮忙协调，{p['claim']}。", f"诉求：{p['claim']}。"]))
        parts.append(rng.choice(["以上情况属实，请尽快处理，谢谢！", "麻烦你们了。", f"此致\n敬礼！\n{masked}", ""]))
        if rng.random() < 0.25:
            parts.append(f"联系电话：{p['phone']}")
    if len("".join(parts)) < 160:
        parts.insert(-2, rng.choice([m for m in _LETTER_MIDDLE if m not in parts]))
    sep = rng.choice(["\n", "", "\n\n"])
    return sep.join(x for x in parts if x)


def make_persona(split: str, seed: int, index: int) -> Persona:
    """The persona number `index` of (`split`, `seed`): the same arguments give the same persona."""
    if split not in SPLIT_BASES:
        raise ValueError(f"unknown split {split!r}")
    if not 0 <= seed < MAX_SEED or not 0 <= index < MAX_PER_SEED:
        raise ValueError("seed or index out of range")
    persona_seed = SPLIT_BASES[split] + seed * MAX_PER_SEED + index
    rng = random.Random(persona_seed)
    sc = scenarios()
    scenario = _pick_scenario(rng)
    intent = scenario["intent"]
    kind = "report" if intent == "report_violation" else "complaint"
    trade = rng.choice(scenario["trades"])

    # the merchant and where it is
    districts_data = roads()["districts"]
    online = trade == "online"
    platform = rng.choice(merchants()["trades"]["online"]["platforms"]) if online else None
    outside = online and rng.random() < 0.2
    number = _house_number(rng)
    if outside:
        district = None
        place = rng.choice(roads()["outside"]) + f"{number}号"
        road = "总"
    else:
        district = rng.choice(list(districts_data))
        spec = districts_data[district]
        road = rng.choice(spec["roads"])
        place = f"{rng.choice(spec['forms'])}{road}{number}号"
    merchant = _merchant(rng, trade, road, number)

    surname, given = _name(rng)
    name = surname + given
    phone = _phone(rng)
    home = _home_address(rng)
    amount = None
    if scenario.get("amount"):
        lo, hi, step = scenario["amount"]
        amount = rng.randrange(lo, hi + 1, step)
        if rng.random() < 0.5 and amount >= 1000:
            amount = round(amount, -2)
    amount_text = render_amount(amount, rng) if amount else None
    claim = rng.choice(scenario["claims"]) if kind == "complaint" else None
    item = rng.choice(scenario["items"])
    facts = rng.choice(scenario["facts"]).format(merchant=merchant, item=item, date=render_date(rng),
                                                 platform=platform or "", amount=amount_text or "")

    anonymous = kind == "report" and rng.random() < 0.5
    opening_style = "letter" if rng.random() < 0.45 else "short"
    d_forms = districts_data[district]["forms"] if district else []

    # answers by slot
    answers, rephrasings = {}, {}
    answers["complainant_name"] = rng.choice([name, name, f"我叫{name}", f"我是{name}", f"{_filler(rng, 1)}{name}",
                                              f"名字是{name}", f"{name}。", f"姓{surname}，叫{name}"])
    rephrasings["complainant_name"] = [name, f"{name}"]
    phone_text = render_phone(phone, rng)
    answers["phone"] = rng.choice([phone_text, phone_text, f"电话是{phone_text}", f"手机号{phone_text}",
                                   f"{_filler(rng, 1)}{phone_text}", f"我的电话：{phone_text}"])
    rephrasings["phone"] = [phone.replace("-", ""), phone]
    answers["complainant_address"] = rng.choice([home, home, f"住在{home}", f"地址是{home}", f"寄到{home}就行"])
    rephrasings["complainant_address"] = [home if home.startswith("上海") else "上海市" + home]
    answers["respondent_name"] = rng.choice([merchant, merchant, merchant, f"叫{merchant}", f"店名是{merchant}",
                                             f"{_filler(rng, 1)}{merchant}", f"商家是{merchant}"])
    rephrasings["respondent_name"] = [merchant]
    if online:
        answers["respondent_address"] = rng.choice([place, f"店铺资质上写的是{place}", f"营业执照上的地址是{place}",
                                                    f"{place}（平台上显示的）"])
        rephrasings["respondent_address"] = [place]
    else:
        bare = place
        for form in sorted(d_forms, key=len, reverse=True):
            if place.startswith(form):
                bare = place[len(form):]
                break
        district_name = d_forms[0]
        answers["respondent_address"] = rng.choice([place, place, f"在{place}", f"{bare}，{district_name}的",
                                                    f"{place}{rng.randrange(1, 5)}楼", bare])
        rephrasings["respondent_address"] = [place, f"上海市{district_name}{bare}"]
    answers["facts"] = facts
    rephrasings["facts"] = [facts + "就是这样。"]
    if claim:
        answers["claim"] = rng.choice([claim["text"], f"我的诉求是{claim['text']}", f"{_filler(rng, 1)}{claim['text']}",
                                       f"{claim['text']}。"])
        rephrasings["claim"] = [claim["text"]]
    if kind == "complaint":
        if amount:
            answers["amount"] = rng.choice([amount_text, amount_text, f"{_filler(rng, 1)}{amount_text}",
                                            f"一共{amount_text}", f"差不多{amount}元"])
            rephrasings["amount"] = [str(amount), f"{amount}元"]
        else:
            answers["amount"] = rng.choice(["不涉及", "没有金额", "不涉及金额"])
            rephrasings["amount"] = ["不涉及"]
    if kind == "report":
        answers["anonymous"] = rng.choice(["匿名举报", "匿名", "我选匿名", "匿名吧"] if anonymous
                                          else ["实名举报", "实名", "实名吧", "我要实名举报"])
        rephrasings["anonymous"] = ["匿名举报" if anonymous else "实名举报"]
        if anonymous:
            answers.pop("complainant_name"), answers.pop("phone")
        answers.pop("complainant_address")
    answers["confirmation"] = "确认"
    rephrasings["confirmation"] = ["确认", "确认提交"]

    # scripted behaviours
    persona_wrong, correction, correction_text = {}, None, None
    roll = rng.random()
    fields_with_values = [f for f in ("phone", "complainant_name", "amount") if f in answers
                          and not (f == "amount" and not amount)]
    if roll < 0.2 and fields_with_values:
        target = rng.choice(fields_with_values)
        correction = "inline" if roll < 0.12 else "readback"
        if target == "phone":
            digits = list(phone.replace("021-", ""))
            i = rng.randrange(len(digits) - 5, len(digits) - 1)
            digits[i], digits[i + 1] = digits[i + 1], digits[i]
            if digits[i] == digits[i + 1]:
                digits[i + 1] = str((int(digits[i + 1]) + 1) % 10)
            wrong = ("021-" if phone.startswith("021-") else "") + "".join(digits)
            correction_text = rng.choice([f"电话说错了，是{phone}", f"刚才电话号码说错了，正确的是{phone}",
                                          f"不好意思，手机号应该是{phone}"])
        elif target == "complainant_name":
            others = [g for g in given_names()["born_1970s_80s"]["male"] if g != given]
            wrong = surname + rng.choice(others)
            correction_text = rng.choice([f"名字打错了，是{name}", f"不好意思，我叫{name}，刚才打错字了"])
        else:
            wrong = str(amount + rng.choice([100, 1000, -10])) + "元"
            correction_text = rng.choice([f"金额说错了，应该是{amount_text}", f"刚才金额不对，是{amount_text}"])
        persona_wrong[target] = wrong
        if correction == "readback":
            correction_text = None
    question, cancel_at = None, None
    askable = [s for s in ("phone", "respondent_name", "respondent_address", "facts", "claim", "amount", "anonymous")
               if s in answers]
    roll = rng.random()
    if roll < 0.12:
        question = (rng.choice(askable), rng.choice(
            ["投诉一般要多久有结果？", "这个要多久能处理好？", "我的信息会告诉商家吗？", "处理结果会通知我吗？"]
            if kind == "complaint" else ["举报一般多久能查？", "匿名举报能知道结果吗？", "举报有奖励吗？"]))
    elif roll < 0.2:
        cancel_at = rng.choice(askable)

    # the opening
    place_in_letter = rng.random() < 0.75
    if opening_style == "letter":
        opening = _letter(rng, {"surname": surname, "kind": kind, "merchant": merchant, "place": place,
                                "facts": facts, "amount_text": amount_text, "phone": phone,
                                "claim": claim["text"] if claim else "", "place_in_letter": place_in_letter,
                                "home_form": home.split("路")[0] + "路" if "路" in home else home})
    else:
        opening = rng.choice(sc["short_openings"][intent])
    fallback = rng.choice(sc["fallback_openings"][kind])

    if district == "lingang":
        agency = "dist-lingang"
    elif district:
        agency = f"dist-{district}"
    else:
        agency = "city-samr"
    expected = {
        "kind": kind,
        "intent": intent,
        "agency": agency,
        "district": district,
        "respondent_name": merchant,
        "complainant_name": None if anonymous else name,
        "phone": None if anonymous else phone,
        "phone_masked": None if anonymous else mask_phone(phone),
        "amount": float(amount) if amount else None,
        "claim": claim["text"] if claim else None,
        "platform": platform,
        "respondent_address": place,
    }
    return Persona(pid=f"{split}-{seed}-{index:04d}", split=split, seed=persona_seed, intent=intent, kind=kind,
                   opening=opening, opening_style=opening_style, fallback_opening=fallback, answers=answers,
                   rephrasings=rephrasings, expected=expected, claim_words=list(claim["words"]) if claim else [],
                   district_answer=(d_forms[0] if d_forms else "不清楚"), wrong=persona_wrong,
                   correction=correction, correction_text=correction_text, question=question,
                   cancel_at=cancel_at, cancel_text=rng.choice(["算了", "算了不弄了", "算了算了"]),
                   extra_answers={"complainant_address": home, "claim": "请依法查处", "amount": "不涉及",
                                  "anonymous": "实名举报", "complainant_name": name, "phone": phone})


def generate(split: str, n: int, seed: int = 0) -> list[Persona]:
    """`n` personas of a split; the same (split, n, seed) always gives the same list."""
    return [make_persona(split, seed, i) for i in range(n)]


# --- scoring --------------------------------------------------------------------------------------

def _norm(text) -> str:
    if text is None:
        return ""
    return re.sub(r"\s+", "", str(text)).replace("(", "（").replace(")", "）")


def _date(value) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def score_ticket(persona: Persona, ticket: dict | None) -> dict[str, bool]:
    """Which scored fields of the ticket are right (field -> True/False); all False without a ticket."""
    if not ticket:
        return {f: False for f in SCORED_FIELDS}
    exp = persona.expected
    result = {
        "kind": ticket.get("kind") == exp["kind"],
        "agency": ticket.get("agency") == exp["agency"],
        "district": (ticket.get("district") or None) == exp["district"],
        "respondent_name": _norm(ticket.get("respondent_name")) == _norm(exp["respondent_name"]),
        "complainant_name": _norm(ticket.get("complainant_name")) == _norm(exp["complainant_name"]),
    }
    masked = ticket.get("phone_masked")
    if exp["phone_masked"] is None:
        result["phone_masked"] = not masked
    elif exp["phone"].startswith("021-"):
        result["phone_masked"] = bool(masked) and "*" in masked and masked.endswith(exp["phone"][-4:])
    else:
        result["phone_masked"] = masked == exp["phone_masked"]
    claim = ticket.get("claim")
    if exp["kind"] == "complaint":
        result["claim"] = bool(claim) and all(w in claim for w in persona.claim_words)
    else:
        result["claim"] = True  # reports carry no personal claim: whatever the ticket holds is fine
    got = ticket.get("amount")
    if exp["amount"] is None:
        result["amount"] = got in (None, 0, "")
    else:
        try:
            result["amount"] = got is not None and abs(float(got) - exp["amount"]) < 0.5
        except (TypeError, ValueError):
            result["amount"] = False
    created, contact, resolve = (_date(ticket.get(k)) for k in ("created_at", "contact_by", "resolve_by"))
    result["deadlines"] = bool(created and contact and resolve and contact > created and resolve >= contact)
    return result
