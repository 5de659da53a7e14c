"""The loop that improves the knowledge base (issue 11 item 5): unanswered and down-voted questions
grouped (xiaoan.kb.clusters), the question kept with a vote, a group turned into 相似问法 (live
without retraining) or into a new entry's form."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge import ActionKbFeedback
from xiaoan.kb.clusters import DOWNVOTED, UNANSWERED, Question, cluster_questions, question_key
from xiaoan.kb.repository import KbError, KbRepository
from xiaoan.kb.schema import EntryData
from xiaoan.kb.search import KbIndex, load_settings
from xiaoan.kb.service import get_search_service

from tests.unit.test_kb_console import app, post, signed_in  # noqa: F401  (fixture and helpers)

NOW = dt.datetime(2026, 12, 5, 8, tzinfo=dt.timezone.utc)

ENTRIES = [
    EntryData(id="reg.metrology", area="reg", title="缺斤短两、秤不准怎么投诉？", phrasings=["买东西分量不够"],
              answer="可以向市场监管部门举报计量违法。", status="published"),
    EntryData(id="biz.food-license", area="biz", title="食品经营许可证怎么办？", phrasings=["开饭店要办什么证"],
              answer="在一网通办申请食品经营许可。", status="published"),
    EntryData(id="biz.change", area="biz", title="公司变更登记怎么办？", phrasings=["法人变更要什么材料"],
              answer="在一网通办申请变更登记。", status="published"),
]


def q(text, minutes=0, source=UNANSWERED, entry_id=None) -> Question:
    return Question(text, source, entry_id, NOW - dt.timedelta(minutes=minutes))


@pytest.fixture(scope="module")
def lexical_index() -> KbIndex:
    return KbIndex(ENTRIES, load_settings(), encoder=None)


def test_similar_questions_are_grouped_with_counts_and_the_closest_entry(lexical_index):
    questions = [
        q("菜场的秤不准少给了二两", 1), q("菜场的秤不准 少给了二两？", 2), q("菜场秤不准少了二两怎么办", 3),
        q("网上卖进口零食要办食品许可证吗", 4), q("网上卖进口饼干要办食品许可证吗", 5, DOWNVOTED, "biz.food-license"),
        q("狗狗掉毛怎么办", 6),
    ]
    clusters = cluster_questions(questions, index=lexical_index)
    assert [(c.count, [x.text for x in c.questions]) for c in clusters] == [
        (3, ["菜场的秤不准少给了二两", "菜场秤不准少了二两怎么办"]),
        (2, ["网上卖进口零食要办食品许可证吗", "网上卖进口饼干要办食品许可证吗"]),
        (1, ["狗狗掉毛怎么办"]),
    ]
    scales, food, dog = clusters
    assert scales.questions[0].count == 2 and scales.label == "菜场的秤不准少给了二两"  # repeats counted once
    assert (scales.unanswered, scales.downvoted, scales.nearest_id) == (3, 0, "reg.metrology")
    assert scales.nearest_title == "缺斤短两、秤不准怎么投诉？" and 0 < scales.nearest_score <= 1
    assert (food.unanswered, food.downvoted, food.downvoted_ids, food.nearest_id) == (1, 1, ["biz.food-license"],
                                                                                      "biz.food-license")
    assert food.last_at == NOW - dt.timedelta(minutes=4)
    assert dog.nearest_score < scales.nearest_score


def test_questions_already_in_the_knowledge_base_and_commands_are_left_out(lexical_index):
    clusters = cluster_questions([q("买东西分量不够！"), q("/affirm"), q("  "), q("秤不准")], index=lexical_index,
                                 known=["买东西分量不够"])
    assert [[x.text for x in c.questions] for c in clusters] == [["秤不准"]]
    assert cluster_questions([], index=lexical_index) == []
    assert question_key(" 秤 不准？！") == "秤不准"


def test_without_an_index_questions_are_grouped_by_characters():
    clusters = cluster_questions([q("电梯困人了怎么办", 1), q("电梯困人了咋办", 2), q("年报怎么报", 3)])
    assert sorted(len(c.questions) for c in clusters) == [1, 2]
    assert all(c.nearest_id is None for c in clusters)


class TopicEncoder:
    """A stand-in sentence encoder: one dimension per topic word, so paraphrases without shared
    characters can still meet (as the real encoder's cosine lets them)."""

    name = "topic"
    TOPICS = (("秤", "分量", "斤两"), ("许可", "办证"), ("狗",))

    def encode(self, texts):
        rows = [[1.0 if any(w in t for w in words) else 0.0 for words in self.TOPICS] + [0.1] for t in texts]
        return np.asarray(rows, dtype=np.float32)


def test_the_sentence_encoder_joins_paraphrases_that_share_few_words():
    questions = [q("秤有问题", 1), q("分量给少了", 2), q("斤两不足", 3), q("狗狗掉毛", 4)]
    lexical = cluster_questions(questions, index=KbIndex(ENTRIES, load_settings(), encoder=None))
    hybrid = cluster_questions(questions, index=KbIndex(ENTRIES, load_settings(), encoder=TopicEncoder()))
    assert max(len(c.questions) for c in lexical) == 1
    assert sorted(len(c.questions) for c in hybrid) == [1, 3]


# --- storage ----------------------------------------------------------------------------------


def test_votes_keep_the_question_masked_and_the_loop_reads_both_kinds(db_url):
    repo = KbRepository(db_url)
    repo.record_unanswered("秤不准怎么办", "c1", 0.2, "reg.metrology")
    repo.record_vote("reg.metrology", "c2", False, question="秤不准 我电话13912345678")
    repo.record_vote("reg.metrology", "c3", True, question="秤不准了")  # a helpful answer is no work
    repo.record_vote("reg.metrology", "c4", False)  # an old vote: no question
    got = sorted((x.text, x.source, x.entry_id) for x in repo.loop_questions())
    assert got == [("秤不准 我电话139****5678", DOWNVOTED, "reg.metrology"),
                   ("秤不准怎么办", UNANSWERED, "reg.metrology")]


def test_add_phrasings_adds_a_group_as_one_live_version(db_url):
    repo = KbRepository(db_url)
    repo.import_entries(ENTRIES, "test")
    revision = repo.revision()
    record, added, skipped = repo.add_phrasings(
        "reg.metrology", ["菜场秤不准", "菜场秤不准？", "买东西分量不够", "开饭店要办什么证", "斤两不足", "秤" * 201, ""],
        "alice")
    assert added == ["菜场秤不准", "斤两不足"]
    assert skipped == ["“菜场秤不准？”：已经是这个条目的问法", "“买东西分量不够”：已经是这个条目的问法",
                       "“开饭店要办什么证”：已经是条目“biz.food-license”的问法", "“秤秤秤秤秤秤秤秤秤秤秤秤秤秤秤秤秤秤秤秤…”：太长（最多 200 字）"]
    assert (record.version, record.published_version, record.data.status) == (2, 2, "published")
    assert record.data.phrasings == ["买东西分量不够", "菜场秤不准", "斤两不足"]
    assert repo.revision() == revision + 1
    assert [(v.action, v.note) for v in repo.history("reg.metrology")][0] == ("add_phrasing", "菜场秤不准、斤两不足")
    with pytest.raises(KbError, match="没有可以添加的问法"):
        repo.add_phrasings("reg.metrology", ["斤两不足"], "alice")
    repo.update("biz.change", ENTRIES[2], "bob")  # pending edit: the group goes to the draft
    record, added, _ = repo.add_phrasings("biz.change", ["股东变了要办什么"], "alice")
    assert (record.data.status, record.published_version) == ("draft", 1)
    assert "股东变了要办什么" in repo.known_questions()


# --- the citizen's vote -----------------------------------------------------------------------


def _feedback_tracker(events):
    return Tracker(sender_id="conv-7", slots={"kb_last_entry_id": "reg.metrology", "kb_feedback_pending": True},
                   latest_message={"text": "/deny", "intent": {"name": "deny", "confidence": 1.0}, "entities": []},
                   events=events, paused=False, followup_action=None, active_loop={},
                   latest_action_name="action_listen")


def test_a_down_vote_records_the_question_that_was_answered(db_url):
    from xiaoan.kb.service import reset_services

    reset_services()
    events = [
        {"event": "user", "text": "菜场的秤不准少给了二两"},
        {"event": "bot", "text": "请选择"},
        {"event": "user", "text": '/inform{"kb_entry_id":"reg.metrology"}'},  # the chosen entry
        {"event": "bot", "text": "回答"},
        {"event": "user", "text": "/deny"},  # the vote
    ]
    dispatcher = CollectingDispatcher()
    ActionKbFeedback().run(dispatcher, _feedback_tracker(events), {})
    assert [m["response"] for m in dispatcher.messages] == ["utter_kb_feedback_sorry"]
    ActionKbFeedback().run(CollectingDispatcher(), _feedback_tracker([{"event": "user", "text": "/deny"}]), {})
    got = [(x.text, x.entry_id) for x in KbRepository(db_url).loop_questions()]
    assert got == [("菜场的秤不准少给了二两", "reg.metrology")]  # the vote without a question is not listed
    reset_services()


# --- the console ------------------------------------------------------------------------------


def test_clusters_page_and_a_group_becomes_phrasings_live_in_one_step(app, db_url):
    repo = KbRepository(db_url)
    repo.import_entries(ENTRIES, "test")
    repo.record_unanswered("菜场的秤不准少给了二两", "c1", 0.3, "reg.metrology")
    repo.record_unanswered("菜场的秤不准少给了二两", "c2", 0.3, "reg.metrology")
    repo.record_vote("reg.metrology", "c3", False, question="菜场秤不准少了二两怎么办")
    carl = signed_in(app, "carl")
    page = carl.get("/console/kb/clusters").text
    assert "问题归类" in page and "菜场的秤不准少给了二两" in page and 'data-count="3"' in page
    assert 'data-nearest="reg.metrology"' in page and "没帮助 1" in page and "未能回答 2" in page
    assert "加为相似问法" not in page and 'name="question"' not in page  # agents only read
    assert 'href="/console/kb/clusters"' in carl.get("/console/kb").text

    alice = signed_in(app, "alice")
    page = alice.get("/console/kb/clusters").text
    assert 'name="question" value="菜场的秤不准少给了二两" checked' in page and 'value="reg.metrology"' in page
    done = post(alice, "/console/kb/clusters/phrasings", {"entry_id": "reg.metrology",
                                                          "question": ["菜场的秤不准少给了二两", "菜场秤不准少了二两怎么办"]})
    assert "已为“reg.metrology”添加 2 个相似问法" in done.text
    assert "暂无未能回答或被点“没帮助”的问题" in done.text  # handled questions leave the list
    service = get_search_service(db_url)
    service.reload()
    result = service.search("菜场秤不准少了二两怎么办")
    assert result.decision == "answer" and result.answer.entry.id == "reg.metrology"


def test_cluster_actions_explain_refusals(app, db_url):
    repo = KbRepository(db_url)
    repo.import_entries(ENTRIES, "test")
    alice = signed_in(app, "alice")
    assert "请选择要加到哪个条目" in post(alice, "/console/kb/clusters/phrasings", {"question": ["秤不准"]}).text
    assert "请至少勾选一个问题" in post(alice, "/console/kb/clusters/phrasings", {"entry_id": "reg.metrology"}).text
    assert "没有编号为“reg.nope”的条目" in post(alice, "/console/kb/clusters/phrasings",
                                               {"entry_id": "reg.nope", "question": ["秤不准"]}).text
    dup = post(alice, "/console/kb/clusters/phrasings", {"entry_id": "reg.metrology", "question": ["开饭店要办什么证"]})
    assert "已经是条目“biz.food-license”的问法" in dup.text
    assert repo.get("reg.metrology").version == 1
    carl = signed_in(app, "carl")
    assert post(carl, "/console/kb/clusters/phrasings", {"entry_id": "reg.metrology", "question": ["秤不准"]},
                follow=False).status_code == 403
    assert alice.post("/console/kb/clusters/phrasings",
                      data={"entry_id": "reg.metrology", "question": ["秤不准"]}).status_code == 400


def test_a_group_becomes_a_new_entry_form_then_a_draft(app, db_url):
    repo = KbRepository(db_url)
    repo.import_entries(ENTRIES, "test")
    alice = signed_in(app, "alice")
    form = post(alice, "/console/kb/clusters/draft",
                {"question": ["股权转让给外人要什么手续", "股份卖给别人怎么办理"], "area": "biz"})
    assert form.status_code == 200 and "新建条目" in form.text
    assert 'value="股权转让给外人要什么手续"' in form.text and "股份卖给别人怎么办理</textarea>" in form.text
    assert 'value="biz."' in form.text and 'action="/console/kb/new"' in form.text and "共 2 个问法" in form.text
    assert repo.count_entries() == 3  # nothing stored until the maintainer saves
    saved = post(alice, "/console/kb/new", {"id": "biz.equity-transfer", "title": "股权转让给外人要什么手续",
                                            "phrasings": "股份卖给别人怎么办理", "answer": "办理股东变更登记。",
                                            "tags": "", "basis": "", "agency": "", "effective_from": "",
                                            "expires_on": ""})
    assert "已新建草稿“biz.equity-transfer”" in saved.text
    assert repo.get("biz.equity-transfer").data.phrasings == ["股份卖给别人怎么办理"]
    assert "请至少勾选一个问题" in post(alice, "/console/kb/clusters/draft", {}).text


def test_clusters_page_works_before_any_entry_exists(app, db_url):
    KbRepository(db_url).record_unanswered("狗狗掉毛怎么办", "c1", None, None)
    page = signed_in(app, "alice").get("/console/kb/clusters")
    assert page.status_code == 200 and "狗狗掉毛怎么办" in page.text and "最接近的条目：无" in page.text
