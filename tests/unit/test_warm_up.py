"""The action server loads the knowledge-base search when it starts (issue 13: no cold first answer)."""

from __future__ import annotations

import logging

import pytest
import requests

from xiaoan import action_server
from xiaoan.kb.loader import read_dir
from xiaoan.kb.repository import KbRepository
from xiaoan.kb.service import get_search_service, reset_services


@pytest.fixture()
def kb(db_url):
    reset_services()
    KbRepository(db_url).import_entries(read_dir().entries, "test")
    yield db_url
    reset_services()


def test_warm_up_builds_the_index_the_first_question_then_uses(kb):
    assert action_server.warm_up() is not None
    service = get_search_service()
    assert service.rebuilds == 1 and service.revision is not None
    result = service.search("个体户营业执照怎么办理", intent="ask_business_registration")
    assert result.hits  # answered from the warm index, not rebuilt
    assert service.rebuilds == 1


def test_a_failed_warm_up_is_logged_and_does_not_stop_the_server(caplog):
    def broken(*_, **__):
        raise RuntimeError("database not ready")

    with caplog.at_level(logging.ERROR, logger="xiaoan.action_server"):
        assert action_server.warm_up(search=broken) is None
    assert "warm-up failed" in caplog.text


def test_the_action_server_warms_up_before_it_serves(monkeypatch):
    from rasa_sdk.endpoint import create_app
    from sanic import Sanic

    from tests.fakes.wechat_server import serve_sanic

    calls = []
    monkeypatch.setattr(action_server, "warm_up", lambda: calls.append("warm"))
    monkeypatch.setattr(Sanic, "test_mode", True)
    monkeypatch.setenv("XIAOAN_ACTION_SECRET", "warm-up-test-secret")
    app = create_app("actions")
    action_server.ActionServerGuard().attach_sanic_app_extensions(app)
    with serve_sanic(app) as (base_url, _loop):
        assert calls == ["warm"]  # ran during start-up, before any request
        assert requests.get(base_url + "/health", timeout=10).status_code == 200
    assert calls == ["warm"]


def test_warm_up_also_reads_the_dictionary_of_the_name_answers(kb):
    from xiaoan.understanding import names

    names._jieba_words.cache_clear()
    action_server.warm_up()
    assert names._jieba_words.cache_info().currsize == 1
