"""Complaint and report forms: validation, questions, read-back, submission, cancel.

The forms (domain.yml, forms section, rules in data/rules/forms.yml):

- ``complaint_form`` (complain_refund / complain_prepaid / complain_general): complainant_name,
  phone, complainant_address, respondent_name, respondent_address, facts, claim, amount,
  then the read-back (slot ``confirmation``).
- ``report_form`` (report_violation): respondent_name, respondent_address, facts, anonymous
  (匿名/实名; 实名 adds complainant_name and phone), then the read-back.

What the opening message already gives is filled in and not asked (the merchant, the amount,
the district, the platform, and the message itself as the facts when it describes the
matter). The privacy notice comes before the first personal question. Each answer is checked
with ``xiaoan.tickets.validators``; the second failed answer to a question offers a human
agent. At the read-back the citizen confirms, changes a field (修改, or "电话填错了" in one
go) or cancels. ``action_submit_complaint`` / ``action_submit_report`` then create the ticket
through the tickets service, once per form activation (idempotency key), and tell the
ticket number, the bureau and the due dates.
"""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from decimal import Decimal, InvalidOperation
from typing import Any, Dict, List, Optional, Text, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    merchant_from_message,
    CANCEL_PENDING,
    FAILED_SLOT,
    FAILURE_COUNT,
    FORM_CHOICE,
    FORM_FAILED_REASON,
    HANDOFF_REASON,
    PRIVACY_NOTICE_VERSION,
    REPROMPTED,
    AskSlotAction,
    FormSlotValidation,
    idempotency_key,
    is_payload,
    latest_entity,
    latest_intent,
    latest_text,
    response_text,
    started_by_latest_message,
    ticket_channel,
    ticket_service,
    zh_date,
)
from xiaoan import services
from xiaoan.db import utcnow
from xiaoan.tickets.due import shanghai_date
from xiaoan.understanding.slots import parse_slot_value
from xiaoan.privacy import mask_phone
from xiaoan.tickets.validators import (
    detect_online_platform,
    district_name,
    find_credit_code,
    is_outside_shanghai,
    normalize_phone,
    parse_amount,
    resolve_district,
    strip_credit_code,
)

logger = logging.getLogger(__name__)

COMPLAINT_FORM = "complaint_form"
REPORT_FORM = "report_form"
STATUS_FORM = "ticket_status_form"

#: The fields of each form a citizen can change at the read-back.
COMPLAINT_FIELDS = ("complainant_name", "phone", "complainant_address", "respondent_name",
                    "respondent_address", "facts", "claim", "amount")
REPORT_FIELDS = ("respondent_name", "respondent_address", "facts", "anonymous", "complainant_name", "phone")
#: Questions before which the privacy notice must have been shown.
PERSONAL_SLOTS = ("complainant_name", "phone", "complainant_address", "anonymous")
#: Everything a form fills; cleared after a submission or a cancel (not last_ticket_no and
#: privacy_notice_version, which belong to the conversation).
TICKET_SLOTS = COMPLAINT_FIELDS + (
    "anonymous", "confirmation", "edit_field", "district", "online_platform", "respondent_credit_code",
    "ticket_intent", "pending_address", FAILED_SLOT, FAILURE_COUNT, REPROMPTED, "ticket_retry",
)

#: An opening message that says more than this (characters, spaces and a leading "我要投诉"
#: not counted) is taken as the facts.
FACTS_FROM_OPENING_MIN_CHARS = 10
MIN_FACTS_CHARS = 8
NO_AMOUNT = "none"
#: The amount after the citizen could not give one three times (the ticket's amount is null).
UNKNOWN_AMOUNT = "unknown"
CONFIRMED, EDIT = "confirmed", "edit"

# Words that name a field, tried in this order (the specific before the general: 商家地址
# before 商家); a bare 地址 is handled separately.
FIELD_WORDS: Tuple[Tuple[Text, Text], ...] = (
    ("respondent_address", r"(?:商家|店铺|店家|店|公司|经营|商户|对方)的?(?:地址|位置)"),
    ("complainant_address", r"(?:我的|我家|通信|通讯|联系|邮寄|收件|家庭|居住)(?:的)?地址|住址"),
    ("respondent_name", r"商家(?:的)?(?:名称|名字)?|店名|店铺名|店的名字|公司名|商户名|被投诉(?:人|方|的)|被举报(?:人|方|的)"),
    ("complainant_name", r"姓名|名字|称呼|真名|我叫"),
    ("phone", r"电话|手机|号码|联系方式"),
    ("amount", r"金额|钱数|数额|多少钱"),
    ("claim", r"诉求|要求"),
    ("facts", r"经过|事实|情况|描述|违法行为"),
    ("anonymous", r"匿名|实名"),
)
_CORRECTION_RE = re.compile(r"错|不对|改|更正|有误|重新填|重填|写反|应该是|不好意思")
_NO_CHANGE_RE = re.compile(r"不用改|不需要改|不必改|没有要改|没什么要改|不用修改|不需要修改")
_CONFIRM_RE = re.compile(r"确认|确定|提交|没问题|无误|正确|没错|都对|对的|可以")
_MAX_CORRECTION_CHARS = 30  # longer answers are taken as answers, not as corrections

