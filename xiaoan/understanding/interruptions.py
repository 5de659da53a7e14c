"""Whether a reply given while a form waits for a value is an explicit interruption.

A form that asked for a slot first tries to parse the reply as a value of that slot; only when no
value parses does it ask this module whether the citizen is leaving the form, and it lets the
rules take over only on evidence stronger than the intent classifier's guess:

- ``human``: an explicit request for a person anywhere in the message (转人工, 找人工, 人工客服,
  我要找真人, 叫你们工作人员来 …), except when negated (不用转人工) or when 人工 means something
  else (人工智能, 人工费);
- ``cancel``: the message opens or closes with a cancel (算了, 不投诉了, 取消吧, 不弄了, 撤销 …),
  except when the citizen takes it back (算了吧我还是投诉) or negates it (不取消, 不是算了), and
  except a story that merely starts with the word (取消了订单商家不退钱, 算了一下少了二十);
- ``question``: a real question about rules or process (吗 / 怎么 / 如何 / 多久 / 为什么 / 能不能 …)
  that the classifier also calls an ``ask_*`` intent with confidence of at least
  ``QUESTION_MIN_CONFIDENCE``, except a demand dressed as a question (能不能退钱给我).

The NLU layer ``xiaoan.nlu.explicit_requests`` also uses the cues of the last two sections: a
stated wish to file (``wants_to_file``), a short "what can I do" question (``asks_what_to_do``)
and a question about special equipment or measuring instruments
(``asks_about_regulated_equipment``).

Pure Python (no Rasa import): ``xiaoan.nlu.explicit_requests`` uses ``wants_human`` inside the NLU
pipeline and the form validators use ``explicit_interruption``.
"""

from __future__ import annotations

import re
import unicodedata
from typing import List, Optional

from xiaoan.understanding.money import find_amounts

#: An ``ask_*`` intent must be at least this confident before a question interrupts a form.
QUESTION_MIN_CONFIDENCE = 0.6

HUMAN = "human"
CANCEL = "cancel"
QUESTION = "question"

# Clause boundaries: punctuation, spaces, emoji-free separators.
_CLAUSE_SPLIT = re.compile(r"[\s,，。.!！?？;；:：、~～…]+")

# ---------------------------------------------------------------------------------- human

# A request for a person: the verb (转/找/要/叫 …) and the person (人工/真人/工作人员 …).
_HUMAN_PATTERNS = [
    # 转人工, 转接人工客服, 帮我转个真人, 切人工, 呼叫人工, 接通人工
    r"(转|转接|切|切换|呼叫|接通|接|换)(一下|个|给|到|成)?(人工|真人|活人|客服|工作人员|坐席)",
    # 找人工, 我要人工, 要真人, 给我人工, 叫个活人来, 请人工回复
    r"(找|要|给我|叫|喊|请|让|来)(一?个|位)?(人工|真人|活人)",
    r"(人工|真人)(客服|服务|坐席|座席|接线员|回复|处理)",
    # 有没有人工 / 人工呢 / 人工在哪 / 真人在吗
    r"有没有(人工|真人|活人)",
    r"有(人工|真人|活人)(吗|么|嘛|没有|不)",
    r"(人工|真人|活人)(呢|在哪|在吗|在不在|有吗)",
    # 叫你们工作人员来, 让工作人员跟我说, 找个人跟我说, 换个人来
    r"(叫|找|让|请|换|安排)(你们的?|个|一个|一位)?(工作人员|客服人员)(来|过来|跟我|和我|同我|联系我|处理|回复|接)?",
    r"(叫|找|让|请|换)(你们的?|个|一个|一位)?(负责人|领导)(来|过来|跟我|和我|同我|联系我|处理|回复)",
    r"(叫|找|让|请|换)(一个|个|一位)人(来|过来|跟我|和我|同我|联系我|处理|回复)",
    r"(叫|喊|找)(个|一个|一位)客服",
    r"^(我要|要|给我)?找人(吧|啊)?$",
    r"(我要|我想|要|想)(直接)?(跟|和|同)(真人|人工|工作人员|活人|人)(说话|聊|对话|沟通|讲)",
    # 找你们领导 / 叫你们负责人 (找商家负责人 is part of a story, not a request to us)
    r"(找|叫|要|让)你们(的)?(领导|负责人|工作人员)",
]
_HUMAN_REGEX = re.compile("|".join(f"(?:{p})" for p in _HUMAN_PATTERNS))
# The whole message is only the person asked for: 人工 / 人工人工 / 真人客服.
_HUMAN_ALONE = re.compile(r"^((人工|真人|人工客服|真人客服)+|转接|客服|找客服|接线员呢)(吧|啊|呀|谢谢)?$")
# 人工 that is not a person: 人工智能, 人工费, 人工湖 …
_NOT_A_PERSON = re.compile(r"人工(智能|智障|费|成本|湖|草|降雨|养殖|合成|授精|呼吸|关节|耳蜗|晶体|心脏|甜味)")
# A negation just before the request: 不用转人工, 不需要帮我找人工, 别转人工了.
_HUMAN_NEGATION = re.compile(r"(不用|不要|不需要|不需|无需|不必|没必要|用不着|别|甭|不想|不找|不转)")
_NEGATION_WINDOW = 6
# 为什么不转人工 / 还不转人工 are demands, not refusals.
_DEMANDING_NEGATION = re.compile(r"(为什么|为啥|怎么|咋|还|快)(不转|不找)$")


