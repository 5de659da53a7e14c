"""The staff pages' own wording is the labels file's (issue 14, item 3): slots, session statuses,
forms and the messages of the inbox, the console's sign-in and the SMS replies endpoint.

Each test either checks the file against the code that reads it (every key the code asks for is
there) or rewords a copy of the file and checks that the pages follow.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from xiaoan import labels
from xiaoan.handoff.models import STATUSES
from xiaoan.handoff.slots import TICKET_SLOTS

ROOT = Path(__file__).resolve().parents[2]
HAN = re.compile(r"[\u4e00-\u9fff]")

#: Modules whose staff-facing wording moved to the labels file: no Chinese left in their code.
MOVED = ("xiaoan/handoff/inbox.py", "xiaoan/handoff/slots.py", "xiaoan/handoff/service.py", "xiaoan/handoff/canned.py",
         "xiaoan/handoff/assist_console.py", "xiaoan/kb/console.py", "xiaoan/supervision/console.py", "xiaoan/web/auth.py", "xiaoan/web/accounts.py",
         "xiaoan/notify/web.py")
#: Chinese a module compares with (what a citizen's slot may hold), not wording it shows.
PARSED = {("xiaoan/handoff/presenters.py", "匿名")}


def _python_files():
    return sorted([*(ROOT / "xiaoan").rglob("*.py"), *(ROOT / "actions").rglob("*.py")])


def _message_keys_used() -> list[tuple[str, str]]:
    """(file, key) of every ``labels.message("page.key", ...)`` with a literal key."""
    found = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "message"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "labels" and node.args
                    and isinstance(node.args[0], ast.Constant)):
                found.append((str(path.relative_to(ROOT)), node.args[0].value))
    return found


def _code_strings(path: Path) -> list[str]:
    """String constants of a module that are not docstrings (of the module, a class, a function or an attribute)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.value) for node in ast.walk(tree)
                  if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)}
    return [n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


@pytest.fixture
def reworded(tmp_path, monkeypatch):
    """Rewrite a copy of labels.yml with `changes` ({"messages.inbox.taken": "甲"}) and read that copy."""

    def reword(changes: dict[str, str]) -> None:
        data = yaml.safe_load(labels.LABELS_PATH.read_text(encoding="utf-8"))
        for dotted, value in changes.items():
            *parents, last = dotted.split(".")
            section = data
            for name in parents:
                section = section[name]
            section[last] = value
        path = tmp_path / "labels.yml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        monkeypatch.setattr(labels, "LABELS_PATH", path)

    return reword


def test_every_message_the_code_asks_for_is_in_the_file():
    from xiaoan.web import messages

    known = labels.load_labels().messages
    used = _message_keys_used() + [("xiaoan/web/messages.py", key) for key in messages.STAFF_TEXTS.values()]
    assert len(used) >= 40
    assert [(where, key) for where, key in used if key not in known] == []
    # the keys built at run time (the rollback's two outcomes) or handed on (the canned replies' retire/restore)
    assert {"canned.retired", "canned.restored",
            "kb.rolled_back_live", "kb.rolled_back_draft",
            "supervision.hidden_phone", "supervision.hidden_name"} <= set(known)
    assert set(labels.messages_of("kb_actions")) >= {"create", "publish", "rollback", "review"}


def test_the_file_labels_every_status_and_ticket_slot():
    data = labels.load_labels()
    assert set(data.session_statuses) == set(STATUSES)
    assert tuple(data.ticket_slots) == TICKET_SLOTS
    assert not set(data.ticket_slots) & set(data.other_slots)
    assert list(data.slots)[:len(TICKET_SLOTS)] == list(TICKET_SLOTS)
    assert {"complaint_form", "report_form", "callback_form"} <= set(data.forms)
    assert set(data.ticket_kinds) == {"complaint", "report"} and set(data.due_flags) == {"overdue", "near_due"}


def test_message_fills_in_values_and_names_a_missing_text():
    assert labels.message("inbox.revealed", minutes=10).startswith("已显示该会话的完整号码")
    assert "10分钟后" in labels.message("inbox.revealed", minutes=10)
    assert "{minutes}" in labels.message("inbox.revealed")  # no values: the text as written
    assert labels.message("sms_replies.bad_request") == '请求体应为 {"from": 手机号, "text": 回复内容}。'
    with pytest.raises(labels.LabelsError, match="inbox.no_such_text"):
        labels.message("inbox.no_such_text")
    assert labels.slot("claim") == "诉求" and labels.slot("unknown_slot") == "unknown_slot"
    assert labels.session_status("waiting") == "排队中" and labels.form("callback_form") == "回电登记"
    assert labels.ticket_kind("report") == "举报" and labels.due_flag("overdue") == "已超期" and labels.due_flag(None) == ""


def test_a_malformed_section_is_named(tmp_path):
    data = yaml.safe_load(labels.LABELS_PATH.read_text(encoding="utf-8"))
    data["messages"]["inbox"]["taken"] = ""
    path = tmp_path / "labels.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(labels.LabelsError, match="messages.inbox.taken"):
        labels.load_labels(path)
    data["messages"]["inbox"]["taken"] = "已接入。"
    data["slots"]["ticket"] = ["姓名"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(labels.LabelsError, match="slots.ticket must be a mapping"):
        labels.load_labels(path)


@pytest.fixture
def app_context():
    """A request context of a bare Flask app: enough for the forms."""
    from flask import Flask

    app = Flask(__name__)
    app.config.update(SECRET_KEY="test", WTF_CSRF_ENABLED=False)
    with app.test_request_context("/"):
        yield app


def test_the_staff_pages_follow_a_reworded_file(reworded, app_context):
    from xiaoan.handoff import presenters
    from xiaoan.web import messages
    from xiaoan.web.auth import LoginForm

    reworded({"messages.inbox.paused_marker": "【暂停】", "slots.ticket.claim": "要求", "messages.common.answer_yes": "对",
              "messages.inbox.amount_field": "金额", "ticket_kinds.report": "检举",
              "messages.console.login_failed": "登录失败。", "messages.console.username": "工号",
              "messages.console.forbidden": "无权限。"})
    assert presenters.transcript([{"event": "pause", "timestamp": 1.0}])[0]["text"] == "【暂停】"
    shown = presenters.gathered_slots({"claim": "退款", "anonymous": True})
    assert [(s["label"], s["value"]) for s in shown] == [("要求", "退款"), ("是否匿名", "对")]
    form = presenters.TicketForm()
    assert (form.claim.label.text, form.amount.label.text) == ("要求", "金额")
    assert dict(form.kind.choices)["report"] == "检举"
    assert messages.LOGIN_FAILED == "登录失败。" and messages.http_error(403) == "无权限。"
    assert LoginForm().username.label.text == "工号"


def test_the_assist_panel_reads_its_section_of_the_one_file(reworded):
    from xiaoan.handoff.assist import AssistLabelsError, load_assist_labels

    assert load_assist_labels().moods["angry"] == "情绪激动，请先安抚"
    assert not (labels.LABELS_PATH.parent / "assist_labels.yml").exists()
    reworded({"assist.moods.angry": "激动", "assist.canned_fields.title": "名称"})
    wording = load_assist_labels()
    assert (wording.moods["angry"], wording.canned_fields["title"]) == ("激动", "名称")
    reworded({"assist.moods.angry": ""})
    with pytest.raises(AssistLabelsError, match="assist: moods.angry"):
        load_assist_labels()


def test_the_moved_modules_write_no_chinese_in_python():
    found = [f"{name}: {value}" for name in [*MOVED, "xiaoan/handoff/presenters.py"]
             for value in _code_strings(ROOT / name)
             if HAN.search(value) and (name, value) not in PARSED]
    assert found == []