_NON_ANSWER_RE = re.compile(
    r"^(?:不知道|不清楚|不记得|记不清|忘了|没有|无|不想说|不方便|不告诉你|随便|算了吧?|嗯+|哦+|啊+|好的?|"
    r"对的?|是的?|不是|不对|没了|没有了|不晓得|没|不|行|ok|确认|确定|可以|没问题|提交|继续)$",
    re.IGNORECASE,
)
_UNKNOWN_RE = re.compile(r"不清楚|不知道|不确定|不记得|记不清|忘了|不晓得")
_NO_AMOUNT_RE = re.compile(r"^(?:没有|无|没|不涉及|没涉及|不涉及金额|没有金额|不涉及钱|没涉及钱|零|0|免费|不要钱)")
_ANONYMOUS_RE = re.compile(r"匿名|不留名|不想留名|不要留名|不留姓名|不用留")
_REAL_NAME_RE = re.compile(r"实名|留名|真名|可以留|留姓名|写我")
_ADDRESS_HINT_RE = re.compile(r"\d|路|街|弄|号|村|镇|区|室|栋|幢|楼|小区|公寓|大厦|乡|县|市|苑|园|里|坊|巷")
_REQUEST_PREFIX_RE = re.compile(r"^(?:你好|您好)?[，,]?(?:我|本人)?(?:要|想|需要)?(?:投诉|举报|反映)(?:一下)?")
# A short answer that names only a district ("长宁区", "应该是在长宁吧"), no street or number.
_JUST_A_DISTRICT_RE = re.compile(r"[^\d路街弄号道巷村室楼栋幢]{1,10}")


def _clean(text: Any) -> Text:
    return str(text or "").strip().strip("。.！!，,；;~～ ")


def _field_mentions(text: Text) -> List[Text]:
    """Fields named in `text`, most specific words first; "地址" alone gives "address"."""
    found: List[Text] = []
    rest = text
    for field, pattern in FIELD_WORDS:
        match = re.search(pattern, rest)
        if match:
            found.append(field)
            rest = rest[:match.start()] + " " + rest[match.end():]
    if "地址" in rest:
        found.append("address")
    return found


_CORRECTED_TO_RE = re.compile(r"(?:应该是|改成|改为|其实是|正确的是|是|叫)\s*[:：]?\s*(.+?)[，,。！!]*$")


def corrected_value(field: Text, text: Text) -> Any:
    """The new value a correction already gives ("名字打错了，是杜建平", "我叫赵雨婷，刚才打错了"),
    or None when it only says which field is wrong."""
    from xiaoan.understanding import names

    if field == "complainant_name":
        return names.find_name(text) or _corrected_tail(field, text)
    if field in ("phone", "amount"):
        parsed = parse_slot_value(field, text)
        return parsed.value if parsed else None
    return _corrected_tail(field, text)


def _corrected_tail(field: Text, text: Text) -> Any:
    for clause in re.split(r"[，,。；;！!]", text):
        match = _CORRECTED_TO_RE.search(clause.strip())
        if match and not _CORRECTION_RE.search(match.group(1)):
            parsed = parse_slot_value(field, match.group(1))
            if parsed is not None:
                return parsed.value
    return None


def read_opening(text: Text) -> Dict[Text, Any]:
    """What an opening message gives a ticket: merchant, its address and district, amount, claim,
    and (in a letter) the complainant's name and phone. A long letter is read as a whole
    (xiaoan.understanding.letters); a short message with the same parsers. Never raises: a parser
    failure only means nothing is prefilled."""
    if not text:
        return {}
    from xiaoan.understanding import letters, merchants, money

    found: Dict[Text, Any] = {}
    try:
        if letters.is_letter(text):
            letter = letters.read_letter(text, shanghai_date(utcnow()))
            found = {
                "respondent_name": letter.respondent_name,
                "respondent_address": letter.respondent_address,
                "district": letter.district,
                "amount": letter.amount,
                "claim": letter.claim,
            }
            from xiaoan.understanding import names, phones

            name = names.find_name(text)
            # a masked signature ("杜*"), a surname with a title ("彭女士": the real-name registration
            # needs the name itself, the form asks for it) or a phrase the parser would not take as a
            # name is no name
            found["complainant_name"] = (name if names.is_full_name(name, text) and names.parse_name(name)
                                         else None)
            found["phone"] = phones.find_phone(text)
        else:
            found["respondent_name"] = merchants.find_merchant(text)
            # the letter reader's choice among several sums ("充了500 … 剩400多 能退吗" is 400), what
            # was left of a package ("3次拍摄1980 拍了1次"), else the money parser's
            found["amount"] = letters.find_amount(text)
            if found["amount"] is None and money.find_amounts(text):
                found["amount"] = money.parse_amount(text)
            # where the shop is, not where the citizen lives ("我住在浦东，网上买的…")
            found["district"] = resolve_district(letters.without_home(text))
    except Exception:  # noqa: BLE001 - prefilling is a convenience; the form asks what is missing
        logger.exception("reading the opening message failed")
        return {}
    return {key: value for key, value in found.items() if value not in (None, "")}


def amount_decimal(value: Any) -> Optional[Decimal]:
    """The `amount` slot as a Decimal (None for "none" or empty)."""
    if value in (None, "", NO_AMOUNT):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


