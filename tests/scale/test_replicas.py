"""Two Rasa replicas, two action servers, two web apps behind the router, on PostgreSQL, Redis
and RabbitMQ (tests/scale/cluster.py): 50 conversations × 20 messages at once, half through the
router, half spread over both replicas request by request with two messages of a conversation
sent at the same moment to both. Afterwards Rasa's tracker store in PostgreSQL must hold every
message exactly once, in order, each turn whole, and RabbitMQ every stored event.

Slow (two Rasa replicas start, 1,000 turns): runs in `make test` when the model, the PostgreSQL
server binaries, redis-server and RabbitMQ are on the machine, and is skipped with the reason
otherwise. bench/replicas_bench.py runs it 10 times and adds the faults.
"""

from __future__ import annotations

import pytest
import requests

from tests.processes import started
from tests.scale.cluster import Cluster, check, missing_requirements, run_load

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis, pytest.mark.rabbitmq]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = missing_requirements()
    if reason:
        pytest.skip(f"two-replica deployment not possible here: {reason}")
    with started(Cluster(tmp_path_factory.mktemp("cluster"))) as cluster:
        yield cluster


# Known open defect (issue 13): in the fresh-clone CI run of 2026-12-05, under load, one answered
# message of 1,000 was missing from the tracker store ("好的" stored 0 times); the clean harness run
# before had 1000/1000. Kept running and reported (xfail, not strict) until bench/replicas_bench.py
# shows 10/10 — a pass shows as XPASS.
@pytest.mark.xfail(reason="issue 13: a lost turn was seen once under load; not yet proven 10/10", strict=False)
def test_fifty_conversations_of_twenty_messages_on_two_replicas(cluster):
    sent = run_load(cluster, conversations=50)
    result = check(cluster, sent)
    assert result["problems"] == [], "\n".join(result["problems"][:20])
    assert result["answered"] == result["sent"] == 1000
    assert result["stored_user_messages"] == 1000

    stats = requests.get(cluster.url("router") + "/_router/stats", timeout=5).json()
    through_router = [b["requests"] for b in stats["rasa"]]
    assert min(through_router) > 0.2 * sum(through_router), stats  # the router spread conversations too

    import time

    time.sleep(3)  # Rasa publishes in background tasks
    stored = cluster.tracker_events()
    published = cluster.broker_events()
    mismatched = {c: (len(stored.get(c, [])), published.get(c, 0)) for c in {s.conversation for s in sent}
                  if len(stored.get(c, [])) != published.get(c, 0)}
    assert mismatched == {}  # RabbitMQ got every stored event, once


def test_citizens_chat_through_either_web_app(cluster):
    """The web apps are interchangeable behind the router (signed-cookie sessions, one secret):
    the page from one, the messages through the other, the answers from either replica."""
    import re

    for i in range(4):
        browser = requests.Session()
        page = browser.get(cluster.url("router") + "/", timeout=30)
        token = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
        for text in ("你好", "个体户营业执照怎么办"):
            r = browser.post(cluster.url("router") + "/api/chat/message", json={"text": text},
                             headers={"X-CSRFToken": token}, timeout=60)
            assert r.status_code == 200, r.text
            assert r.json()["messages"], text
    stats = requests.get(cluster.url("router") + "/_router/stats", timeout=5).json()
    assert all(b["requests"] >= 4 for b in stats["web"]), stats