def _normalize(text: str) -> str:
    """Full-width folded, lower-cased text, trimmed."""
    return unicodedata.normalize("NFKC", text or "").lower().strip()


def _clauses(text: str) -> List[str]:
    return [clause for clause in _CLAUSE_SPLIT.split(text) if clause]


def _human_in_clause(clause: str) -> bool:
    masked = _NOT_A_PERSON.sub(lambda m: "#" * len(m.group(0)), clause)
    if _HUMAN_ALONE.match(masked):
        return True
    for match in _HUMAN_REGEX.finditer(masked):
        if masked[max(0, match.start() - 1):match.start()] == "是":
            continue  # 你是真人客服吗 / 是人工回复吗: asks what it is talking to (bot_challenge)
        before = masked[max(0, match.start() - _NEGATION_WINDOW):match.start() + 2]
        negation = None
        for found in _HUMAN_NEGATION.finditer(before):
            negation = found
        if negation is None:
            return True
        context = masked[:max(0, match.start() - _NEGATION_WINDOW) + negation.end()]
        if _DEMANDING_NEGATION.search(context):
            return True
    return False


# English requests are matched across spaces.
_ENGLISH_HUMAN = re.compile(r"\b(human|real person|talk to a person|operator)\b")


def wants_human(text: str) -> bool:
    """True when the message explicitly asks for a person, wherever that stands in it.

    Args:
        text: the citizen's message, any length.

    Returns:
        True for 转人工 / 找人工 / 人工客服 / 我要找真人 / 叫你们工作人员来 / 找个人跟我说 …,
        False for 不用转人工, 你是人工智能吗, 人工费多收了 and messages without such a request.
    """
    normalized = _normalize(text)
    if _ENGLISH_HUMAN.search(normalized) and not re.search(r"\b(no|not|don't|dont)\b", normalized):
        return True
    return any(_human_in_clause(clause) for clause in _clauses(normalized))


def declines_human(text: str) -> bool:
    """True when the message turns a person down (不用转人工, 不需要人工客服, 别转人工了) and asks
    for none elsewhere.

    Args:
        text: the citizen's message.
    """
    normalized = _normalize(text)
    if wants_human(normalized):
        return False
    for clause in _clauses(normalized):
        masked = _NOT_A_PERSON.sub(lambda m: "#" * len(m.group(0)), clause)
        for match in _HUMAN_REGEX.finditer(masked):
            before = masked[max(0, match.start() - _NEGATION_WINDOW):match.start() + 2]
            if _HUMAN_NEGATION.search(before):
                return True
        if re.search(r"(不用|不要|不需要|无需|不必|别)(转)?(人工|真人|客服)", masked):
            return True
    return False


# ---------------------------------------------------------------------------------- cancel

