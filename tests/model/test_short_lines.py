"""Short typed lines that open a conversation or answer a choice, against the trained model."""

from __future__ import annotations

import pytest

from tests.model.conftest import describe

SHORT_LINES = {
    # opening a complaint: no subject yet, so the general complaint (the form asks for facts)
    "我要投诉": "complain_general",
    "我想投诉": "complain_general",
    "投诉": "complain_general",
    "我要投诉一家店": "complain_general",
    "我想投诉一个商家": "complain_general",
    "投诉商家": "complain_general",
    "我要投诉商家": "complain_general",
    "想投诉": "complain_general",
    # opening a report
    "我要举报": "report_violation",
    "举报": "report_violation",
    "我想举报": "report_violation",
    "举报商家": "report_violation",
    # a person
    "人工": "request_human",
    "转人工": "request_human",
    "我要找人工": "request_human",
    "人工客服": "request_human",
    "找真人": "request_human",
    # resuming, abandoning, confirming a read-back
    "继续填写": "affirm",
    "继续": "affirm",
    "确认": "affirm",
    "确认提交": "affirm",
    "修改": "deny",
    "算了": "cancel",
    "取消": "cancel",
    "不投诉了": "cancel",
    "不举报了": "cancel",
    # form answers and social lines
    "匿名": "inform",
    "实名": "inform",
    "你好": "greet",
    "谢谢": "thank",
    "再见": "goodbye",
    "满意": "rate_service",
    "查进度": "check_ticket_status",
}


@pytest.mark.model
@pytest.mark.parametrize("text, expected", list(SHORT_LINES.items()), ids=[f"line{n:02d}" for n in range(len(SHORT_LINES))])
def test_short_line(nlu_parse, text, expected):
    result = nlu_parse(text)
    predicted = result["intent"]["name"]
    assert predicted == expected, f"{text!r}: expected {expected}, got {predicted} ({describe(result)})"