class TicketFormValidation(FormSlotValidation, ABC):
    """The validation shared by the complaint and the report form."""

    #: "complaint" or "report"
    kind: Text = ""
    #: fields that can be changed at the read-back, in form order
    fields: Tuple[Text, ...] = ()
    reasked_by_design = ("confirmation", "edit_field")

    def skip_value(self, slot: Text) -> Any:
        """The amount is the one field a ticket can do without: after three tries it is left open."""
        return UNKNOWN_AMOUNT if slot == "amount" else None

    def example_response(self, slot: Text, domain: DomainDict) -> Optional[Text]:
        """A report's facts have their own example."""
        if slot == "facts" and self.kind == "report":
            return "utter_invalid_facts_report"
        return super().example_response(slot, domain)

    # -- slots ------------------------------------------------------------------------------

    async def required_slots(self, domain_slots: List[Text], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> List[Text]:
        """The domain's slots; `edit_field` only while the citizen chooses what to change."""
        return [s for s in domain_slots if s != "edit_field" or tracker.get_slot("confirmation") == EDIT]

    def editable(self, tracker: Tracker) -> Tuple[Text, ...]:
        """The fields the citizen may change now."""
        return self.fields

    def address_field(self) -> Optional[Text]:
        """The field a bare "地址" means in this form (None: ambiguous, ask which)."""
        return None

    def correction_field(self, text: Text, tracker: Tracker) -> Optional[Text]:
        """The one field a message like "我电话填错了" asks to change, else None."""
        mentioned = []
        for field in _field_mentions(text):
            field = self.address_field() if field == "address" else field
            if field is not None and field not in mentioned:
                mentioned.append(field)
        editable = [f for f in mentioned if f in self.editable(tracker)]
        return editable[0] if len(editable) == 1 and len(mentioned) == 1 else None

    def reset_field(self, field: Text, tracker: Tracker) -> Dict[Text, Any]:
        """Slot updates that make the form ask `field` again and then read back again."""
        reset = [field, "confirmation", "edit_field"]
        if field == "respondent_address":
            reset += ["district", "pending_address"]
        if field == "anonymous":
            reset += ["complainant_name", "phone"]
        if field in ("complainant_name", "phone") and tracker.get_slot("anonymous") is True:
            reset = ["anonymous", "confirmation", "edit_field"]  # an anonymous reporter first chooses 实名
        return {name: None for name in reset if tracker.get_slot(name) is not None}

    # -- the opening message ------------------------------------------------------------------

    def prefill(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                domain: DomainDict) -> Dict[Text, Any]:
        """Fill what the opening message says; start the read-back afresh."""
        updates: Dict[Text, Any] = {"ticket_intent": latest_intent(tracker)}
        for name in ("confirmation", "edit_field", "pending_address"):
            if tracker.get_slot(name) is not None:
                updates[name] = None
        if not started_by_latest_message(tracker, self.form_name()):
            return updates
        text = latest_text(tracker)
        typed = "" if is_payload(text) else text
        required = set(self.domain_slots(domain))

        found = read_opening(typed)

        def take(slot: Text, value: Any) -> None:
            if value not in (None, "") and tracker.get_slot(slot) is None and slot in required:
                updates[slot] = value

        take("respondent_name", found.get("respondent_name") or _clean(merchant_from_message(tracker)))
        entity_amount = parse_amount(latest_entity(tracker, "amount"))
        amount = found.get("amount") if found.get("amount") is not None else entity_amount
        if amount is not None and amount > 0:
            take("amount", str(amount))
        if self.kind == "complaint":
            take("phone", found.get("phone") or normalize_phone(latest_entity(tracker, "phone")))
            take("complainant_name", found.get("complainant_name"))
            take("claim", found.get("claim"))
        # a letter was read whole (its district is the merchant's, never the citizen's home);
        # a short message falls back on the NLU's district entity
        from xiaoan.understanding.letters import is_letter

        district = found.get("district") or (None if typed and is_letter(typed) else self._district_from(tracker, typed))
        if found.get("respondent_address"):
            take("respondent_address", found["respondent_address"])
        if district and tracker.get_slot("district") is None:
            updates["district"] = district
        platform = detect_online_platform(typed)
        if platform and tracker.get_slot("online_platform") is None:
            updates["online_platform"] = platform
        updates.update(self._take_credit_code(typed, dispatcher, tracker))
        said = _REQUEST_PREFIX_RE.sub("", re.sub(r"\s+", "", typed))
        if typed and "facts" in required and tracker.get_slot("facts") is None \
                and len(said) > FACTS_FROM_OPENING_MIN_CHARS:
            updates["facts"] = typed
        return updates

    @staticmethod
    def _district_from(tracker: Tracker, text: Text) -> Optional[Text]:
        entity = latest_entity(tracker, "district")
        if entity:
            code = entity[5:] if entity.startswith("dist-") else entity
            if district_name(code):
                return code
        return resolve_district(text) if text else None

    # -- every answer -------------------------------------------------------------------------

    def before_validation(self, candidates: Dict[Text, Any], dispatcher: CollectingDispatcher,
                          tracker: Tracker, domain: DomainDict) -> Optional[Dict[Text, Any]]:
        """Take a credit code or a platform from any answer; handle "我电话填错了"."""
        text = latest_text(tracker)
        if is_payload(text):
            return None
        requested = tracker.get_slot("requested_slot")
        updates: Dict[Text, Any] = {}

        match = find_credit_code(text)
        if match:
            updates.update(self._take_credit_code(text, dispatcher, tracker))
            if requested in candidates and requested not in ("edit_field", "phone"):
                rest = strip_credit_code(text, match.code)
                if rest:
                    candidates[requested] = rest
                else:
                    updates[requested] = None  # the message was only the code: ask again normally

        if requested in ("respondent_name", "respondent_address", "facts") and not tracker.get_slot("online_platform"):
            platform = detect_online_platform(text)
            if platform:
                updates["online_platform"] = platform

        # "我电话填错了": at the read-back always, during the questions only as a short message
        # and not as the description of what happened (where "地址写错了" may be the facts)
        at_readback = requested in ("confirmation", "edit_field")
        short = len(text) <= _MAX_CORRECTION_CHARS and requested not in ("facts", "claim")
        if (at_readback or short) and _CORRECTION_RE.search(text) and not _NO_CHANGE_RE.search(text):
            field = self.correction_field(text, tracker)
            if field:
                logger.info("conversation %s: citizen corrects %s", tracker.sender_id, field)
                updates.update(self.reset_field(field, tracker))
                corrected = corrected_value(field, text)
                if corrected is not None and field != requested:
                    updates[field] = corrected  # "名字打错了，是杜建平": the new value at once
                for name in candidates:
                    updates.setdefault(name, None)
        return updates or None

    def _take_credit_code(self, text: Text, dispatcher: CollectingDispatcher,
                          tracker: Tracker) -> Dict[Text, Any]:
        match = find_credit_code(text)
        if not match:
            return {}
        if not match.valid:
            dispatcher.utter_message(response="utter_credit_code_invalid", credit_code=match.code)
            return {}
        if tracker.get_slot("respondent_credit_code") == match.code:
            return {}
        dispatcher.utter_message(response="utter_credit_code_accepted", credit_code=match.code)
        return {"respondent_credit_code": match.code}

    # -- validate_<slot> ----------------------------------------------------------------------

    def _take_extra(self, parsed: Any, tracker: Tracker) -> Dict[Text, Any]:
        """Other fields the same answer gave ("李娜 13812345678"), for slots still empty and asked here."""
        extra = {}
        for name, value in (getattr(parsed, "extra", None) or {}).items():
            if value in (None, "") or tracker.get_slot(name) is not None:
                continue
            if name == "district" or name in self.fields:
                extra[name] = value
        if self.kind == "report" and tracker.get_slot("anonymous") is not False:
            extra = {k: v for k, v in extra.items() if k not in ("complainant_name", "phone")}
        return extra

    def validate_complainant_name(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: DomainDict) -> Dict[Text, Any]:
        """A personal name, read by value whatever the intent classifier thought (李明, 欧阳娜娜,
        我叫王芳, 买买提·艾力, 王先生), with a phone number in the same line taken too."""
        text = _clean(value)
        parsed = None if is_payload(text) else parse_slot_value("complainant_name", text)
        if parsed is None:
            return self.fail("complainant_name", dispatcher, tracker, "utter_invalid_complainant_name")
        return self.ok("complainant_name", parsed.value, tracker, **self._take_extra(parsed, tracker))

    def validate_phone(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                       domain: DomainDict) -> Dict[Text, Any]:
        """A mobile or Shanghai landline number in any typed form, also inside a sentence."""
        text = _clean(value)
        parsed = None if is_payload(text) else parse_slot_value("phone", text)
        phone = parsed.value if parsed else normalize_phone(latest_entity(tracker, "phone"))
        if not phone:
            return self.fail("phone", dispatcher, tracker, "utter_invalid_phone")
        return self.ok("phone", phone, tracker, **self._take_extra(parsed, tracker))

    def validate_complainant_address(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                     domain: DomainDict) -> Dict[Text, Any]:
        """A mailing address: at least 6 characters with a road, number, district or the like."""
        address = _clean(value)
        parsed = None if is_payload(address) else parse_slot_value("complainant_address", address)
        if parsed is None or len(str(parsed.value)) < 6 or not _ADDRESS_HINT_RE.search(str(parsed.value)):
            return self.fail("complainant_address", dispatcher, tracker, "utter_invalid_complainant_address")
        return self.ok("complainant_address", str(parsed.value), tracker)

    def validate_respondent_name(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                 domain: DomainDict) -> Dict[Text, Any]:
        """The merchant: the NLU entity when there is one, else the answer (2-100 characters)."""
        text = _clean(value)
        parsed = None if is_payload(text) else parse_slot_value("respondent_name", text)
        if parsed is None:
            return self.fail("respondent_name", dispatcher, tracker, "utter_invalid_respondent_name")
        return self.ok("respondent_name", str(parsed.value), tracker, **self._take_extra(parsed, tracker))

    def validate_respondent_address(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: DomainDict) -> Dict[Text, Any]:
        """An address in a district, a district button, "不清楚", or an address outside Shanghai."""
        text = _clean(value)
        pending = tracker.get_slot("pending_address")
        known = tracker.get_slot("district")
        chosen = self._district_from(tracker, "")
        clear_pending = {"pending_address": None} if pending else {}

        if is_payload(text):
            if chosen:  # a district button after an address that did not resolve
                address = f"{district_name(chosen)}{pending}" if pending else district_name(chosen)
                return self.ok("respondent_address", address, tracker, district=chosen, **clear_pending)
            if latest_entity(tracker, FORM_CHOICE) == "unknown":
                address = pending or response_text(domain, "utter_label_address_unknown")
                return self.ok("respondent_address", address, tracker, district=None, **clear_pending)
            return self.fail("respondent_address", dispatcher, tracker, "utter_ask_respondent_district")

        district = resolve_district(text) or chosen
        if district:
            if pending and _JUST_A_DISTRICT_RE.fullmatch(text):
                text = f"{text}{pending}"  # "长宁区" after "仙霞西路88号": the street is kept
            return self.ok("respondent_address", text, tracker, district=district, **clear_pending)
        if is_outside_shanghai(text):
            dispatcher.utter_message(response="utter_respondent_outside_shanghai")
            return self.ok("respondent_address", text, tracker, district=None, **clear_pending)
        unknown = bool(_UNKNOWN_RE.search(text)) or bool(_NON_ANSWER_RE.match(text))
        if known and district_name(known) and not tracker.get_slot("online_platform"):
            # the district is known from earlier (opening message or a button): keep it
            address = district_name(known) if unknown else f"{district_name(known)}{text}"
            return self.ok("respondent_address", address, tracker, **clear_pending)
        if unknown and pending:
            return self.ok("respondent_address", pending, tracker, district=None, pending_address=None)
        more = {} if unknown else {"pending_address": text}
        return self.fail("respondent_address", dispatcher, tracker, "utter_ask_respondent_district", **more)

    def validate_facts(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                       domain: DomainDict) -> Dict[Text, Any]:
        """A description of at least a sentence."""
        facts = _clean(value)
        if is_payload(facts) or _NON_ANSWER_RE.match(facts) or len(re.sub(r"\s+", "", facts)) < MIN_FACTS_CHARS:
            response = "utter_invalid_facts_report" if self.kind == "report" else "utter_invalid_facts"
            return self.fail("facts", dispatcher, tracker, response)
        return self.ok("facts", facts, tracker)

    def validate_claim(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                       domain: DomainDict) -> Dict[Text, Any]:
        """What the citizen wants: at least two characters and not a non-answer."""
        claim = _clean(value)
        if is_payload(claim) or _NON_ANSWER_RE.match(claim) or len(claim) < 2:
            return self.fail("claim", dispatcher, tracker, "utter_invalid_claim")
        return self.ok("claim", claim, tracker)

    def validate_amount(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                        domain: DomainDict) -> Dict[Text, Any]:
        """An amount in any common form, or "不涉及" (stored as "none")."""
        text = _clean(value)
        if latest_entity(tracker, FORM_CHOICE) == NO_AMOUNT:
            return self.ok("amount", NO_AMOUNT, tracker)
        parsed = None if is_payload(text) else parse_slot_value("amount", text)
        if parsed is not None:
            amount = amount_decimal(parsed.value)
            return self.ok("amount", str(amount) if amount and amount > 0 else NO_AMOUNT, tracker)
        amount = parse_amount(latest_entity(tracker, "amount"))
        if amount is not None:
            return self.ok("amount", str(amount) if amount > 0 else NO_AMOUNT, tracker)
        if not is_payload(text) and (_NO_AMOUNT_RE.match(text) or latest_intent(tracker) == "deny"):
            return self.ok("amount", NO_AMOUNT, tracker)
        return self.fail("amount", dispatcher, tracker, "utter_invalid_amount")

    def validate_anonymous(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict) -> Dict[Text, Any]:
        """匿名 (true: name and phone are not kept) or 实名 (false: they are asked next)."""
        choice = latest_entity(tracker, FORM_CHOICE)
        text = "" if is_payload(_clean(value)) else _clean(value)
        anonymous = None
        if choice in ("anonymous", "real_name"):
            anonymous = choice == "anonymous"
        elif _ANONYMOUS_RE.search(text) and not re.search(r"不(?:要|用|想)?匿名", text):
            anonymous = True
        elif _REAL_NAME_RE.search(text) or re.search(r"不(?:要|用|想)?匿名", text):
            anonymous = False
        if anonymous is None:
            return self.fail("anonymous", dispatcher, tracker, "utter_invalid_anonymous")
        if anonymous:
            dispatcher.utter_message(response="utter_anonymous_chosen")
            forget = {name: None for name in ("complainant_name", "phone", "complainant_address")
                      if tracker.get_slot(name) is not None}
            return self.ok("anonymous", True, tracker, **forget)
        return self.ok("anonymous", False, tracker)

    def validate_confirmation(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                              domain: DomainDict) -> Dict[Text, Any]:
        """确认 (affirm) -> "confirmed"; 修改 (deny, 改, 错) -> "edit" (edit_field asks which)."""
        text = "" if is_payload(_clean(value)) else _clean(value)
        intent = latest_intent(tracker)
        if _NO_CHANGE_RE.search(text):
            return self.ok("confirmation", CONFIRMED, tracker)
        if intent == "deny" or _CORRECTION_RE.search(text):
            return self.ok("confirmation", EDIT, tracker)
        if intent == "affirm" or _CONFIRM_RE.search(text):
            return self.ok("confirmation", CONFIRMED, tracker)
        return self.fail("confirmation", dispatcher, tracker, "utter_invalid_confirmation")

    def validate_edit_field(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                            domain: DomainDict) -> Dict[Text, Any]:
        """The field to change: a button (form_choice) or its name typed."""
        choice = latest_entity(tracker, FORM_CHOICE)
        field = choice if choice in self.editable(tracker) else None
        if field is None and not is_payload(_clean(value)):
            mentioned = [self.address_field() if f == "address" else f for f in _field_mentions(_clean(value))]
            mentioned = [f for f in dict.fromkeys(mentioned) if f in self.editable(tracker)]
            field = mentioned[0] if len(mentioned) == 1 else None
        if field is None:
            return self.fail("edit_field", dispatcher, tracker, "utter_invalid_edit_field", reasks=False)
        reset = self.reset_field(field, tracker)
        reset.setdefault("edit_field", None)
        return self.ok("edit_field", None, tracker, **{k: v for k, v in reset.items() if k != "edit_field"})


class ValidateComplaintForm(TicketFormValidation):
    """Validates the complaint form's answers (validate_complaint_form)."""

    kind = "complaint"
    fields = COMPLAINT_FIELDS

    def name(self) -> Text:
        return "validate_complaint_form"


class ValidateReportForm(TicketFormValidation):
    """Validates the report form's answers; 实名 adds name and phone (validate_report_form)."""

    kind = "report"
    fields = REPORT_FIELDS

    def name(self) -> Text:
        return "validate_report_form"

    def address_field(self) -> Optional[Text]:
        return "respondent_address"

    async def required_slots(self, domain_slots: List[Text], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> List[Text]:
        """Name and phone only after the choice of 实名 (anonymous = false)."""
        slots = await super().required_slots(domain_slots, dispatcher, tracker, domain)
        if tracker.get_slot("anonymous") is not False:
            slots = [s for s in slots if s not in ("complainant_name", "phone")]
        return slots


# --------------------------------------------------------------------------------------------
# Questions
# --------------------------------------------------------------------------------------------


def _form(tracker: Tracker) -> Optional[Text]:
    return tracker.active_loop_name


class PersonalSlotAsk(AskSlotAction, ABC):
    """A question for personal data: the privacy notice comes first, once per conversation."""

    def before_asking(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                      domain: DomainDict) -> List[EventType]:
        if tracker.get_slot("privacy_notice_version"):
            return []
        dispatcher.utter_message(response="utter_privacy_notice", privacy_notice_version=PRIVACY_NOTICE_VERSION)
        return [SlotSet("privacy_notice_version", PRIVACY_NOTICE_VERSION)]


class ActionAskComplainantName(PersonalSlotAsk):
    """Asks the complainant's (or real-name reporter's) name."""

    slot = "complainant_name"

    def response(self, tracker: Tracker) -> Text:
        return "utter_ask_complainant_name_report" if _form(tracker) == REPORT_FORM else "utter_ask_complainant_name"


class ActionAskPhone(PersonalSlotAsk):
    """Asks the phone number."""

    slot = "phone"


class ActionAskComplainantAddress(PersonalSlotAsk):
    """Asks the complainant's mailing address."""

    slot = "complainant_address"


class ActionAskAnonymous(PersonalSlotAsk):
    """Asks 实名 or 匿名, saying what an anonymous reporter will not receive."""

    slot = "anonymous"


class ActionAskRespondentName(AskSlotAction):
    """Asks the merchant's name."""

    slot = "respondent_name"

    def response(self, tracker: Tracker) -> Text:
        return "utter_ask_respondent_name_report" if _form(tracker) == REPORT_FORM else "utter_ask_respondent_name"


class ActionAskRespondentAddress(AskSlotAction):
    """Asks the merchant's address: with district buttons after an unresolved one, the
    platform's shop page for an online seller, or within the district already known."""

    slot = "respondent_address"

    def response(self, tracker: Tracker) -> Text:
        if tracker.get_slot("pending_address"):
            return "utter_ask_respondent_district"
        if tracker.get_slot("online_platform"):
            return "utter_ask_respondent_address_online"
        if district_name(tracker.get_slot("district")):
            return "utter_ask_respondent_address_in_district"
        return "utter_ask_respondent_address"

    def response_values(self, tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        response = self.response(tracker)
        if response == "utter_ask_respondent_address_online":
            return {"online_platform": tracker.get_slot("online_platform")}
        if response == "utter_ask_respondent_address_in_district":
            return {"district_name": district_name(tracker.get_slot("district"))}
        return {}


class ActionAskFacts(AskSlotAction):
    """Asks what happened (or, for a report, what the violation is)."""

    slot = "facts"

    def response(self, tracker: Tracker) -> Text:
        return "utter_ask_facts_report" if _form(tracker) == REPORT_FORM else "utter_ask_facts"


class ActionAskClaim(AskSlotAction):
    """Asks what the complainant wants."""

    slot = "claim"


class ActionAskAmount(AskSlotAction):
    """Asks the amount involved (with a 不涉及 button)."""

    slot = "amount"


def readback_values(tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
    """The variables of utter_confirm_complaint / utter_confirm_report.

    The phone is shown in full: the read-back goes only to the citizen's own chat, and a
    masked number could not be checked digit by digit. Receipts and logs mask it.
    """
    def label(name: Text, **values: Any) -> Text:
        return response_text(domain, name, **values)

    slots = {name: tracker.get_slot(name) for name in (
        "complainant_name", "phone", "complainant_address", "respondent_name", "respondent_address",
        "facts", "claim")}
    address = tracker.get_slot("respondent_address") or ""
    district = district_name(tracker.get_slot("district"))
    if district:
        district_text = district
    elif is_outside_shanghai(address):
        district_text = label("utter_label_district_outside")
    else:
        district_text = label("utter_label_district_unknown")
    amount = amount_decimal(tracker.get_slot("amount"))
    if tracker.get_slot("anonymous") is True:
        identity = label("utter_label_identity_anonymous")
    else:
        identity = label("utter_label_identity_real", complainant_name=slots["complainant_name"] or "",
                         phone=slots["phone"] or "")
    return {
        **slots,
        "credit_code_text": tracker.get_slot("respondent_credit_code") or label("utter_label_not_provided"),
        "district_text": district_text,
        "platform_text": tracker.get_slot("online_platform") or label("utter_label_not_applicable"),
        "amount_text": label("utter_label_amount", amount=amount) if amount else label("utter_label_not_applicable"),
        "identity_text": identity,
        "attachments_text": attachments_readback(tracker.sender_id),
    }


def attachments_readback(conversation_id: Text) -> Text:
    """The read-back's evidence line (issue 15): the count and names of the files attached so far."""
    from xiaoan.tickets.attachments import AttachmentStore, readback_text

    try:
        return readback_text(AttachmentStore().pending(conversation_id))
    except Exception as exc:  # noqa: BLE001 - the read-back must not fail on the evidence line
        logger.error("conversation %s: attachments not readable for the read-back (%s)", conversation_id,
                     exc.__class__.__name__)
        return readback_text([])


class ActionAskConfirmation(AskSlotAction):
    """Reads every field back and asks 确认 / 修改 / 取消."""

    slot = "confirmation"

    def response(self, tracker: Tracker) -> Text:
        return "utter_confirm_report" if _form(tracker) == REPORT_FORM else "utter_confirm_complaint"

    def response_values(self, tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        return readback_values(tracker, domain)


class ActionAskEditField(AskSlotAction):
    """Asks which field to change (buttons)."""

    slot = "edit_field"

    def response(self, tracker: Tracker) -> Text:
        return "utter_ask_edit_field_report" if _form(tracker) == REPORT_FORM else "utter_ask_edit_field_complaint"


# --------------------------------------------------------------------------------------------
# Submission and cancel
# --------------------------------------------------------------------------------------------

# rasa-sdk imports every module of the package when the action server starts: with unsafe
# production settings (xiaoan/production_checks.py) it refuses to start here.
from xiaoan.production_checks import enforce as _enforce_production  # noqa: E402

_enforce_production("actions")


def clear_ticket_slots(tracker: Tracker) -> List[EventType]:
    """SlotSet(None) for every form slot that is set (bookkeeping included)."""
    events = []
    for name in TICKET_SLOTS:
        value = tracker.get_slot(name)
        if name == FAILURE_COUNT:
            if value:
                events.append(SlotSet(name, 0))
        elif value is not None:
            events.append(SlotSet(name, None))
    return events


#: The slots each form's ticket draft is built from (`xiaoan.tickets.drafts.build_draft`); a report
#: has no address, claim or amount of the reporter.
COMPLAINT_DRAFT_FIELDS = ("complainant_name", "phone", "complainant_address", "respondent_name",
                          "respondent_address", "district", "facts", "claim", "amount",
                          "respondent_credit_code", "online_platform")
REPORT_DRAFT_FIELDS = ("complainant_name", "phone", "respondent_name", "respondent_address", "district",
                       "facts", "anonymous", "respondent_credit_code", "online_platform")


def slot_values(tracker: Tracker, names: Tuple[Text, ...]) -> Dict[Text, Any]:
    """The named slots, and the privacy notice version shown ("not-shown" when none was)."""
    values = {name: tracker.get_slot(name) for name in names}
    if "amount" in values:
        values["amount"] = amount_decimal(values["amount"])
    values["privacy_notice_version"] = tracker.get_slot("privacy_notice_version") or "not-shown"
    return values


class SubmitTicketAction(Action, ABC):
    """Creates the ticket of a confirmed form and tells the citizen the receipt.

    Subclasses set `kind` and `form` and build the draft. Nothing is created unless the
    read-back was confirmed. A failure of the service says so (utter_ticket_failed), keeps
    every slot and sets `ticket_retry`, so that "重试" (affirm) runs the action again with the
    same idempotency key: the same ticket, never two.

    Crash safety: if the action server dies during this action (kill -9, out of memory), Rasa
    logs the action with no events, so `confirmation` stays "confirmed". On the citizen's next
    message the Rasa tracker store (`xiaoan.rasa_stores.interrupted_submission`) runs this action
    again first; the idempotency key (the form's activation time) is unchanged, so the service
    returns the ticket created before the crash — or creates it, if the crash came before the
    commit — and the citizen is told its number. `xiaoan.faults` marks the crash points tested.
    """

    kind: Text = ""
    form: Text = ""

    @abstractmethod
    def build_draft(self, tracker: Tracker):
        """The TicketDraft of the filled form."""

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: DomainDict) -> List[EventType]:
        """Create the ticket once and utter the receipt, or utter the failure and keep the form."""
        from xiaoan import faults

        if tracker.get_slot("confirmation") != CONFIRMED:
            logger.warning("conversation %s: %s without a confirmed read-back; nothing created",
                           tracker.sender_id, self.name())
            return []
        draft = self.build_draft(tracker)
        key = idempotency_key(tracker, self.form, *(getattr(draft, f) for f in draft.__dataclass_fields__))
        faults.crash_point("submit:before_create")
        try:
            receipt = ticket_service().create(draft, idempotency_key=key)
        except Exception as exc:  # noqa: BLE001 - whatever broke, the citizen hears it and keeps the form
            logger.error("conversation %s: %s ticket could not be created (%s: %s)", tracker.sender_id,
                         self.kind, exc.__class__.__name__, exc)
            dispatcher.utter_message(response="utter_ticket_failed")
            events: List[EventType] = []
            if tracker.get_slot("ticket_retry") != self.kind:
                events.append(SlotSet("ticket_retry", self.kind))
            if tracker.get_slot(HANDOFF_REASON) != FORM_FAILED_REASON:
                events.append(SlotSet(HANDOFF_REASON, FORM_FAILED_REASON))
            return events

        faults.crash_point("submit:after_create")
        logger.info("conversation %s: ticket %s %s (agency %s, forwarded %s)", tracker.sender_id,
                    receipt.ticket_no, "created" if receipt.created else "already existed",
                    receipt.agency, receipt.forwarded)
        values = {
            "ticket_no": receipt.ticket_no,
            "agency_name": receipt.agency_name,
            "contact_by": zh_date(domain, receipt.contact_by),
            "resolve_by": zh_date(domain, receipt.resolve_by),
        }
        if draft.anonymous:
            dispatcher.utter_message(response="utter_ticket_created_anonymous", **values)
        else:
            dispatcher.utter_message(response="utter_ticket_created", phone_masked=mask_phone(draft.phone), **values)
        if not receipt.forwarded and services.settings().ticket_api_url:
            dispatcher.utter_message(response="utter_ticket_forward_pending")
        events = clear_ticket_slots(tracker)
        if tracker.get_slot(HANDOFF_REASON) == FORM_FAILED_REASON:
            events.append(SlotSet(HANDOFF_REASON, None))
        events.append(SlotSet("last_ticket_no", receipt.ticket_no))
        return events


class ActionSubmitComplaint(SubmitTicketAction):
    """Creates the complaint ticket after the citizen confirmed (action_submit_complaint)."""

    kind = "complaint"
    form = COMPLAINT_FORM

    def name(self) -> Text:
        return "action_submit_complaint"

    def build_draft(self, tracker: Tracker):
        from xiaoan.tickets.drafts import build_draft

        return build_draft("complaint", slot_values(tracker, COMPLAINT_DRAFT_FIELDS),
                           intent=tracker.get_slot("ticket_intent"), channel=ticket_channel(tracker),
                           conversation_id=tracker.sender_id)

class ActionSubmitReport(SubmitTicketAction):
    """Creates the report ticket after the citizen confirmed (action_submit_report)."""

    kind = "report"
    form = REPORT_FORM

    def name(self) -> Text:
        return "action_submit_report"

    def build_draft(self, tracker: Tracker):
        from xiaoan.tickets.drafts import build_draft

        return build_draft("report", slot_values(tracker, REPORT_DRAFT_FIELDS),
                           intent=tracker.get_slot("ticket_intent"), channel=ticket_channel(tracker),
                           conversation_id=tracker.sender_id)


#: Answers whose loss a cancel asks to confirm.
CONFIRMED_CANCEL_FIELDS = ("complainant_name", "phone", "complainant_address", "respondent_name",
                           "respondent_address", "facts", "claim", "amount")


class ActionCancelForm(Action):
    """Cancels the complaint, report or status form: nothing is created, the answers are cleared."""

    def name(self) -> Text:
        return "action_cancel_form"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: DomainDict) -> List[EventType]:
        """Deactivate the form, clear its slots, say so; with answers in it, first ask to confirm."""
        form = tracker.active_loop_name
        filled = [name for name in CONFIRMED_CANCEL_FIELDS if tracker.get_slot(name) not in (None, "")]
        if form in (COMPLAINT_FORM, REPORT_FORM) and filled and not tracker.get_slot(CANCEL_PENDING):
            # 算了 in the middle of a complaint: the answers are kept until the citizen confirms;
            # 继续填写 resumes the form where it was (FormSlotValidation clears the flag)
            dispatcher.utter_message(response="utter_confirm_cancel")
            return [SlotSet(CANCEL_PENDING, True), FollowupAction("action_listen")]
        logger.info("conversation %s: form %s cancelled", tracker.sender_id, form)
        dispatcher.utter_message(response="utter_form_cancelled")
        events: List[EventType] = [ActiveLoop(None), SlotSet("requested_slot", None)]
        if form == STATUS_FORM:
            # a status look-up cancelled: a complaint kept for a retry stays as it is
            events += [SlotSet(name, None) for name in ("ticket_no", "phone_last4", FAILED_SLOT, REPROMPTED)
                       if tracker.get_slot(name) is not None]
        else:
            events += clear_ticket_slots(tracker)
            _discard_attachments(tracker.sender_id)
        if tracker.get_slot(HANDOFF_REASON) == FORM_FAILED_REASON:
            events.append(SlotSet(HANDOFF_REASON, None))
        if tracker.get_slot(CANCEL_PENDING):
            events.append(SlotSet(CANCEL_PENDING, None))
        return events


def _discard_attachments(conversation_id: Text) -> None:
    """A cancelled complaint or report leaves no evidence behind (issue 15)."""
    from xiaoan.tickets.attachments import AttachmentStore

    try:
        AttachmentStore().discard_pending(conversation_id)
    except Exception as exc:  # noqa: BLE001 - the cancel itself must go through
        logger.error("conversation %s: pending attachments not discarded (%s)", conversation_id,
                     exc.__class__.__name__)


class ActionDefaultFallback(Action):
    """Rasa's core fallback, with one exception: after "要取消这次登记吗？" the form goes on.

    The cancel rule runs ``action_cancel_form``; when it only asks to confirm, the form stays
    active but no rule covers the next message (继续填写, or an answer to the question asked
    before), so RulePolicy falls back here. With a confirmation pending, the form is resumed and
    reads that message as it reads any answer (继续填写 re-asks the question). Otherwise this
    is Rasa's own fallback: ``utter_default`` and the message reverted.
    """

    def name(self) -> Text:
        return "action_default_fallback"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: DomainDict) -> List[EventType]:
        form = tracker.active_loop_name
        if tracker.get_slot(CANCEL_PENDING) and form in (COMPLAINT_FORM, REPORT_FORM):
            logger.info("conversation %s: cancel not confirmed, %s goes on", tracker.sender_id, form)
            return [SlotSet(CANCEL_PENDING, None), FollowupAction(form)]
        dispatcher.utter_message(response="utter_default")
        return [UserUtteranceReverted()]
