"""The one TicketDraft builder (xiaoan.tickets.drafts), used by the forms and the inbox, and the
tickets service as the one place that checks a draft."""

from __future__ import annotations

from decimal import Decimal

import pytest

from xiaoan.config import Settings
from xiaoan.tickets.drafts import DraftInputError, build_draft, read_amount, read_phone
from xiaoan.tickets.service import TicketService, TicketValidationError

COMPLAINT = {"complainant_name": "张三", "phone": "13812345678", "complainant_address": "浦东新区世纪大道1号",
             "respondent_name": "某某健身", "respondent_address": "浦东新区张杨路100号", "district": "dist-pudong",
             "facts": "健身房关门", "claim": "退款", "amount": Decimal("2000")}


def test_an_anonymous_report_never_carries_the_reporters_identity():
    draft = build_draft("report", {**COMPLAINT, "anonymous": True}, intent=None, channel="web", conversation_id="c")
    assert (draft.complainant_name, draft.phone, draft.complainant_address) == (None, None, None)
    assert draft.anonymous and draft.intent == "report_violation"
    assert (draft.respondent_name, draft.facts) == ("某某健身", "健身房关门")


def test_anonymous_counts_only_for_a_report():
    draft = build_draft("complaint", {**COMPLAINT, "anonymous": True}, intent="complain_prepaid", channel="wechat",
                        conversation_id="c")
    assert not draft.anonymous and draft.phone == "13812345678" and draft.intent == "complain_prepaid"


def test_missing_fields_stay_empty_and_the_privacy_version_defaults_only_when_not_given():
    draft = build_draft("complaint", {"respondent_credit_code": "  ", "online_platform": " 美团 "}, intent=None,
                        channel="web", conversation_id="c")
    assert draft.intent == "complain_general" and draft.facts is None and draft.amount is None
    assert (draft.respondent_credit_code, draft.online_platform) == (None, "美团")
    assert draft.privacy_notice_version == "v1"
    shown = build_draft("complaint", {"privacy_notice_version": "not-shown"}, intent=None, channel="web",
                        conversation_id="c")
    assert shown.privacy_notice_version == "not-shown"


def test_typed_phone_and_amount_are_read_or_refused_with_the_field():
    assert read_phone("138 1234 5678") == "13812345678"
    assert read_amount("两千元") == Decimal("2000")
    with pytest.raises(DraftInputError) as phone:
        read_phone("12345")
    with pytest.raises(DraftInputError) as amount:
        read_amount("很多")
    assert (phone.value.field, amount.value.field) == ("phone", "amount")


def test_the_service_checks_the_draft_and_says_when_a_field_is_missing(db_url):
    service = TicketService(Settings(database_url=db_url))
    draft = build_draft("complaint", {**COMPLAINT, "complainant_address": None}, intent=None, channel="web",
                        conversation_id="c")
    with pytest.raises(TicketValidationError) as missing:
        service.create(draft, "k1")
    assert (missing.value.field, missing.value.missing) == ("complainant_address", True)
    bad = build_draft("complaint", {**COMPLAINT, "phone": "12345"}, intent=None, channel="web", conversation_id="c")
    with pytest.raises(TicketValidationError) as wrong:
        service.create(bad, "k2")
    assert (wrong.value.field, wrong.value.missing) == ("phone", False)
    receipt = service.create(build_draft("complaint", COMPLAINT, intent=None, channel="web", conversation_id="c"), "k3")
    assert receipt.created and receipt.agency == "dist-pudong"
