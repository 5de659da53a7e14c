"""The maintainers' console at /console/kb with Flask's test client: roles, validation, the
second-maintainer rule, roll back, lists, CSRF."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from xiaoan.config import Settings
from xiaoan.db import session_scope
from xiaoan.kb.repository import KbRepository
from xiaoan.kb.schema import EntryData
from xiaoan.kb.service import get_search_service, reset_services
from xiaoan.web.app import create_app
from xiaoan.web.accounts import create_user

PASSWORD = "correct-horse-42"


@pytest.fixture()
def app(db_url):
    reset_services()
    with session_scope(db_url) as db:
        create_user(db, "alice", PASSWORD, "maintainer", "维护员甲")
        create_user(db, "bob", PASSWORD, "maintainer", "维护员乙")
        create_user(db, "carl", PASSWORD, "agent", "坐席丙")
    app = create_app(Settings(database_url=db_url, rasa_url="http://127.0.0.1:9",
                              web_secret_key="kb-console-tests-0123456789abcdefXYZ"), testing=True)
    yield app
    reset_services()


def token(client, path: str = "/console/login") -> str:
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', client.get(path).text).group(1)


def signed_in(app, username: str):
    client = app.test_client()
    response = client.post("/console/login", data={"username": username, "password": PASSWORD,
                                                   "csrf_token": token(client)})
    assert response.status_code == 302, response.text
    return client


def post(client, path: str, data: dict | None = None, follow: bool = True):
    return client.post(path, data={**(data or {}), "csrf_token": token(client, "/console/kb")},
                       follow_redirects=follow)


ENTRY_FORM = {
    "id": "consumer.gift-card",
    "title": "商场购物卡过期了还能用吗？",
    "phrasings": "购物卡过期\n礼品卡到期了余额怎么办\n",
    "answer": "单用途预付卡不记名的，有效期一般不少于3年。\n过期后可以要求激活或换卡。",
    "tags": "预付卡、购物卡",
    "basis": "《单用途商业预付卡管理办法（试行）》",
    "agency": "dist",
    "effective_from": "2026-01-01",
    "expires_on": "",
}


def create_entry(client, **changes):
    return post(client, "/console/kb/new", {**ENTRY_FORM, **changes})


def test_signed_out_visitor_is_sent_to_sign_in(app):
    response = app.test_client().get("/console/kb")
    assert response.status_code == 302 and "/console/login" in response.headers["Location"]


def test_agent_can_read_but_not_change(app, db_url):
    KbRepository(db_url).create(EntryData(id="biz.x", area="biz", title="问题", phrasings=[], answer="回答"), "alice")
    agent = signed_in(app, "carl")
    assert agent.get("/console/kb").status_code == 200
    page = agent.get("/console/kb/biz.x")
    assert page.status_code == 200 and "修改历史" in page.text and "提交审核" not in page.text
    assert agent.get("/console/kb/new").status_code == 403
    assert post(agent, "/console/kb/biz.x/retire", follow=False).status_code == 403
    assert KbRepository(db_url).get("biz.x").data.status == "draft"


def test_validation_errors_are_clear_chinese(app, db_url):
    alice = signed_in(app, "alice")
    response = create_entry(alice, id="Consumer/Gift Card", answer="  ", effective_from="2026-06-01",
                            expires_on="2026-01-01")
    assert response.status_code == 400
    text = response.text
    assert "编号“Consumer/Gift Card”格式不对" in text
    assert "回答不能为空" in text
    assert "失效日期（2026-01-01）不能早于生效日期（2026-06-01）" in text
    assert "商场购物卡过期了还能用吗？" in text  # what was typed is kept
    assert KbRepository(db_url).count_entries() == 0


def test_create_review_and_publish_by_a_second_maintainer(app, db_url):
    alice = signed_in(app, "alice")
    page = create_entry(alice)
    assert page.status_code == 200 and "已新建草稿“consumer.gift-card”" in page.text
    repo = KbRepository(db_url)
    record = repo.get("consumer.gift-card")
    assert (record.data.status, record.data.updated_by, record.data.tags) == ("draft", "alice", ["预付卡", "购物卡"])
    assert record.data.phrasings == ["购物卡过期", "礼品卡到期了余额怎么办"]

    page = post(alice, "/console/kb/consumer.gift-card/submit", {"version": "1"})
    assert "已提交审核" in page.text and "等待另一位维护员审核发布" in page.text
    page = post(alice, "/console/kb/consumer.gift-card/publish", {"version": "2"})
    assert "最后修改人不能发布自己的修改" in page.text
    assert repo.get("consumer.gift-card").data.status == "review"

    bob = signed_in(app, "bob")
    assert "审核通过并发布" in bob.get("/console/kb/consumer.gift-card").text
    page = post(bob, "/console/kb/consumer.gift-card/publish", {"version": "2"})
    assert "已发布（第 3 版）" in page.text
    record = repo.get("consumer.gift-card")
    assert (record.data.status, record.published_version) == ("published", 3)
    result = get_search_service(db_url).search("购物卡过期了余额还能用吗")
    assert result.hits[0].entry.id == "consumer.gift-card"
    history = repo.history("consumer.gift-card")
    assert [(v.action, v.changed_by) for v in history] == [("publish", "bob"), ("submit", "alice"), ("create", "alice")]


def test_edit_keeps_the_published_text_live_until_published_again(app, db_url):
    alice = signed_in(app, "alice")
    create_entry(alice)
    post(alice, "/console/kb/consumer.gift-card/submit", {"version": "1"})
    bob = signed_in(app, "bob")
    post(bob, "/console/kb/consumer.gift-card/publish", {"version": "2"})

    form = alice.get("/console/kb/consumer.gift-card/edit").text
    assert 'data-preview-source' in form and 'data-preview-target' in form
    assert "过期后可以要求激活或换卡。" in form  # the chat preview shows the current answer
    page = post(alice, "/console/kb/consumer.gift-card/edit", {**ENTRY_FORM, "answer": "新的回答。", "version": "3"})
    assert "已保存为草稿（第 4 版）" in page.text
    assert "市民现在看到的是第 3 版" in page.text
    live = KbRepository(db_url).published_entries()
    assert [e.answer for e in live] == [ENTRY_FORM["answer"].strip()]

    stale = post(bob, "/console/kb/consumer.gift-card/edit", {**ENTRY_FORM, "answer": "bob 的修改", "version": "3"})
    assert stale.status_code == 400 and "已被他人修改" in stale.text
    assert KbRepository(db_url).get("consumer.gift-card").data.answer == "新的回答。"


def test_history_and_rollback(app, db_url):
    alice = signed_in(app, "alice")
    bob = signed_in(app, "bob")
    create_entry(alice)
    post(alice, "/console/kb/consumer.gift-card/submit", {"version": "1"})
    post(bob, "/console/kb/consumer.gift-card/publish", {"version": "2"})  # v3 live
    post(alice, "/console/kb/consumer.gift-card/edit", {**ENTRY_FORM, "answer": "错误的回答。", "version": "3"})
    post(alice, "/console/kb/consumer.gift-card/submit", {"version": "4"})
    post(bob, "/console/kb/consumer.gift-card/publish", {"version": "5"})  # v6 live
    repo = KbRepository(db_url)
    assert [e.answer for e in repo.published_entries()] == ["错误的回答。"]

    version_page = alice.get("/console/kb/consumer.gift-card/versions/3")
    assert version_page.status_code == 200 and "过期后可以要求激活或换卡。" in version_page.text
    page = post(alice, "/console/kb/consumer.gift-card/rollback", {"to_version": "3"})
    assert "已回滚到第 3 版（该版本曾审核发布，已立即生效）" in page.text
    assert [e.answer for e in repo.published_entries()] == [ENTRY_FORM["answer"].strip()]
    assert "回滚到第 3 版" in page.text and "alice" in page.text
    assert repo.history("consumer.gift-card")[0].action == "rollback"
    assert alice.get("/console/kb/consumer.gift-card/versions/99").status_code == 404


def test_retire_from_the_console(app, db_url):
    alice = signed_in(app, "alice")
    create_entry(alice)
    page = post(alice, "/console/kb/consumer.gift-card/retire", {"version": "1"})
    assert "已下线" in page.text
    assert KbRepository(db_url).get("consumer.gift-card").data.status == "retired"


def test_forms_need_the_csrf_token(app, db_url):
    alice = signed_in(app, "alice")
    response = alice.post("/console/kb/new", data=ENTRY_FORM)
    assert response.status_code == 400
    assert KbRepository(db_url).count_entries() == 0


def test_list_search_and_filters(app, db_url):
    repo = KbRepository(db_url)
    repo.create(EntryData(id="biz.annual-report", area="biz", title="年报怎么报", phrasings=[], answer="6月30日前"), "a")
    repo.create(EntryData(id="reg.masks", area="reg", title="口罩价格", phrasings=[], answer="口罩。",
                          expires_on=dt.date(2020, 1, 1)), "a")
    alice = signed_in(app, "alice")
    assert "biz.annual-report" in alice.get("/console/kb").text
    found = alice.get("/console/kb?q=6月30日").text
    assert "biz.annual-report" in found and "reg.masks" not in found
    expired = alice.get("/console/kb?status=expired").text
    assert "reg.masks" in expired and "biz.annual-report" not in expired and "已过期" in expired
    assert "reg.masks" not in alice.get("/console/kb?area=biz").text


def test_unanswered_and_downvoted_lists(app, db_url):
    repo = KbRepository(db_url)
    repo.create(EntryData(id="biz.annual-report", area="biz", title="年报怎么报", phrasings=[], answer="6月30日前"), "a")
    repo.record_unanswered("狗狗掉毛怎么办，我电话13912345678", "conv-1", 0.05, None)
    repo.record_vote("biz.annual-report", "conv-2", False)
    repo.record_vote("biz.annual-report", "conv-3", True)
    carl = signed_in(app, "carl")
    unanswered = carl.get("/console/kb/unanswered").text
    assert "狗狗掉毛怎么办，我电话139****5678" in unanswered and "13912345678" not in unanswered
    down = carl.get("/console/kb/downvoted").text
    assert "biz.annual-report" in down and "年报怎么报" in down


def test_try_search_shows_the_decision(app, db_url):
    repo = KbRepository(db_url)
    repo.import_entries([EntryData(id="reg.elevator", area="reg", title="电梯困人找谁？", phrasings=["电梯坏了困人"],
                                   answer="拨打电梯内的应急电话。", status="published")], "test")
    alice = signed_in(app, "alice")
    page = alice.get("/console/kb/try?q=电梯困人了找谁")
    assert page.status_code == 200 and "reg.elevator" in page.text
    assert 'data-decision="' in page.text


def test_script_and_stylesheet_are_served_as_files(app):
    client = app.test_client()
    js = client.get("/console/kb/kb.js")
    css = client.get("/console/kb/kb.css")
    assert js.status_code == 200 and js.mimetype == "application/javascript" and "textContent" in js.text
    assert css.status_code == 200 and css.mimetype == "text/css" and ".kb-bubble" in css.text


# --- 相似问法 in one step ------------------------------------------------------------------------

ELEVATOR = EntryData(id="reg.elevator", area="reg", title="电梯困人找谁？", phrasings=["电梯坏了困人"],
                     answer="拨打电梯内的应急电话。", status="published")
PARKING = EntryData(id="reg.parking-fee", area="reg", title="停车收费太贵找谁？", phrasings=["停车场乱收费"],
                    answer="可以向价格主管部门反映。", status="published")


def test_add_phrasing_to_a_published_entry_goes_live_without_retraining(app, db_url):
    repo = KbRepository(db_url)
    repo.import_entries([ELEVATOR, PARKING], "test")
    question = "轿厢卡在两层中间门打不开"
    assert question not in get_search_service(db_url).get("reg.elevator").phrasings

    alice = signed_in(app, "alice")
    page = alice.get("/console/kb/reg.elevator")
    assert "添加相似问法" in page.text and 'name="phrasing"' in page.text
    page = post(alice, "/console/kb/reg.elevator/phrasings", {"phrasing": f"  {question} ", "version": "1"})
    assert f"已为“reg.elevator”添加相似问法“{question}”" in page.text
    record = repo.get("reg.elevator")
    assert record.data.phrasings == ["电梯坏了困人", question]
    assert (record.data.status, record.version, record.published_version) == ("published", 2, 2)
    assert [(v.action, v.changed_by) for v in repo.history("reg.elevator")][0] == ("add_phrasing", "alice")
    assert "添加相似问法" in page.text  # the history names the action
    assert [e.phrasings for e in repo.published_entries() if e.id == "reg.elevator"] == [["电梯坏了困人", question]]

    service = get_search_service(db_url)
    service.reload()
    assert question in service.get("reg.elevator").phrasings
    result = service.search(question)
    assert result.decision == "answer" and result.answer.entry.id == "reg.elevator"


def test_add_phrasing_is_validated_with_clear_chinese_messages(app, db_url):
    repo = KbRepository(db_url)
    repo.import_entries([ELEVATOR, PARKING], "test")
    alice = signed_in(app, "alice")
    url = "/console/kb/reg.elevator/phrasings"
    assert "相似问法不能为空" in post(alice, url, {"phrasing": "   "}).text
    assert "已经是这个条目的问法了" in post(alice, url, {"phrasing": "电梯坏了 困人？"}).text
    assert "已经是这个条目的问法了" in post(alice, url, {"phrasing": "电梯困人找谁"}).text  # the title
    assert "已经是条目“reg.parking-fee”的问法" in post(alice, url, {"phrasing": "停车场乱收费！"}).text
    assert "相似问法太长" in post(alice, url, {"phrasing": "电梯" * 150}).text
    stale = post(alice, url, {"phrasing": "电梯关人了", "version": "7"})
    assert "已被他人修改" in stale.text
    record = repo.get("reg.elevator")
    assert record.version == 1 and record.data.phrasings == ["电梯坏了困人"]
    assert post(alice, "/console/kb/reg.nothing/phrasings", {"phrasing": "电梯关人了"}, follow=False).status_code == 404


def test_add_phrasing_to_a_draft_stays_a_draft(app, db_url):
    alice = signed_in(app, "alice")
    create_entry(alice)
    page = post(alice, "/console/kb/consumer.gift-card/phrasings", {"phrasing": "卡里还有钱过期了伐", "version": "1"})
    assert "加到“consumer.gift-card”的草稿（第 2 版）" in page.text
    repo = KbRepository(db_url)
    record = repo.get("consumer.gift-card")
    assert record.data.status == "draft" and record.published_version is None
    assert record.data.phrasings[-1] == "卡里还有钱过期了伐"
    assert repo.published_entries() == []


def test_add_phrasing_needs_a_maintainer_and_the_csrf_token(app, db_url):
    repo = KbRepository(db_url)
    repo.import_entries([ELEVATOR], "test")
    carl = signed_in(app, "carl")
    assert "添加相似问法" not in carl.get("/console/kb/reg.elevator").text
    assert post(carl, "/console/kb/reg.elevator/phrasings", {"phrasing": "电梯关人了"}, follow=False).status_code == 403
    alice = signed_in(app, "alice")
    assert alice.post("/console/kb/reg.elevator/phrasings", data={"phrasing": "电梯关人了"}).status_code == 400
    assert alice.post("/console/kb/unanswered/phrasing",
                      data={"phrasing": "电梯关人了", "entry_id": "reg.elevator"}).status_code == 400
    assert repo.get("reg.elevator").data.phrasings == ["电梯坏了困人"]


def test_unanswered_question_becomes_a_phrasing_in_one_step(app, db_url):
    repo = KbRepository(db_url)
    repo.import_entries([ELEVATOR, PARKING], "test")
    repo.record_unanswered("电梯里头关牢了哪能办", "conv-1", 0.2, "reg.elevator")
    alice = signed_in(app, "alice")
    page = alice.get("/console/kb/unanswered").text
    assert "加为相似问法" in page and 'list="kb-entry-ids"' in page
    assert '<option value="reg.parking-fee">' in page and 'value="reg.elevator"' in page
    assert "加为相似问法" not in signed_in(app, "carl").get("/console/kb/unanswered").text

    done = post(alice, "/console/kb/unanswered/phrasing", {"phrasing": "电梯里头关牢了哪能办", "entry_id": "reg.elevator"})
    assert "已为“reg.elevator”添加相似问法“电梯里头关牢了哪能办”" in done.text
    assert repo.get("reg.elevator").data.phrasings[-1] == "电梯里头关牢了哪能办"
    missing = post(alice, "/console/kb/unanswered/phrasing", {"phrasing": "电梯里头关牢了哪能办", "entry_id": ""})
    assert "请选择要加到哪个条目" in missing.text
    unknown = post(alice, "/console/kb/unanswered/phrasing", {"phrasing": "停车太贵", "entry_id": "reg.nope"})
    assert "没有编号为“reg.nope”的条目" in unknown.text
    assert repo.get("reg.parking-fee").data.phrasings == ["停车场乱收费"]