# Fillers a cancel may start with: 那, 嗯, 哎, 好吧, 我看, 要不 …
_LEADING_FILLER = re.compile(r"^(那就|那|嗯+|哎+|唉+|额|呃|哦|好吧|行吧|我看|要不|想想|想了想|我觉得)")
# 算了 (not 算了一下 / 算了下 / 算了账), 拉倒, 作废, 放弃, 退出, 停止 …
_CANCEL_WORD = re.compile(
    r"^(还是)?(算了(?!一?下|账|算账)|算咯|拉倒|作废|我?放弃|退出|停止|终止|中止|停下|撤单|不干了)"
)
# 取消 / 撤销 / 撤回 only with a short tail: 取消吧, 取消投诉, 撤销这个举报 (not 取消了订单…).
_CANCEL_COMMAND = re.compile(
    r"^(我要|我想|帮我|请|全部)?((取消|撤销|撤回|撤掉)+|撤了)(掉|一下)?(吧|了吧|啦|了)?"
    r"(这个|本次|这次|这单|我的|刚才的|全部|对\w{1,8}的)?(投诉|举报|工单|登记|申请|流程|单子|提交)?(吧|了|啦|掉)?$"
)
# 不投诉了, 我不想弄了, 先不填了, 别登记了, 暂时不举报了, 不要提交, 不用登记了 …
_CANCEL_REFUSAL = re.compile(
    r"^(我们?|我也)?(还是|就|先|暂时|今天)?(不想|不要|不用|别|不|没必要)(再|继续)?(给我|帮我|替我)?"
    r"(投诉|举报|投|报|弄|搞|填写?|办|整|登记|继续|提交|折腾|追究|处理)"
    r"(了|啦|咯|吧|下去|了吧)?$"
)
# 不投诉这个商家了 / 不想投诉他们了: a refusal with its object, ending in 了.
_CANCEL_REFUSAL_OBJECT = re.compile(
    r"^(我们?)?(还是|就|先|暂时)?(不想|不要|不用|不)(再)?(投诉|举报|投|报)\w{1,8}(了|啦)$"
)
# A clause that ends in a cancel: 这家店我不投诉了, 别帮我投诉了, 网店的投诉撤回吧, 那事就算了吧.
_CANCEL_ENDING = re.compile(
    r"((不想|不要|不用|不|别)(再|接着|继续|往下)?(帮我|替我|给我)?(投诉|举报|投|报|弄|搞|填|登记|继续|追究)\w{0,6}(了|啦|咯)"
    r"|(刚才的|刚才说的|刚才填的)(全部)?(不算|作废)(了|吧)?"
    r"|(这单|这个|这件事)(就)?不要了|不用你们了"
    r"|(投诉|举报|单子|工单)(就)?(不要了|不用了|不弄了|撤回|撤销|撤了|撤掉|取消|作废)(吧|了|掉|啦)*"
    r"|(那|这)(个|件)?(事情?|单|投诉|举报)(就|还是)?算了(吧|啦)?)$"
)
# Taking the cancel back: 算了吧我还是投诉 / 算了 继续填 / 还是要举报.
_REVERSAL = re.compile(
    r"(?<![不别没])(还是|继续|接着|照样|仍然|依然|要)(要|想|得)?(投诉|举报|投|报|填|弄|办|登记)"
    r"|(要|想|得)?(改一下|改下|修改|改一改|改个)|只(要|想)?(投诉|举报)"
)


# 先别提交 / 先不要提交: a pause to correct the read-back (deny), not an abandoned form.
_PAUSE = re.compile(r"^(先|等等|等一下|稍等)(别|不要|不)(急着)?提交(?!了)")


def _is_cancel_clause(clause: str) -> bool:
    body = _LEADING_FILLER.sub("", clause) or clause
    if _PAUSE.match(body):
        return False
    return bool(
        _CANCEL_WORD.match(body)
        or _CANCEL_COMMAND.match(body)
        or _CANCEL_REFUSAL.match(body)
        or _CANCEL_REFUSAL_OBJECT.match(body)
        or _CANCEL_ENDING.search(body)
    )


# A cancel at the end counts only in a short message: in a long story 不投诉了 is narrated.
_SHORT_MESSAGE = 40
_CANCEL_ALONE = re.compile(r"^(停|停停|stop|cancel|quit|cancel掉)$")


def _is_cancel(text: str) -> bool:
    if _CANCEL_ALONE.match(text):
        return True
    clauses = _clauses(text)
    if not clauses:
        return False
    # 算了吧我还是投诉 has no space: look for a cancel at the very start of the whole text too.
    first = clauses[0]
    starts = _is_cancel_clause(first) or bool(_CANCEL_WORD.match(_LEADING_FILLER.sub("", first) or first))
    if starts:
        word = _CANCEL_WORD.match(_LEADING_FILLER.sub("", first) or first)
        rest = first[word.end():] if word else ""
        later = " ".join([rest, *clauses[1:]])
        return not _REVERSAL.search(later)
    if len(clauses) > 1 and len(text) <= _SHORT_MESSAGE and _is_cancel_clause(clauses[-1]):
        return True
    return False


