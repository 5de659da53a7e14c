"""需复核: entries whose legal basis needs checking or that nobody reviewed for a year — the rules
(xiaoan.kb.review), the 已复核 record (repository), the console view and `xiaoan kb check-basis`."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import yaml
from click.testing import CliRunner

from xiaoan.cli import cli
from xiaoan.kb.legal import Instrument, Register, load_register
from xiaoan.kb.repository import KbError, KbRepository
from xiaoan.kb.review import LastReview, last_review, reasons_for, review_items
from xiaoan.kb.schema import EntryData

UTC = dt.timezone.utc
TODAY = dt.date(2026, 12, 5)
#: dates relative to the real today, for the console and the command (which use the clock)
RECENT = (dt.date.today() - dt.timedelta(days=10)).isoformat()
LONG_AGO = (dt.date.today() - dt.timedelta(days=500)).isoformat()


def at(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=4, tzinfo=UTC)


def entry(entry_id="consumer.fraud", basis="《中华人民共和国消费者权益保护法》第五十五条", *, updated="2026-11-26",
          effective_from=None, status="published") -> EntryData:
    return EntryData(id=entry_id, area=entry_id.split(".")[0], title=f"{entry_id} 的问题？", phrasings=["问法一"],
                     answer="回答。", basis=basis, effective_from=effective_from, status=status,
                     updated_by="writer", updated_at=at(updated))


@pytest.fixture(scope="module")
def register() -> Register:
    return load_register()


SMALL = Register((
    Instrument(id="a-law", title="甲法", aliases=(), level="law", issuer="人大", effective=dt.date(2026, 6, 1),
               amendments=(dt.date(2020, 1, 1), dt.date(2026, 6, 1)), status="amended"),
    Instrument(id="b-law", title="乙法", aliases=(), level="law", issuer="人大", effective=dt.date(2027, 1, 1),
               amendments=(dt.date(2027, 1, 1),), status="amended"),
    Instrument(id="new-rule", title="丙规定", aliases=(), level="departmental_rule", issuer="总局",
               effective=dt.date(2026, 4, 15), status="in_force"),
    Instrument(id="old-law", title="旧法", aliases=(), level="law", issuer="人大", effective=dt.date(2000, 1, 1),
               status="repealed", repealed_on=dt.date(2022, 3, 1), superseded_by="a-law"),
))


def codes(e: EntryData, register: Register, recorded=None, today=TODAY) -> list[str]:
    return [r.code for r in reasons_for(e, last_review(e, recorded), register, today=today)]


def test_a_sound_recent_entry_needs_no_review(register):
    assert codes(entry(), register) == []


def test_basis_missing_unknown_unparsed_and_repealed(register):
    assert codes(entry(basis=None), register) == ["missing"]
    assert codes(entry(basis="《上海市不存在的条例》"), register) == ["unknown"]
    assert codes(entry(basis="国家有关规定"), register) == ["unparsed"]
    repealed = reasons_for(entry(basis="《公司登记管理条例》第三条"), last_review(entry(), None), register, today=TODAY)
    assert [r.code for r in repealed] == ["repealed"]
    assert "已于 2022-03-01 废止，由《中华人民共和国市场主体登记管理条例》取代" in repealed[0].message


def test_amended_after_the_last_review_unless_written_for_that_version():
    reviewed_before = entry(basis="《甲法》第三条", updated="2026-01-10")
    reasons = reasons_for(reviewed_before, last_review(reviewed_before, None), SMALL, today=TODAY)
    assert [r.code for r in reasons] == ["amended"]
    assert reasons[0].message == "《甲法》的修改于 2026-06-01 施行，晚于本条目最近一次复核（2026-01-10）"
    assert codes(entry(basis="《甲法》", updated="2026-07-01"), SMALL) == []  # reviewed after the change
    # an entry written for the amended text (its own effective date) is not stale
    assert codes(entry(basis="《甲法》", updated="2026-01-10", effective_from=dt.date(2026, 6, 1)), SMALL) == []
    # an amendment adopted but not yet in force is flagged ahead of time
    future = reasons_for(entry(basis="《乙法》"), last_review(entry(), None), SMALL, today=TODAY)
    assert [r.code for r in future] == ["amended"] and "2027-01-01 将施行" in future[0].message
    # a rule that took effect after the review but was never amended is not "amended"
    assert codes(entry(basis="《丙规定》", updated="2026-01-10"), SMALL) == []
    # the same instrument cited twice is reported once; the repealed one is reported as repealed
    assert codes(entry(basis="《甲法》第一条；《甲法》第二条；《旧法》", updated="2026-01-10"), SMALL) == ["repealed", "amended"]


def test_a_review_record_counts_like_an_edit():
    e = entry(basis="《甲法》", updated="2026-01-10")
    assert codes(e, SMALL, recorded=(at("2026-07-02"), "bob", "review")) == []
    assert codes(e, SMALL, recorded=(at("2026-01-01"), "bob", "review")) == ["amended"]  # older than the edit
    review = last_review(e, (at("2026-07-02"), "bob", "publish"))
    assert (review.by, review.how) == ("bob", "publish")
    assert last_review(e, None) == LastReview(at("2026-01-10"), "writer", "edit")


def test_nobody_reviewed_for_a_year(register):
    old = entry(updated="2025-12-04")
    reasons = reasons_for(old, last_review(old, None), register, today=TODAY)
    assert [r.code for r in reasons] == ["stale"]
    assert reasons[0].message == "已经 366 天没有人复核（最近一次：2025-12-04，writer）"
    assert codes(entry(updated="2025-12-05"), register) == []  # exactly 365 days
    assert codes(old, register, recorded=(at("2026-03-01"), "bob", "review")) == []


def test_review_items_order_filter_and_skip_retired(register):
    entries = [
        (entry("biz.a", basis=None), 3),
        (entry("biz.b", basis="《个体工商户条例》"), 1),
        (entry("biz.c"), 1),
        (entry("biz.d", basis=None, status="retired"), 2),
        (entry("biz.e", updated="2024-01-01"), 5),
    ]
    items = review_items(entries, {}, register, today=TODAY)
    assert [(i.entry.id, i.codes, i.version) for i in items] == [
        ("biz.b", ("repealed",), 1), ("biz.a", ("missing",), 3), ("biz.e", ("stale",), 5)]
    assert [i.entry.id for i in review_items(entries, {}, register, today=TODAY, codes=["stale"])] == ["biz.e"]
    recorded = {"biz.e": (at("2026-10-01"), "bob", "review")}
    assert [i.entry.id for i in review_items(entries, recorded, register, today=TODAY)] == ["biz.b", "biz.a"]
    data = items[0].to_json()
    assert data["id"] == "biz.b" and data["reasons"][0]["code"] == "repealed"
    assert data["last_reviewed_by"] == "writer" and data["last_reviewed_at"].startswith("2026-11-26")


# --- the 已复核 record -------------------------------------------------------------------------


def test_mark_reviewed_records_who_and_when_without_changing_content(db_url):
    repo = KbRepository(db_url)
    repo.import_entries([entry("consumer.fraud", updated="2024-01-01"),
                         entry("consumer.draft", status="draft", updated="2024-01-01")], "import")
    before = repo.get("consumer.fraud")
    revision = repo.revision()
    done = repo.mark_reviewed("consumer.fraud", "bob", expected_version=before.version)
    assert done.data.content() == before.data.content()
    assert (done.data.updated_by, done.data.updated_at) == ("writer", at("2024-01-01"))  # the content editor stays
    assert (done.version, done.published_version) == (2, 2)  # still live, nothing pending
    assert repo.revision() == revision  # citizens' answers unchanged: no reload
    assert [(v.action, v.changed_by) for v in repo.history("consumer.fraud")][0] == ("review", "bob")
    reviews = repo.last_reviews()
    assert reviews["consumer.fraud"][1:] == ("bob", "review")
    draft = repo.mark_reviewed("consumer.draft", "alice")
    assert (draft.data.status, draft.published_version) == ("draft", None)
    with pytest.raises(KbError, match="已被他人修改"):
        repo.mark_reviewed("consumer.fraud", "bob", expected_version=1)
    repo.retire("consumer.fraud", "bob")
    with pytest.raises(KbError, match="已下线的条目不用复核"):
        repo.mark_reviewed("consumer.fraud", "bob")


def test_last_reviews_take_the_newest_review_or_publication(db_url):
    repo = KbRepository(db_url)
    repo.create(entry("biz.x", status="draft"), "alice")
    assert "biz.x" not in repo.last_reviews()
    repo.submit("biz.x", "alice")
    repo.publish("biz.x", "bob")
    assert repo.last_reviews()["biz.x"][1:] == ("bob", "publish")
    repo.mark_reviewed("biz.x", "carl")
    assert repo.last_reviews()["biz.x"][1:] == ("carl", "review")


# --- the console ------------------------------------------------------------------------------

from tests.unit.test_kb_console import app, post, signed_in  # noqa: E402,F401  (fixtures and helpers)


def test_review_view_lists_entries_with_reasons_and_records_a_review(app, db_url):
    repo = KbRepository(db_url)
    repo.import_entries([
        entry("consumer.fraud", updated=RECENT),
        entry("biz.old-rule", basis="《个体工商户条例》第八条", updated=RECENT),
        entry("biz.no-basis", basis=None, updated=RECENT),
        entry("biz.forgotten", updated=LONG_AGO),
    ], "import")
    carl = signed_in(app, "carl")  # an agent reads, without the button
    page = carl.get("/console/kb/review").text
    assert "需复核" in page and 'data-entry="biz.old-rule"' in page and 'data-entry="consumer.fraud"' not in page
    assert "《个体工商户条例》已于 2022-11-01 废止，由《促进个体工商户发展条例》取代" in page
    assert "没有填写法律依据" in page and "超过一年未复核" in page and "天没有人复核" in page
    assert "已复核 biz.forgotten" not in page
    only = carl.get("/console/kb/review?reason=missing").text
    assert 'data-entry="biz.no-basis"' in only and 'data-entry="biz.old-rule"' not in only
    assert 'href="/console/kb/review"' in carl.get("/console/kb").text  # in the sub-navigation

    alice = signed_in(app, "alice")
    page = alice.get("/console/kb/review").text
    assert 'aria-label="已复核 biz.forgotten"' in page
    done = post(alice, "/console/kb/biz.forgotten/reviewed", {"version": "1", "back": "review"})
    assert "已记录：alice 复核了“biz.forgotten”（第 2 版），内容没有改动。" in done.text
    assert 'data-entry="biz.forgotten"' not in done.text and 'data-entry="biz.old-rule"' in done.text
    # a review does not fix a repealed basis: the entry stays listed
    post(alice, "/console/kb/biz.old-rule/reviewed", {"version": "1", "back": "review"})
    assert 'data-entry="biz.old-rule"' in alice.get("/console/kb/review").text
    detail = alice.get("/console/kb/biz.forgotten").text
    assert "已复核" in detail and "最近复核" in detail and "alice" in detail
    assert 'id="kb-review-reasons"' in alice.get("/console/kb/biz.old-rule").text


def test_review_action_needs_a_maintainer_the_csrf_token_and_a_fresh_version(app, db_url):
    repo = KbRepository(db_url)
    repo.import_entries([entry("biz.forgotten", updated=LONG_AGO)], "import")
    carl = signed_in(app, "carl")
    assert post(carl, "/console/kb/biz.forgotten/reviewed", {"version": "1"}, follow=False).status_code == 403
    alice = signed_in(app, "alice")
    assert alice.post("/console/kb/biz.forgotten/reviewed", data={"version": "1"}).status_code == 400
    stale = post(alice, "/console/kb/biz.forgotten/reviewed", {"version": "9"})
    assert "操作未完成" in stale.text and "已被他人修改" in stale.text
    assert repo.get("biz.forgotten").version == 1
    assert post(alice, "/console/kb/biz.nope/reviewed", {"version": "1"}, follow=False).status_code == 404
    from_detail = post(alice, "/console/kb/biz.forgotten/reviewed", {"version": "1"}, follow=False)
    assert from_detail.status_code == 303 and from_detail.headers["Location"].endswith("/console/kb/biz.forgotten")


def test_review_view_explains_an_invalid_register(app, db_url, monkeypatch, tmp_path):
    bad = tmp_path / "laws.yml"
    bad.write_text("instruments: [{id: X}]\n", encoding="utf-8")
    monkeypatch.setattr("xiaoan.kb.legal.REGISTER_FILE", bad)
    KbRepository(db_url).import_entries([entry("biz.no-basis", basis=None, updated=RECENT)], "import")
    page = signed_in(app, "carl").get("/console/kb/review")
    assert page.status_code == 200 and "法规库文件（xiaoan/resources/laws.yml）有错误" in page.text


# --- xiaoan kb check-basis ----------------------------------------------------------------------


def test_check_basis_prints_the_same_list_as_the_console(db_url):
    repo = KbRepository(db_url)
    repo.import_entries([entry("consumer.fraud", updated=RECENT), entry("biz.no-basis", basis=None, updated=RECENT),
                         entry("biz.forgotten", updated=LONG_AGO)], "import")
    repo.mark_reviewed("biz.forgotten", "bob")
    runner = CliRunner()
    result = runner.invoke(cli, ["kb", "check-basis", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["id"], [x["code"] for x in r["reasons"]]) for r in rows] == [("biz.no-basis", ["missing"])]
    plain = runner.invoke(cli, ["kb", "check-basis"])
    assert plain.exit_code == 0 and "biz.no-basis" in plain.stdout and "[缺少依据] 没有填写法律依据" in plain.stdout


def test_check_basis_reads_yaml_files_before_an_import(tmp_path, db_url):
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "biz.yml").write_text(yaml.safe_dump({"area": "biz", "entries": [
        entry("biz.ok", updated=RECENT).to_yaml(),
        entry("biz.repealed", basis="《公司登记管理条例》", updated=RECENT).to_yaml(),
    ]}, allow_unicode=True, default_flow_style=False), encoding="utf-8")
    result = CliRunner().invoke(cli, ["kb", "check-basis", "--json", "--source", "yaml", "--kb-dir", str(kb)])
    assert result.exit_code == 0, result.output
    assert [(r["id"], r["reasons"][0]["code"]) for r in json.loads(result.stdout)] == [("biz.repealed", "repealed")]
