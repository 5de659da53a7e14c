"""The WeChat channel's shared state under concurrency, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any, Callable

import pytest
from sqlalchemy import update

from tests.fakes.wechat_server import APPID, SECRET, FakeWeChatServer
from xiaoan.channels import wechat_api
from xiaoan.channels import wechat_store as store
from xiaoan.db import session_scope, utcnow

OPENID = "oXiaoAn_citizen_000000000001"


@pytest.fixture()
def url(database_url: str) -> str:
    """The store's database: each test runs on SQLite and on PostgreSQL (tests/conftest.py)."""
    return database_url


def _race(n: int, work: Callable[[], Any]) -> list[Any]:
    """Run `work` in `n` threads released together; their results."""
    barrier = threading.Barrier(n)
    results: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(work())
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    return results


def test_a_message_is_claimed_by_exactly_one_of_many_racers(url):
    results = _race(8, lambda: store.claim_message(url, "msg:123", OPENID, "text"))
    assert sorted(results) == [False] * 7 + [True]
    assert store.message_state(url, "msg:123") == (store.STATUS_PROCESSING, None)


def test_transitions_are_compare_and_swap(url):
    store.claim_message(url, "msg:1", OPENID, "text")
    assert store.transition_message(url, "msg:1", store.STATUS_PROCESSING, store.STATUS_PASSIVE, "答复")
    assert not store.transition_message(url, "msg:1", store.STATUS_PROCESSING, store.STATUS_DEFERRED)
    assert store.message_state(url, "msg:1") == (store.STATUS_PASSIVE, "答复")


def test_the_window_allows_five_messages_even_under_concurrency(url):
    store.record_citizen_message(url, OPENID)
    results = _race(8, lambda: store.reserve_cs_slot(url, OPENID))
    assert results.count(None) == 5
    assert sorted(r for r in results if r) == ["budget_exhausted"] * 3
    assert store.cs_sent_count(url, OPENID) == 5


def test_old_dedupe_records_are_pruned(url):
    store.claim_message(url, "msg:old", OPENID, "text")
    store.claim_message(url, "msg:new", OPENID, "text")
    with session_scope(url) as session:
        session.execute(
            update(store.WeChatProcessedMessage)
            .where(store.WeChatProcessedMessage.dedupe_key == "msg:old")
            .values(created_at=utcnow() - dt.timedelta(days=3))
        )
    assert store.prune_processed_messages(url, dt.timedelta(days=2)) == 1
    assert store.message_state(url, "msg:old") is None and store.message_state(url, "msg:new") is not None


def test_choices_round_trip_and_are_forgotten(url):
    choices = [{"title": "我要投诉", "payload": "/complain_general"}]
    store.save_choices(url, OPENID, choices)
    assert store.load_choices(url, OPENID) == choices
    store.save_choices(url, OPENID, [])
    assert store.load_choices(url, OPENID) == []


def test_processes_refreshing_together_fetch_the_token_once(url):
    with FakeWeChatServer() as fake:
        fake.slow_token_endpoint(0.3)

        def get_token() -> str:  # a holder per "process": nothing shared but the database
            holder = wechat_api.AccessTokenHolder(wechat_api._Http(fake.url), APPID, SECRET, database_url=url, poll_interval=0.02)
            return holder.get()

        tokens = _race(6, get_token)
    assert len(set(tokens)) == 1 and fake.token_fetches == 1


def test_a_signed_request_is_new_for_exactly_one_of_many_racers(url):
    """The nonce memory across processes: one insert wins; the others see a repeat or a replay."""
    now = dt.datetime(2026, 12, 5, 1, 0, tzinfo=dt.timezone.utc)
    expires = now + dt.timedelta(minutes=6)
    bodies = iter(["same"] * 4 + ["other"] * 4)
    lock = threading.Lock()

    def claim() -> str:
        with lock:
            body = next(bodies)
        return store.claim_nonce(url, "nonce-key", body, expires, now)

    results = _race(8, claim)
    assert results.count(store.NONCE_NEW) == 1
    # the winner's three companions with the same body repeat it; the four with the other body replay it
    assert results.count(store.NONCE_REPEAT) == 3 and results.count(store.NONCE_REPLAY) == 4


def test_expired_nonces_are_pruned_and_only_those(url):
    now = dt.datetime(2026, 12, 5, 1, 0, tzinfo=dt.timezone.utc)
    store.claim_nonce(url, "old", "b", now - dt.timedelta(seconds=1), now)
    store.claim_nonce(url, "fresh", "b", now + dt.timedelta(seconds=1), now)
    assert store.prune_nonces(url, now) == 1
    assert store.claim_nonce(url, "fresh", "b", now, now) == store.NONCE_REPEAT
    assert store.claim_nonce(url, "old", "b", now, now) == store.NONCE_NEW  # gone: the window refuses it anyway
