"""Texts code sends by itself come from domain.yml through one loader (issue 14, item 3).

The WeChat channel's notices, the REST channel's refusals, the hand-off notices and the
clarification's last button are responses of domain.yml read by ``xiaoan.texts``; these tests
change the wording in a copy of the domain and check that every sender says the new wording, and
that no citizen-facing Chinese text is left written in the channels' or actions' Python code.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml
from rasa_sdk.executor import CollectingDispatcher

from xiaoan import texts
from xiaoan.config import PROJECT_ROOT

HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def domain_copy(tmp_path, monkeypatch):
    """A copy of domain.yml the loader reads instead of the real one; edit it with `reword`."""
    path = tmp_path / "domain.yml"
    shutil.copy(PROJECT_ROOT / "domain.yml", path)
    monkeypatch.setattr(texts, "DOMAIN_PATH", path)
    return path


def reword(path: Path, changes: dict[str, str]) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for name, text in changes.items():
        data["responses"][name] = [{"text": text}]
    before = path.stat().st_mtime_ns
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))  # a visibly newer file


def test_the_real_domain_holds_every_text_code_sends_by_itself():
    from xiaoan.channels.wechat import ChannelTexts
    from xiaoan.handoff.service import NOTICES, load_messages

    names = [*ChannelTexts._RESPONSES.values(), *NOTICES.values(), "utter_clarify_none_button",
             "utter_rest_not_authenticated", "utter_rest_bad_request", "utter_rest_unreadable_text"]
    found = texts.responses()
    assert [n for n in names if n not in found] == []
    assert all(HAN.search(found[n]) for n in names)
    assert texts.text("utter_clarify_none_button") == "都不是"
    notices = load_messages()
    # the placeholders the hand-off service fills in
    assert "{agent}" in notices["taken"]
    assert {"{ticket_no}", "{agency_name}", "{contact_by}"} <= set(re.findall(r"{\w+}", notices["ticket_created"]))


def test_a_changed_response_reaches_every_sender(domain_copy):
    from actions.conversation import ActionFallbackClarify
    from xiaoan.channels.wechat import ChannelTexts
    from xiaoan.handoff.service import load_messages

    assert load_messages()["closed"].startswith("本次人工服务已结束")
    reword(domain_copy, {"utter_handoff_notice_closed": "人工服务结束了。",
                         "utter_wechat_choice_hint": "请回复序号：",
                         "utter_clarify_none_button": "以上都不是"})

    assert load_messages()["closed"] == "人工服务结束了。"
    assert ChannelTexts.load().choice_hint == "请回复序号："

    dispatcher = CollectingDispatcher()
    tracker = type("T", (), {"events": [], "latest_message": {"intent_ranking": []}})()
    ActionFallbackClarify().run(dispatcher, tracker, {})
    assert dispatcher.messages[0]["buttons"][-1] == {"title": "以上都不是", "payload": "/deny"}


def test_a_missing_response_is_named(domain_copy):
    from xiaoan.handoff.service import load_messages

    data = yaml.safe_load(domain_copy.read_text(encoding="utf-8"))
    del data["responses"]["utter_handoff_notice_taken"], data["responses"]["utter_handoff_notice_closed"]
    domain_copy.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError, match="utter_handoff_notice_taken, utter_handoff_notice_closed"):
        load_messages()
    with pytest.raises(texts.TextsError, match="utter_no_such_text"):
        texts.text("utter_no_such_text")


def test_a_domain_without_responses_or_file_is_a_clear_error(tmp_path):
    empty = tmp_path / "domain.yml"
    empty.write_text('version: "3.1"\nintents: [greet]\n', encoding="utf-8")
    with pytest.raises(texts.TextsError, match="responses"):
        texts.text("utter_greet", empty)
    with pytest.raises(texts.TextsError, match="cannot read"):
        texts.text("utter_greet", tmp_path / "missing.yml")


def _code_strings(path: Path) -> list[tuple[int, str]]:
    """String constants of a module that are not docstrings: (line, value)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


def test_the_channels_write_no_chinese_text_in_python():
    found = [f"{p.name}:{line}: {value}" for p in sorted((PROJECT_ROOT / "xiaoan" / "channels").glob("*.py"))
             for line, value in _code_strings(p) if HAN.search(value)]
    assert found == []


def test_no_button_title_is_written_in_python():
    """Citizens' button titles come from the domain, labels.yml or the knowledge base, never a literal
    (the staff console's own page entries, in xiaoan/web, are not buttons offered to citizens)."""
    found = []
    for folder in ("actions", "xiaoan/channels", "xiaoan/handoff", "xiaoan/kb", "xiaoan/tickets"):
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Dict):
                    for key, value in zip(node.keys, node.values):
                        if (isinstance(key, ast.Constant) and key.value == "title" and isinstance(value, ast.Constant)
                                and isinstance(value.value, str) and HAN.search(value.value)):
                            found.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}: {value.value}")
    assert found == []


def test_the_chat_pages_own_texts_are_domain_responses(domain_copy):
    from xiaoan.channels import limits
    from xiaoan.web import messages

    assert set(messages.CITIZEN_TEXTS.values()) | set(limits.TEXTS.values()) <= set(texts.responses())
    assert "{seconds}" in limits.RATE_LIMITED and "12345" in limits.WECHAT_RATE_LIMITED
    assert messages.RASA_UNAVAILABLE.startswith("小安暂时无法连接")
    reword(domain_copy, {"utter_web_rasa_unavailable": "小安正在维护，请稍后再来。",
                         "utter_web_chat_rate_limited": "请{seconds}秒后再发。"})
    assert messages.RASA_UNAVAILABLE == "小安正在维护，请稍后再来。"
    assert messages.CHAT_RATE_LIMITED.format(seconds=5) == "请5秒后再发。"
    with pytest.raises(AttributeError):
        messages.NO_SUCH_TEXT  # noqa: B018 - an unknown name is an error, not an empty text


def test_the_web_apps_error_messages_are_domain_responses(domain_copy):
    """The HTTP error pages and the CSRF refusal read the domain too; web/messages.py holds no Chinese."""
    from xiaoan.web import messages

    assert set(messages.HTTP_ERROR_TEXTS.values()) <= set(texts.responses())
    assert messages.http_error(404) == "您访问的页面不存在。" and "12345" in messages.http_error(500)
    assert messages.http_error(418) == messages.http_error(400)  # an unlisted client error reads as 400
    assert messages.http_error(502) == messages.http_error(500)
    reword(domain_copy, {"utter_web_http_404": "没有这个页面。", "utter_web_csrf_failed": "请刷新页面。"})
    assert messages.http_error(404) == "没有这个页面。"
    assert messages.CSRF_FAILED == "请刷新页面。"
    module = PROJECT_ROOT / "xiaoan" / "web" / "messages.py"
    assert [value for _, value in _code_strings(module) if HAN.search(value)] == []