# ---------------------------------------------------------------------------------- question

# Interrogatives that make a real question even when the citizen's own case is in it.
_STRONG_QUESTION = re.compile(
    r"(怎么|怎样|咋|如何|多久|多长时间|几(次|个|天|年|月|周|小时|种|倍)|为什么|为啥|什么|哪里|哪儿|哪个|哪些|哪家|谁|多少|是否|有没有用)"
)
# Weaker cues: a final particle, a question mark, A-not-A forms.
_WEAK_QUESTION = re.compile(
    r"(吗|么|嘛|呢|伐)$|(能不能|可不可以|能否|可以吗|会不会|要不要|需不需要|是不是|算不算|有没有|行不行|管不管|归不归)"
)
# A demand dressed as a question: 能不能退钱给我 / 可以帮我投诉吗 / 让商家赔我吗.
_CLAIM = re.compile(r"(给我|帮我|替我|还我|退我|赔我|我要求|让(他们|商家|店家|老板)|叫(他们|商家|店家|老板))")


def _is_question(raw: str, text: str) -> bool:
    if _STRONG_QUESTION.search(text):
        return True
    asked = "?" in raw or "？" in raw or any(_WEAK_QUESTION.search(clause) for clause in _clauses(text))
    return asked and not _CLAIM.search(text)


def explicit_interruption(text: str, intent: Optional[str] = None, confidence: float = 0.0) -> Optional[str]:
    """'human' | 'cancel' | 'question' | None for a reply given while a form waits for a value.

    human: an explicit request for a person anywhere in the message (转人工, 找人工, 人工客服,
      我要找真人, 叫你们工作人员来, 找个人跟我说) — but not "不用转人工" / "人工智能";
    cancel: the message starts with or is a cancel (算了/不投诉了/取消/不弄了/不举报了/撤销), or
      ends with a clause that is one (商家退钱了 不投诉了), but not "算了吧我还是投诉" or "不取消"
      or "不是算了";
    question: a real question about rules/process (…吗？ / 怎么 / 如何 / 多久 / 为什么 / 能不能 …)
      AND the intent is one of ask_* with confidence >= 0.6 — but not a claim that merely contains
      a question mark ("能不能退钱给我" is a claim).

    Args:
        text: the citizen's reply.
        intent: the intent the classifier gave the reply, if any.
        confidence: that intent's confidence.

    Returns:
        The kind of interruption, or None when the reply should be treated as an answer.
    """
    normalized = _normalize(text)
    if not normalized:
        return None
    if wants_human(normalized):
        return HUMAN
    if _is_cancel(normalized):
        return CANCEL
    if (
        intent is not None
        and intent.startswith("ask_")
        and confidence >= QUESTION_MIN_CONFIDENCE
        and _is_question(text, normalized)
    ):
        return QUESTION
    return None


# --------------------------------------------------------------------------------------------
# An explicit wish to file
# --------------------------------------------------------------------------------------------

# 我要投诉 / 想投诉 / 帮我投诉 / 我要举报 … not negated (不想投诉, 别投诉) …
_FILE_WISH_RE = re.compile(r"(?<![不别没])(?:我|本人|我们)?(?:就|还是)?(?:要|想|想要|需要|得|打算)(投诉|举报)|(?:帮我|替我|给我)(投诉|举报)")
# … and not a question about filing (投诉要实名吗, 投诉多久有结果, 投诉有用吗, 要投诉的话需要什么)
_ABOUT_FILING_RE = re.compile(
    r"(?:投诉|举报)(?:一般|的话|了以后|以后|之后|完|要|需要|有用|有没有用|多久|几天|能不能|可以|能|会|怎么|流程|电话|方式|渠道|材料)"
    r"|[吗呢？?]\s*$|怎么(?:投诉|举报)|(?:去|到|向)哪(?:里|儿)?(?:投诉|举报)|找谁(?:投诉|举报)")


def wants_to_file(text: str) -> Optional[str]:
    """"complaint" or "report" when a short message says the citizen wants to file one, else None.

    "退款纠纷想投诉", "商家不给退钱怎么办我要投诉", "帮我投诉这家店" say so; "不想投诉了",
    "投诉要实名吗", "投诉多久有结果", "我想投诉的话需要什么材料" do not (a give-up or a question about
    filing). The classifier may read a story with 怎么办 in it as a question: the stated wish wins.
    """
    plain = _normalize(text)
    if not plain or len(plain) > 40 or _is_cancel(plain):
        return None
    match = _FILE_WISH_RE.search(plain)
    if not match:
        return None
    tail = re.split(r"[，,。；;！!]", plain[match.start():])[0]  # the clause of the wish
    if _ABOUT_FILING_RE.search(tail):
        return None
    return "report" if (match.group(1) or match.group(2)) == "举报" else "complaint"


# --------------------------------------------------------------------------------------------
# Questions the classifier may read as something else
# --------------------------------------------------------------------------------------------

# "What can I do now": the message ends in 怎么办 / 咋办 / 怎么维权 (该 / 要 / 能 … before it, a
# particle after it; 怎么办理 and 怎么办的 do not end there).
_WHAT_TO_DO_RE = re.compile(
    r"(?:我们?)?(?:该|要|应该|应当|可以|能|又该|到底)?(?:怎么办|咋办|怎么维权|如何维权|咋维权)(?:才好|呢|啊|呀|哦|哇|啦)?$"
)
# A filing word: a message that names 投诉 / 举报 is about filing, whatever else it asks.
_FILING_WORD_RE = re.compile(r"投诉|举报|报案")
#: "What can I do" counts in a short message only: a longer one tells the facts of a case.
WHAT_TO_DO_MAX_CHARS = 20


def asks_what_to_do(text: str) -> bool:
    """True when a short message asks what the citizen can do about a situation.

    "游戏厅关门了代币怎么办", "网上买的鞋开胶了该怎么办？", "卖家不发货咋办" ask what to do: the
    documented boundary (data/nlu/questions.yml) keeps a question about the rule a question even
    when it mentions the citizen's own case (the knowledge base answers it, e.g.
    consumer.business-closed). Not when the message also says it wants to file or names filing
    ("我要投诉这家店 怎么办", "投诉了商家没回复怎么办"), makes a demand ("帮我看看怎么办", "退我钱
    怎么办"), names an amount ("卡里还有三千怎么办": the stake of a claim), cancels, asks for a
    person, or is longer than ``WHAT_TO_DO_MAX_CHARS`` characters (a story).
    """
    plain = _normalize(text)
    if not plain or len(plain) > WHAT_TO_DO_MAX_CHARS:
        return False
    clauses = _clauses(plain)
    if not clauses:
        return False
    match = _WHAT_TO_DO_RE.search(clauses[-1])
    if match is None or (match.start() == 0 and len(clauses) == 1):
        return False  # nothing but 怎么办: no situation to ask about
    if _FILING_WORD_RE.search(plain) or _CLAIM.search(plain) or _is_cancel(plain) or wants_human(plain):
        return False
    return not find_amounts(plain)


# Regulated objects that are never a business-registration matter: special equipment (特种设备:
# lifts, boilers, pressure vessels, hoisting machines, rides, ropeways …) and measuring
# instruments (计量器具: scales, their verification).
_REGULATED_EQUIPMENT_RE = re.compile(
    r"特种设备|电梯|扶梯|锅炉|压力容器|压力管道|气瓶|煤气罐|液化气罐|起重机|叉车|游乐设施|索道|缆车"
    r"|计量器具|电子秤|公平秤|秤|检定"
)
# The subjects of a registration question: licences, registration, the business and its changes.
_REGISTRATION_SUBJECT_RE = re.compile(
    r"执照|注册|登记|许可|备案|注销|变更|核名|名称|字号|年报|个体|公司|企业|法人|股东|经营范围|开办|开店|开业"
    r"|住所|经营场所|工商|资本|营业"
)


#: A chat line, not a letter (letters are read by the letter classifier and left to it).
EQUIPMENT_QUESTION_MAX_CHARS = 40


def asks_about_regulated_equipment(text: str) -> bool:
    """True when a chat line is about special equipment or measuring instruments and names no
    registration subject.

    "锅炉多久要检测一次", "扶梯是不是也要年检", "菜场的秤归谁检定" are market-regulation questions
    (reg.special-equipment, reg.metrology), never business registration; "电梯公司怎么注册",
    "开电子秤店要办什么执照" name a registration subject and are left to the classifier, and so
    is anything longer than ``EQUIPMENT_QUESTION_MAX_CHARS`` characters.
    """
    plain = _normalize(text)
    return bool(plain and len(plain) <= EQUIPMENT_QUESTION_MAX_CHARS and _REGULATED_EQUIPMENT_RE.search(plain)
                and not _REGISTRATION_SUBJECT_RE.search(plain))
